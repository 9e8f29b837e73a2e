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
