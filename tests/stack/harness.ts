/**
 * The real-daemon harness: the program's containers booted from their rendered files on Debian's
 * daemons, each in its own network namespace, behind a stand-in for the Internet (DNS, an ACME server,
 * a TURN peer). `npm run test:stack` (main.ts) and `npm run bench` (bench.ts) build on it.
 */
import { X509Certificate } from "node:crypto";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { spawn } from "node:child_process";
import { join } from "node:path";
import * as YAML from "yaml";
import { DATA_MOUNT } from "../../config-templates/cloudInit";
import { POSTGRES } from "../../config-templates/paths";
import { parseSettings } from "../../components/config";
import { DATA_VOLUME_DIRS } from "../../components/services/registry";
import { publicHostnames } from "../../components/services/matrixServices";
import { captureContainers, type Capture, type ContainerSpec } from "./capture";
import type { Check } from "./client";
import { log, stackCache } from "./isolation";
import { remoteRoomCache, restoreRemoteRooms, saveRemoteRooms } from "./remoteRooms";
import {
  ACME_CA_FILE,
  ACME_HOST,
  BIG_ROOM,
  NET,
  PEBBLE,
  REMOTE_SERVER,
  S3_HOST,
  S3_BUCKET,
  S3_KEY,
  S3_PORT,
  STAND_INS,
  TEST_CONFIG,
  TEST_SECRET_KEYS,
  TURN_PEER_PORT,
  remoteHomeserverConfig,
  type Outside,
  type StandIn,
} from "./overlay";
import { newKeyAndCert, openssl } from "../support/tools";
import { delay, descendants, inRoot, Sandbox, type Memory } from "./sandbox";
import { RCLONE_ENV } from "./s3";

/**
 * The CPU priority of the processes that stand for machines elsewhere (the remote homeserver, a
 * capacity run's load generator): on a shared machine they take what the stack leaves.
 */
export const FIXTURE_NICENESS = 10;

/** A daemon's memory at the moments a run measures it, and its container's limit. */
export type MemoryRecord = Record<string, { idle?: Memory; afterFlows?: Memory; limitMb?: number }>;

export class Harness {
  readonly checks: Check[] = [];
  readonly memory: MemoryRecord = {};
  capture!: Capture;
  /** The stack config the program was rendered with (boot's). */
  config: Record<string, string> = TEST_CONFIG;
  /** Its keys set with `--secret`. */
  secretKeys: string[] = TEST_SECRET_KEYS;
  caBundle = "";

  constructor(
    readonly sandbox: Sandbox,
    readonly rootfs: string,
    readonly runDir: string,
  ) {}

  check(name: string, ok: boolean, detail: string) {
    this.checks.push({ name, ok, detail });
    log(`${ok ? "PASS" : "FAIL"} ${name}: ${detail}`);
  }

  ns = (name: string) => `${NET.prefix}${name}`;
  container = (name: string): ContainerSpec => {
    const spec = this.capture.containers[name];
    if (!spec) throw new Error(`the program defines no ${name} container`);
    return spec;
  };
  upload = (container: string, path: string) => {
    const file = this.container(container).uploads.find((u) => u.path === path);
    if (!file) throw new Error(`${container} has no upload ${path}`);
    return file.content;
  };

  /** Renders the program's containers, builds the network and the outside, then starts `services` in order. */
  async boot(services: string[], config: Record<string, string> = TEST_CONFIG, secretKeys = TEST_SECRET_KEYS) {
    this.config = config;
    this.secretKeys = secretKeys;
    this.capture = await captureContainers(config, NET.hostPublicIp, secretKeys);
    log(
      `program rendered ${Object.keys(this.capture.containers).length} containers: ${Object.keys(this.capture.containers).join(", ")}`,
    );
    this.buildNetwork();
    this.startOutsideServices();
    let probe = "";
    const acmeUp = await this.waitFor(
      "ACME directory",
      () => {
        const result = this.tool("client", ["curl", "-fsS", "--cacert", ACME_CA_FILE, PEBBLE.directory]);
        probe = result.stderr;
        return result.status === 0;
      },
      30,
    );
    if (!acmeUp)
      throw new Error(`Pebble never answered (${probe.trim()}); its log:\n${tail(this.path("logs/pebble.log"))}`);
    for (const name of services) await this.startContainer(name);
  }

  /** Starts certbot and waits for its first certificate (HTTP-01 through HAProxy and NGINX). */
  async issueCertificate(): Promise<X509Certificate | undefined> {
    await this.startContainer("certbot");
    await this.waitFor("first certificate", () => existsSync(this.path("volume/certs/haproxy/firmground.pem")), 120);
    return this.liveCertificate();
  }

  // ---- network -----------------------------------------------------------------------------------

  buildNetwork() {
    const { sandbox } = this;
    mkdirSync("/run/netns", { recursive: true });
    sandbox.mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs"], "/run/netns");
    const host = this.ns("host");
    sandbox.addNamespace(host);
    sandbox.sysctl(host, "net.ipv4.ip_forward", "1");
    const docker = NET.dockerBridge;
    sandbox.addBridge(host, docker.name, `${docker.gateway}/${docker.prefixLength}`);
    sandbox.addBridge(host, NET.publicBridge.name, `${NET.hostPublicIp}/${NET.publicBridge.prefixLength}`);
    sandbox.ip(host, "addr", "add", `${NET.resolver}/${NET.publicBridge.prefixLength}`, "dev", NET.publicBridge.name);

    for (const spec of Object.values(this.capture.containers)) {
      if (spec.hostNetwork) continue;
      // No network: a namespace of its own with loopback only.
      if (spec.noNetwork) {
        sandbox.addNamespace(this.ns(spec.name));
        continue;
      }
      const address = NET.containers[spec.name];
      if (!address) throw new Error(`no address planned for container ${spec.name}`);
      sandbox.addNamespace(this.ns(spec.name));
      sandbox.plug(this.ns(spec.name), host, docker.name, `${address}/${docker.prefixLength}`, docker.gateway);
      // Only what the container asks for: Docker's own bridge default (any user may bind ports below
      // 1024, since 20.10) is not reproduced, so a container relying on it fails here.
      for (const [key, value] of Object.entries(spec.sysctls)) sandbox.sysctl(this.ns(spec.name), key, value);
    }
    sandbox.addNamespace(this.ns("jobs"));
    sandbox.plug(this.ns("jobs"), host, docker.name, `${NET.containers.jobs}/${docker.prefixLength}`, docker.gateway);
    for (const [name, address] of Object.entries(NET.outside)) {
      sandbox.addNamespace(this.ns(name));
      sandbox.plug(
        this.ns(name),
        host,
        NET.publicBridge.name,
        `${address}/${NET.publicBridge.prefixLength}`,
        NET.hostPublicIp,
      );
    }

    // Tools (curl, iptables, turnutils_uclient) run from the rootfs, resolving as the public side does.
    writeFileSync(inRoot(sandbox.makeRoot("tools"), "/etc/resolv.conf"), `nameserver ${NET.resolver}\n`);
    const iptables = (...args: string[]) => this.tool("host", ["iptables", "-w", ...args], true);
    for (const { host: port, container } of this.container("haproxy").publishedPorts) {
      iptables(
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-d",
        NET.hostPublicIp,
        "-p",
        "tcp",
        "--dport",
        String(port),
        "-j",
        "DNAT",
        "--to-destination",
        `${NET.containers.haproxy}:${container}`,
      );
    }
    iptables("-t", "nat", "-A", "POSTROUTING", "-s", docker.subnet, "!", "-o", docker.name, "-j", "MASQUERADE");

    // DNS for every name: containers (Docker's embedded DNS) and the public names (the Internet's).
    const names = [
      ...Object.entries(NET.containers).map(([name, ip]) => `${ip} ${name}`),
      `${NET.hostPublicIp} ${publicHostnames(parseSettings(this.config, this.secretKeys)).join(" ")}`,
      `${NET.outside.acme} ${ACME_HOST}`,
      `${NET.outside.remote} ${REMOTE_SERVER}`,
      `${NET.outside.s3} ${S3_HOST}`,
    ];
    const dns = sandbox.makeRoot("dns");
    writeFileSync(inRoot(dns, "/etc/firmground-hosts"), `${names.join("\n")}\n`);
    sandbox.start("dnsmasq", {
      ns: host,
      root: dns,
      user: "0:0",
      argv: [
        "dnsmasq",
        "-k",
        "--no-resolv",
        "--no-hosts",
        "--addn-hosts=/etc/firmground-hosts",
        `--listen-address=${docker.gateway},${NET.resolver}`,
        "--bind-interfaces",
        "--user=root",
        // Authoritative for the test names: a missing record (the remote's SRV) is "no such", not "refused".
        `--local=/test/`,
        "--log-facility=-",
      ],
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    });
    // The client processes run on this machine's Node: give them the test network's resolver.
    writeFileSync(this.path("resolv.conf"), `nameserver ${NET.resolver}\n`);
    writeFileSync(this.path("hosts"), "127.0.0.1 localhost\n");
    sandbox.mount(["--bind", this.path("resolv.conf")], "/etc/resolv.conf");
    sandbox.mount(["--bind", this.path("hosts")], "/etc/hosts");
  }

  path = (relative: string) => join(this.runDir, relative);

  /** A tool from the rootfs (curl, iptables, turnutils_*), run inside a namespace. */
  tool(ns: string, argv: string[], mustPass = false, timeoutMs = 30_000) {
    return this.sandbox.exec(
      {
        ns: this.ns(ns),
        root: join(this.runDir, "roots/tools/root"),
        user: "0:0",
        argv,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      },
      { allowFailure: !mustPass, timeoutMs },
    );
  }

  // ---- the outside: ACME server and TURN peer ----------------------------------------------------

  /** A key and a server certificate for `host`, signed by the test CA (acme/ca.pem). */
  /**
   * A key and a certificate for `host` (and `options.names`), from the test CA or `options.ca` (PEM files
   * under the run directory), valid `options.days` (1).
   */
  testCertificate(
    host: string,
    keyFile: string,
    certFile: string,
    options: { names?: string[]; ca?: { cert: string; key: string }; days?: number } = {},
  ) {
    const csr = this.path(`acme/${host}.csr`);
    const extensions = this.path(`acme/${host}.cnf`);
    newKeyAndCert(this.path(keyFile), csr, `/CN=${host}`, false);
    const names = [host, ...(options.names ?? []).filter((n) => n !== host)];
    writeFileSync(
      extensions,
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
    );
    openssl(
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      this.path(options.ca?.cert ?? "acme/ca.pem"),
      "-CAkey",
      this.path(options.ca?.key ?? "acme/ca.key"),
      "-CAcreateserial",
      "-days",
      String(options.days ?? 1),
      "-extfile",
      extensions,
      "-out",
      this.path(certFile),
    );
  }

  startOutsideServices() {
    const { sandbox } = this;
    // A CA for the ACME server's own HTTPS endpoint (certbot must trust it, as it trusts Let's Encrypt).
    mkdirSync(this.path("acme"));
    openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=firmground test ACME CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-keyout",
      this.path("acme/ca.key"),
      "-out",
      this.path("acme/ca.pem"),
    );
    this.testCertificate(ACME_HOST, "acme/key.pem", "acme/cert.pem");
    sandbox.writeFile(this.rootOf("tools"), ACME_CA_FILE, readFileSync(this.path("acme/ca.pem"), "utf8"), 0, 0, 0o644);
    this.caBundle = this.path("ca-bundle.pem");
    writeFileSync(this.caBundle, readFileSync(this.path("acme/ca.pem")));

    const acme = sandbox.makeRoot("acme");
    mkdirSync(inRoot(acme, "/etc/pebble"), { recursive: true });
    for (const file of ["cert.pem", "key.pem"])
      writeFileSync(inRoot(acme, `/etc/pebble/${file}`), readFileSync(this.path(`acme/${file}`)));
    writeFileSync(
      inRoot(acme, "/etc/pebble/config.json"),
      JSON.stringify(PEBBLE.config("/etc/pebble/cert.pem", "/etc/pebble/key.pem"), null, 2),
    );
    sandbox.start("pebble", {
      ns: this.ns("acme"),
      root: acme,
      user: "0:0",
      argv: ["pebble", "-config", "/etc/pebble/config.json", "-dnsserver", `${NET.resolver}:53`],
      env: { PATH: "/usr/bin:/bin", ...PEBBLE.env },
    });
    sandbox.start("turn-peer", {
      ns: this.ns("peer"),
      root: sandbox.makeRoot("peer"),
      user: "65534:65534",
      argv: ["turnutils_peer", "-L", NET.outside.peer, "-p", String(TURN_PEER_PORT)],
      env: { PATH: "/usr/bin:/bin" },
    });
  }

  /** The backups' S3 server (rclone serve s3 with the test key, TLS from the test CA), data kept across restarts. */
  startS3Server() {
    const { sandbox } = this;
    const rclone = process.env[RCLONE_ENV];
    if (!rclone) throw new Error(`${RCLONE_ENV} is not set: the run builds rclone before it starts (isolation.ts)`);
    let root = this.rootOf("s3");
    if (!existsSync(join(root, "etc/debian_version"))) {
      root = sandbox.makeRoot("s3");
      this.testCertificate(S3_HOST, "acme/s3-key.pem", "acme/s3-cert.pem");
      for (const file of ["s3-key.pem", "s3-cert.pem"])
        sandbox.writeFile(root, `/etc/s3/${file}`, readFileSync(this.path(`acme/${file}`), "utf8"), 0, 0, 0o600);
      copyFileSync(rclone, inRoot(root, "/usr/local/bin/rclone"));
      chmodSync(inRoot(root, "/usr/local/bin/rclone"), 0o755);
      // The bucket exists, as an operator's would before it is given in backup.repository.
      mkdirSync(this.path(`s3-data/${S3_BUCKET}`), { recursive: true });
      sandbox.bind(this.path("s3-data"), root, "/srv/s3", false);
    }
    sandbox.start("s3", {
      ns: this.ns("s3"),
      root,
      user: "0:0",
      argv: [
        "rclone",
        "serve",
        "s3",
        "--config",
        "/dev/null",
        "--auth-key",
        `${S3_KEY.accessKeyId},${S3_KEY.secretAccessKey}`,
        "--addr",
        `${NET.outside.s3}:${S3_PORT}`,
        "--cert",
        "/etc/s3/s3-cert.pem",
        "--key",
        "/etc/s3/s3-key.pem",
        "/srv/s3",
      ],
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/root" },
    });
  }

  // ---- containers --------------------------------------------------------------------------------

  /** Host path of a container mount: the data volume's directories, or a named Docker volume. */
  private mountSource(spec: ContainerSpec, mount: ContainerSpec["mounts"][number]): string {
    if (mount.hostPath) {
      if (!mount.hostPath.startsWith(`${DATA_MOUNT}/`))
        throw new Error(`${spec.name}: host path ${mount.hostPath} is outside the data volume`);
      const source = this.path(`volume/${mount.hostPath.slice(DATA_MOUNT.length + 1)}`);
      mkdirSync(source, { recursive: true });
      return source;
    }
    const source = this.path(`docker-volumes/${mount.volumeName}`);
    if (!existsSync(source)) {
      mkdirSync(source, { recursive: true });
      // A new named volume is root's unless its options say otherwise (Docker's copying of the image
      // directory's ownership is not reproduced, so a container relying on it fails here).
      const options = Object.fromEntries(
        (mount.volumeOptions?.o ?? "").split(",").map((o) => o.split("=") as [string, string]),
      );
      if (options.uid !== undefined) chownSync(source, Number(options.uid), Number(options.gid ?? options.uid));
      if (options.mode !== undefined) chmodSync(source, parseInt(options.mode, 8));
    }
    return source;
  }

  private prepareDataVolume() {
    if (existsSync(this.path("volume/.prepared"))) return;
    // As the host's bootstrap does on a blank volume.
    for (const dir of DATA_VOLUME_DIRS) {
      const path = this.path(`volume/${dir.path}`);
      mkdirSync(path, { recursive: true });
      chownSync(path, Number(dir.owner), Number(dir.owner));
      chmodSync(path, parseInt(dir.mode, 8));
    }
    writeFileSync(this.path("volume/.prepared"), "");
  }

  rootOf = (name: string) => join(this.runDir, "roots", name, "root");

  /** A fresh root laid out as `standIn`'s image: its removals, accounts, directories and files. */
  protected imageRoot(rootName: string, standIn: StandIn, shmMb = 64): string {
    const { sandbox } = this;
    const root = sandbox.makeRoot(rootName, shmMb);
    for (const path of standIn.remove) rmSync(inRoot(root, path), { force: true });
    for (const account of standIn.accounts) {
      const [user, uid, gid, home] = account.split(":");
      writeFileSync(inRoot(root, "/etc/passwd"), `${user}:x:${uid}:${gid}::${home}:/bin/sh\n`, { flag: "a" });
      writeFileSync(inRoot(root, "/etc/group"), `${user}:x:${gid}:\n`, { flag: "a" });
    }
    for (const dir of standIn.dirs) {
      mkdirSync(inRoot(root, dir.path), { recursive: true });
      chownSync(inRoot(root, dir.path), ...(dir.owner.split(":").map(Number) as [number, number]));
    }
    for (const file of standIn.files) sandbox.writeFile(root, file.path, file.content, 0, 0, file.mode);
    return root;
  }

  /** What Docker writes into every container: its hosts file (its name on the bridge) and resolver. */
  protected dockerFiles(root: string, name: string, hostNetwork: boolean) {
    const resolver = hostNetwork ? NET.resolver : NET.dockerBridge.gateway;
    writeFileSync(
      inRoot(root, "/etc/hosts"),
      `127.0.0.1 localhost\n${hostNetwork ? "" : `${NET.containers[name]} ${name}\n`}`,
    );
    writeFileSync(inRoot(root, "/etc/resolv.conf"), `nameserver ${resolver}\n`);
  }

  /** The container's root, laid out as its image with its mounts and files the first time. */
  private containerRoot(name: string): { spec: ContainerSpec; standIn: StandIn; root: string } {
    const { sandbox } = this;
    const spec = this.container(name);
    const standIn = STAND_INS[name];
    if (!standIn) throw new Error(`no image stand-in for ${name} (${spec.image})`);
    this.prepareDataVolume();
    let root = this.rootOf(name);
    if (!existsSync(join(root, "etc/debian_version"))) {
      root = this.imageRoot(name, standIn, spec.shmSizeMb ?? 64);
      if (name === "certbot" || name === "synapse")
        sandbox.writeFile(root, ACME_CA_FILE, readFileSync(this.path("acme/ca.pem"), "utf8"), 0, 0, 0o644);
      // The S3 server's certificate comes from the test CA: the backup container's bundle holds it too.
      if (name === "backup") {
        const bundle = inRoot(root, "/etc/ssl/certs/ca-certificates.crt");
        writeFileSync(bundle, `${readFileSync(bundle, "utf8")}${readFileSync(this.path("acme/ca.pem"), "utf8")}`);
      }
      for (const mount of spec.mounts)
        sandbox.bind(this.mountSource(spec, mount), root, mount.containerPath, mount.readOnly);
      for (const file of standIn.rendered?.(spec.env) ?? [])
        sandbox.writeFile(root, file.path, file.content, 0, 0, file.mode);
      // The program's files, byte for byte, with their owners and modes.
      for (const file of spec.uploads) sandbox.writeFile(root, file.path, file.content, file.uid, file.gid, file.mode);
      this.dockerFiles(root, name, !!spec.hostNetwork);
    }
    return { spec, standIn, root };
  }

  /** How a container's processes run: its namespace, root, user (its own over the image's) and environment. */
  private processBase(name: string) {
    const { spec, standIn, root } = this.containerRoot(name);
    return {
      ns: this.ns(spec.hostNetwork ? "host" : name),
      root,
      user: spec.user ?? standIn.user,
      env: { ...standIn.env(root), ...spec.env },
    };
  }

  /** Runs a one-shot container (mustRun false) to completion, as its creation does. */
  runOneShot(name: string) {
    const { spec, standIn } = this.containerRoot(name);
    if (!spec.oneShot) throw new Error(`${name} is a service, not a one-shot container`);
    const result = this.sandbox.exec(
      { ...this.processBase(name), argv: standIn.argv(spec) },
      { allowFailure: true, timeoutMs: 120_000 },
    );
    this.check(`${name} (one-shot) exits 0`, result.status === 0, `exit ${result.status}; ${lastLines(result.stderr)}`);
    return result;
  }

  async startContainer(name: string) {
    const { sandbox } = this;
    const { spec, standIn, root } = this.containerRoot(name);
    const base = this.processBase(name);
    if (standIn.initUnless && !existsSync(inRoot(root, standIn.initUnless))) {
      // The image's entrypoint, when it runs as root, first hands the data directory to the image's user.
      for (const mount of spec.mounts) {
        if (mount.hostPath) {
          const source = this.mountSource(spec, mount);
          chownSync(source, ...(standIn.user.split(":").map(Number) as [number, number]));
          chmodSync(source, 0o700);
        }
      }
      for (const step of standIn.init(spec)) {
        log(`${name}: first start, ${step.argv.join(" ")}`);
        sandbox.exec({ ...base, argv: step.argv }, { input: step.input, timeoutMs: 120_000 });
      }
    }
    sandbox.start(name, {
      ...base,
      argv: standIn.argv(spec),
      memoryMb: spec.memoryMb,
      stopSignal: standIn.stopSignal,
      stopTimeoutSeconds: 30,
    });
    this.memory[name] = { ...this.memory[name], limitMb: spec.memoryMb };
    await this.waitHealthy(name);
  }

  /** A command inside a running container's root and namespace, as its image's user (`docker exec`). */
  execIn(name: string, argv: string[], options: { allowFailure?: boolean; timeoutMs?: number } = {}) {
    return this.sandbox.exec({ ...this.processBase(name), argv }, { timeoutMs: 60_000, ...options });
  }

  /** `docker exec` without blocking: the Docker API shim answers other calls meanwhile. */
  execInAsync(name: string, argv: string[], timeoutMs = 3_600_000) {
    return this.sandbox.execAsync({ ...this.processBase(name), argv }, timeoutMs);
  }

  /** psql over PostgreSQL's local socket (trusted) as the database's owner, on the `postgres` database. */
  psql(args: string[], options: { allowFailure?: boolean } = {}) {
    const connection = ["-h", "/var/run/postgresql", "-U", POSTGRES.user, "-d", "postgres", "-v", "ON_ERROR_STOP=1"];
    return this.execIn("postgres", ["psql", ...connection, ...args], options);
  }

  /** Polls the container's own Docker healthcheck until it passes, as `wait: true` does. */
  async waitHealthy(name: string, timeoutSeconds = 120) {
    const spec = this.container(name);
    const [kind, ...rest] = spec.healthcheck;
    const argv = kind === "CMD-SHELL" ? ["/bin/sh", "-c", rest.join(" ")] : rest;
    const started = Date.now();
    const healthy = await this.waitFor(
      `${name} healthy`,
      () => {
        if (!this.sandbox.isRunning(name))
          throw new Error(`${name} exited; its log:\n${tail(this.path(`logs/${name}.log`))}`);
        return this.execIn(name, argv, { allowFailure: true, timeoutMs: 10_000 }).status === 0;
      },
      timeoutSeconds,
    );
    this.check(
      `${name} healthy (its own healthcheck)`,
      healthy,
      `${spec.healthcheck.slice(1).join(" ")} after ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    if (!healthy) throw new Error(`${name} never became healthy; its log:\n${tail(this.path(`logs/${name}.log`))}`);
  }

  async waitFor(what: string, test: () => boolean, timeoutSeconds: number): Promise<boolean> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    while (Date.now() < deadline) {
      if (test()) return true;
      await delay(500);
    }
    log(`gave up waiting for ${what} after ${timeoutSeconds} s`);
    return false;
  }

  memoryOf(name: string, when: "idle" | "afterFlows") {
    if (!this.sandbox.isRunning(name)) return;
    this.memory[name] = { ...this.memory[name], [when]: this.sandbox.memory(name) };
  }

  liveCertificate(): X509Certificate | undefined {
    const file = this.path("volume/letsencrypt/live/firmground/cert.pem");
    return existsSync(file) ? new X509Certificate(readFileSync(file)) : undefined;
  }

  trustPebble() {
    const pem = this.tool(
      "client",
      ["curl", "-fsS", "--cacert", ACME_CA_FILE, `https://${ACME_HOST}:15000/roots/0`],
      true,
    ).stdout;
    writeFileSync(this.caBundle, `${readFileSync(this.path("acme/ca.pem"), "utf8")}${pem}`);
  }

  // ---- the load generator (load.ts) -----------------------------------------------------------------

  /**
   * A benchmark's stack: PostgreSQL, Synapse, NGINX and HAProxy booted from `config` (no secret keys), a
   * certificate from the ACME server, and the users' namespace holding `sources`.
   */
  async bootForLoad(config: Record<string, string>, sources: string[]) {
    await this.boot(["postgres", "synapse", "nginx", "haproxy"], config, []);
    const live = await this.issueCertificate();
    if (!live) throw new Error(`certbot issued no certificate; its log:\n${tail(this.path("logs/certbot.log"))}`);
    this.trustPebble();
    this.addLoadNamespace(sources);
  }

  /** The users' side of a benchmark: one namespace on the public bridge holding every source address. */
  addLoadNamespace(sources: string[]) {
    const ns = this.ns("load");
    this.sandbox.addNamespace(ns);
    const prefix = NET.publicBridge.prefixLength;
    this.sandbox.plug(ns, this.ns("host"), NET.publicBridge.name, `${sources[0]}/${prefix}`, NET.hostPublicIp);
    for (const address of sources.slice(1)) this.sandbox.ip(ns, "addr", "add", `${address}/${prefix}`, "dev", "eth0");
  }

  /**
   * Runs `load.ts <command> <plan file> <args…>` in namespace `ns` at `niceness`, killed after
   * `limitSeconds` (the run then fails rather than hangs).
   */
  async runLoad(ns: string, [command, ...args]: string[], plan: object, limitSeconds: number, niceness = 0) {
    const planFile = this.path(`plan-${Date.now()}.json`);
    writeFileSync(planFile, JSON.stringify(plan), { mode: 0o600 });
    return new Promise<{ code: number; output: string }>((resolve) => {
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          this.ns(ns),
          "nice",
          "-n",
          String(niceness),
          process.execPath,
          "--import",
          "tsx",
          join(__dirname, "load.ts"),
          command,
          planFile,
          ...args,
        ],
        { env: { ...process.env, NODE_EXTRA_CA_CERTS: this.caBundle } },
      );
      let text = "";
      const killer = setTimeout(() => {
        text += `\nkilled after ${limitSeconds} s`;
        child.kill("SIGKILL");
      }, limitSeconds * 1000);
      child.stdout.on("data", (d: Buffer) => (text += d.toString()));
      child.stderr.on("data", (d: Buffer) => (text += d.toString()));
      child.on("close", (exit) => {
        clearTimeout(killer);
        resolve({ code: exit ?? 1, output: text });
      });
    });
  }

  // ---- client phases (client.ts) in the outside namespaces --------------------------------------

  /** The client context file (main.ts writes it; phases that take no context run without it). */
  protected contextFile = () => this.path("client-context.json");

  /** Runs one client phase inside an outside namespace; its checks join the summary. */
  client(where: Outside, phase: string, ...args: string[]): string {
    return this.clientRun(where, phase, args, false);
  }

  protected clientRun(where: Outside, phase: string, args: string[], probe: boolean): string {
    const { resultFile, argv, env } = this.clientCommand(where, phase, args);
    const result = this.sandbox.run("ip", argv, { allowFailure: true, timeoutMs: 120_000, env });
    return this.clientResult(where, phase, resultFile, result, probe);
  }

  /** A client phase started without waiting for it (another source acts meanwhile). */
  clientAsync(where: Outside, phase: string, ...args: string[]): Promise<string> {
    return this.clientWithin(300_000, where, phase, ...args);
  }

  /** As clientAsync, killed after `timeoutMs` (its checks then fail for want of a result). */
  clientWithin(timeoutMs: number, where: Outside, phase: string, ...args: string[]): Promise<string> {
    const { resultFile, argv, env } = this.clientCommand(where, phase, args);
    const child = spawn("ip", argv, { env });
    const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) =>
      child.on("close", (status) => {
        clearTimeout(killer);
        resolve(this.clientResult(where, phase, resultFile, { status, stdout, stderr }, false));
      }),
    );
  }

  private clientCommand(where: Outside, phase: string, args: string[]) {
    const resultFile = this.path(`client-${where}-${phase}-${Date.now()}.json`);
    const argv = [
      "netns",
      "exec",
      this.ns(where),
      process.execPath,
      "--import",
      "tsx",
      join(__dirname, "client.ts"),
      phase,
      resultFile,
      ...args,
    ];
    const env = { ...process.env, STACK_CONTEXT: this.contextFile(), NODE_EXTRA_CA_CERTS: this.caBundle };
    return { resultFile, argv, env };
  }

  private clientResult(
    where: Outside,
    phase: string,
    resultFile: string,
    result: { status: number | null; stdout: string; stderr: string },
    probe: boolean,
  ): string {
    writeFileSync(this.path(`logs/client-${where}-${phase}.log`), `${result.stdout}${result.stderr}`, { flag: "a" });
    if (!existsSync(resultFile)) {
      this.check(
        `client ${phase}`,
        false,
        `no result (exit ${result.status}): ${`${result.stdout}${result.stderr}`.slice(-800)}`,
      );
      return resultFile;
    }
    if (!probe) {
      for (const c of JSON.parse(readFileSync(resultFile, "utf8")) as Check[])
        this.check(`${c.name} [${where}]`, c.ok, c.detail);
    }
    return resultFile;
  }

  // ---- the remote homeserver ----------------------------------------------------------------------

  /**
   * A second Synapse (remote.test) in its own namespace, with its own key and a test-CA certificate,
   * hosting the big and the small room: built on the first run, then taken from the cache
   * (remoteRooms.ts).
   */
  async startRemote() {
    const { sandbox } = this;
    const root = sandbox.makeRoot("remote");
    const dir = "/etc/remote";
    this.testCertificate(REMOTE_SERVER, "acme/remote-key.pem", "acme/remote-cert.pem");
    const secret = `remote-${Math.random().toString(36).slice(2)}`;
    const files = {
      cert: `${dir}/cert.pem`,
      key: `${dir}/key.pem`,
      data: "/var/lib/remote",
      secret: `${dir}/registration_secret`,
    };
    const config = remoteHomeserverConfig(files);
    sandbox.writeFile(root, files.cert, readFileSync(this.path("acme/remote-cert.pem"), "utf8"), 0, 0, 0o644);
    sandbox.writeFile(root, files.key, readFileSync(this.path("acme/remote-key.pem"), "utf8"), 0, 0, 0o600);
    sandbox.writeFile(root, files.secret, secret, 0, 0, 0o600);
    sandbox.writeFile(root, `${dir}/homeserver.yaml`, YAML.stringify(config), 0, 0, 0o644);
    mkdirSync(inRoot(root, `${files.data}/media`), { recursive: true });
    writeFileSync(inRoot(root, "/etc/resolv.conf"), `nameserver ${NET.resolver}\n`);
    const spec = { ns: this.ns("remote"), root, user: "0:0", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } };
    const synapseArgv = ["python3", "-m", "synapse.app.homeserver", "--config-path", `${dir}/homeserver.yaml`];
    // A test fixture standing for a server elsewhere: it takes the CPU the stack leaves (nice 10).
    const niced = ["nice", "-n", String(FIXTURE_NICENESS)];

    const cache = remoteRoomCache(stackCache(), this.rootfs, config);
    const cached = restoreRemoteRooms(cache, inRoot(root, files.data), this.remoteRoomsFile);
    if (!cached) sandbox.exec({ ...spec, argv: [...synapseArgv, "--generate-keys"] }, { timeoutMs: 120_000 });
    sandbox.start("remote-synapse", { ...spec, argv: [...niced, ...synapseArgv] });
    const up = await this.waitFor(
      "remote homeserver",
      () =>
        sandbox.exec({ ...spec, argv: ["curl", "-fsSk", "https://127.0.0.1:8448/health"] }, { allowFailure: true })
          .status === 0,
      90,
    );
    if (!up)
      throw new Error(`the remote homeserver never answered; its log:\n${tail(this.path("logs/remote-synapse.log"))}`);
    if (cached) {
      log(`remote rooms taken from ${cache}`);
      return;
    }
    log(`building the remote rooms (${BIG_ROOM.members} members, ${BIG_ROOM.fillerStateEvents} other state events)`);
    const { members, fillerStateEvents } = BIG_ROOM;
    await this.clientWithin(
      40 * 60_000,
      "client",
      "remote-setup",
      this.remoteRoomsFile,
      REMOTE_SERVER,
      secret,
      String(members),
      String(fillerStateEvents),
    );
    if (!existsSync(this.remoteRoomsFile)) return;
    // A consistent copy of the live database (SQLite's online backup), then into the cache.
    const snapshot = `${files.data}/snapshot.db`;
    sandbox.exec({
      ...spec,
      argv: [
        "python3",
        "-c",
        "import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))",
        `${files.data}/homeserver.db`,
        snapshot,
      ],
    });
    saveRemoteRooms(cache, {
      database: inRoot(root, snapshot),
      signingKey: inRoot(root, `${files.data}/signing.key`),
      rooms: this.remoteRoomsFile,
    });
    log(`remote rooms saved to ${cache}`);
  }

  get remoteRoomsFile() {
    return this.path("remote-rooms.json");
  }

  wakeSleep(name: string) {
    const daemon = this.sandbox.daemons.get(name);
    const sleeps = daemon
      ? descendants(daemon.pid).filter((pid) => readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "sleep")
      : [];
    for (const pid of sleeps) process.kill(pid, "SIGTERM");
    log(`woke ${name}'s loop (${sleeps.length} sleep)`);
  }
}

export const tail = (file: string, lines = 25) =>
  existsSync(file) ? readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n") : "(no log)";
export const lastLines = (text: string) => text.trim().split("\n").slice(-2).join(" | ");
