/**
 * The README's configuration reference, rendered from Pulumi.yaml's `config:` block, so the two cannot
 * drift: `npm run docs` rewrites the table between the markers and a unit test fails when it is stale.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as YAML from "yaml";

export const START_MARKER = "<!-- config-reference:start (generated from Pulumi.yaml by npm run docs) -->";
export const END_MARKER = "<!-- config-reference:end -->";

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
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < start) throw new Error(`README.md lacks the markers ${START_MARKER} … ${END_MARKER}`);
  const updated = `${readme.slice(0, start + START_MARKER.length)}\n\n${renderConfigTable(pulumiYaml)}\n\n${readme.slice(end)}`;
  return formatMarkdown(updated);
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
