/**
 * The machinery the harness runs daemons with: network namespaces joined by bridges, a root per
 * container (an overlay of the cached rootfs with the container's uploads and volumes), cgroup memory
 * limits, and processes started and stopped by PID. Everything it makes it records, and `teardown`
 * undoes it in reverse, on failure too.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, posix } from "node:path";

/**
 * The host path of `path` as seen inside `root`: symlinks are followed the way the chroot would
 * (an absolute link target starts again from `root`), so `/var/run` → `/run` inside a root never
 * reaches the host's /run. Missing components are allowed (the path may be about to be created).
 */
export function inRoot(root: string, path: string): string {
  const pending = posix.normalize(`/${path}`).split("/").filter(Boolean);
  let resolved: string[] = [];
  for (let hops = 0; pending.length > 0;) {
    const part = pending.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    let link: string | undefined;
    try {
      if (lstatSync(candidate).isSymbolicLink()) link = readlinkSync(candidate);
    } catch {
      // Does not exist (yet): keep the name as it is.
    }
    if (link === undefined) {
      resolved.push(part);
      continue;
    }
    if (++hops > 40) throw new Error(`too many symlinks resolving ${path} in ${root}`);
    if (link.startsWith("/")) resolved = [];
    pending.unshift(...link.split("/").filter(Boolean));
  }
  return join(root, ...resolved);
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface StartSpec {
  /** Network namespace (full name). */
  ns: string;
  /** Root directory to chroot into. */
  root: string;
  /** `uid:gid`. */
  user: string;
  argv: string[];
  env: Record<string, string>;
  /** cgroup memory limit in MiB, as Docker's `memory` (no swap beyond it). */
  memoryMb?: number;
  /** Signal `docker stop` would send (the image's STOPSIGNAL), and how long before SIGKILL. */
  stopSignal?: NodeJS.Signals;
  stopTimeoutSeconds?: number;
}

export interface Daemon {
  name: string;
  pid: number;
  spec: StartSpec;
  child: ChildProcess;
  exited: Promise<number | null>;
  cgroup?: string;
  logFile: string;
}

export interface Memory {
  /** Resident set size and proportional set size, summed over the daemon's process tree, MiB. */
  rssMb: number;
  pssMb: number;
  processes: number;
  /** The cgroup's peak usage so far, MiB, and how often it hit the limit. */
  cgroupPeakMb?: number;
  cgroupLimitHits?: number;
}

const MEMORY_CGROUP = "/sys/fs/cgroup/memory";
/** Absolute paths: a daemon's own PATH (its image's) need not contain the host's sbin directories. */
const hostTool = (name: string) =>
  spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim() || name;
const IP = hostTool("ip");
const CHROOT = hostTool("chroot");
const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"];
const mb = (bytes: number) => Math.round((bytes / (1024 * 1024)) * 10) / 10;

export class Sandbox {
  private readonly mounts: string[] = [];
  private readonly namespaces: string[] = [];
  private readonly cgroups: string[] = [];
  readonly daemons = new Map<string, Daemon>();

  constructor(
    readonly runDir: string,
    readonly rootfs: string,
    readonly log: (line: string) => void,
    /** Prefix of this run's memory cgroups (they live outside every namespace). */
    readonly cgroupPrefix: string,
  ) {
    mkdirSync(join(runDir, "logs"), { recursive: true });
  }

  /** Runs a command to completion; throws with its output unless `allowFailure`. */
  run(
    command: string,
    args: string[],
    options: { input?: string; allowFailure?: boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
  ): RunResult {
    const result = spawnSync(command, args, {
      encoding: "utf8",
      input: options.input,
      timeout: options.timeoutMs ?? 60_000,
      env: options.env ?? process.env,
      maxBuffer: 64 * 1024 * 1024,
    });
    const out = { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
    if (!options.allowFailure && out.status !== 0) {
      throw new Error(
        `${command} ${args.join(" ")} failed (${out.status ?? result.signal ?? result.error?.message}):\n${out.stdout}${out.stderr}`,
      );
    }
    return out;
  }

  mount(args: string[], target: string) {
    this.run("mount", [...args, target]);
    this.mounts.push(target);
  }

  // ---- network ---------------------------------------------------------------------------------

  addNamespace(name: string) {
    this.run("ip", ["netns", "add", name]);
    this.namespaces.push(name);
    this.run("ip", ["-n", name, "link", "set", "lo", "up"]);
  }

  ip(ns: string, ...args: string[]) {
    this.run("ip", ["-n", ns, ...args]);
  }

  /** Writes a sysctl inside a namespace (net.* sysctls are per namespace). */
  sysctl(ns: string, key: string, value: string) {
    this.run("ip", ["netns", "exec", ns, "sh", "-c", `echo ${value} > /proc/sys/${key.replace(/\./g, "/")}`]);
  }

  /** A bridge inside `ns` with an address on it. */
  addBridge(ns: string, bridge: string, address: string) {
    this.ip(ns, "link", "add", bridge, "type", "bridge");
    this.ip(ns, "addr", "add", address, "dev", bridge);
    this.ip(ns, "link", "set", bridge, "up");
  }

  /** Plugs namespace `ns` into `bridge` (in `bridgeNs`) as eth0 with `address`, default route via `gateway`. */
  plug(ns: string, bridgeNs: string, bridge: string, address: string, gateway: string) {
    const port = `v-${ns}`.slice(0, 15);
    this.ip(bridgeNs, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns);
    this.ip(bridgeNs, "link", "set", port, "master", bridge, "up");
    this.ip(ns, "addr", "add", address, "dev", "eth0");
    this.ip(ns, "link", "set", "eth0", "up");
    this.ip(ns, "route", "add", "default", "via", gateway);
  }

  // ---- roots -----------------------------------------------------------------------------------

  /** A fresh root for one container: the rootfs underneath, its own writable layer, /proc, /dev. */
  makeRoot(name: string, shmMb = 64): string {
    const base = join(this.runDir, "roots", name);
    const [upper, work, root] = ["upper", "work", "root"].map((d) => join(base, d));
    for (const dir of [upper, work, root]) mkdirSync(dir, { recursive: true });
    this.mount(["-t", "overlay", "overlay", "-o", `lowerdir=${this.rootfs},upperdir=${upper},workdir=${work}`], root);
    this.mount(["-t", "proc", "proc"], join(root, "proc"));
    this.mount(["-t", "tmpfs", "-o", "mode=755,size=1m,nosuid", "tmpfs"], join(root, "dev"));
    for (const device of DEVICES) {
      writeFileSync(join(root, "dev", device), "");
      this.mount(["--bind", `/dev/${device}`], join(root, "dev", device));
    }
    for (const [link, target] of [
      ["fd", "/proc/self/fd"],
      ["stdin", "/proc/self/fd/0"],
      ["stdout", "/proc/self/fd/1"],
      ["stderr", "/proc/self/fd/2"],
    ]) {
      this.run("ln", ["-s", target, join(root, "dev", link)]);
    }
    mkdirSync(join(root, "dev", "shm"));
    this.mount(["-t", "tmpfs", "-o", `mode=1777,size=${shmMb}m,nosuid,nodev`, "tmpfs"], join(root, "dev", "shm"));
    return root;
  }

  /** Bind-mounts a host directory into a root, read-only when asked (as a Docker volume). */
  bind(source: string, root: string, target: string, readOnly: boolean) {
    const destination = inRoot(root, target);
    mkdirSync(destination, { recursive: true });
    this.mount(["--bind", source], destination);
    if (readOnly) this.run("mount", ["-o", "remount,bind,ro", destination]);
  }

  /** Writes a file inside a root with owner and mode, creating parents as Docker's upload does. */
  writeFile(root: string, path: string, content: string, uid: number, gid: number, mode: number) {
    const destination = inRoot(root, path);
    mkdirSync(dirname(destination), { recursive: true });
    writeFileSync(destination, content);
    chownSync(destination, uid, gid);
    chmodSync(destination, mode);
  }

  // ---- processes -------------------------------------------------------------------------------

  private cgroupFor(name: string, memoryMb: number): string | undefined {
    if (!existsSync(MEMORY_CGROUP)) return undefined;
    const dir = join(MEMORY_CGROUP, `${this.cgroupPrefix}-${name}`);
    mkdirSync(dir);
    this.cgroups.push(dir);
    writeFileSync(join(dir, "memory.limit_in_bytes"), String(memoryMb * 1024 * 1024));
    if (existsSync(join(dir, "memory.memsw.limit_in_bytes"))) {
      writeFileSync(join(dir, "memory.memsw.limit_in_bytes"), String(memoryMb * 1024 * 1024));
    }
    return dir;
  }

  /** `argv` as it runs in `spec`: inside the namespace, chrooted, as the user; PID kept throughout. */
  private commandLine(spec: StartSpec): string[] {
    // The environment is set inside the root by env(1), so that the host's ip and chroot do not see
    // it (LD_PRELOAD=jemalloc, say, names a library only the root has).
    const env = Object.entries(spec.env).map(([key, value]) => `${key}=${value}`);
    return [
      IP,
      "netns",
      "exec",
      spec.ns,
      CHROOT,
      `--userspec=${spec.user}`,
      spec.root,
      "/usr/bin/env",
      "-i",
      ...env,
      ...spec.argv,
    ];
  }

  /** Starts a daemon; its PID is the daemon's own (sh, ip, chroot all exec). Output goes to its log. */
  start(name: string, spec: StartSpec): Daemon {
    if (this.daemons.has(name)) throw new Error(`${name} is already running`);
    const logFile = join(this.runDir, "logs", `${name}.log`);
    const fd = openSync(logFile, "a");
    const cgroup = spec.memoryMb
      ? (this.cgroups.find((c) => c.endsWith(`-${name}`)) ?? this.cgroupFor(name, spec.memoryMb))
      : undefined;
    const child = spawn(
      "/bin/sh",
      ["-c", `${cgroup ? `echo $$ > ${cgroup}/cgroup.procs && ` : ""}exec "$@"`, "sh", ...this.commandLine(spec)],
      {
        env: { PATH: HOST_PATH },
        stdio: ["ignore", fd, fd],
      },
    );
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`${name}: could not start ${spec.argv.join(" ")}`);
    const exited = new Promise<number | null>((resolve) =>
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : null))),
    );
    const daemon: Daemon = { name, pid: child.pid, spec, child, exited, cgroup, logFile };
    this.daemons.set(name, daemon);
    this.log(`started ${name} (pid ${child.pid}): ${spec.argv.join(" ")}`);
    return daemon;
  }

  /** Runs a one-off command the way `start` would, to completion. */
  exec(
    spec: Omit<StartSpec, "env"> & { env: Record<string, string> },
    options: { input?: string; timeoutMs?: number; allowFailure?: boolean } = {},
  ) {
    const [command, ...args] = this.commandLine(spec);
    return this.run(command, args, { ...options, env: { PATH: HOST_PATH } });
  }

  /** `exec`, without blocking the event loop: resolves with its status and output. */
  execAsync(spec: Omit<StartSpec, "env"> & { env: Record<string, string> }, timeoutMs: number): Promise<RunResult> {
    const [command, ...args] = this.commandLine(spec);
    return new Promise((resolve) => {
      const child = spawn(command, args, { env: { PATH: HOST_PATH }, timeout: timeoutMs });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
  }

  /** Stops a daemon as `docker stop` does: its stop signal, then SIGKILL after the timeout. */
  async stop(name: string): Promise<void> {
    const daemon = this.daemons.get(name);
    if (!daemon) return;
    this.daemons.delete(name);
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) return;
    // A container is a PID namespace: when its main process exits, Docker kills whatever is left
    // in it (a shell loop's `sleep`, say). Remember the tree to do the same.
    const tree = descendants(daemon.pid);
    process.kill(daemon.pid, daemon.spec.stopSignal ?? "SIGTERM");
    const timeout = (daemon.spec.stopTimeoutSeconds ?? 10) * 1000;
    const stopped = await Promise.race([daemon.exited.then(() => true), delay(timeout).then(() => false)]);
    if (!stopped) {
      this.log(
        `${name} (pid ${daemon.pid}) ignored ${daemon.spec.stopSignal ?? "SIGTERM"} for ${timeout / 1000} s: SIGKILL`,
      );
      for (const pid of [daemon.pid, ...descendants(daemon.pid)]) tryKill(pid, "SIGKILL");
      await daemon.exited;
    }
    for (const pid of tree) tryKill(pid, "SIGKILL");
    this.log(`stopped ${name} (pid ${daemon.pid})`);
  }

  isRunning(name: string): boolean {
    const daemon = this.daemons.get(name);
    return !!daemon && daemon.child.exitCode === null && daemon.child.signalCode === null;
  }

  memory(name: string): Memory {
    const daemon = this.daemons.get(name);
    if (!daemon) throw new Error(`${name} is not running`);
    let rss = 0;
    let pss = 0;
    const pids = [daemon.pid, ...descendants(daemon.pid)];
    for (const pid of pids) {
      rss += kib(readOr(`/proc/${pid}/status`), "VmRSS");
      pss += kib(readOr(`/proc/${pid}/smaps_rollup`), "Pss");
    }
    const result: Memory = { rssMb: mb(rss * 1024), pssMb: mb(pss * 1024), processes: pids.length };
    if (daemon.cgroup) {
      result.cgroupPeakMb = mb(Number(readOr(join(daemon.cgroup, "memory.max_usage_in_bytes")) || 0));
      result.cgroupLimitHits = Number(readOr(join(daemon.cgroup, "memory.failcnt")) || 0);
    }
    return result;
  }

  /** CPU seconds the daemon's live processes (and the children they reaped) have used so far. */
  cpuSeconds(name: string): number {
    const daemon = this.daemons.get(name);
    if (!daemon) throw new Error(`${name} is not running`);
    return [daemon.pid, ...descendants(daemon.pid)].reduce((sum, pid) => sum + statOf(pid).cpuSeconds, 0);
  }

  /**
   * The daemon's memory cgroup as dockerd reads it for `GET /containers/{id}/stats` on cgroup v1:
   * memory.usage_in_bytes, memory.limit_in_bytes and memory.stat's counters (total_inactive_file, …).
   */
  cgroupMemory(name: string): { usage: number; limit: number; stats: Record<string, number> } | undefined {
    const cgroup = this.daemons.get(name)?.cgroup;
    if (!cgroup) return undefined;
    const stats = Object.fromEntries(
      readOr(join(cgroup, "memory.stat"))
        .trim()
        .split("\n")
        .map((line) => line.split(" "))
        .map(([key, value]) => [key, Number(value)]),
    );
    return {
      usage: Number(readOr(join(cgroup, "memory.usage_in_bytes")) || 0),
      limit: Number(readOr(join(cgroup, "memory.limit_in_bytes")) || 0),
      stats,
    };
  }

  /** Moves a process into the daemon's memory cgroup (its allocations are then charged to the container). */
  chargeTo(name: string, pid: number) {
    const cgroup = this.daemons.get(name)?.cgroup;
    if (!cgroup) throw new Error(`${name} has no memory cgroup`);
    writeFileSync(join(cgroup, "cgroup.procs"), String(pid));
  }

  /** Starts a daemon's cgroup peak afresh (a benchmark measures each server's run on its own). */
  resetMemoryPeak(name: string) {
    const cgroup = this.daemons.get(name)?.cgroup;
    if (cgroup) writeFileSync(join(cgroup, "memory.max_usage_in_bytes"), "0");
  }

  /** Whether a shared library is mapped into the daemon (jemalloc, say). */
  maps(name: string, library: string): boolean {
    const daemon = this.daemons.get(name);
    return !!daemon && readOr(`/proc/${daemon.pid}/maps`).includes(library);
  }

  // ---- teardown --------------------------------------------------------------------------------

  /**
   * Stops every daemon by PID (newest first), deletes the namespaces, unmounts everything, removes the
   * cgroups, then checks that no process and no mount of this run is left. Returns what was left.
   */
  async teardown(): Promise<string[]> {
    for (const name of [...this.daemons.keys()].reverse()) {
      try {
        await this.stop(name);
      } catch (error) {
        this.log(`stopping ${name}: ${String(error)}`);
      }
    }
    const left: string[] = [];
    // tsx's esbuild service is the harness's own runtime, a direct child it did not start itself.
    const runtime = (pid: number) => readOr(`/proc/${pid}/comm`).trim() === "esbuild" && parentOf(pid) === process.pid;
    for (const pid of descendants(process.pid).filter((p) => !runtime(p))) {
      left.push(`process ${pid} (${readOr(`/proc/${pid}/comm`).trim()}) still running: killed`);
      tryKill(pid, "SIGKILL");
    }
    for (const ns of this.namespaces.reverse()) this.run("ip", ["netns", "del", ns], { allowFailure: true });
    for (const target of this.mounts.reverse()) {
      if (this.run("umount", [target], { allowFailure: true }).status !== 0) {
        this.run("umount", ["-l", target], { allowFailure: true });
      }
    }
    const mountinfo = readOr("/proc/self/mountinfo");
    for (const line of mountinfo.split("\n")) {
      if (line.includes(this.runDir)) left.push(`still mounted: ${line.split(" ")[4]}`);
    }
    for (const cgroup of this.cgroups.reverse()) {
      try {
        rmdirSync(cgroup);
      } catch (error) {
        left.push(`cgroup ${cgroup} not removed: ${String(error)}`);
      }
    }
    return left;
  }
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function readOr(file: string, fallback = ""): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

function kib(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return match ? Number(match[1]) : 0;
}

function tryKill(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Kernel clock ticks per second, the unit of /proc/<pid>/stat's CPU times (100 on Linux). */
const CLOCK_TICKS = 100;

/**
 * A process's state, parent and CPU time (its own and its reaped children's, seconds) from
 * /proc/<pid>/stat: the fields after the command name, which may hold spaces.
 */
function statOf(pid: number | string): { state?: string; ppid: number; cpuSeconds: number } {
  const stat = readOr(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14–17 of proc(5): utime, stime, cutime, cstime (this slice starts at field 3).
  const ticks = fields.slice(11, 15).reduce((sum, f) => sum + (Number(f) || 0), 0);
  return { state: fields[0], ppid: Number(fields[1]), cpuSeconds: ticks / CLOCK_TICKS };
}

const parentOf = (pid: number) => statOf(pid).ppid;

/** Every live descendant of `pid`, from /proc (this run has its own PID namespace and /proc). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const { state, ppid } = statOf(entry);
    if (state === "Z" || !state) continue;
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [...(parents.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift()!;
    found.push(next);
    queue.push(...(parents.get(next) ?? []));
  }
  return found;
}
