/**
 * Every committed stack config (`Pulumi.<stack>.yaml`) is a complete, valid stack: each key is declared
 * in Pulumi.yaml with the same type, and the whole program runs with it under mocks (secure values
 * replaced by placeholders, as no stack passphrase is available here).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { LETS_ENCRYPT_STAGING, PROJECT } from "../components/config";
import { stackConfig as renderConfig } from "../components/render/cli";
import { engineConfig, engineConfigOfFile, parseProject } from "../components/render/engineConfig";
import { runProgram } from "./support/mocks";

const ROOT = path.join(__dirname, "..");
const STACK_FILES = fs.readdirSync(ROOT).filter((f) => /^Pulumi\.[\w-]+\.yaml$/.test(f));
const declared = (
  YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, { type: string }> }
).config;

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value === "object" && value !== null ? "object" : typeof value;
}

/** The stack's `firmground:*` values (as `npm run render` reads them) and any drift from Pulumi.yaml. */
function stackConfig(file: string) {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const config = (YAML.parse(text) as { config: Record<string, unknown> }).config;
  const drift: string[] = [];
  for (const [fullKey, value] of Object.entries(config)) {
    if (!fullKey.startsWith(`${PROJECT}:`)) continue;
    const key = fullKey.slice(PROJECT.length + 1);
    const isSecure = typeOf(value) === "object" && "secure" in (value as object);
    if (!declared[key]) drift.push(`${fullKey} is not declared in Pulumi.yaml`);
    else if (!isSecure && typeOf(value) !== declared[key].type) {
      drift.push(`${fullKey} is ${typeOf(value)}, Pulumi.yaml says ${declared[key].type}`);
    }
  }
  return { raw: renderConfig(text), drift };
}

test("prod and staging stack configs are committed", () => {
  expect(STACK_FILES).toEqual(expect.arrayContaining(["Pulumi.prod.yaml", "Pulumi.staging.yaml"]));
});

describe.each(STACK_FILES)("%s", (file) => {
  test("declares only keys Pulumi.yaml declares, with their types", () => {
    expect(stackConfig(file).drift).toEqual([]);
  });

  test("runs the whole program without refusal", async () => {
    const { raw } = stackConfig(file);
    const { error, mocks } = await runProgram(raw.values, undefined, raw.secretKeys);
    expect(error).toBeUndefined();
    expect(mocks.of("docker:index/container:Container").length).toBeGreaterThan(0);
  });
});

test("staging: Let's Encrypt staging, the smallest type, data not retained, its own names", async () => {
  const { raw: stack } = stackConfig("Pulumi.staging.yaml");
  const raw = stack.values;
  const { mocks, error } = await runProgram(raw);
  expect(error).toBeUndefined();
  const renew = mocks.of("docker:index/container:Container").find((c) => c.inputs.name === "certbot")!;
  expect(JSON.stringify(renew.inputs.uploads)).toContain(LETS_ENCRYPT_STAGING);
  expect(raw.instanceType).toBe("BASIC2-A2C-4G");
  expect(raw.retainDataOnDestroy).toBe("false");
  const records = mocks.of("scaleway:domain/record:Record").map((r) => r.inputs.name as string);
  expect(records).toEqual(expect.arrayContaining(["staging", "matrix.staging", "element.staging"]));
});

/**
 * The engine's config rules (components/render/engineConfig.ts, a stand-in read from the engine's
 * source; `npm run test:deploy` runs the real CLI on the same stacks) applied to each committed stack
 * and to the README's quick starts, replayed command by command as typed.
 */
describe("the Pulumi engine accepts", () => {
  const project = parseProject(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));

  test.each(STACK_FILES)("%s", (file) => {
    const name = file.replace(/^Pulumi\.|\.yaml$/g, "");
    expect(engineConfigOfFile(project, name, fs.readFileSync(path.join(ROOT, file), "utf8")).errors).toEqual([]);
  });

  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const firstScreen = readme.slice(0, readme.indexOf("\n---\n"));
  const blocks = [...firstScreen.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);

  test("the README's first screen has the quick starts", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  test.each(blocks.map((block, i) => [i, block]))("quick start %i, as typed", async (_i, block) => {
    const runs = replayQuickStart(String(block), project);
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) {
      expect(run.errors).toEqual([]);
      const { error } = await runProgram(run.values, undefined, run.secretKeys);
      expect(error).toBeUndefined();
    }
  });
});

/** Splits one shell command line into words (quotes, `$(…)` replaced by a sample address). */
function shellWords(line: string): string[] {
  const text = line.replace(/\s+#.*$/, "").replace(/\$\([^)]*\)/g, "198.51.100.9");
  return [...text.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** Sets `value` at a `--path` key such as `firmground:adminCidrs[0]` or `firmground:users[0].password`. */
function setPath(config: Record<string, unknown>, pathKey: string, value: unknown) {
  const [head, ...rest] = pathKey.split(/(?=\[)|\./).map((p) => p.replace(/^\[|\]$/g, ""));
  let node: any = config;
  let key: string | number = head;
  for (const part of rest) {
    const index = /^\d+$/.test(part) ? Number(part) : part;
    node[key] ??= typeof index === "number" ? [] : {};
    node = node[key];
    key = index;
  }
  node[key] = value;
}

/** Replays `pulumi stack init` and `pulumi config set` lines; at each `pulumi up`/`preview`, what the engine decides. */
function replayQuickStart(block: string, project: ReturnType<typeof parseProject>) {
  const runs: ReturnType<typeof engineConfigOfFile>[] = [];
  let stack = "";
  let config: Record<string, unknown> = {};
  for (const command of block.split("\n").flatMap((line) => line.split(/\s*&&\s*/))) {
    const words = shellWords(command);
    if (words[0] !== "pulumi") continue;
    if (words[1] === "stack" && words[2] === "init") {
      stack = words[3];
      const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
      config = fs.existsSync(file) ? (YAML.parse(fs.readFileSync(file, "utf8")).config ?? {}) : {};
    } else if (words[1] === "config" && words[2] === "set") {
      const args = words.slice(3).filter((w) => !w.startsWith("--"));
      const value = words.includes("--secret") ? { secure: "ciphertext" } : args[1];
      if (words.includes("--path")) setPath(config, args[0], value);
      else config[args[0]] = value;
    } else if (words[1] === "up" || words[1] === "preview") {
      runs.push(engineConfig(project, stack, config));
    }
  }
  return runs;
}
