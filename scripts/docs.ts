/**
 * Pulumi.yaml and the README's generated sections, so they cannot drift from their sources: the
 * configuration reference and Pulumi.yaml's `config:` block (CONFIG_KEYS), the sizing table (config-templates/sizing.ts) and the benchmark's
 * figures (the saved `npm run bench` report). `npm run docs` rewrites each between its markers and a unit
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

/** What the README reads of a saved `npm run bench` report (tests/stack/benchReport.ts writes it). */
export interface BenchReport {
  ok: boolean;
  startedAt: string;
  seconds: number;
  machine: { cpus: number; cpuModel: string; cpuMhz?: number; arch: string; memoryMb: number };
  versions: Record<string, string>;
  workload: { users: number; rooms: number; concurrency: number; phaseSeconds: number; ratePerSecond?: number };
  runs: ServerRun[];
}
type Figures = { rssMb: number; pssMb: number };
interface ServerRun {
  server: string;
  idle: Record<"synapse" | "postgres" | "haproxy", Figures>;
  peak: Record<"synapse" | "postgres" | "haproxy", Figures & { limitMb?: number }>;
  phases: Record<
    string,
    {
      achievedPerSecond: number;
      latencyMs: { p50: number; p99: number };
      cpuPercent: { synapse: number };
    }
  >;
}

function phaseOf(run: ServerRun, label: string) {
  const found = run.phases[label];
  if (!found) throw new Error(`the ${run.server} run has no ${label} phase`);
  return found;
}

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
  if (!report.ok || !ours || !stock || !rate) throw new Error(`${BENCH_FIGURES} is not a complete benchmark run`);
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
    `rooms, ${w.concurrency} concurrent senders, then ${rate} msg/s offered, ${w.phaseSeconds} s each.`;

  const whole = (x: number) => String(Math.round(x));
  const ratio = (a: number, b: number) => (b ? (a / b).toFixed(2) : "–");
  type Figure = (run: ServerRun) => number[];
  const row = (label: string, a: number[], b: number[], withRatio = true) =>
    `| ${label} | ${a.map(whole).join(" / ")} | ${b.map(whole).join(" / ")} | ${withRatio ? a.map((x, i) => ratio(x, b[i])).join(" / ") : ""} |`;
  const compared = (label: string, figure: Figure, withRatio = true) =>
    row(label, figure(ours), figure(stock), withRatio);
  const saturation = (run: ServerRun) => phaseOf(run, "saturate-haproxy-tls");
  const fixed = (run: ServerRun) => phaseOf(run, "rate-haproxy-tls");
  const msgPerSecond = (x: number) => x.toFixed(1);
  const oursOverStock = [
    "| Figure (through HAProxy with TLS) | firmground | stock | firmground / stock |",
    "| --- | --- | --- | --- |",
    compared("Synapse RSS idle / peak, MiB", (r) => [r.idle.synapse.rssMb, r.peak.synapse.rssMb]),
    compared("PostgreSQL PSS idle / peak, MiB", (r) => [r.idle.postgres.pssMb, r.peak.postgres.pssMb]),
    compared("HAProxy PSS idle / peak, MiB", (r) => [r.idle.haproxy.pssMb, r.peak.haproxy.pssMb]),
    `| Saturation, msg/s | ${msgPerSecond(saturation(ours).achievedPerSecond)} | ${msgPerSecond(saturation(stock).achievedPerSecond)} | ${ratio(saturation(ours).achievedPerSecond, saturation(stock).achievedPerSecond)} |`,
    compared("Saturation latency p50 / p99, ms", (r) => [saturation(r).latencyMs.p50, saturation(r).latencyMs.p99]),
    compared(`At ${rate} msg/s, latency p50 / p99, ms`, (r) => [fixed(r).latencyMs.p50, fixed(r).latencyMs.p99]),
    compared(
      `Synapse CPU at saturation / at ${rate} msg/s, % of one core`,
      (r) => [saturation(r).cpuPercent.synapse, fixed(r).cpuPercent.synapse],
      false,
    ),
  ];
  const direct = (kind: string) => phaseOf(ours, `${kind}-direct`);
  const proxiedOverDirect = [
    "| firmground's Synapse | through HAProxy with TLS | direct | ratio |",
    "| --- | --- | --- | --- |",
    `| Saturation, msg/s | ${msgPerSecond(saturation(ours).achievedPerSecond)} | ${msgPerSecond(direct("saturate").achievedPerSecond)} | ${ratio(saturation(ours).achievedPerSecond, direct("saturate").achievedPerSecond)} |`,
    row(
      `At ${rate} msg/s, latency p50 / p99, ms`,
      [fixed(ours).latencyMs.p50, fixed(ours).latencyMs.p99],
      [direct("rate").latencyMs.p50, direct("rate").latencyMs.p99],
    ),
  ];
  return [intro, oursOverStock.join("\n"), proxiedOverDirect.join("\n")].join("\n\n");
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
export function withGeneratedSections(readme: string, benchFigures: BenchReport): string {
  const withConfig = replaceBetween(readme, START_MARKER, END_MARKER, renderConfigTable());
  const withSizing = replaceBetween(withConfig, SIZING_START, SIZING_END, renderSizingTable());
  return formatMarkdown(replaceBetween(withSizing, BENCH_START, BENCH_END, renderBenchFigures(benchFigures)));
}

if (require.main === module) {
  const root = join(__dirname, "..");
  const readmePath = join(root, "README.md");
  const read = (file: string) => readFileSync(join(root, file), "utf8");
  writeFileSync(readmePath, withGeneratedSections(read("README.md"), JSON.parse(read(BENCH_FIGURES)) as BenchReport));
  writeFileSync(join(root, "Pulumi.yaml"), renderPulumiYaml());
  console.log(`Pulumi.yaml; README.md: configuration reference, sizing table and ${BENCH_FIGURES} figures regenerated`);
}
