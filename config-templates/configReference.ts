/**
 * The README's configuration reference, rendered from Pulumi.yaml's `config:` block, so the two cannot
 * drift: `npm run docs` rewrites the table between the markers and a unit test fails when it is stale.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as YAML from "yaml";
import { KNOWN_SERVER_TYPES } from "../components/render/offline";
import { deriveSizing, totalMb } from "./sizing";

export const START_MARKER = "<!-- config-reference:start (generated from Pulumi.yaml by npm run docs) -->";
export const END_MARKER = "<!-- config-reference:end -->";
export const SIZING_START = "<!-- sizing:start (generated from config-templates/sizing.ts by npm run docs) -->";
export const SIZING_END = "<!-- sizing:end -->";

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

function replaceBetween(text: string, start: string, end: string, body: string): string {
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md lacks the markers ${start} … ${end}`);
  return `${text.slice(0, from + start.length)}\n\n${body}\n\n${text.slice(to)}`;
}

interface DeclaredKey {
  type: string;
  items?: { type: string };
  default?: unknown;
  description?: string;
}

const code = (text: string) => `\`${text}\``;

/** The default column: the declared default, a derived one from the description, or "(required)". */
function defaultOf(key: DeclaredKey): string {
  if (key.default !== undefined) {
    return code(typeof key.default === "string" ? key.default : JSON.stringify(key.default));
  }
  const description = key.description ?? "";
  if (description.startsWith("Required.")) return "(required)";
  const derived = /Defaults? (?:to |: ?)([^;,)]+?)(?:[;,)]|\.(?:\s|$))/.exec(description);
  if (!derived) return "—";
  const value = derived[1].trim();
  return /\s/.test(value) ? value : code(value);
}

/** Markdown table of every config key: name, type, default, description. */
export function renderConfigTable(pulumiYaml: string): string {
  const project = YAML.parse(pulumiYaml) as { config: Record<string, DeclaredKey> };
  const rows = Object.entries(project.config).map(([name, key]) => {
    const type = key.type === "array" ? `${key.items?.type ?? "any"}[]` : key.type;
    const description = (key.description ?? "")
      .replace(/^Required\.\s*/, "")
      .replace(/\|/g, "\\|")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;");
    return `| ${code(name)} | ${type} | ${defaultOf(key)} | ${description} |`;
  });
  return ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |", ...rows].join("\n");
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

/** `readme` with the table between the markers replaced, formatted as prettier formats the README. */
export function withConfigTable(readme: string, pulumiYaml: string): string {
  const withConfig = replaceBetween(readme, START_MARKER, END_MARKER, renderConfigTable(pulumiYaml));
  return formatMarkdown(replaceBetween(withConfig, SIZING_START, SIZING_END, renderSizingTable()));
}

if (require.main === module) {
  const root = join(__dirname, "..");
  const readmePath = join(root, "README.md");
  writeFileSync(
    readmePath,
    withConfigTable(readFileSync(readmePath, "utf8"), readFileSync(join(root, "Pulumi.yaml"), "utf8")),
  );
  console.log("README.md: configuration reference regenerated from Pulumi.yaml");
}
