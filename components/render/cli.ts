/**
 * `npm run render -- --stack prod --out ./rendered`: every file the program would upload, one folder
 * per container, each secret replaced by a labelled placeholder (`<secret:secrets-turn>`), plus each
 * container's `container.json`. No Pulumi CLI, no cloud, no Docker (like `helm template`). Secure
 * config values show as `<secret:config:<key>>`.
 */
import { readFileSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseCommandLine, runCommandLine, UsageError } from "../commandLine";
import * as YAML from "yaml";
import { PROJECT } from "../config";
import { PLACEHOLDERS } from "./offline";
import { placeholderFor } from "./engineConfig";
import { renderStack, writeRendered, type StackValues } from "./render";

/** The `firmground:*` values a stack file sets (Pulumi.yaml's defaults are added when the program runs). */
export function stackConfig(stackFileText: string): StackValues {
  const config = (YAML.parse(stackFileText) as { config?: Record<string, unknown> } | null)?.config ?? {};
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [fullKey, value] of Object.entries(config)) {
    if (!fullKey.startsWith(`${PROJECT}:`)) continue;
    const key = fullKey.slice(PROJECT.length + 1);
    const secure = JSON.stringify(value).includes('"secure":');
    if (secure) secretKeys.push(key);
    const isSecureLeaf = typeof value === "object" && value !== null && "secure" in value;
    values[key] = isSecureLeaf
      ? placeholderFor(key, "")
      : typeof value === "string"
        ? value
        : JSON.stringify(withPlaceholders(value, key));
  }
  return { values, secretKeys };
}

/** Replaces nested `{secure: …}` values (set with `--secret --path`) by placeholders. */
function withPlaceholders(value: unknown, key: string): unknown {
  if (typeof value !== "object" || value === null) return value;
  if ("secure" in value) return placeholderFor(key, "");
  if (Array.isArray(value)) return value.map((v, i) => withPlaceholders(v, `${key}[${i}]`));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withPlaceholders(v, `${key}.${k}`)]));
}

export const USAGE = `usage: npm run render -- --stack <name> [--out <dir>] [--root <dir>]
  Writes every file the program would upload for the stack (Pulumi.<name>.yaml), one folder per
  container, secrets replaced by labelled placeholders. No Pulumi CLI, cloud or Docker needed.
options:
  --stack <name>   the stack whose Pulumi.<name>.yaml to render (required)
  --out <dir>      where to write (default: rendered; emptied first)
  --root <dir>     the project directory holding the stack files (default: .)
  -h, --help       this text`;

async function main(argv: string[], _env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  const { values } = parseCommandLine(argv, USAGE, {
    stack: { type: "string" },
    out: { type: "string", default: "rendered" },
    root: { type: "string", default: "." },
  });
  if (!values.stack) throw new UsageError(`--stack is required\n${USAGE}`);
  const root = resolve(values.root);
  const stackFile = join(root, `Pulumi.${values.stack}.yaml`);
  const config = stackConfig(readFileSync(stackFile, "utf8"));
  const { containers } = await renderStack(config, PLACEHOLDERS);
  const out = resolve(values.out);
  rmSync(out, { recursive: true, force: true });
  const files = writeRendered(out, containers);
  print(
    `${relative(process.cwd(), stackFile)} → ${files.length} files for ${Object.keys(containers).length} containers in ${relative(process.cwd(), out) || "."}/`,
  );
  for (const file of files) print(`  ${relative(out, file)}`);
  return 0;
}

if (require.main === module) runCommandLine(main);
