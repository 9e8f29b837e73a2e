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
    const { error, mocks } = await runProgram(stackConfig(file).raw);
    expect(error).toBeUndefined();
    expect(mocks.of("docker:index/container:Container").length).toBeGreaterThan(0);
  });
});

test("staging: Let's Encrypt staging, the smallest type, data not retained, its own names", async () => {
  const { raw } = stackConfig("Pulumi.staging.yaml");
  const { mocks, error } = await runProgram(raw);
  expect(error).toBeUndefined();
  const renew = mocks.of("docker:index/container:Container").find((c) => c.inputs.name === "certbot")!;
  expect(JSON.stringify(renew.inputs.uploads)).toContain(LETS_ENCRYPT_STAGING);
  expect(raw.instanceType).toBe("BASIC2-A2C-4G");
  expect(raw.retainDataOnDestroy).toBe("false");
  const records = mocks.of("scaleway:domain/record:Record").map((r) => r.inputs.name as string);
  expect(records).toEqual(expect.arrayContaining(["staging", "matrix.staging", "element.staging"]));
});
