/**
 * What the project's commands (`npm run user`, `restore`, `render`, `bench`, `doctor`) share: one way to
 * read options, `--help` (usage, exit 0), and usage errors (usage, exit 64).
 */
import { spawnSync } from "node:child_process";
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A command line the command cannot act on; it exits 64 (EX_USAGE) with the message. */
export class UsageError extends Error {}

/** Asked for `--help`: the usage is printed and the command exits 0. */
export class HelpRequested extends Error {}

/** A command's entry point: its arguments and environment in, its exit code out, its lines printed. */
export type CommandMain = (argv: string[], env: NodeJS.ProcessEnv, print: (line: string) => void) => Promise<number>;

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * `node:util` parseArgs with the project's rules: `--help`/`-h` anywhere asks for the usage; an unknown
 * option, a missing value or a stray positional is a UsageError that carries the usage.
 */
export function parseCommandLine<O extends Options>(
  argv: string[],
  usage: string,
  options: O,
  allowPositionals = false,
) {
  if (argv.includes("--help") || argv.includes("-h")) throw new HelpRequested(usage);
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
  }
}

/**
 * A stack output's value, through `pulumi stack output <name> --json` (with `--show-secrets` for a
 * secret output, `--stack` when given). A UsageError names the output, the CLI's reason and `otherwise`:
 * how to do without the Pulumi CLI.
 */
export function readStackOutput<T>(name: string, options: { stack?: string; secret: boolean; otherwise: string }): T {
  const pulumi = spawnSync(
    "pulumi",
    [
      "stack",
      "output",
      name,
      "--json",
      ...(options.secret ? ["--show-secrets"] : []),
      ...(options.stack ? ["--stack", options.stack] : []),
    ],
    { encoding: "utf8" },
  );
  if (pulumi.error || pulumi.status !== 0)
    throw new UsageError(
      `could not read the stack output ${name} (${pulumi.error?.message ?? pulumi.stderr.trim()}); ${options.otherwise}`,
    );
  return JSON.parse(pulumi.stdout) as T;
}

/** Runs `main` as the process: prints its lines, exits with its code, 0 after --help, 64 on a usage error, else 1. */
export function runCommandLine(main: CommandMain) {
  main(process.argv.slice(2), process.env, (line) => console.log(line)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof HelpRequested) {
        console.log(error.message);
        process.exit(0);
      }
      console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(error instanceof UsageError ? 64 : 1);
    },
  );
}
