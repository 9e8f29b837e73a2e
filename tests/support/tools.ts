import { spawnSync } from "node:child_process";

/**
 * Whether a real tool (haproxy, nginx, shellcheck, …) is on this machine. In CI (CI=true) a
 * missing tool is an error, since `.ci/run` installs them; elsewhere the check is skipped with a
 * note, so `npm test` still runs on a laptop without them.
 */
export function haveTool(name: string): boolean {
  const found = spawnSync("sh", ["-c", `command -v ${name}`]).status === 0;
  if (!found && process.env.CI) throw new Error(`${name} is required in CI; .ci/run installs it with apt-get`);
  if (!found) console.warn(`${name} not installed: skipping its check (CI runs it)`);
  return found;
}

export function run(command: string, args: string[], input?: string) {
  const result = spawnSync(command, args, { encoding: "utf8", input });
  return { status: result.status, output: `${result.stdout ?? ""}${result.stderr ?? ""}` };
}

/** Runs openssl, throwing its output when it fails. */
export function openssl(...args: string[]) {
  const result = run("openssl", args);
  if (result.status !== 0) throw new Error(result.output);
}

/** A fresh P-256 key and, with `-x509`, a self-signed certificate (or, without, a CSR). */
export function newKeyAndCert(keyFile: string, outFile: string, subject: string, selfSigned = true) {
  openssl(
    "req",
    ...(selfSigned ? ["-x509", "-days", "1"] : []),
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    outFile,
    "-subj",
    subject,
  );
}
