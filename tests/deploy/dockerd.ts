/**
 * A Docker engine of the test's own: Debian's dockerd with its socket, data root, exec root, pid file
 * and cgroup parent under the run's directory, in a network namespace of its own (its bridges and
 * iptables rules never touch the machine's network). It publishes ports as the Scaleway host's daemon
 * does (config-templates/cloudInit.ts PUBLISHING: no userland proxy, ip6tables).
 *
 * The namespace has a "public" side: a veth to a client namespace, with documentation addresses for
 * IPv4 and IPv6, so clients reach published ports from an address of their own, as over the Internet.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { PUBLISHING } from "../../config-templates/cloudInit";

export const NETWORK = {
  /** The daemon's namespace (the "host"), and the clients'. */
  hostNs: "fgd-host",
  clientNs: "fgd-client",
  hostV4: "198.51.100.1",
  clientV4: "198.51.100.20",
  hostV6: "2001:db8:f6::1",
  clientV6: "2001:db8:f6::20",
} as const;

function run(command: string, args: string[], options: { allowFailure?: boolean; input?: string } = {}) {
  const result = spawnSync(command, args, { encoding: "utf8", input: options.input, maxBuffer: 64 << 20 });
  if (!options.allowFailure && result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stdout}${result.stderr}`);
  }
  return result;
}

export class TestDockerDaemon {
  readonly socket: string;
  readonly host: string;
  private child?: ChildProcess;
  readonly cgroupParent: string;

  constructor(
    private readonly runDir: string,
    private readonly log: (line: string) => void,
  ) {
    this.socket = join(runDir, "docker.sock");
    this.host = `unix://${this.socket}`;
    this.cgroupParent = `firmground-deploy-${runDir.split("-").pop()}`;
  }

  /** The namespaces, then dockerd; resolves once it answers /_ping. */
  async start(): Promise<void> {
    const { hostNs, clientNs } = NETWORK;
    for (const ns of [hostNs, clientNs]) {
      run("ip", ["netns", "add", ns]);
      run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    }
    run("ip", ["-n", hostNs, "link", "add", "public0", "type", "veth", "peer", "name", "eth0", "netns", clientNs]);
    for (const [ns, dev, v4, v6] of [
      [hostNs, "public0", NETWORK.hostV4, NETWORK.hostV6],
      [clientNs, "eth0", NETWORK.clientV4, NETWORK.clientV6],
    ]) {
      run("ip", ["-n", ns, "addr", "add", `${v4}/24`, "dev", dev]);
      run("ip", ["-n", ns, "-6", "addr", "add", `${v6}/64`, "dev", dev, "nodad"]);
      run("ip", ["-n", ns, "link", "set", dev, "up"]);
    }
    const config = {
      ...PUBLISHING,
      "data-root": join(this.runDir, "docker"),
      "exec-root": join(this.runDir, "exec"),
      pidfile: join(this.runDir, "docker.pid"),
      hosts: [this.host],
      "cgroup-parent": this.cgroupParent,
      "log-driver": "json-file",
    };
    const file = join(this.runDir, "daemon.json");
    writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
    mkdirSync(join(this.runDir, "logs"), { recursive: true });
    const out = openSync(join(this.runDir, "logs", "dockerd.log"), "a");
    // nsenter, not `ip netns exec`: that also mounts a fresh /sys, hiding the cgroup hierarchy dockerd needs.
    this.child = spawn("nsenter", [`--net=/run/netns/${hostNs}`, "dockerd", "--config-file", file], {
      stdio: ["ignore", out, out],
    });
    for (let waited = 0; ; waited += 500) {
      if (await this.ping()) break;
      if (this.child.exitCode !== null || waited > 60_000) {
        throw new Error(`dockerd did not start:\n${this.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    this.log(`dockerd ${this.version()} up on ${this.host} (in namespace ${hostNs})`);
  }

  private ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request({ socketPath: this.socket, path: "/_ping", timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on("error", () => resolve(false));
      req.on("timeout", () => req.destroy());
      req.end();
    });
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(join(this.runDir, "logs", "dockerd.log"), "utf8")
        .trim()
        .split("\n")
        .slice(-lines)
        .join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** The docker CLI against this daemon. */
  docker(args: string[], options: { allowFailure?: boolean; input?: string } = {}) {
    return run("docker", ["-H", this.host, ...args], options);
  }

  version(): string {
    return this.docker(["version", "--format", "{{.Server.Version}}"], { allowFailure: true }).stdout.trim();
  }

  /** Runs `argv` in the clients' namespace (their own addresses; the daemon's published ports ahead). */
  inClient(argv: string[]): string[] {
    return ["ip", "netns", "exec", NETWORK.clientNs, ...argv];
  }

  /** Removes every container, then stops dockerd and the namespaces; what is left is reported. */
  async stop(): Promise<string[]> {
    const leftovers: string[] = [];
    if (this.child && this.child.exitCode === null) {
      const ids = this.docker(["ps", "-aq"], { allowFailure: true }).stdout.trim().split("\n").filter(Boolean);
      if (ids.length) this.docker(["rm", "-f", ...ids], { allowFailure: true });
      this.child.kill("SIGTERM");
      const stopped = await Promise.race([
        new Promise<boolean>((r) => this.child!.on("exit", () => r(true))),
        new Promise<boolean>((r) => setTimeout(() => r(false), 30_000)),
      ]);
      if (!stopped) {
        leftovers.push("dockerd ignored SIGTERM for 30 s");
        this.child.kill("SIGKILL");
      }
    }
    for (const ns of [NETWORK.hostNs, NETWORK.clientNs]) run("ip", ["netns", "delete", ns], { allowFailure: true });
    return leftovers;
  }
}
