/**
 * The benchmark's figures: the workload from its flags, what one server's run recorded, and the
 * comparisons (ours / stock, proxied / direct) and printed table made from them. Pure; bench.ts measures.
 */
import { parseCommandLine } from "../../components/commandLine";
import type { Calibration } from "./calibration";
import type { Memory } from "./sandbox";

export interface PhaseResult {
  kind: "rate" | "saturate";
  offeredPerSecond?: number;
  concurrency?: number;
  seconds: number;
  sent: number;
  ok: number;
  /** Failed sends by HTTP status (or "error" for a connection failure), with one example each. */
  failures: Record<string, { count: number; example: string }>;
  achievedPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** CPU the load generator itself used (it shares the machine with the server). */
  cpuSeconds: number;
}

/** The daemons whose memory the benchmark reports. */
export const MEASURED = ["synapse", "postgres", "haproxy"] as const;
export type Measured = (typeof MEASURED)[number];

/** The offered rate, when not given: this share of what firmground's server sustained at saturation. */
export const RATE_SHARE_OF_SATURATION = 0.5;

export interface Workload {
  users: number;
  rooms: number;
  /**
   * The fixed offered rate, the same for every server. Unless given, set once firmground's server has
   * been saturated (through HAProxy): half of what it sustained, so that it is below saturation on any machine.
   */
  ratePerSecond?: number;
  concurrency: number;
  phaseSeconds: number;
}

export interface MemoryPeak {
  rssMb: number;
  pssMb: number;
  /** The container cgroup's peak over the same span (and its limit, when it has one). */
  cgroupPeakMb?: number;
  limitMb?: number;
}

/**
 * The order of the runs: A B B A, so that what changes over a run (the machine, the database's growth,
 * caches) weighs on both servers alike, and the two stock runs measure the noise floor.
 */
export const RUN_ORDER = ["firmground", "stock", "stock", "firmground"] as const;
export type Server = (typeof RUN_ORDER)[number];

export interface ServerRun {
  /** "firmground" or "stock". */
  server: string;
  /** 1 for a server's first run in RUN_ORDER, 2 for its second. */
  round: number;
  setupSeconds: number;
  idle: Record<Measured, Memory>;
  /** Peaks over setup and the phases through HAProxy: the span every server runs, so they compare. */
  peak: Record<Measured, MemoryPeak>;
  phases: Record<
    string,
    PhaseResult & {
      via: "haproxy-tls" | "direct";
      /** Share of one core used during the phase, per daemon and by the load generator (100 = one core). */
      cpuPercent: Record<Measured | "loadGenerator", number>;
    }
  >;
}

export interface BenchReport {
  ok: boolean;
  startedAt: string;
  seconds: number;
  machine: { arch: string; cpus: number; memoryMb: number; cpuModel: string; cpuMhz: number };
  /**
   * The CPU calibration (calibration.ts) before and after the runs, to set reports from different
   * machines or days side by side. Absent in reports saved before it was recorded.
   */
  calibration?: { before: Calibration; after?: Calibration };
  versions: Record<string, string>;
  workload: Workload;
  notes: string[];
  /** What was changed in the generated config so that it runs here at all. */
  stockChanges: string[];
  runs: ServerRun[];
  /** a = firmground, b = stock. */
  oursOverStock: Comparison[];
  /** firmground's server: a = through HAProxy with TLS, b = direct to Synapse's listener. */
  proxiedOverDirect: Comparison[];
  error?: string;
}

/**
 * Nearest-rank percentiles (the smallest sample with at least p % of samples at or below it) and the
 * maximum, in ms to a tenth; zeros when nothing succeeded.
 */
export function latencySummary(samples: number[]): PhaseResult["latencyMs"] {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  const tenth = (x: number) => Math.round(x * 10) / 10;
  return { p50: tenth(rank(50)), p90: tenth(rank(90)), p99: tenth(rank(99)), max: tenth(sorted.at(-1) ?? 0) };
}

/** A run's name in the report: server#round. */
export const runName = (run: ServerRun) => `${run.server}#${run.round}`;

/** A run's phase by label (`saturate-haproxy-tls`, …); throws naming the run and the phase when it is missing. */
export function phaseOf(run: ServerRun, label: string): ServerRun["phases"][string] {
  const found = run.phases[label];
  if (!found) throw new Error(`the ${runName(run)} run has no ${label} phase`);
  return found;
}

/**
 * One figure, server a against server b: each side's mean over its runs, the ratio of the means, the
 * spread of the ratios pair by pair (run 1 with run 1, run 2 with run 2, in RUN_ORDER), and the noise
 * floor — the same figure's ratio between b's two runs (b against itself).
 */
export interface Comparison {
  figure: string;
  a: number;
  b: number;
  ratio: number;
  /** The lowest and highest pairwise ratio. */
  spread: [number, number];
  /** b's second run over its first; absent with one run of b. */
  noise?: number;
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const mean = (xs: number[]) => xs.reduce((sum, x) => sum + x, 0) / xs.length;

function comparison(figure: string, as: number[], bs: number[]): Comparison {
  const pairs = as.map((a, i) => ((bs[i] ?? bs[bs.length - 1]) ? a / (bs[i] ?? bs[bs.length - 1]) : Number.NaN));
  const a = round2(mean(as));
  const b = round2(mean(bs));
  return {
    figure,
    a,
    b,
    ratio: b ? round2(a / b) : Number.NaN,
    spread: [round2(Math.min(...pairs)), round2(Math.max(...pairs))],
    ...(bs.length > 1 && bs[0] ? { noise: round2(bs[1] / bs[0]) } : {}),
  };
}

const SATURATE = "saturate-haproxy-tls";
const RATE = "rate-haproxy-tls";

/**
 * Ours / stock (both through HAProxy with TLS) and, for firmground's server, through HAProxy / direct
 * to Synapse's listener (noise: its direct figure, second run over first). Empty when a server has no
 * run (the report then carries an error).
 */
export function compare(runs: ServerRun[]): { oursOverStock: Comparison[]; proxiedOverDirect: Comparison[] } {
  const byRound = (server: string) => runs.filter((r) => r.server === server).sort((x, y) => x.round - y.round);
  const ours = byRound("firmground");
  const stock = byRound("stock");
  if (!ours.length || !stock.length) return { oursOverStock: [], proxiedOverDirect: [] };
  const both = (figure: string, of: (run: ServerRun) => number) => comparison(figure, ours.map(of), stock.map(of));
  const viaProxy = (figure: string, kind: "rate" | "saturate", of: (p: PhaseResult) => number) => {
    const proxied = ours.map((r) => of(phaseOf(r, `${kind}-haproxy-tls`)));
    const direct = ours.map((r) => of(phaseOf(r, `${kind}-direct`)));
    return comparison(figure, proxied, direct);
  };
  return {
    oursOverStock: [
      both("Synapse RSS idle, MiB", (r) => r.idle.synapse.rssMb),
      both("Synapse RSS peak, MiB", (r) => r.peak.synapse.rssMb),
      both("PostgreSQL PSS idle, MiB", (r) => r.idle.postgres.pssMb),
      both("PostgreSQL PSS peak, MiB", (r) => r.peak.postgres.pssMb),
      both("saturation, msg/s", (r) => phaseOf(r, SATURATE).achievedPerSecond),
      both("saturation p99, ms", (r) => phaseOf(r, SATURATE).latencyMs.p99),
      both("fixed rate p50, ms", (r) => phaseOf(r, RATE).latencyMs.p50),
      both("fixed rate p99, ms", (r) => phaseOf(r, RATE).latencyMs.p99),
    ],
    proxiedOverDirect: [
      viaProxy("saturation, msg/s", "saturate", (p) => p.achievedPerSecond),
      viaProxy("fixed rate p50, ms", "rate", (p) => p.latencyMs.p50),
      viaProxy("fixed rate p99, ms", "rate", (p) => p.latencyMs.p99),
    ],
  };
}

/** Failed sends above this share of a phase's sends make the run fail: it measured something else. */
export const MAX_FAILED_SHARE = 0.01;

/** Phases that measured nothing or mostly failures, one line each (empty when every phase is sound). */
export function phaseProblems(runs: ServerRun[]): string[] {
  const problems: string[] = [];
  for (const run of runs) {
    for (const [label, phase] of Object.entries(run.phases)) {
      const failed = phase.sent - phase.ok;
      if (phase.ok === 0 || failed > phase.sent * MAX_FAILED_SHARE) {
        const first = Object.entries(phase.failures)[0];
        problems.push(
          `${runName(run)} ${label}: ${failed} of ${phase.sent} sends failed${first ? ` (${first[0]}: ${first[1].example})` : ""}`,
        );
      }
    }
  }
  return problems;
}

/** The report as printed at the end of a run: memory, each phase, then the two comparison tables. */
export function formatReport(report: BenchReport): string {
  const lines = [
    "",
    "=== firmground benchmark ===",
    `Machine: ${report.machine.cpus} × ${report.machine.cpuModel} (${report.machine.arch}), ${report.machine.memoryMb} MiB; load generator on the same machine`,
    ...(report.calibration
      ? [
          `CPU calibration: ${report.calibration.before.seconds} s before, ${report.calibration.after?.seconds ?? "-"} s after (${report.calibration.before.workload}; lower is faster)`,
        ]
      : []),
    `Synapse ${report.versions["matrix-synapse"] ?? "?"}, PostgreSQL ${report.versions["postgresql"] ?? "?"}, HAProxy ${report.versions["haproxy"] ?? "?"}`,
    `Workload: ${report.workload.users} users in ${report.workload.rooms} rooms; ${report.workload.ratePerSecond} msg/s offered, then ${report.workload.concurrency} concurrent senders; ${report.workload.phaseSeconds} s each`,
    "Memory (MiB, RSS / PSS summed over the daemon's processes; peak sampled each second):",
  ];
  for (const run of report.runs) {
    for (const name of MEASURED) {
      const idle = run.idle[name];
      const peak = run.peak[name];
      lines.push(
        `  ${runName(run).padEnd(13)} ${name.padEnd(9)} idle ${`${idle.rssMb} / ${idle.pssMb}`.padEnd(14)} peak ${`${peak.rssMb} / ${peak.pssMb}`.padEnd(14)} cgroup peak ${peak.cgroupPeakMb ?? "-"}${peak.limitMb ? ` / limit ${peak.limitMb}` : ""}`,
      );
    }
  }
  lines.push(
    "Send (msg/s achieved; latency p50 / p99 ms; failures; CPU % of one core: Synapse, PostgreSQL, HAProxy, load generator):",
  );
  for (const run of report.runs) {
    for (const [label, p] of Object.entries(run.phases)) {
      lines.push(
        `  ${runName(run).padEnd(13)} ${label.padEnd(22)} ${String(p.achievedPerSecond).padStart(6)} msg/s  ${`${p.latencyMs.p50} / ${p.latencyMs.p99}`.padEnd(16)} ${String(p.sent - p.ok).padStart(3)} failed  CPU ${MEASURED.map((n) => p.cpuPercent[n]).join(" / ")} / ${p.cpuPercent.loadGenerator}`,
      );
    }
  }
  const table = (title: string, a: string, b: string, noise: string, rows: Comparison[]) => {
    if (!rows.length) return;
    lines.push(
      `${title} (means; ratio, its spread pair by pair, and ${noise}):`,
      `  ${"".padEnd(26)} ${a.padStart(12)} ${b.padStart(12)} ${"ratio".padStart(7)} ${"spread".padStart(12)} ${"noise".padStart(7)}`,
    );
    for (const row of rows)
      lines.push(
        `  ${row.figure.padEnd(26)} ${String(row.a).padStart(12)} ${String(row.b).padStart(12)} ${String(row.ratio).padStart(7)} ${`${row.spread[0]}–${row.spread[1]}`.padStart(12)} ${String(row.noise ?? "-").padStart(7)}`,
      );
  };
  table(
    "firmground / stock (through HAProxy with TLS)",
    "firmground",
    "stock",
    "the noise floor: stock's second run / its first",
    report.oursOverStock,
  );
  table(
    "firmground through HAProxy with TLS / direct to Synapse",
    "via HAProxy",
    "direct",
    "noise: direct, second run / first",
    report.proxiedOverDirect,
  );
  if (report.error) lines.push(`Error: ${report.error.split("\n")[0]}`);
  return lines.join("\n");
}

/** The workload from `npm run bench -- --users N …`; throws naming the flag, its value and what is allowed. */
export const BENCH_USAGE = `usage: npm run bench -- [--users N] [--rooms N] [--rate N] [--concurrency N] [--seconds N]
  Boots firmground's rendered stack and a stock Synapse on the real daemons (as npm run test:stack) and
  measures both through the same HAProxy: saturation (closed loop) and a fixed offered rate (open loop).
options:
  --users N          users, spread over the rooms (default 200)
  --rooms N          rooms, at most --users (default 20)
  --rate N           messages/s of the fixed-rate phase (default: half the slower saturation)
  --concurrency N    concurrent senders at saturation (default 32)
  --seconds N        length of each phase, at least 5 (default 60)
  -h, --help         this text
Writes .stack/bench.json (BENCH_FILE overrides).`;

export function workloadFromArgs(args: string[]): Workload {
  const { values } = parseCommandLine(args, BENCH_USAGE, {
    users: { type: "string", default: "200" },
    rooms: { type: "string", default: "20" },
    rate: { type: "string" },
    concurrency: { type: "string", default: "32" },
    seconds: { type: "string", default: "60" },
  });
  const number = (key: keyof typeof values, min: number) => {
    const value = Number(values[key]);
    if (!Number.isInteger(value) || value < min)
      throw new Error(`--${key} ${values[key]}: expected a whole number of at least ${min}`);
    return value;
  };
  const workload: Workload = {
    users: number("users", 1),
    rooms: number("rooms", 1),
    ratePerSecond: values.rate === undefined ? undefined : number("rate", 1),
    concurrency: number("concurrency", 1),
    phaseSeconds: number("seconds", 5),
  };
  if (workload.rooms > workload.users)
    throw new Error(`--rooms ${workload.rooms}: at most --users (${workload.users}); each room's creator is a user`);
  return workload;
}
