/**
 * How a real-daemon run is isolated. The outer process (root, Debian) builds or reuses the sid rootfs,
 * then runs the same entry file again in a private mount namespace and its own PID namespace, so that
 * nothing it mounts or starts can outlive it; the inner process gets a fresh run directory and the rootfs.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { HelpRequested } from "../../components/commandLine";
import { ensureRootfs, MirrorError } from "./rootfs";
import { ensureRclone, RCLONE_ENV } from "./s3";

export const REPO = resolve(__dirname, "../..");
export const log = (line: string) => console.log(`[stack ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** The prefix of a run's memory cgroups (they live outside every namespace). */
/** Where the runs keep what they build once: the rootfs, rclone, the big-room scenario's remote rooms. */
export const stackCache = () => process.env.FIRMGROUND_STACK_CACHE ?? "/var/cache/firmground-stack";

export const cgroupPrefix = (runDir: string) => `firmground-stack-${runDir.split("-").pop()!}`;

/** The outer side: checks, rootfs, then `entryFile --inside <runDir> <rootfs>` in fresh namespaces. */
function outer(entryFile: string, command: string): number {
  if (process.platform !== "linux" || process.getuid?.() !== 0) {
    console.error(
      `${command} needs root on Linux (network namespaces, chroot, mounts, cgroups); run it as root, as CI does.`,
    );
    return 2;
  }
  for (const tool of ["ip", "unshare", "chroot", "mount", "openssl"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
      console.error(`${command} needs ${tool}: apt-get install iproute2 util-linux coreutils openssl debootstrap`);
      return 2;
    }
  }
  const started = Date.now();
  const cache = stackCache();
  let rootfs: string;
  try {
    rootfs = ensureRootfs(cache, log);
  } catch (error) {
    console.error(error instanceof MirrorError ? `MIRROR FAILURE (not a test failure): ${error.message}` : error);
    return 3;
  }
  log(`rootfs ready in ${((Date.now() - started) / 1000).toFixed(0)} s: ${rootfs}`);
  // The backups' S3 server, handed to the run by its path.
  process.env[RCLONE_ENV] = ensureRclone(cache, log);

  mkdirSync("/var/tmp", { recursive: true });
  const runDir = mkdtempSync("/var/tmp/firmground-stack-");
  const inner = spawnSync(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "--pid",
      "--fork",
      "--kill-child",
      "--mount-proc",
      "--",
      process.execPath,
      "--import",
      "tsx",
      entryFile,
      "--inside",
      runDir,
      rootfs,
      ...process.argv.slice(2),
    ],
    { stdio: "inherit", cwd: REPO },
  );
  // The namespaces died with the inner process; what it wrote stays only when asked for.
  const leftoverCgroups = existsSync("/sys/fs/cgroup/memory")
    ? readdirSync("/sys/fs/cgroup/memory").filter((d) => d.startsWith(`${cgroupPrefix(runDir)}-`))
    : [];
  for (const cgroup of leftoverCgroups) spawnSync("rmdir", [join("/sys/fs/cgroup/memory", cgroup)]);
  if (process.env.STACK_KEEP) log(`kept ${runDir} (STACK_KEEP)`);
  else rmSync(runDir, { recursive: true, force: true });
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return inner.status ?? 1;
}

/**
 * The entry point of a real-daemon program: the outer side when run directly, `inside(runDir, rootfs)`
 * when re-run in the namespaces. Exits with what `inside` returns.
 */
export function runIsolated(
  entryFile: string,
  command: string,
  inside: (runDir: string, rootfs: string) => Promise<number>,
) {
  if (process.argv[2] !== "--inside") {
    process.exitCode = outer(entryFile, command);
    return;
  }
  let finished = false;
  // Node exits 0 when nothing is left to wait for; a run that stops early must not pass.
  process.on("exit", () => {
    if (!finished) {
      console.error("the run stopped before finishing (a promise it awaited never settled): FAILED");
      process.exitCode = 1;
    }
  });
  inside(process.argv[3], process.argv[4]).then(
    (code) => {
      finished = true;
      process.exit(code);
    },
    (error: unknown) => {
      finished = true;
      console.error(error);
      process.exit(1);
    },
  );
}

/**
 * The entry point of a measuring command (`npm run bench`, `npm run capacity`): its flags are checked
 * on the outer side first (`--help` prints the usage and exits 0, a bad flag exits 64 with the reason),
 * then it runs as runIsolated.
 */
export function runMeasuring(
  entryFile: string,
  command: string,
  parseFlags: (args: string[]) => unknown,
  inside: (runDir: string, rootfs: string) => Promise<number>,
) {
  if (process.argv[2] !== "--inside") {
    try {
      parseFlags(process.argv.slice(2));
    } catch (error) {
      if (error instanceof HelpRequested) {
        console.log(error.message);
        process.exit(0);
      }
      console.error(`${command}: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(64);
    }
  }
  runIsolated(entryFile, command, inside);
}

/** Prints a report's text and writes its JSON to `file`. */
export function writeReport(file: string, report: object, text: string) {
  console.log(text);
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`report written to ${file}`);
}
