/**
 * `npm run bench`: the same Matrix workload against firmground's rendered Synapse and against a stock
 * `--generate-config` Synapse, on the same real daemons, PostgreSQL and HAProxy (harness.ts). A
 * benchmark, not a test: it fails only when it cannot measure, and writes what it measured to
 * `.stack/bench.json`.
 *
 * The runs alternate firmground, stock, stock, firmground (RUN_ORDER): each ratio comes with its spread
 * pair by pair, and stock against itself is the noise floor. Each run: N users in M rooms (load.ts setup,
 * on a server's first run only), an idle pause, then messages at saturation and at a fixed offered rate
 * through HAProxy with TLS, sampling every daemon's memory each second; firmground's runs also measure
 * Synapse's own listener, to show what the proxy costs. A CPU calibration is taken before and after.
 * Flags (after `--`): --seconds S per phase (default 60), --users N (200), --rooms M (20),
 * --concurrency C (32 senders at saturation), --rate R (msg/s offered; default half of the saturation
 * firmground's server reached).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import * as YAML from "yaml";
import { POSTGRES, PORTS, SYNAPSE } from "../../config-templates/paths";
import { Harness, tail } from "./harness";
import type { LoadPlan } from "./loadClient";
import { cgroupPrefix, log, REPO, runMeasuring, writeReport } from "./isolation";
import {
  compare,
  formatReport,
  MEASURED,
  phaseProblems,
  RATE_SHARE_OF_SATURATION,
  RUN_ORDER,
  workloadFromArgs,
  type Server,
  type BenchReport,
  type Measured,
  type MemoryPeak,
  type ServerRun,
  type Workload,
  type PhaseResult,
} from "./benchReport";
import { loadSources, NET, STAND_INS, TEST_CONFIG, TEST_DOMAIN } from "./overlay";
import { cpuCalibration, machineFacts } from "./calibration";
import { packageVersions } from "./rootfs";
import { delay, inRoot, Sandbox, type Memory } from "./sandbox";

const BENCH_FILE = process.env.BENCH_OUTPUT ?? join(REPO, ".stack", "bench.json");

/** Only what a user would set for a small server: the test run's extra overlays (rate limits, federation fixtures) are left out. */
const BENCH_CONFIG: Record<string, string> = {
  serverName: TEST_CONFIG.serverName,
  acmeEmail: TEST_CONFIG.acmeEmail,
  acmeServer: TEST_CONFIG.acmeServer,
  adminCidrs: TEST_CONFIG.adminCidrs,
};

/** Seconds of unrecorded saturation before each run's phases (at most the phase length). */
const WARM_UP_SECONDS = 20;

/** Source addresses of the benchmark's users on the public side (HAProxy limits requests per source). */
const SOURCES = loadSources(16);
/** Synapse's own listener, reached from the Docker bridge (the "jobs" namespace). */
const SYNAPSE_DIRECT = `http://${NET.containers.synapse}:${PORTS.synapse}`;

class Bench extends Harness {
  readonly runs: ServerRun[] = [];
  readonly stockChanges: string[] = [];

  constructor(
    sandbox: Sandbox,
    rootfs: string,
    runDir: string,
    readonly workload: Workload,
  ) {
    super(sandbox, rootfs, runDir);
  }

  async run() {
    await this.bootForLoad(BENCH_CONFIG, SOURCES);

    const secrets: Record<Server, string> = {
      firmground: this.upload("synapse", SYNAPSE.registrationSharedSecret),
      stock: this.prepareStock(),
    };
    for (const [i, server] of RUN_ORDER.entries()) {
      await this.switchTo(server);
      const round = RUN_ORDER.slice(0, i + 1).filter((s) => s === server).length;
      this.runs.push(await this.measure(server, round, secrets[server]));
    }
  }

  private current: Server = "firmground";
  private stockDatabaseMade = false;

  /**
   * Stops the running server and starts `server` on its own database: firmground's pg_hba admits the
   * synapse user to the synapse database only, so the running server's database is renamed aside and
   * the other's takes the name (the stock server's is made fresh, C collation, the first time).
   * PostgreSQL restarts in between, so every run starts with cold shared buffers.
   */
  private async switchTo(server: Server) {
    if (server === this.current) return;
    const db = POSTGRES.database;
    await this.sandbox.stop(this.current === "firmground" ? "synapse" : "synapse-stock");
    const renames =
      server === "stock"
        ? [
            `ALTER DATABASE ${db} RENAME TO ${db}_firmground`,
            this.stockDatabaseMade
              ? `ALTER DATABASE ${db}_stock RENAME TO ${db}`
              : `CREATE DATABASE ${db} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`,
          ]
        : [`ALTER DATABASE ${db} RENAME TO ${db}_stock`, `ALTER DATABASE ${db}_firmground RENAME TO ${db}`];
    this.psql(renames.flatMap((statement) => ["-c", statement]));
    this.stockDatabaseMade = true;
    await this.sandbox.stop("postgres");
    await this.startContainer("postgres");
    if (server === "stock") this.startStockDaemon();
    else await this.startContainer("synapse");
    const up = await this.waitFor(
      `${server} Synapse behind HAProxy`,
      () =>
        this.tool("load", ["curl", "-fsSk", "-o", "/dev/null", `https://matrix.${TEST_DOMAIN}/_matrix/client/versions`])
          .status === 0,
      120,
    );
    const logFile = server === "stock" ? "synapse-stock" : "synapse";
    if (!up)
      throw new Error(
        `${server} Synapse never answered through HAProxy; its log:\n${tail(this.path(`logs/${logFile}.log`))}`,
      );
    this.current = server;
  }

  private plan(registrationSecret: string, via: "haproxy-tls" | "direct", phase?: LoadPlan["phase"]): LoadPlan {
    return {
      serverName: TEST_DOMAIN,
      baseUrl: via === "direct" ? SYNAPSE_DIRECT : `https://matrix.${TEST_DOMAIN}`,
      sourceAddresses: via === "direct" ? [] : SOURCES,
      setupUrl: SYNAPSE_DIRECT,
      registrationSecret,
      users: this.workload.users,
      rooms: this.workload.rooms,
      phase,
    };
  }

  /**
   * Runs load.ts in a namespace, raising `peak` (when given) from a memory sample each second; returns
   * how long it ran and each daemon's share of a core meanwhile. A run that outlives its phase by five
   * minutes is killed (the benchmark then fails rather than hangs).
   */
  private async load(
    ns: string,
    args: string[],
    plan: LoadPlan,
    daemons: Record<Measured, string>,
    peak: Record<Measured, MemoryPeak> | undefined,
  ) {
    const sample = () => {
      if (!peak) return;
      for (const name of MEASURED) {
        if (!this.sandbox.isRunning(daemons[name])) continue;
        const m = this.sandbox.memory(daemons[name]);
        peak[name].rssMb = Math.max(peak[name].rssMb, m.rssMb);
        peak[name].pssMb = Math.max(peak[name].pssMb, m.pssMb);
      }
    };
    const timer = setInterval(sample, 1000);
    const started = Date.now();
    const cpuBefore = MEASURED.map((name) => this.sandbox.cpuSeconds(daemons[name]));
    const { code, output } = await this.runLoad(ns, args, plan, (plan.phase?.seconds ?? 0) + 300);
    clearInterval(timer);
    sample();
    if (code !== 0) throw new Error(`load.ts ${args[0]} failed (exit ${code}):\n${output.slice(-2000)}`);
    const seconds = (Date.now() - started) / 1000;
    // Share of one core each daemon used while the load ran (the machine has cpus() of them).
    const cpuPercent = Object.fromEntries(
      MEASURED.map((name, i) => [
        name,
        Math.round(((this.sandbox.cpuSeconds(daemons[name]) - cpuBefore[i]) / seconds) * 100),
      ]),
    ) as Record<Measured, number>;
    return { seconds, cpuPercent };
  }

  /**
   * For the Synapse now running as "synapse" or "synapse-stock": its users and rooms (made on its first
   * round, reused on its second), an idle pause, then each phase; firmground's also direct.
   */
  private async measure(server: Server, round: number, registrationSecret: string): Promise<ServerRun> {
    const alsoDirect = server === "firmground";
    const daemons: Record<Measured, string> = {
      synapse: server === "stock" ? "synapse-stock" : "synapse",
      postgres: "postgres",
      haproxy: "haproxy",
    };
    const memoryOf = (name: Measured) => this.sandbox.memory(daemons[name]);
    for (const name of MEASURED) this.sandbox.resetMemoryPeak(daemons[name]);
    const peak = Object.fromEntries(MEASURED.map((n) => [n, { rssMb: 0, pssMb: 0 }])) as Record<Measured, MemoryPeak>;

    const usersFile = this.path(`users-${server}.json`);
    let setupSeconds = 0;
    if (round === 1) {
      log(`${server}: setting up ${this.workload.users} users in ${this.workload.rooms} rooms`);
      ({ seconds: setupSeconds } = await this.load(
        "jobs",
        ["setup", usersFile],
        this.plan(registrationSecret, "direct"),
        daemons,
        peak,
      ));
    }
    log(`${server}#${round}: ${round === 1 ? `set up in ${setupSeconds.toFixed(0)} s` : "users kept"}; idle for 15 s`);
    await delay(15_000);
    const idle = Object.fromEntries(MEASURED.map((n) => [n, memoryOf(n)])) as Record<Measured, Memory>;

    const { concurrency, phaseSeconds } = this.workload;
    // A warm-up at saturation, not recorded: a server's first messages after a start are slower (the
    // first short run here: 65 msg/s against 105 for the same server's second run), whatever the order.
    const warmUp = Math.min(phaseSeconds, WARM_UP_SECONDS);
    log(`${server}#${round}: warm-up at saturation for ${warmUp} s (not recorded)`);
    await this.load(
      "load",
      ["send", usersFile, this.path(`warm-up-${server}-${round}.json`)],
      this.plan(registrationSecret, "haproxy-tls", { kind: "saturate", concurrency, seconds: warmUp }),
      daemons,
      undefined,
    );
    const phases: ServerRun["phases"] = {};
    const vias: ("haproxy-tls" | "direct")[] = alsoDirect ? ["haproxy-tls", "direct"] : ["haproxy-tls"];
    // Peaks cover the phases every server runs (through HAProxy), so they compare like for like; the
    // direct phases, which only firmground's server runs, go last and are not sampled.
    for (const via of vias) {
      // Saturation first: with no --rate, the offered rate is derived from it.
      for (const kind of ["saturate", "rate"] as const) {
        const phase: LoadPlan["phase"] =
          kind === "saturate"
            ? { kind, concurrency, seconds: phaseSeconds }
            : { kind, perSecond: this.offeredRate(phases), seconds: phaseSeconds };
        const label = `${kind}-${via}`;
        const resultFile = this.path(`result-${server}-${round}-${label}.json`);
        log(`${server}#${round}: ${label} for ${phaseSeconds} s`);
        const { cpuPercent } = await this.load(
          via === "direct" ? "jobs" : "load",
          ["send", usersFile, resultFile],
          this.plan(registrationSecret, via, phase),
          daemons,
          via === "direct" ? undefined : peak,
        );
        const result = JSON.parse(readFileSync(resultFile, "utf8")) as PhaseResult;
        phases[label] = {
          ...result,
          via,
          cpuPercent: { ...cpuPercent, loadGenerator: Math.round((result.cpuSeconds / result.seconds) * 100) },
        };
        log(
          `${server}#${round}: ${label}: ${result.achievedPerSecond} msg/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ${result.sent - result.ok} failed`,
        );
        await delay(5000);
      }
      if (via === "haproxy-tls") {
        for (const name of MEASURED) {
          peak[name].cgroupPeakMb = memoryOf(name).cgroupPeakMb;
          peak[name].limitMb = this.memory[daemons[name]]?.limitMb;
        }
      }
    }
    return { server, round, setupSeconds: Math.round(setupSeconds), idle, peak, phases };
  }

  /** The fixed offered rate: as given, or fixed from the first saturation measured (firmground's, through HAProxy). */
  private offeredRate(phases: ServerRun["phases"]): number {
    this.workload.ratePerSecond ??= Math.max(
      1,
      Math.round(phases["saturate-haproxy-tls"].achievedPerSecond * RATE_SHARE_OF_SATURATION),
    );
    return this.workload.ratePerSecond;
  }

  /**
   * A stock Synapse as the seed's guide makes one: `--generate-config`, then only what it needs to run
   * here at all (PostgreSQL instead of SQLite, listening beyond loopback so HAProxy reaches it). Same
   * image stand-in (jemalloc preloaded, as the image's start.py does), same address, same PostgreSQL
   * (its own C-collation database), no memory limit (as `docker run` without one). Returns its
   * registration shared secret.
   */
  prepareStock(): string {
    const { sandbox } = this;
    // The image's layout (its synapse account and /data) at Synapse's address on the bridge.
    const standIn = STAND_INS.synapse;
    const root = this.imageRoot("synapse-stock", standIn);
    this.dockerFiles(root, "synapse", false);
    const base = { ns: this.ns("synapse"), root, user: standIn.user, env: standIn.env(root) };

    const password = /:([^:\n]+)\s*$/.exec(this.upload("synapse", SYNAPSE.pgpass))?.[1];
    if (!password) throw new Error("no password in the rendered pgpass");
    sandbox.exec(
      {
        ...base,
        // From /data, as the image's WORKDIR: the generated log config names homeserver.log in the working directory.
        argv: [
          "sh",
          "-c",
          'cd /data && exec python3 -m synapse.app.homeserver --server-name "$0" --config-path /data/homeserver.yaml --data-directory /data --generate-config --report-stats=no',
          TEST_DOMAIN,
        ],
      },
      { timeoutMs: 120_000 },
    );
    const configFile = inRoot(root, "/data/homeserver.yaml");
    const generated = YAML.parseDocument(readFileSync(configFile, "utf8"));
    generated.set("database", {
      name: "psycopg2",
      args: { user: POSTGRES.user, password, dbname: POSTGRES.database, host: "postgres", cp_min: 5, cp_max: 10 },
    });
    generated.setIn(["listeners", 0, "bind_addresses"], ["0.0.0.0"]);
    writeFileSync(configFile, generated.toString());
    this.stockChanges.push(
      "database: psycopg2 on the same PostgreSQL (a fresh C-collation database named as firmground's, whose own is renamed aside), cp_min 5, cp_max 10 (Synapse's documented example)",
      "listeners[0].bind_addresses: 0.0.0.0 (generated: ::1 and 127.0.0.1, which HAProxy in another container cannot reach)",
    );
    const secret = (YAML.parse(readFileSync(configFile, "utf8")) as { registration_shared_secret?: string })
      .registration_shared_secret;
    if (!secret) throw new Error("the generated config has no registration_shared_secret");
    this.stockBase = base;
    return secret;
  }

  private stockBase?: { ns: string; root: string; user: string; env: Record<string, string> };

  /** Starts the stock server prepared by prepareStock (its database is in place: switchTo). */
  private startStockDaemon() {
    this.sandbox.start("synapse-stock", {
      ...this.stockBase!,
      argv: ["python3", "-m", "synapse.app.homeserver", "--config-path", "/data/homeserver.yaml"],
      // No limit, as `docker run` without --memory; the cgroup only accounts (its peak is reported).
      memoryMb: Math.round(totalmem() / 2 ** 20),
      stopSignal: "SIGTERM",
      stopTimeoutSeconds: 30,
    });
  }
}

async function inner(runDir: string, rootfs: string): Promise<number> {
  const started = Date.now();
  const workload = workloadFromArgs(process.argv.slice(5));
  const sandbox = new Sandbox(runDir, rootfs, log, cgroupPrefix(runDir));
  const bench = new Bench(sandbox, rootfs, runDir, workload);
  const report: BenchReport = {
    ok: false,
    startedAt: new Date(started).toISOString(),
    seconds: 0,
    machine: {
      ...machineFacts(),
      // Node reads cpufreq, which virtual machines often lack; /proc/cpuinfo still has the clock.
      cpuMhz:
        cpus()[0]?.speed ||
        Math.round(Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? 0)),
    },
    calibration: { before: cpuCalibration() },
    versions: packageVersions(rootfs),
    workload,
    notes: [
      "Each user's per-user message limit is lifted through the admin API on both servers, so saturation measures the server, not Synapse's per-user limiter.",
      "The runs alternate firmground, stock, stock, firmground (A B B A): a drift over the run weighs on both alike, and stock against itself is the noise floor. Each server's users are made on its first run and kept for its second.",
      "Each run starts with an unrecorded warm-up at saturation (20 s, or the phase length when shorter).",
      "PostgreSQL is the same instance (same config and data directory) for both, each server in its own database, restarted between runs so each starts with cold shared buffers.",
      "Users are spread over 16 source addresses: HAProxy allows one address 400 requests per 10 s.",
    ],
    stockChanges: bench.stockChanges,
    runs: bench.runs,
    oursOverStock: [],
    proxiedOverDirect: [],
  };
  try {
    await bench.run();
    Object.assign(report, compare(report.runs));
    const problems = phaseProblems(report.runs);
    if (problems.length) throw new Error(`phases that did not measure the server:\n${problems.join("\n")}`);
  } catch (error) {
    report.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`ERROR ${report.error}`);
  } finally {
    const left = await sandbox.teardown();
    if (left.length) report.error = `${report.error ?? ""}\nleft behind: ${left.join("; ")}`.trim();
  }
  report.calibration!.after = cpuCalibration();
  report.seconds = Math.round((Date.now() - started) / 1000);
  report.ok = !report.error && report.runs.length === RUN_ORDER.length;
  writeReport(BENCH_FILE, report, formatReport(report));
  return report.ok ? 0 : 1;
}

runMeasuring(__filename, "npm run bench", workloadFromArgs, inner);
