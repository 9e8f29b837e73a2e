/**
 * `npm run test:deploy` (root, Debian): the program deployed for real — the real Pulumi CLI and engine
 * (built from Go modules) on a real Docker engine of the run's own — with the local stack, and the bad
 * cases refused through the real CLI. What stands in, and why: languageHost.ts (the Node.js language
 * host), providers/ (docker, random, tls) and images.ts (no registry: one image per default reference,
 * built from the Debian rootfs, keeping each upstream image's contract). Everything is written to
 * .stack/deploy.json (DEPLOY_SUMMARY moves it).
 */
import type { DoctorReport } from "../../components/doctor/findings";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as YAML from "yaml";
import { LOCAL_PORTS } from "../../components/config";
import { DEFAULT_IMAGES } from "../../components/services/registry";
import { BACKUP } from "../../config-templates/paths";
import { log, REPO, runIsolated } from "../stack/isolation";
import type { DeployClientContext } from "./client";
import { NETWORK, TestDockerDaemon } from "./dockerd";
import { buildImages } from "./images";
import { ensurePulumiCli, pinnedPulumiVersion } from "./pulumiCli";

const SUMMARY_FILE = process.env.DEPLOY_SUMMARY ?? join(REPO, ".stack", "deploy.json");
const CACHE = process.env.FIRMGROUND_PULUMI_CACHE ?? "/var/cache/firmground-pulumi";

interface Step {
  name: string;
  ok: boolean;
  seconds: number;
  detail: string;
}
interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

class DeployTest {
  readonly steps: Step[] = [];
  readonly checks: Check[] = [];
  private daemon: TestDockerDaemon;
  private project: string;
  private env: NodeJS.ProcessEnv = {};
  private pulumiVersion = "";
  private dockerVersion = "";
  private dataDir: string;

  constructor(
    private readonly runDir: string,
    private readonly rootfs: string,
  ) {
    this.daemon = new TestDockerDaemon(runDir, log);
    this.project = join(runDir, "project");
    this.dataDir = join(runDir, "firmground-data");
    this.backupDir = join(runDir, "firmground-backups");
  }

  private backupDir: string;

  /** backup.sh in the backup container, as `docker exec` runs it. */
  private backupScript(...args: string[]) {
    return this.daemon.docker(["exec", "backup", "/bin/sh", BACKUP.script, ...args], { allowFailure: true });
  }

  private backupStatus(): { result?: string; reason?: string; time?: string; snapshot?: string } {
    try {
      return (JSON.parse(this.backupScript("status").stdout) as { last: Record<string, string> | null }).last ?? {};
    } catch {
      return {};
    }
  }

  check(name: string, ok: boolean, detail: string) {
    this.checks.push({ name, ok, detail });
    log(`${ok ? "PASS" : "FAIL"} ${name}: ${detail}`);
  }

  /** Runs one timed step; a step that throws fails (and, when `critical`, ends the run). */
  async step(name: string, work: () => Promise<string> | string, critical = true): Promise<boolean> {
    const started = Date.now();
    log(`step: ${name}`);
    let ok = true;
    let detail: string;
    try {
      detail = await work();
    } catch (error) {
      ok = false;
      detail = error instanceof Error ? error.message : String(error);
    }
    if (!ok) detail = `${detail}\n${this.diagnose()}`;
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    this.steps.push({ name, ok, seconds, detail: detail.slice(0, 2000) });
    log(`${ok ? "done" : "FAILED"}: ${name} (${seconds} s)${ok ? "" : `\n${detail}`}`);
    if (!ok && critical) throw new Error(`step failed: ${name}`);
    return ok;
  }

  /** The real CLI in the project copy. */
  pulumi(args: string[], options: { allowFailure?: boolean; timeoutMs?: number } = {}) {
    const result = spawnSync("pulumi", args, {
      cwd: this.project,
      env: this.env,
      encoding: "utf8",
      timeout: options.timeoutMs ?? 900_000,
      maxBuffer: 256 << 20,
    });
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
    writeFileSync(join(this.runDir, "logs", "pulumi.log"), `\n$ pulumi ${args.join(" ")}\n${output}`, { flag: "a" });
    if (!options.allowFailure && result.status !== 0) {
      throw new Error(
        `pulumi ${args.join(" ")} exited ${result.status}:\n${output.trim().split("\n").slice(-40).join("\n")}`,
      );
    }
    return { status: result.status, stdout: result.stdout ?? "", output };
  }

  output(name: string, secret = false): any {
    const args = ["stack", "output", name, "--json", ...(secret ? ["--show-secrets"] : [])];
    return JSON.parse(this.pulumi(args).stdout);
  }

  // ---- steps -------------------------------------------------------------------------------------

  async prepare() {
    await this.step("build the Pulumi CLI from Go modules", () => {
      const cli = ensurePulumiCli(CACHE, log);
      const bin = join(this.runDir, "bin");
      mkdirSync(bin, { recursive: true });
      symlinkSync(cli.path, join(bin, "pulumi"));
      this.env = {
        PATH: [bin, join(__dirname, "bin"), process.env.PATH ?? "/usr/bin:/bin"].join(":"),
        HOME: this.runDir,
        PULUMI_HOME: join(this.runDir, "pulumi-home"),
        PULUMI_BACKEND_URL: `file://${join(this.runDir, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: "firmground-test-passphrase",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        DOCKER_HOST: this.daemon.host,
      };
      mkdirSync(join(this.runDir, "state"), { recursive: true });
      this.pulumiVersion = spawnSync(cli.path, ["version"], { encoding: "utf8" }).stdout.trim();
      return `${this.pulumiVersion}${cli.builtSeconds ? `, built in ${cli.builtSeconds} s` : " (cached)"}`;
    });
    await this.step("a Docker engine of the run's own", async () => {
      mkdirSync("/run/netns", { recursive: true });
      spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", "/run/netns"]);
      await this.daemon.start();
      this.dockerVersion = this.daemon.version();
      return `dockerd ${this.dockerVersion}`;
    });
    await this.step("stand-in images built and checked against their contracts", () => {
      const problems = buildImages(this.daemon, this.rootfs, this.runDir, log);
      if (problems.length) throw new Error(problems.join("\n"));
      return `${Object.keys(DEFAULT_IMAGES).length} images`;
    });
    await this.step("the project copied; stack local", () => {
      mkdirSync(this.project);
      for (const entry of ["index.ts", "components", "config-templates", "policy", "package.json", "tsconfig.json"]) {
        cpSync(join(REPO, entry), join(this.project, entry), { recursive: true });
      }
      for (const file of ["Pulumi.yaml", "Pulumi.local.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml"]) {
        cpSync(join(REPO, file), join(this.project, file));
      }
      symlinkSync(join(REPO, "node_modules"), join(this.project, "node_modules"));
      // Clients resolve the stack's names to the daemon's public address (this run's mount namespace only).
      const names = ["firmground.localhost", "matrix", "element", "turn", "admin"].map((n) =>
        n.includes(".") ? n : `${n}.firmground.localhost`,
      );
      writeFileSync(join(this.runDir, "hosts"), `127.0.0.1 localhost\n${NETWORK.hostV4} ${names.join(" ")}\n`);
      spawnSync("mount", ["--bind", join(this.runDir, "hosts"), "/etc/hosts"]);
      this.pulumi(["stack", "init", "local"]);
      this.pulumi(["config", "set", "firmground:localDataDir", this.dataDir]);
      this.pulumi(["config", "set", "--path", "firmground:backup.repository", this.backupDir]);
      this.pulumi(["config", "set", "--secret", "firmground:adminPassword", "admin-password-of-the-test-1"]);
      return `stack local in ${this.project}`;
    });
  }

  async deploy() {
    await this.step("preview (local stack, policy pack)", () => {
      const result = this.pulumi(["preview", "--policy-pack", "policy", "--diff"]);
      const creates = /(\d+) to create/.exec(result.output)?.[1];
      return `${creates ?? "?"} to create, no mandatory policy violation`;
    });
    await this.step("up (local stack)", () => {
      const result = this.pulumi(["up", "--yes", "--skip-preview", "--policy-pack", "policy"]);
      return /Resources:[\s\S]*?\n\n/.exec(result.output)?.[0].trim() ?? "done";
    });
    this.healthChecks("after up");
    this.secretChecks();
    await this.step("users: npm run user -- add bob, reading the real stack output", () => {
      const result = spawnSync(
        process.execPath,
        ["--import", "tsx", join(REPO, "components/users/cli.ts"), "add", "bob", "--stack", "local"],
        {
          cwd: this.project,
          env: { ...this.env, FIRMGROUND_USER_PASSWORD: "bob-password-of-the-test-1" },
          encoding: "utf8",
        },
      );
      if (result.status !== 0) throw new Error(`exit ${result.status}: ${result.stdout}${result.stderr}`);
      return result.stdout.trim();
    });
    await this.step("clients: matrix-js-sdk as the admin and bob through HAProxy with the local CA", () => {
      this.client("chat");
      return "see checks";
    });
    await this.step("doctor: npm run doctor reads the real stack outputs; its inside checks on the real dockerd", () =>
      this.doctorInside(),
    );
  }

  /**
   * The doctor's inside checks against a real dockerd: what the Docker API shim of test:stack stands in
   * for (ContainerInspect's RestartCount, State.Health, HostConfig.Memory; ContainerStats' memory_stats).
   * The outside checks need the public network test:stack builds; here they are only reported.
   */
  private doctorInside(): string {
    const ca = join(this.runDir, "local-ca.pem");
    writeFileSync(ca, this.output("localCaCertPem") as string);
    const result = spawnSync(
      process.execPath,
      ["--import", "tsx", join(REPO, "components/doctor/cli.ts"), "--stack", "local", "--json", "--ca-file", ca],
      { cwd: this.project, env: this.env, encoding: "utf8", timeout: 180_000 },
    );
    let report: DoctorReport;
    try {
      report = JSON.parse(result.stdout) as DoctorReport;
    } catch {
      throw new Error(`npm run doctor printed no report (exit ${result.status}): ${result.stderr.slice(-1500)}`);
    }
    const inside = report.findings.filter((f) => /^(container|memory|disk|backup|docker)\./.test(f.id));
    const limits = this.output("memoryLimitsMb") as Record<string, number>;
    const memory = inside.filter((f) => f.id.startsWith("memory."));
    this.check(
      "npm run doctor, inside, on the real dockerd: every container running and healthy, memory read against its limit, the volume, the last backup",
      inside.length > 0 &&
        inside.every((f) => f.status === "pass") &&
        memory.length === report.findings.filter((f) => f.id.startsWith("container.")).length,
      inside.map((f) => `${f.status.toUpperCase()} ${f.id}: ${f.saw}${f.fix ? ` → ${f.fix}` : ""}`).join("; "),
    );
    // The limit Docker reports is the one the stack set (sizing), in MiB.
    const mismatched = memory.filter((f) => {
      const service = f.id.slice("memory.".length);
      const limit = /of (\d+) MiB/.exec(f.saw)?.[1];
      const planned = limits[service === "synapse-admin" ? "synapseAdmin" : service];
      return planned !== undefined && Number(limit) !== planned;
    });
    this.check(
      "the memory limit Docker reports is the sizing's (HostConfig.Memory)",
      memory.length > 0 && mismatched.length === 0,
      mismatched.map((f) => `${f.id}: ${f.saw}`).join("; ") || memory.map((f) => `${f.id} ${f.saw}`).join("; "),
    );
    const outside = report.findings.filter((f) => !inside.includes(f));
    return `${inside.length} inside checks; outside (not judged here): ${outside.map((f) => `${f.id} ${f.status}`).join(", ")}`;
  }

  async noopAndChange() {
    await this.step("noop: a second up changes nothing", () => {
      this.pulumi(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
      return "no changes";
    });
    await this.step("change: federation.directoryServers replaces the Element container only", () => {
      const before = this.containerIds();
      this.pulumi(["config", "set", "--path", "firmground:federation.directoryServers[0]", "example.net"]);
      const preview = JSON.parse(this.pulumi(["preview", "--json"]).stdout) as {
        steps?: { op: string; urn: string }[];
      };
      const touched = (preview.steps ?? [])
        .filter((s) => s.op !== "same")
        .map((s) => `${s.op} ${s.urn.split("::").pop()}`);
      this.pulumi(["up", "--yes", "--skip-preview"]);
      const after = this.containerIds();
      const replaced = Object.keys(before).filter((name) => before[name] !== after[name]);
      this.check(
        "a config change replaces only the containers whose files change (preview and container ids)",
        JSON.stringify(replaced) === JSON.stringify(["element"]) &&
          touched.every((t) => t.endsWith("matrix-element-container")),
        `preview: ${touched.join(", ")}; replaced: ${replaced.join(", ") || "none"}`,
      );
      return `replaced: ${replaced.join(", ")}`;
    });
  }

  /** The backup container's own first backup, and an upgrade of Synapse that waits for a backup. */
  async backups() {
    await this.step("backups: the container's first scheduled backup to the repository directory", async () => {
      const deadline = Date.now() + 180_000;
      while (Date.now() < deadline && !["ok", "failed"].includes(this.backupStatus().result ?? "")) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
      const status = this.backupStatus();
      this.check(
        "the backup container backs up on its own schedule (restic repository in backup.repository)",
        status.result === "ok" && existsSync(join(this.backupDir, "config")),
        JSON.stringify(status),
      );
      return JSON.stringify(status);
    });
    await this.step("upgrade: a new Synapse image waits for a backup, then replaces the container", () => {
      // Another image (another id: a tag of the same one changes nothing the container is made from).
      const image = DEFAULT_IMAGES.synapse;
      const upgraded = `${image}-rebuild`;
      const context = join(this.runDir, "image-synapse-rebuild");
      mkdirSync(context, { recursive: true });
      writeFileSync(join(context, "Dockerfile"), `FROM ${image}\nLABEL org.firmground.test=rebuild\n`);
      this.daemon.docker(["build", "-q", "-t", upgraded, context]);
      const before = this.backupStatus();
      this.pulumi(["config", "set", "--path", "firmground:images.synapse", upgraded]);
      this.pulumi(["up", "--yes", "--skip-preview"]);
      const after = this.backupStatus();
      const created = this.daemon.docker(["inspect", "--format", "{{.Created}}", "synapse"]).stdout.trim();
      const running = this.daemon.docker(["inspect", "--format", "{{.Config.Image}}", "synapse"]).stdout.trim();
      this.check(
        "a changed Synapse image: the pre-upgrade backup ran and succeeded before the new container was created",
        after.reason === "pre-upgrade" &&
          after.result === "ok" &&
          after.snapshot !== before.snapshot &&
          Date.parse(after.time ?? "") <= Date.parse(created) + 1000 &&
          running === this.daemon.docker(["image", "inspect", "--format", "{{.Id}}", upgraded]).stdout.trim(),
        `backup ${JSON.stringify(after)}; synapse created ${created} from ${running} (${upgraded})`,
      );
      return `synapse now ${running}`;
    });
  }

  /** A new stack, restoreSecrets and the old repository: the first start restores the old history. */
  async recover() {
    await this.step(
      "disaster recovery: a new, empty stack restores the old one's latest backup before Synapse starts",
      () => {
        const manual = this.backupScript("once", "manual");
        if (manual.status !== 0) throw new Error(`the last backup failed: ${manual.stderr}`);
        const restoreSecrets = JSON.stringify(this.output("restoreSecrets", true));
        const keyId = this.output("signingKeyId") as string;
        this.pulumi(["destroy", "--yes", "--skip-preview", "--stack", "local"]);
        // As the README's recovery commands: the stack file, then the secrets of the old stack.
        writeFileSync(
          join(this.project, "Pulumi.recovered.yaml"),
          YAML.stringify({
            config: {
              "firmground:target": "docker",
              "firmground:serverName": "firmground.localhost",
              "firmground:localDataDir": join(this.runDir, "recovered-data"),
              "firmground:backup": { repository: this.backupDir },
            },
          }),
        );
        this.pulumi(["stack", "init", "recovered"]);
        this.pulumi(["config", "set", "--secret", "--stack", "recovered", "firmground:restoreSecrets", restoreSecrets]);
        this.pulumi(["up", "--yes", "--skip-preview", "--stack", "recovered"]);
        const exported = JSON.parse(this.pulumi(["stack", "export", "--stack", "recovered"]).stdout) as {
          deployment: { resources: { urn: string; outputs?: { restored?: string } }[] };
        };
        const restored =
          exported.deployment.resources.find((r) => r.urn.endsWith("matrix-first-start-restore"))?.outputs?.restored ??
          "";
        const newKeyId = this.output("signingKeyId") as string;
        this.check(
          "the recovered stack restored a snapshot at its first start, with the old signing key",
          /"snapshot":"[0-9a-f]{64}"/.test(restored) && newKeyId === keyId,
          `${restored}; key ${keyId} → ${newKeyId}`,
        );
        return restored;
      },
    );
    this.healthChecks("after recovery");
    // The admin reads the message sent before the disaster, from the restored database.
    this.client("read", "on the recovered stack, from its first start's restore");
  }

  async destroyAndReup() {
    const keyId = this.output("signingKeyId") as string;
    await this.step("destroy (restoreSecrets saved as the README says)", () => {
      const restore = JSON.stringify(this.output("restoreSecrets", true));
      this.pulumi(["config", "set", "--secret", "firmground:restoreSecrets", restore]);
      this.pulumi(["destroy", "--yes", "--skip-preview"]);
      const left = this.daemon.docker(["ps", "-aq"]).stdout.trim();
      const networks = this.daemon.docker(["network", "ls", "--filter", "name=firmground", "-q"]).stdout.trim();
      const volumes = this.daemon.docker(["volume", "ls", "-q"]).stdout.trim();
      const kept = existsSync(join(this.dataDir, "postgres", "PG_VERSION"));
      this.check(
        "destroy removes containers, networks and volumes, and keeps the data directory",
        !left && !networks && !volumes && kept,
        `containers: ${left || "none"}; networks: ${networks || "none"}; volumes: ${volumes || "none"}; data ${kept ? "kept" : "GONE"}`,
      );
      return "destroyed";
    });
    await this.step("reup over the kept data", () => {
      this.pulumi(["up", "--yes", "--skip-preview"]);
      return "up";
    });
    this.healthChecks("after reup");
    const after = this.output("signingKeyId") as string;
    this.check("the signing key id is the same after destroy and up", after === keyId, `${keyId} → ${after}`);
    this.client("read");
  }

  async otherStacks() {
    for (const stack of ["prod", "staging"]) {
      await this.step(
        `preview ${stack} (as far as the engine goes without the Scaleway API)`,
        () => {
          this.pulumi(["stack", "init", stack]);
          const result = this.pulumi(["preview", "--stack", stack], { allowFailure: true });
          // The program validates its config before anything else; the first Scaleway call needs the plugin.
          const stop = /error: (no resource plugin 'pulumi-resource-scaleway'[^\n]*)/.exec(result.output)?.[1];
          this.check(
            `${stack}: the engine accepts the stack's config and runs the program up to the Scaleway provider`,
            result.status !== 0 &&
              !!stop &&
              !/missing configuration|Invalid firmground configuration/.test(result.output),
            stop ?? lastLines(result.output, 5),
          );
          return `stops at: ${stop ?? "?"}`;
        },
        false,
      );
    }
  }

  async badCases() {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["a stack missing serverName", { "firmground:target": "docker" }, /firmground:serverName = null: required/],
      [
        "a :latest image",
        {
          "firmground:target": "docker",
          "firmground:serverName": "bad.localhost",
          "firmground:images": { postgres: "postgres:latest" },
        },
        /images\.postgres = "postgres:latest": the "latest" tag is not pinned/,
      ],
      [
        "an unknown key",
        { "firmground:target": "docker", "firmground:serverName": "bad.localhost", "firmground:servername": "x" },
        /firmground:servername = \[not shown\]: unknown key/,
      ],
    ];
    for (const [label, config, message] of cases) {
      await this.step(
        `bad: ${label} is refused by the program and creates nothing`,
        () => {
          const stack = `bad${this.steps.length}`;
          writeFileSync(join(this.project, `Pulumi.${stack}.yaml`), YAML.stringify({ config }));
          this.pulumi(["stack", "init", stack]);
          const result = this.pulumi(["up", "--yes", "--skip-preview", "--stack", stack], { allowFailure: true });
          const exported = JSON.parse(this.pulumi(["stack", "export", "--stack", stack]).stdout) as {
            deployment?: { resources?: { type: string }[] };
          };
          const created = (exported.deployment?.resources ?? []).filter((r) => !r.type.startsWith("pulumi:"));
          const ok = result.status !== 0 && message.test(result.output) && created.length === 0;
          this.check(
            `bad: ${label}`,
            ok,
            `${(message.exec(result.output) ?? ["message not found"])[0]}; ${created.length} resources`,
          );
          if (!ok) throw new Error(lastLines(result.output, 8));
          return "refused";
        },
        false,
      );
    }
  }

  /** What the containers say when a step fails: state, health, the end of their logs (also in logs/). */
  private diagnose(): string {
    const lines: string[] = [];
    const ps = this.daemon.docker(["ps", "-a", "--format", "{{.Names}}\t{{.Status}}"], { allowFailure: true });
    for (const line of ps.stdout.trim().split("\n").filter(Boolean)) {
      const name = line.split("\t")[0];
      const health = this.daemon.docker(
        ["inspect", "--format", "{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}", name],
        { allowFailure: true },
      );
      const logs = this.daemon.docker(["logs", "--tail", "15", name], { allowFailure: true });
      lines.push(
        `${line}`,
        `  health: ${health.stdout.trim().slice(-300)}`,
        ...`${logs.stdout}${logs.stderr}`
          .trim()
          .split("\n")
          .map((l) => `  ${l}`),
      );
    }
    const text = lines.join("\n");
    writeFileSync(join(this.runDir, "logs", "diagnostics.txt"), `${text}\n`, { flag: "a" });
    return text.slice(-3000);
  }

  // ---- checks ------------------------------------------------------------------------------------

  private containerIds(): Record<string, string> {
    const lines = this.daemon.docker(["ps", "-a", "--format", "{{.Names}} {{.ID}}"]).stdout.trim().split("\n");
    return Object.fromEntries(lines.filter(Boolean).map((l) => l.split(" ") as [string, string]));
  }

  private healthChecks(when: string) {
    // One-shot containers ran once and exited; the services must be healthy.
    const names = Object.keys(this.containerIds()).filter(
      (n) => !["firmground-data-dirs", "firmground-backup-tools"].includes(n),
    );
    const states = names.map((name) => {
      const state = this.daemon.docker(["inspect", "--format", "{{.State.Health.Status}}", name], {
        allowFailure: true,
      });
      return `${name} ${state.stdout.trim() || "no health"}`;
    });
    this.check(
      `every container healthy by its own Docker healthcheck (${when})`,
      names.length >= 7 && states.every((s) => s.endsWith(" healthy")),
      states.join(", "),
    );
  }

  /** What the state holds: secrets encrypted; the users' provider with no config value and no project path. */
  private secretChecks() {
    const state = this.pulumi(["stack", "export"]).stdout;
    const resources = (JSON.parse(state) as { deployment: { resources: { type: string; outputs?: any }[] } }).deployment
      .resources;
    const providers = resources
      .filter((r) => r.type === "pulumi-nodejs:dynamic:Resource")
      .map((r) => String(r.outputs?.__provider ?? ""));
    const leaks = providers.filter(
      (text) =>
        text.includes(this.dataDir) ||
        text.includes("admin-password-of-the-test-1") ||
        /require\(["']\.{1,2}\//.test(text),
    );
    this.check(
      "the state holds no plain-text secret (the admin password appears nowhere in it)",
      !state.includes("admin-password-of-the-test-1"),
      `${state.length} bytes of state`,
    );
    this.check(
      "the users' serialized provider, in the state, holds no config value and no path of the project",
      providers.length >= 2 && providers.every((t) => t.includes("exports.handler")) && leaks.length === 0,
      `${providers.length} MatrixUser resources, ${providers[0]?.length ?? 0} characters of provider each, ${leaks.length} with a leak`,
    );
  }

  private client(phase: "chat" | "read", since?: string) {
    const ca = join(this.runDir, "local-ca.pem");
    writeFileSync(ca, this.output("localCaCertPem") as string);
    const context: DeployClientContext = {
      homeserverUrl: `https://matrix.firmground.localhost:${LOCAL_PORTS.https}`,
      users: {
        admin: { username: "admin", password: "admin-password-of-the-test-1" },
        bob: { username: "bob", password: "bob-password-of-the-test-1" },
      },
      stateFile: join(this.runDir, "client-state.json"),
      ...(since ? { since } : {}),
    };
    const contextFile = join(this.runDir, "client-context.json");
    writeFileSync(contextFile, JSON.stringify(context));
    const resultFile = join(this.runDir, `client-${phase}.json`);
    const result = spawnSync(
      "ip",
      this.daemon
        .inClient([process.execPath, "--import", "tsx", join(__dirname, "client.ts"), phase, resultFile, contextFile])
        .slice(1),
      { cwd: REPO, env: { ...process.env, NODE_EXTRA_CA_CERTS: ca }, encoding: "utf8", timeout: 120_000 },
    );
    writeFileSync(join(this.runDir, "logs", `client-${phase}.log`), `${result.stdout}${result.stderr}`);
    if (!existsSync(resultFile))
      return this.check(`client ${phase}`, false, lastLines(`${result.stdout}${result.stderr}`, 5));
    for (const c of JSON.parse(readFileSync(resultFile, "utf8")) as Check[]) this.check(c.name, c.ok, c.detail);
  }

  async finish(error?: unknown): Promise<number> {
    for (const stack of ["local", "recovered"]) {
      if (existsSync(join(this.project, `Pulumi.${stack}.yaml`))) {
        this.pulumi(["destroy", "--yes", "--skip-preview", "--stack", stack], { allowFailure: true });
      }
    }
    const leftovers = await this.daemon.stop();
    const ok = !error && leftovers.length === 0 && this.steps.every((s) => s.ok) && this.checks.every((c) => c.ok);
    const summary = {
      ok,
      pulumiVersion: this.pulumiVersion || `v${pinnedPulumiVersion()}`,
      dockerVersion: this.dockerVersion,
      steps: this.steps,
      checks: this.checks,
      ...(error ? { error: error instanceof Error ? error.message : JSON.stringify(error) } : {}),
      leftovers,
    };
    mkdirSync(join(SUMMARY_FILE, ".."), { recursive: true });
    writeFileSync(SUMMARY_FILE, `${JSON.stringify(summary, null, 2)}\n`);
    console.log("Steps:");
    for (const s of this.steps) console.log(`  ${s.ok ? "ok  " : "FAIL"}  ${s.name} (${s.seconds} s)`);
    console.log("Checks:");
    for (const c of this.checks) console.log(`  ${c.ok ? "PASS" : "FAIL"}  ${c.name}`);
    console.log(
      `${ok ? "PASSED" : "FAILED"}: ${this.steps.filter((s) => s.ok).length}/${this.steps.length} steps, ${this.checks.filter((c) => c.ok).length}/${this.checks.length} checks; ${SUMMARY_FILE}`,
    );
    return ok ? 0 : 1;
  }
}

const lastLines = (text: string, n: number) => text.trim().split("\n").slice(-n).join(" | ");

runIsolated(__filename, "npm run test:deploy", async (runDir, rootfs) => {
  mkdirSync(join(runDir, "logs"), { recursive: true });
  const test = new DeployTest(runDir, rootfs);
  try {
    await test.prepare();
    await test.deploy();
    await test.noopAndChange();
    await test.backups();
    await test.destroyAndReup();
    await test.recover();
    await test.otherStacks();
    await test.badCases();
    return await test.finish();
  } catch (error) {
    return await test.finish(error);
  }
});
