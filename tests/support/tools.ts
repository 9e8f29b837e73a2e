import { spawnSync } from "node:child_process";

/**
 * Requires a real tool (haproxy, nginx, shellcheck, cloud-init, …): a check that needs one fails when
 * it is missing, rather than pass without checking. `.ci/run` installs them with apt-get; so can you
 * (the README's Tests section lists them).
 */
export function haveTool(name: string): true {
  const found = spawnSync("sh", ["-c", `command -v ${name}`]).status === 0;
  if (!found) throw new Error(`${name} is not installed; the tests need it (.ci/run installs it with apt-get)`);
  return true;
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
