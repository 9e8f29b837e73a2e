/**
 * `npm run test:stack`: the program's rendered files on the real daemons, with a real Matrix client.
 *
 * Inside the run's namespaces (isolation.ts), it takes every container's files from the program (under
 * mocks), boots each service from them in its own network namespace (harness.ts), runs the client
 * flows, prints a summary and writes it as JSON.
 */
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as YAML from "yaml";
import type * as pulumi from "@pulumi/pulumi";
import { ensureJob, matrixUserProvider, type MatrixUserInputs } from "../../components/users/matrixUser";
import { runUserJob, isUserJobError } from "../../components/users/userJobs";
import { TLS_HANDSHAKE_TIMEOUT_S } from "../../config-templates/haproxy";
import { HAPROXY, POSTGRES, SYNAPSE } from "../../config-templates/paths";
import { USER_JOB_EXIT } from "../../config-templates/userJob";
import type { Check, ClientContext } from "./client";
import {
  differences,
  expectedPostgres,
  expectedSynapse,
  POSTGRES_CURRENT_SQL,
  postgresValue,
  SYNAPSE_SIZING,
  synapseLoadedScript,
} from "./effective";
import { serializedProvider } from "../support/dynamicProvider";
import { synapseRunArgv } from "../support/imageContracts";
import { checkBootstrap } from "./bootstrap";
import { DockerShim, type ShimContainer, type ShimRun, type ShimServices } from "./dockerShim";
import { restoreScenario } from "./restore";
import { doctorScenario } from "./doctor";
import { Harness, lastLines, tail, type MemoryRecord } from "./harness";
import { cgroupPrefix, log, REPO, runIsolated } from "./isolation";
import { NET, OVERLAYS, RENEW_BEFORE_EXPIRY, TEST_CONFIG, TEST_DOMAIN, TURN_PEER_PORT } from "./overlay";
import { cpuCalibration, machineFacts, type Calibration } from "./calibration";
import { packageVersions, runningImages } from "./rootfs";
import { delay, inRoot, Sandbox, type Memory } from "./sandbox";

const SUMMARY_FILE = process.env.STACK_SUMMARY ?? join(REPO, ".stack", "summary.json");

interface Summary {
  ok: boolean;
  startedAt: string;
  seconds: number;
  /** The machine, with the CPU calibration (calibration.ts) taken at the start. */
  machine: ReturnType<typeof machineFacts> & { calibration: Calibration };
  versions: Record<string, string>;
  overlays: string[];
  checks: Check[];
  memory: MemoryRecord;
  leftovers: string[];
  /** Scenario measurements (the big-room joins). */
  scenarios: Record<string, unknown>;
  error?: string;
}

/** The checks, in order: boot, certificates, users, client flows, the big room, restarts. */
class StackTest extends Harness {
  async run() {
    checkBootstrap(this.sandbox, (name, ok, detail) => this.check(name, ok, detail));
    // The stack declares the Synapse and PostgreSQL versions that run here (the doctor compares them).
    await this.boot(["postgres", "synapse", "nginx", "element", "synapse-admin", "coturn", "haproxy"], {
      ...TEST_CONFIG,
      images: JSON.stringify(runningImages(this.rootfs)),
    });
    await this.startDockerShim();
    this.check(
      "jemalloc loaded in Synapse (as the image's start.py does)",
      this.sandbox.maps("synapse", "libjemalloc"),
      "libjemalloc.so.2 mapped",
    );
    this.effectiveSizing();
    await delay(3000);
    for (const name of this.sandbox.daemons.keys()) this.memoryOf(name, "idle");

    this.writeContext();
    await this.certificates();
    await this.programUsers();
    this.clientChecks();
    await this.edgeChecks();
    await this.userCommand();
    await this.startRemote();
    await this.bigRoom();
    await this.restartAndPersist();
    this.scenarios.restore = await restoreScenario(this);
    this.scenarios.doctor = await doctorScenario(this);
    for (const name of this.sandbox.daemons.keys()) this.memoryOf(name, "afterFlows");
    // Last: it leaves the client's address rate-limited for a minute.
    this.client("client", "flood");
  }

  /** Synapse's own config loader and PostgreSQL's current settings hold the rendered sizing. */
  effectiveSizing() {
    // The config files Synapse was started with: its command's --config-path arguments (start.py's rule).
    const synapse = this.container("synapse");
    const argv = synapseRunArgv((synapse.command ?? []).slice(1), synapse.env);
    const configPaths = argv.flatMap((arg, i) => (argv[i - 1] === "--config-path" ? [arg] : []));
    const loaded = this.execIn("synapse", ["python3", "-c", synapseLoadedScript(configPaths)], {
      allowFailure: true,
    });
    const expectedSynapseValues = expectedSynapse(YAML.parse(this.upload("synapse", SYNAPSE.configFile)));
    let synapseDiff: string[];
    try {
      synapseDiff = differences(expectedSynapseValues, JSON.parse(loaded.stdout.trim().split("\n").pop() ?? "{}"));
    } catch {
      synapseDiff = [`no answer from Synapse's config loader (exit ${loaded.status}): ${loaded.stderr.slice(-400)}`];
    }
    this.check(
      "Synapse's own config loader holds the rendered sizing (caches, presence, remote-room limit, housekeeping)",
      loaded.status === 0 && synapseDiff.length === 0,
      synapseDiff.join("; ") || `${SYNAPSE_SIZING.length} settings as rendered`,
    );

    const current = this.psql(["-At", "-c", POSTGRES_CURRENT_SQL], { allowFailure: true });
    const actual = Object.fromEntries(
      current.stdout
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), postgresValue(line.slice(line.indexOf("=") + 1))]),
    );
    const expected = expectedPostgres(this.upload("postgres", POSTGRES.configFile));
    const postgresDiff = differences(expected, actual);
    this.check(
      "PostgreSQL runs with the rendered memory settings (current_setting)",
      current.status === 0 && postgresDiff.length === 0,
      postgresDiff.join("; ") ||
        Object.entries(actual)
          .map(([k, v]) => `${k} ${v}`)
          .join(", "),
    );
  }

  // ---- clients -----------------------------------------------------------------------------------

  private context?: ClientContext;

  writeContext(change: (context: ClientContext) => void = () => undefined) {
    this.context ??= this.initialContext();
    change(this.context);
    writeFileSync(this.contextFile(), JSON.stringify(this.context), { mode: 0o600 });
  }

  private initialContext(): ClientContext {
    const synapseSecret = (file: string) => this.upload("synapse", file);
    return {
      serverName: TEST_DOMAIN,
      matrixHost: `matrix.${TEST_DOMAIN}`,
      elementHost: `element.${TEST_DOMAIN}`,
      registrationSecret: synapseSecret("/secrets/registration_shared_secret"),
      signingKey: synapseSecret("/secrets/signing.key"),
      users: {
        // The program's admin: its name and generated password, as `pulumi stack output` gives them.
        admin: {
          username: String(this.capture.outputs.adminUser).slice(1).split(":")[0],
          password: String(this.capture.outputs.adminPassword),
        },
        bob: { username: "bob", password: `bob-${Math.random().toString(36).slice(2)}` },
      },
      adminHost: `admin.${TEST_DOMAIN}`,
      expected: {
        adminUiConfig: this.upload("synapse-admin", "/var/public/config.json"),
        wellKnownServer: this.upload("nginx", "/usr/share/nginx/well-known/.well-known/matrix/server"),
        wellKnownClient: this.upload("nginx", "/usr/share/nginx/well-known/.well-known/matrix/client"),
        elementConfig: this.upload("element", "/app/config.json"),
      },
      stateFile: this.path("client-state.json"),
    };
  }

  /**
   * The edge against hostile clients, on the real HAProxy and Synapse: a forged X-Forwarded-For, one
   * source holding idle connections while another is served, the handshake timeout, legitimate
   * parallel connections, HSTS on refusals, and 8448 limited to federation.
   */
  async edgeChecks() {
    this.client("client", "spoof");
    this.client("admin", "whois", NET.outside.client);
    this.client("client", "edge-headers");
    this.client("client", "tls");

    const limit = Number(/sc0_conn_cur gt (\d+)/.exec(this.upload("haproxy", HAPROXY.configFile))?.[1]);
    const ready = this.path("hold-ready");
    const holding = this.clientAsync("client", "hold", String(limit + 40), "8", ready);
    for (let waited = 0; !existsSync(ready) && waited < 30_000; waited += 200) await delay(200);
    this.client("admin", "reachable");
    const resultFile = await holding;
    const hold = JSON.parse(readFileSync(`${resultFile}.hold.json`, "utf8")) as {
      attempted: number;
      refusedAtOnce: number;
      held: number;
      closedByServerMs: number[];
    };
    this.check(
      "one source holds at most its share of connections; the rest are refused at once",
      hold.held <= limit && hold.refusedAtOnce >= hold.attempted - limit,
      `${hold.attempted} attempted, ${hold.held} held (limit ${limit}), ${hold.refusedAtOnce} refused at once`,
    );
    const slowest = Math.max(...hold.closedByServerMs);
    this.check(
      `an idle connection (no TLS hello) is closed within the handshake timeout (${TLS_HANDSHAKE_TIMEOUT_S} s)`,
      hold.closedByServerMs.length === hold.held && slowest <= (TLS_HANDSHAKE_TIMEOUT_S + 1.5) * 1000,
      `${hold.closedByServerMs.length}/${hold.held} closed by HAProxy, the last after ${(slowest / 1000).toFixed(1)} s`,
    );
    this.client("client", "parallel", "24");
  }

  /** The leaf certificate served at host:port, seen from the client namespace. */
  servedCertificate(host: string, port: number): X509Certificate | undefined {
    // A probe, not a check: the caller compares what it returns.
    const resultFile = this.clientRun("client", "certificate", [host, String(port)], true);
    return existsSync(`${resultFile}.pem`) ? new X509Certificate(readFileSync(`${resultFile}.pem`)) : undefined;
  }

  async certificates() {
    const matrixHost = `matrix.${TEST_DOMAIN}`;
    const fallback = new X509Certificate(this.upload("haproxy", "/usr/local/etc/haproxy/fallback.pem"));
    const before = this.servedCertificate(matrixHost, 443);
    this.check(
      "HAProxy serves the fallback certificate before issuance",
      before?.fingerprint256 === fallback.fingerprint256,
      before?.subject ?? "nothing served",
    );

    const haproxyPid = this.sandbox.daemons.get("haproxy")!.pid;
    const live = await this.issueCertificate();
    this.check(
      "certbot obtains a certificate from Pebble (HTTP-01 through HAProxy :80 and the NGINX webroot)",
      !!live && live.issuer.includes("Pebble"),
      live
        ? `${live.subject}; issuer ${live.issuer.replace(/\n/g, ", ")}; SAN ${live.subjectAltName}`
        : `nothing issued; certbot log:\n${tail(this.path("logs/certbot.log"))}`,
    );
    // Every later check speaks TLS to the issued certificate.
    if (!live) throw new Error("no certificate was issued; the remaining checks need one");
    this.trustPebble();
    await this.expectServed(
      "HAProxy serves the issued certificate, reloaded by the deploy hook",
      matrixHost,
      443,
      live,
      haproxyPid,
    );

    // Renewal: make the certificate due (as 60 days make a real one), then wake the loop's sleep.
    const renewalConf = this.path("volume/letsencrypt/renewal/firmground.conf");
    writeFileSync(renewalConf, `${RENEW_BEFORE_EXPIRY}\n${readFileSync(renewalConf, "utf8")}`);
    const serial = live.serialNumber;
    this.wakeSleep("certbot");
    const renewed = await this.waitFor(
      "renewal",
      () => (this.liveCertificate()?.serialNumber ?? serial) !== serial,
      120,
    );
    const renewedCert = this.liveCertificate()!;
    this.check("the renewal loop renews the certificate", renewed, `serial ${serial} → ${renewedCert.serialNumber}`);
    if (renewed)
      await this.expectServed(
        "HAProxy serves the renewed certificate without a restart",
        matrixHost,
        443,
        renewedCert,
        haproxyPid,
      );
    // coturn's supervisor polls for a new certificate; wake it rather than wait a minute.
    this.wakeSleep("coturn");
    await this.expectServed(
      "coturn restarts onto the issued certificate (TURN over TLS)",
      `turn.${TEST_DOMAIN}`,
      5349,
      renewedCert,
    );
  }

  async expectServed(name: string, host: string, port: number, expected: X509Certificate, samePid?: number) {
    let served: X509Certificate | undefined;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      served = this.servedCertificate(host, port);
      if (served?.fingerprint256 === expected.fingerprint256) break;
      await delay(1000);
    }
    const samePidOk = samePid === undefined || this.sandbox.daemons.get("haproxy")?.pid === samePid;
    this.check(
      name,
      served?.fingerprint256 === expected.fingerprint256 && samePidOk,
      `${host}:${port} serial ${served?.serialNumber ?? "none"} (expected ${expected.serialNumber})${samePid ? `, HAProxy master pid ${samePid} ${samePidOk ? "unchanged" : "CHANGED"}` : ""}`,
    );
  }

  /** Interrupts the `sleep` a container's shell loop is waiting on, so the loop runs its next pass now. */
  clientChecks() {
    this.client("client", "well-known");
    this.client("client", "unknown-host");
    this.client("client", "register-refused");
    this.client("admin", "register");
    this.client("client", "chat");
    this.client("admin", "admin-allowed");
    this.client("client", "admin-refused");
    this.client("admin", "admin-ui-allowed");
    this.client("client", "admin-ui-refused");
    this.client("client", "federation");
    this.turnChecks();
  }

  turnChecks() {
    const resultFile = this.client("client", "turn");
    if (!existsSync(`${resultFile}.turn.json`)) return;
    const turn = JSON.parse(readFileSync(`${resultFile}.turn.json`, "utf8")) as { username: string; password: string };
    const uclient = (label: string, password: string, peer: string) => {
      const result = this.tool(
        "client",
        [
          "turnutils_uclient",
          "-u",
          turn.username,
          "-w",
          password,
          "-e",
          peer,
          "-r",
          String(TURN_PEER_PORT),
          "-n",
          "10",
          "-c",
          NET.hostPublicIp,
        ],
        false,
        30_000,
      );
      const output = `${result.stdout}${result.stderr}`;
      writeFileSync(this.path(`logs/turnutils_uclient-${label}.log`), output);
      return { status: result.status, output };
    };
    const good = uclient("relay", turn.password, NET.outside.peer);
    // The final tally line (an earlier one reports the zero counts at start).
    const [, sent, received] = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/.exec(good.output) ?? [];
    this.check(
      "coturn relays with Synapse's credentials (turnutils_uclient → peer and back)",
      good.status === 0 && Number(sent) > 0 && received === sent,
      `exit ${good.status}; sent ${sent ?? "?"}, received ${received ?? "?"}; ${/Total lost packets.*/.exec(good.output)?.[0] ?? lastLines(good.output)}`,
    );
    const wrong = uclient("wrong-password", `${turn.password}x`, NET.outside.peer);
    this.check(
      "coturn refuses a wrong TURN password",
      wrong.status !== 0 && /Cannot complete Allocation|401/.test(wrong.output),
      `exit ${wrong.status}; ${lastLines(wrong.output)}`,
    );
    const internal = uclient("private-peer", turn.password, NET.containers.postgres);
    this.check(
      "coturn refuses to relay to the private network (denied-peer-ip)",
      internal.status !== 0 && /error 403/.test(internal.output),
      `peer ${NET.containers.postgres}: exit ${internal.status}; ${lastLines(internal.output)}`,
    );
  }

  // ---- users: the program's MatrixUser resources and `npm run user` -----------------------------

  private shim?: DockerShim;
  shimSocket = () => this.path("docker.sock");

  /** The Docker API stand-in: one-shot containers run from the rootfs in the "jobs" namespace. */
  async startDockerShim() {
    const root = this.sandbox.makeRoot("jobs");
    writeFileSync(inRoot(root, "/etc/resolv.conf"), `nameserver ${NET.dockerBridge.gateway}\n`);
    const execute = (spec: ShimContainer) =>
      new Promise<ShimRun>((resolve) => {
        const env = Object.fromEntries(spec.env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
        const child = spawn("ip", ["netns", "exec", this.ns("jobs"), "chroot", root, ...spec.argv], {
          env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...env },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (code) => resolve({ exitCode: code ?? 1, stdout, stderr }));
      });
    // The running containers, for npm run restore and the backup guards (inspect, stop, start, exec).
    const services: ShimServices = {
      inspect: (name) => {
        const spec = this.capture.containers[name];
        if (!spec || spec.oneShot) return undefined;
        const running = this.sandbox.isRunning(name);
        const [kind, ...test] = spec.healthcheck;
        const healthy = () =>
          this.execIn(name, kind === "CMD-SHELL" ? ["/bin/sh", "-c", test.join(" ")] : test, {
            allowFailure: true,
            timeoutMs: 10_000,
          }).status === 0;
        const limit = this.sandbox.cgroupMemory(name)?.limit;
        return {
          running,
          image: spec.image,
          ...(running ? { health: healthy() ? "healthy" : "unhealthy" } : {}),
          // The harness restarts nothing on its own (Docker's restart policy is not reproduced).
          restartCount: 0,
          memoryLimitBytes: limit ?? (spec.memoryMb ?? 0) * 2 ** 20,
        };
      },
      images: () => Object.values(this.capture.containers).map((spec) => spec.image),
      memory: (name) => this.sandbox.cgroupMemory(name),
      stop: (name) => this.sandbox.stop(name),
      start: (name) => this.startContainer(name),
      exec: async (name, argv) => {
        const result = await this.execInAsync(name, argv);
        return { exitCode: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
      },
    };
    this.shim = new DockerShim([this.container("synapse").image], ["firmground"], execute, services);
    await this.shim.listen(this.shimSocket());
  }

  private userInputs(resource: string): MatrixUserInputs {
    const inputs = this.capture.dynamic[resource];
    if (!inputs)
      throw new Error(
        `the program registered no MatrixUser ${resource}; it has ${Object.keys(this.capture.dynamic).join(", ")}`,
      );
    return { ...(inputs as unknown as MatrixUserInputs), connection: { host: `unix://${this.shimSocket()}` } };
  }

  private logins(
    label: string,
    logins: { label: string; username: string; password: string; expect: "ok" | "refused" }[],
  ) {
    const file = this.path(`logins-${label}.json`);
    writeFileSync(file, JSON.stringify(logins), { mode: 0o600 });
    this.client("client", "logins", file);
  }

  private async attempt(name: string, operation: () => Promise<unknown>): Promise<boolean> {
    try {
      const result = await operation();
      this.check(name, true, typeof result === "object" && result && "id" in result ? String(result.id) : "done");
      return true;
    } catch (error) {
      this.check(name, false, error instanceof Error ? error.message : String(error));
      return false;
    }
  }

  /** What `pulumi up` does for users, with the inputs the program registered. */
  async programUsers() {
    // As the engine runs it: serialized, each call from that text in a plain Node.js process.
    const serialized = await serializedProvider(matrixUserProvider);
    const provider = {
      create: (inputs: MatrixUserInputs): Promise<pulumi.dynamic.CreateResult> => serialized.call("create", inputs),
      diff: (id: string, olds: MatrixUserInputs, news: MatrixUserInputs): Promise<pulumi.dynamic.DiffResult> =>
        serialized.call("diff", id, olds, news),
      update: (id: string, olds: MatrixUserInputs, news: MatrixUserInputs): Promise<pulumi.dynamic.UpdateResult> =>
        serialized.call("update", id, olds, news),
      delete: (id: string, props: MatrixUserInputs): Promise<void> => serialized.call("delete", id, props),
    };
    const admin = this.userInputs("users-admin");
    const created = await provider.create(admin);
    this.check(
      "pulumi up creates the admin (MatrixUser: shared-secret registration in a one-shot container)",
      created.id === `@${admin.username}:${TEST_DOMAIN}`,
      created.id,
    );
    // As Pulumi passes the admin resource's kept token to the others.
    const adminToken = (created.outs as { accessToken?: string }).accessToken;
    this.check(
      "the admin resource keeps an access token (jobs need not log in)",
      !!adminToken,
      adminToken ? "kept (secret output)" : "none",
    );
    const carol = { ...this.userInputs("users-user-carol"), adminToken };
    const dave = { ...this.userInputs("users-user-dave"), adminToken };
    for (const [resource, inputs] of [
      ["carol", carol],
      ["dave", dave],
    ] as const) {
      await this.attempt(`pulumi up creates ${resource} from config`, () => provider.create(inputs));
    }
    const jobsOk = this.shim!.created.every(
      (c) =>
        c.image === this.container("synapse").image &&
        c.network === "firmground" &&
        c.argv[0] === "python3" &&
        c.memoryBytes > 0,
    );
    this.check(
      "user jobs run from the Synapse image on the internal network, as python3 (not /start.py), memory-limited",
      jobsOk && this.shim!.created.length >= 3,
      `${this.shim!.created.length} one-shot containers, the provider run from its serialized text`,
    );
    this.check(
      "a second pulumi up changes nothing (provider diff)",
      !(await provider.diff("x", admin, { ...admin })).changes,
      "no changes",
    );
    this.logins("program-users", [
      { label: "the program's admin logs in", username: admin.username, password: admin.password, expect: "ok" },
      { label: "users from config log in (carol)", username: carol.username, password: carol.password, expect: "ok" },
      { label: "users from config log in (dave)", username: dave.username, password: dave.password, expect: "ok" },
    ]);
    // Re-deploying over a retained volume: the accounts exist; create sets them again.
    await this.attempt("create over an existing account updates it (re-deploy over a retained volume)", () =>
      provider.create(admin),
    );

    const runsBefore = this.shim!.runs.length;
    const rotatedCarol = { ...carol, password: `carol-rotated-${Math.random().toString(36).slice(2)}` };
    await this.attempt("a new password in config rotates it (update)", () =>
      provider.update("@carol", carol, rotatedCarol),
    );
    const rotatedAdmin = {
      ...admin,
      password: `admin-rotated-${Math.random().toString(36).slice(2)}`,
      adminPassword: "",
    };
    rotatedAdmin.adminPassword = rotatedAdmin.password;
    const adminOuts = { ...admin, accessToken: adminToken };
    await this.attempt("the admin's own password rotates (with its kept token)", () =>
      provider.update("@admin", adminOuts, rotatedAdmin),
    );
    const daveNow = { ...dave, adminPassword: rotatedAdmin.password };
    await this.attempt("deactivated: true in config deactivates the user (update)", () =>
      provider.update("@dave", daveNow, { ...daveNow, deactivated: true }),
    );
    const jobsBeforeDelete = this.shim!.created.length;
    await provider.delete("@carol", { ...rotatedCarol, adminPassword: rotatedAdmin.password });
    this.check(
      "a user taken out of config (or pulumi destroy) leaves the account as it is: no job runs",
      this.shim!.created.length === jobsBeforeDelete,
      `${this.shim!.created.length - jobsBeforeDelete} jobs`,
    );
    const logins = this.shim!.runs.slice(runsBefore).map(
      (r) => (JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { passwordLogins?: number }).passwordLogins,
    );
    this.check(
      "updates and deactivations log in with no password (Synapse rate-limits logins)",
      logins.length === 3 && logins.every((n) => n === 0),
      `password logins per job: ${logins.join(", ")}`,
    );
    this.logins("rotations", [
      { label: "rotated password works", username: carol.username, password: rotatedCarol.password, expect: "ok" },
      {
        label: "old password refused after rotation",
        username: carol.username,
        password: carol.password,
        expect: "refused",
      },
      {
        label: "admin's rotated password works",
        username: admin.username,
        password: rotatedAdmin.password,
        expect: "ok",
      },
      {
        label: "a deactivated user can no longer log in",
        username: dave.username,
        password: dave.password,
        expect: "refused",
      },
    ]);
    this.adminPassword = rotatedAdmin.password;
    this.adminToken = adminToken ?? "";
    this.writeContext((context) => (context.users.admin.password = rotatedAdmin.password));
  }

  private adminPassword = "";
  /** The admin resource's kept access token, as the userAdmin output carries it (npm run doctor uses it). */
  adminToken = "";

  async closeShim() {
    await this.shim?.close();
  }

  /** `npm run user -- …` as an operator runs it, with the stack output userAdmin (Docker reached through the shim). */
  private async user(args: string[], overrides: Record<string, string> = {}, env: Record<string, string> = {}) {
    const userAdmin = {
      ...(this.capture.outputs.userAdmin as Record<string, unknown>),
      connection: { host: `unix://${this.shimSocket()}` },
      adminPassword: this.adminPassword,
      adminToken: this.adminToken,
      ...overrides,
    };
    return new Promise<{ code: number; output: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", join(REPO, "components/users/cli.ts"), ...args], {
        cwd: REPO,
        env: { PATH: process.env.PATH, FIRMGROUND_USER_ADMIN: JSON.stringify(userAdmin), ...env },
      });
      let output = "";
      child.stdout.on("data", (d: Buffer) => (output += d.toString()));
      child.stderr.on("data", (d: Buffer) => (output += d.toString()));
      child.on("close", (code) => {
        writeFileSync(
          this.path("logs/user-command.log"),
          `$ npm run user -- ${args.join(" ")}\n${output.replace(/password: \S+/, "password: [shown once]")}\n`,
          { flag: "a" },
        );
        resolve({ code: code ?? 1, output });
      });
    });
  }

  async userCommand() {
    const added = await this.user(["add", "erin", "--display-name", "Erin"]);
    const password = /password: (\S+)/.exec(added.output)?.[1] ?? "";
    this.check("npm run user -- add", added.code === 0 && password.length >= 12, added.output.split("\n")[0]);
    const again = await this.user(["add", "erin"]);
    this.check(
      "npm run user -- add an existing user: clear error",
      again.code === 4 && /already exists/.test(again.output),
      again.output.trim(),
    );
    const newPassword = `erin-reset-${Math.random().toString(36).slice(2)}`;
    const reset = await this.user(["reset-password", "erin"], {}, { FIRMGROUND_USER_PASSWORD: newPassword });
    this.check("npm run user -- reset-password", reset.code === 0, reset.output.trim());
    const unknown = await this.user(["reset-password", "nobody"]);
    this.check(
      "npm run user -- reset-password an unknown user: clear error",
      unknown.code === 5 && /does not exist/.test(unknown.output),
      unknown.output.trim(),
    );
    this.logins("command", [
      {
        label: "a user added by the command logs in with its new password",
        username: "erin",
        password: newPassword,
        expect: "ok",
      },
      { label: "the password before the reset is refused", username: "erin", password, expect: "refused" },
    ]);
    const deactivated = await this.user(["deactivate", "erin"]);
    this.check("npm run user -- deactivate", deactivated.code === 0, deactivated.output.trim());
    const list = await this.user(["list"]);
    this.check(
      "npm run user -- list",
      list.code === 0 && /^@erin:\S+\s+deactivated$/m.test(list.output) && /^@admin:\S+\s+admin$/m.test(list.output),
      list.output.trim().replace(/\n/g, ", "),
    );
    const wrong = await this.user(["add", "frank"], { sharedSecret: "not-the-secret" });
    this.check(
      "npm run user with a wrong shared secret: clear error",
      wrong.code === 2 && /shared secret/.test(wrong.output),
      wrong.output.trim(),
    );
    this.logins("deactivated", [
      {
        label: "a user deactivated by the command cannot log in",
        username: "erin",
        password: newPassword,
        expect: "refused",
      },
    ]);
  }

  // ---- the seed's big room, federated -------------------------------------------------------------

  readonly scenarios: Record<string, unknown> = {};

  /**
   * The seed's OOM, on the sizing the default instance type gets: the small remote room first (the
   * servers meet: keys, addresses, connections), then a user's join of the big room, refused at once
   * with Synapse's memory flat, then the admin's join of it, whose full membership must arrive with
   * Synapse's cgroup under its limit.
   */
  async bigRoom() {
    const state = this.remoteRoomsFile;
    if (!existsSync(state)) return;
    const remote = JSON.parse(readFileSync(state, "utf8")) as {
      bigRoom: { joinedMembers: number; stateEvents: number };
    };
    const complexity = Number(
      (YAML.parse(this.upload("synapse", SYNAPSE.configFile)) as { limit_remote_rooms: { complexity: number } })
        .limit_remote_rooms.complexity,
    );
    this.check(
      "the big remote room is above the remote-room limit this instance type gets",
      remote.bigRoom.stateEvents / 500 > complexity,
      `${remote.bigRoom.stateEvents} state events = complexity ${remote.bigRoom.stateEvents / 500} > ${complexity} (BASIC2-A2C-4G's default)`,
    );
    const joinOf = (file: string) =>
      existsSync(`${file}.join.json`)
        ? (JSON.parse(readFileSync(`${file}.join.json`, "utf8")) as {
            ms: number;
            fullStateMs?: number;
            members?: number;
          })
        : undefined;
    const small = joinOf(this.client("client", "federated-join", state, "bob", "small", "joined"));

    const rss = () => this.sandbox.memory("synapse").rssMb;
    const before = rss();
    const refused = joinOf(this.client("client", "federated-join", state, "bob", "big", "refused"));
    const afterRefused = rss();
    const refusedGrowthMb = Math.round((afterRefused - before) * 10) / 10;
    this.check(
      "the big room is refused in 0.2 s or less",
      refused !== undefined && refused.ms <= 200,
      `${refused?.ms ?? "no"} ms`,
    );
    this.check(
      "Synapse's memory stays flat when the big room is refused (5 MiB or less)",
      refusedGrowthMb <= 5,
      `RSS ${before} → ${afterRefused} MiB (${refusedGrowthMb >= 0 ? "+" : ""}${refusedGrowthMb})`,
    );

    // The admin's join: the cgroup's peak over the join and the fetch of the room's full state.
    const measured = ["synapse", "postgres"] as const;
    for (const name of measured) this.sandbox.resetMemoryPeak(name);
    const rssPeak = { synapse: 0, postgres: 0 };
    const sample = () => {
      for (const name of measured) {
        const m = this.sandbox.memory(name);
        rssPeak[name] = Math.max(rssPeak[name], name === "postgres" ? m.pssMb : m.rssMb);
      }
    };
    const sampler = setInterval(sample, 500);
    const admin = joinOf(
      await this.clientWithin(15 * 60_000, "admin", "federated-join", state, "admin", "big", "joined"),
    );
    clearInterval(sampler);
    sample();
    const synapse = this.sandbox.memory("synapse");
    const postgres = this.sandbox.memory("postgres");
    const limitMb = this.memory.synapse?.limitMb ?? 0;
    const joined = admin?.members !== undefined && admin.members === remote.bigRoom.joinedMembers + 1;
    this.check(
      "Synapse's cgroup stays under its limit while the admin joins the big room",
      joined && synapse.cgroupPeakMb !== undefined && synapse.cgroupPeakMb < limitMb && synapse.cgroupLimitHits === 0,
      `${joined ? "" : "no complete join to measure; "}peak ${synapse.cgroupPeakMb} of ${limitMb} MiB (RSS peak ${rssPeak.synapse} MiB), limit hits ${synapse.cgroupLimitHits}`,
    );
    this.scenarios.bigRoomDefaults = {
      complexityLimit: complexity,
      roomStateEvents: remote.bigRoom.stateEvents,
      refusedMs: refused?.ms,
      refusedGrowthMb,
      adminJoinMembers: admin?.members,
      adminJoinMs: admin?.ms,
      adminJoinFullStateMs: admin?.fullStateMs,
      adminJoinPeakMb: synapse.cgroupPeakMb,
      adminJoinRssPeakMb: rssPeak.synapse,
      postgresPeakMb: postgres.cgroupPeakMb,
      postgresPssPeakMb: rssPeak.postgres,
      postgresLimitMb: this.memory.postgres?.limitMb,
      limitMb,
      smallJoinMs: small?.ms,
    };
  }

  async restartAndPersist() {
    await this.sandbox.stop("synapse");
    // A first deploy creates the admin while Synapse may still be starting: the job waits, bounded.
    const started = Date.now();
    const waited = await runUserJob(
      {
        connection: { host: `unix://${this.shimSocket()}` },
        image: this.container("synapse").image,
        network: "firmground",
      },
      { ...ensureJob(this.userInputs("users-admin"), this.adminPassword), waitSeconds: 4 },
    ).then(
      () => "answered",
      (error: unknown) => (isUserJobError(error) ? `exit ${error.code}: ${error.message}` : String(error)),
    );
    this.check(
      "a user job waits for Synapse, bounded, and says so when it never answers",
      waited.startsWith(`exit ${USER_JOB_EXIT.unreachable}: Synapse at http://synapse:8008 did not answer within 4 s`),
      `${waited} (after ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    await this.sandbox.stop("postgres");
    await this.startContainer("postgres");
    await this.startContainer("synapse");
    this.client("client", "persist");
  }
}

async function inner(runDir: string, rootfs: string): Promise<number> {
  const started = Date.now();
  const sandbox = new Sandbox(runDir, rootfs, log, cgroupPrefix(runDir));
  const harness = new StackTest(sandbox, rootfs, runDir);
  const summary: Summary = {
    ok: false,
    startedAt: new Date(started).toISOString(),
    seconds: 0,
    machine: {
      ...machineFacts(),
      calibration: cpuCalibration(),
    },
    versions: packageVersions(rootfs),
    overlays: OVERLAYS,
    checks: harness.checks,
    memory: harness.memory,
    leftovers: [],
    scenarios: harness.scenarios,
  };
  try {
    await harness.run();
  } catch (error) {
    summary.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`ERROR ${summary.error}`);
  } finally {
    await harness.closeShim();
    summary.leftovers = await sandbox.teardown();
  }
  summary.seconds = Math.round((Date.now() - started) / 1000);
  const failed = harness.checks.filter((c) => !c.ok);
  summary.ok = !summary.error && failed.length === 0 && summary.leftovers.length === 0 && harness.checks.length > 0;
  printSummary(summary);
  mkdirSync(join(SUMMARY_FILE, ".."), { recursive: true });
  writeFileSync(SUMMARY_FILE, `${JSON.stringify(summary, null, 2)}\n`);
  log(`summary written to ${SUMMARY_FILE}`);
  return summary.ok ? 0 : 1;
}

function printSummary(summary: Summary) {
  const lines = ["", "=== firmground real-daemon run ===", "Versions:"];
  for (const [pkg, version] of Object.entries(summary.versions)) lines.push(`  ${pkg.padEnd(16)} ${version}`);
  lines.push("Differences from production (overlay):", ...summary.overlays.map((o) => `  - ${o}`));
  lines.push("Checks:", ...summary.checks.map((c) => `  ${c.ok ? "PASS" : "FAIL"}  ${c.name}`));
  lines.push("Memory (MiB; RSS / PSS summed over each daemon's processes; cgroup peak / limit):");
  for (const [name, m] of Object.entries(summary.memory)) {
    const fmt = (x?: Memory) => (x ? `${x.rssMb} / ${x.pssMb}` : "-");
    lines.push(
      `  ${name.padEnd(10)} idle ${fmt(m.idle).padEnd(14)} after flows ${fmt(m.afterFlows).padEnd(14)} peak ${m.afterFlows?.cgroupPeakMb ?? "-"} / ${m.limitMb ?? "-"}`,
    );
  }
  if (summary.leftovers.length) lines.push("Left behind:", ...summary.leftovers.map((l) => `  ${l}`));
  if (summary.error) lines.push(`Error: ${summary.error.split("\n")[0]}`);
  const failed = summary.checks.filter((c) => !c.ok).length;
  lines.push(
    `${summary.ok ? "PASSED" : "FAILED"}: ${summary.checks.length - failed}/${summary.checks.length} checks in ${summary.seconds} s`,
  );
  console.log(lines.join("\n"));
}

runIsolated(__filename, "npm run test:stack", inner);
