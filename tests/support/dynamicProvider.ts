/**
 * A dynamic provider as the engine runs it: serialized the way @pulumi/pulumi's dynamic.Resource does
 * (runtime.serializeFunction(() => provider, {allowSecrets: true}), dynamic/index.js v3.248.0), then
 * each call made from that text in a plain Node.js process started in the project root, as
 * cmd/dynamic-provider does (dynamic-provider-host.cjs). Nothing of this process (no TypeScript loader,
 * no module it loaded) reaches the provider.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";

const ROOT = join(__dirname, "..", "..");

export interface SerializedProvider {
  text: string;
  containsSecrets: boolean;
  /** Calls `method` with `args` from the text; resolves with its result or rejects with its error. */
  call(method: string, ...args: unknown[]): Promise<any>;
  /** The same, answering with `{result}` or `{error: {name, message, code}}` and the process's stderr. */
  callRaw(method: string, ...args: unknown[]): Promise<{ result?: any; error?: any; stderr: string }>;
}

export async function serializedProvider(provider: pulumi.dynamic.ResourceProvider): Promise<SerializedProvider> {
  const { text, containsSecrets } = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  const file = join(mkdtempSync(join(tmpdir(), "firmground-provider-")), "provider.js");
  writeFileSync(file, text, { mode: 0o600 });
  const callRaw = async (method: string, ...args: unknown[]) => {
    const child = spawn(process.execPath, [join(__dirname, "dynamic-provider-host.cjs"), file], {
      cwd: ROOT,
      env: { PATH: process.env.PATH },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(JSON.stringify({ method, args }));
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    if (status !== 0) throw new Error(`the provider process failed (${status}): ${stderr}`);
    return { ...(JSON.parse(stdout) as { result?: any; error?: any }), stderr };
  };
  return {
    text,
    containsSecrets,
    callRaw,
    call: async (method, ...args) => {
      const answer = await callRaw(method, ...args);
      if (answer.error) throw Object.assign(new Error(String(answer.error.message)), answer.error);
      return answer.result;
    },
  };
}
