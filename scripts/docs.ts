/**
 * Pulumi.yaml and the README's generated sections, so they cannot drift from their sources: the
 * configuration reference and Pulumi.yaml's `config:` block (CONFIG_KEYS), the sizing table (config-templates/sizing.ts), the benchmark's
 * figures (the saved `npm run bench` report) and the capacity run's (the saved `npm run capacity` report). `npm run docs` rewrites each between its markers and a unit
 * test fails when one is stale.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as YAML from "yaml";
import { KNOWN_SERVER_TYPES } from "../components/render/offline";
import { CONFIG_KEYS, PROJECT, type ConfigKey } from "../components/config";
import { deriveSizing, totalMb } from "../config-templates/sizing";

export const START_MARKER = "<!-- config-reference:start (generated from components/config.ts by npm run docs) -->";
export const END_MARKER = "<!-- config-reference:end -->";
export const SIZING_START = "<!-- sizing:start (generated from config-templates/sizing.ts by npm run docs) -->";
export const SIZING_END = "<!-- sizing:end -->";
/** The `npm run bench` report the README quotes (copied from .stack/bench.json after a full run). */
export const BENCH_FIGURES = "tests/stack/bench-figures.json";
export const BENCH_START = `<!-- bench:start (generated from ${BENCH_FIGURES} by npm run docs) -->`;
export const BENCH_END = "<!-- bench:end -->";
/** The `npm run capacity` reports the README quotes, a list (each copied from .stack/capacity.json after a run). */
export const CAPACITY_FIGURES = "tests/stack/capacity-figures.json";
export const CAPACITY_START = `<!-- capacity:start (generated from ${CAPACITY_FIGURES} by npm run docs) -->`;
export const CAPACITY_END = "<!-- capacity:end -->";

/** What the README reads of a saved `npm run bench` report (tests/stack/benchReport.ts writes it). */
export interface BenchReport {
  ok: boolean;
  startedAt: string;
  seconds: number;
  machine: { cpus: number; cpuModel: string; cpuMhz?: number; arch: string; memoryMb: number };
  /** The CPU calibration (tests/stack/calibration.ts); absent in reports saved before it was recorded. */
  calibration?: { before: { seconds: number; workload: string } };
  versions: Record<string, string>;
  workload: { users: number; rooms: number; concurrency: number; phaseSeconds: number; ratePerSecond?: number };
  runs: ServerRun[];
  /** Means, the spread of the pairwise ratios and the noise floor of the alternated runs (A B B A). */
  oursOverStock?: Comparison[];
  proxiedOverDirect?: Comparison[];
}
interface Comparison {
  figure: string;
  a: number;
  b: number;
  ratio: number;
  spread?: [number, number];
  noise?: number;
}
/** What the README reads of a run: its server and memory limits. */
interface ServerRun {
  server: string;
  peak: Record<"synapse" | "postgres", { limitMb?: number }>;
}

/** What the README reads of a saved `npm run capacity` report (tests/stack/capacityReport.ts writes it). */
export interface CapacityReport {
  ok: boolean;
  startedAt: string;
  machine: { cpus: number; cpuModel: string; arch: string };
  calibration: { before?: { seconds: number } };
  instanceType: string;
  workload: {
    minutes: number;
    users: number;
    rooms: number;
    sendPerSecond: number;
    sharedMembers: number;
    federatedPerSecond: number;
  };
  setup?: { sharedJoin: { adminJoinMs: number; fullStateMs: number; members: number } };
  result?: {
    sends: { ok: number; sent: number; latencyMs: Latency };
    syncWake: { delivered: number; expected: number; latencyMs: Latency };
    federatedWake: { delivered: number; expected: number; latencyMs: Latency };
  };
  containers: Record<string, { cgroupPeakMb: number; limitMb: number; percentOfLimit: number; cpuPercent: number }>;
  sharingTheCpus?: { remoteHomeserver: number; loadGenerator: number };
  postgres?: { databaseMbBefore: number; databaseMbAfter: number; growthMb: number };
  goals: { goal: string; met: boolean; detail: string }[];
}
type Latency = { p50: number; p99: number; max: number };

/** The derived sizing for every BASIC2-A type, as a markdown table. */
export function renderSizingTable(): string {
  const rows = Object.entries(KNOWN_SERVER_TYPES)
    .filter(([name]) => name.startsWith("BASIC2-A"))
    .map(([name, type]) => {
      const { memoryMb: m, synapse: s, postgres: p, ramMb } = deriveSizing(type.ram);
      const others = totalMb(m) - m.synapse - m.postgres;
      return `| ${name} | ${ramMb / 1024} GiB | ${m.synapse} | ${m.postgres} | ${others} | ${s.cacheFactor} | ${s.cacheMaxMb}/${s.cacheTargetMb} | ${s.eventCacheK}K | ${s.presence ? "on" : "off"} | ${s.remoteRoomComplexity} (~${(s.remoteRoomComplexity * 500).toLocaleString("en")}) | ${p.sharedBuffersMb}/${p.effectiveCacheSizeMb}/${p.workMemMb}/${p.maintenanceWorkMemMb} | ${p.maxConnections} |`;
    });
  return [
    "| Type | RAM | Synapse limit (MiB) | PostgreSQL limit | Others | Cache factor | Cache autotuning max/target (MiB) | Event cache | Presence | Largest remote room: complexity (~members) | PG shared/effective cache/work/maintenance (MiB) | PG connections |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

/** The README's performance figures: the machine and workload, then ours/stock and proxied/direct tables. */
export function renderBenchFigures(report: BenchReport): string {
  const ours = report.runs.find((r) => r.server === "firmground");
  const stock = report.runs.find((r) => r.server === "stock");
  const rate = report.workload.ratePerSecond;
  if (!report.ok || !ours || !stock || !rate || !report.oursOverStock?.[0]?.spread || !report.proxiedOverDirect)
    throw new Error(`${BENCH_FIGURES} is not a complete alternated benchmark run`);
  const { machine: m, workload: w } = report;
  // Debian versions without their revision: "1.160.0-1" → "1.160.0", "18+293" → "18".
  const version = (pkg: string) => (report.versions[pkg] ?? "?").replace(/[+-][^.]*$/, "");
  const arch = m.arch === "x64" ? "x86_64, not ARM" : m.arch;
  const intro =
    `Measured ${report.startedAt.slice(0, 10)} (${Math.round(report.seconds / 60)} minutes): **${m.cpus} × ${m.cpuModel} ` +
    `${m.cpuMhz ? `at ${(m.cpuMhz / 1000).toFixed(2)} GHz ` : ""}(${arch}), ${Math.round(m.memoryMb / 1024)} GiB**, with the load generator ` +
    `on the same cores; Synapse ${version("matrix-synapse")}, PostgreSQL ${version("postgresql")}, HAProxy ` +
    `${version("haproxy")} (Debian sid); firmground sized for the default \`BASIC2-A2C-4G\` (Synapse limit ` +
    `${ours.peak.synapse.limitMb} MiB, PostgreSQL ${ours.peak.postgres.limitMb} MiB); ${w.users} users in ${w.rooms} ` +
    `rooms, ${w.concurrency} concurrent senders, then ${rate} msg/s offered, ${w.phaseSeconds} s each.` +
    (report.calibration
      ? ` CPU calibration ${report.calibration.before.seconds} s (${report.calibration.before.workload}).`
      : " (Saved before the CPU calibration was recorded.)");

  return [intro, alternatedTables(report.oursOverStock, report.proxiedOverDirect)].join("\n\n");
}

/** The README's capacity figures: for each saved run, the machine and workload, latency, memory and CPU, the goals. */
export function renderCapacityFigures(reports: CapacityReport[]): string {
  if (reports.length === 0) throw new Error(`${CAPACITY_FIGURES} holds no capacity run`);
  return reports.map(capacityRun).join("\n\n");
}

function capacityRun(report: CapacityReport): string {
  const r = report.result;
  const join = report.setup?.sharedJoin;
  if (!report.ok || !r || !join || !report.postgres || !report.sharingTheCpus)
    throw new Error(`${CAPACITY_FIGURES} is not a complete capacity run`);
  const { machine: m, workload: w } = report;
  const arch = m.arch === "x64" ? "x86_64, not ARM" : m.arch;
  const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);
  const latency = (l: { p50: number; p99: number; max: number }) => `${ms(l.p50)} | ${ms(l.p99)} | ${ms(l.max)}`;
  const intro =
    `**${w.sendPerSecond} msg/s.** Measured ${report.startedAt.slice(0, 10)}: ${m.cpus} × ${m.cpuModel} (${arch}), the stack sized for ` +
    `\`${report.instanceType}\`; ${w.minutes} minutes of ${w.users} users with a \`/sync\` long-poll open each, in ` +
    `${w.rooms} rooms, sending ${w.sendPerSecond} msg/s in total; ${w.sharedMembers} of them also in the remote ` +
    `homeserver's big room (${join.members.toLocaleString("en")} members after they joined; the admin's join took ` +
    `${ms(join.adminJoinMs)}, its full membership ${ms(join.fullStateMs)}), into which the remote sends ` +
    `${w.federatedPerSecond} msg/s. CPU calibration ${report.calibration.before?.seconds ?? "?"} s.`;
  const latencyTable = [
    "| Latency | delivered | p50 | p99 | max |",
    "| --- | --- | --- | --- | --- |",
    `| send (scheduled → answered) | ${r.sends.ok}/${r.sends.sent} | ${latency(r.sends.latencyMs)} |`,
    `| sync wake-up, local (scheduled send → each member's /sync) | ${r.syncWake.delivered}/${r.syncWake.expected} | ${latency(r.syncWake.latencyMs)} |`,
    `| sync wake-up, federated (created on the remote → each member's /sync) | ${r.federatedWake.delivered}/${r.federatedWake.expected} | ${latency(r.federatedWake.latencyMs)} |`,
  ].join("\n");
  const containerTable = [
    "| Container | memory peak (cgroup) / limit, MiB | share of limit | CPU, % of a core |",
    "| --- | --- | --- | --- |",
    ...Object.entries(report.containers).map(
      ([name, c]) => `| ${name} | ${c.cgroupPeakMb} / ${c.limitMb} | ${c.percentOfLimit} % | ${c.cpuPercent} |`,
    ),
    `| (the remote homeserver, the load generator: same CPUs) | | | ${report.sharingTheCpus.remoteHomeserver}, ${report.sharingTheCpus.loadGenerator} |`,
  ].join("\n");
  const outro =
    `PostgreSQL's database grew ${report.postgres.growthMb} MiB (${report.postgres.databaseMbBefore} → ` +
    `${report.postgres.databaseMbAfter}). Goals: ` +
    report.goals.map((g) => `${g.goal} — **${g.met ? "met" : "not met"}** (${g.detail})`).join("; ") +
    ".";
  return [intro, latencyTable, containerTable, outro].join("\n\n");
}

/** The tables of an A B B A run: each side's mean, the ratio, its spread pair by pair, and the noise floor. */
function alternatedTables(oursOverStock: Comparison[], proxiedOverDirect: Comparison[]): string {
  const figure = (x: number) => (Math.abs(x) >= 100 ? String(Math.round(x)) : String(Math.round(x * 10) / 10));
  const line = (c: Comparison) =>
    `| ${c.figure} | ${figure(c.a)} | ${figure(c.b)} | ${c.ratio.toFixed(2)} | ${c.spread ? `${c.spread[0].toFixed(2)}–${c.spread[1].toFixed(2)}` : ""} | ${c.noise?.toFixed(2) ?? ""} |`;
  return [
    [
      "| Figure (through HAProxy with TLS; means of two runs each) | firmground | stock | firmground / stock | spread (pair by pair) | noise floor: stock / stock |",
      "| --- | --- | --- | --- | --- | --- |",
      ...oursOverStock.map(line),
    ].join("\n"),
    [
      "| firmground's Synapse (means of its two runs) | through HAProxy with TLS | direct | ratio | spread (run by run) | noise: direct / direct |",
      "| --- | --- | --- | --- | --- | --- |",
      ...proxiedOverDirect.map(line),
    ].join("\n"),
  ].join("\n\n");
}

function replaceBetween(text: string, start: string, end: string, body: string): string {
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md lacks the markers ${start} … ${end}`);
  return `${text.slice(0, from + start.length)}\n\n${body}\n\n${text.slice(to)}`;
}

const code = (text: string) => `\`${text}\``;

/** The default column: what an unset key means (derived, generated, required) or its declared default. */
function defaultOf(key: ConfigKey): string {
  if (key.shownDefault !== undefined) return key.shownDefault;
  return code(typeof key.default === "string" ? key.default : JSON.stringify(key.default));
}

/** Markdown table of every config key: name, type, default, description. */
export function renderConfigTable(): string {
  const rows = Object.entries(CONFIG_KEYS).map(([name, key]) => {
    const type = `${key.type === "array" ? `${key.items}[]` : key.type}${key.secret ? " (secret)" : ""}`;
    const description = key.description.replace(/\|/g, "\\|").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    return `| ${code(name)} | ${type} | ${defaultOf(key)} | ${description} |`;
  });
  return ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/**
 * Pulumi.yaml, whose `config:` block declares every key of CONFIG_KEYS the way the engine needs it:
 * each with a default (a key without one is required and stops the engine before the program runs),
 * and secret keys untyped with `secret: true` (see CONFIG_KEYS).
 */
export function renderPulumiYaml(): string {
  const config = Object.fromEntries(
    Object.entries(CONFIG_KEYS).map(([name, key]) => [
      name,
      {
        ...(key.secret ? { secret: true } : { type: key.type }),
        ...(key.items ? { items: { type: key.items } } : {}),
        description: key.description,
        default: key.default,
      },
    ]),
  );
  const project = {
    name: PROJECT,
    description: "A Scaleway account and a domain in, a working, secure Matrix homeserver out.",
    runtime: { name: "nodejs", options: { packagemanager: "npm", typescript: true } },
    main: "index.ts",
    config,
  };
  return (
    "# Generated by `npm run docs` from CONFIG_KEYS in components/config.ts: edit that, not this file.\n" +
    YAML.stringify(project, { lineWidth: 0 })
  );
}

/** Formats markdown as `prettier --check` expects the README (in a child process: prettier is ESM inside). */
function formatMarkdown(text: string): string {
  const root = join(__dirname, "..");
  const result = spawnSync(
    process.execPath,
    [require.resolve("prettier/bin/prettier.cjs"), "--stdin-filepath", join(root, "README.md")],
    {
      input: text,
      encoding: "utf8",
      cwd: root,
    },
  );
  if (result.status !== 0) throw new Error(`prettier failed: ${result.stderr}`);
  return result.stdout;
}

/** `readme` with each generated section replaced, formatted as prettier formats the README. */
export function withGeneratedSections(
  readme: string,
  benchFigures: BenchReport,
  capacityFigures: CapacityReport[],
): string {
  const withConfig = replaceBetween(readme, START_MARKER, END_MARKER, renderConfigTable());
  const withSizing = replaceBetween(withConfig, SIZING_START, SIZING_END, renderSizingTable());
  const withBench = replaceBetween(withSizing, BENCH_START, BENCH_END, renderBenchFigures(benchFigures));
  return formatMarkdown(
    replaceBetween(withBench, CAPACITY_START, CAPACITY_END, renderCapacityFigures(capacityFigures)),
  );
}

if (require.main === module) {
  const root = join(__dirname, "..");
  const readmePath = join(root, "README.md");
  const read = (file: string) => readFileSync(join(root, file), "utf8");
  writeFileSync(
    readmePath,
    withGeneratedSections(
      read("README.md"),
      JSON.parse(read(BENCH_FIGURES)) as BenchReport,
      JSON.parse(read(CAPACITY_FIGURES)) as CapacityReport[],
    ),
  );
  writeFileSync(join(root, "Pulumi.yaml"), renderPulumiYaml());
  console.log(
    `Pulumi.yaml; README.md: configuration reference, sizing table, ${BENCH_FIGURES} and ${CAPACITY_FIGURES} figures regenerated`,
  );
}
