/**
 * How the code is laid out (the README's "How the code is laid out"), as rules a change cannot break
 * unseen: no import cycles; renderers (config-templates/) are pure — no Pulumi, nothing from components
 * but the service registry, the shared helpers and types; scripts/ and the program import nothing from
 * tests/; the host component knows nothing of the services.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(__dirname, "..");

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    if (entry === "node_modules") return [];
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

const FILES = ["index.ts", ...["components", "config-templates", "policy", "scripts", "tests"].flatMap(sources)];

/** The project files a file imports (relative imports only), and whether each import is type-only. */
function importsOf(file: string): { target: string; typeOnly: boolean }[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(/^import (type )?[^;]*? from "(\.{1,2}\/[^"]+)";/gms)].map((m) => {
    const base = resolve(ROOT, dirname(file), m[2]);
    const candidates = [`${base}.ts`, join(base, "index.ts")];
    const found = candidates.find((c) => FILES.includes(relative(ROOT, c)));
    return { target: found ? relative(ROOT, found) : relative(ROOT, base), typeOnly: !!m[1] };
  });
}

const GRAPH = new Map(FILES.map((file) => [file, importsOf(file)]));

test("no import cycles", () => {
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const walk = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "open");
    for (const { target } of GRAPH.get(file) ?? []) if (GRAPH.has(target)) walk(target, [...path, file]);
    state.set(file, "done");
  };
  for (const file of FILES) walk(file, []);
  expect(cycles).toEqual([]);
});

test("renderers are pure: no Pulumi, and of components only the registry, the helpers and types", () => {
  const allowed = ["components/services/registry.ts", "components/util.ts"];
  const problems = FILES.filter((f) => f.startsWith("config-templates/")).flatMap((file) => {
    const text = readFileSync(join(ROOT, file), "utf8");
    return [
      ...(/from "@pulumi\//.test(text) ? [`${file} imports Pulumi`] : []),
      ...GRAPH.get(file)!
        .filter((i) => i.target.startsWith("components/") && !i.typeOnly && !allowed.includes(i.target))
        .map((i) => `${file} imports ${i.target}`),
    ];
  });
  expect(problems).toEqual([]);
});

test("neither the program nor scripts/ import anything from tests/", () => {
  const problems = FILES.filter((f) => !f.startsWith("tests/")).flatMap((file) =>
    GRAPH.get(file)!
      .filter((i) => i.target.startsWith("tests/"))
      .map((i) => `${file} imports ${i.target}`),
  );
  expect(problems).toEqual([]);
});

test("the host knows nothing of the services but their shape (types)", () => {
  const problems = FILES.filter((f) => f.startsWith("components/host/")).flatMap((file) =>
    GRAPH.get(file)!
      .filter((i) => i.target.startsWith("components/services/") && !i.typeOnly)
      .map((i) => `${file} imports ${i.target}`),
  );
  expect(problems).toEqual([]);
});

test("the import scan sees the project's imports (it is not vacuous)", () => {
  expect(GRAPH.get("index.ts")!.map((i) => i.target)).toContain("components/config.ts");
  expect(GRAPH.get("components/services/matrixServices.ts")!.map((i) => i.target)).toContain(
    "components/services/registry.ts",
  );
});
