/**
 * Stand-in for the `random` resource provider plugin, version 4.21.2 (what @pulumi/random 4.21.2 asks for), for
 * `npm run test:deploy`: RandomPassword, RandomString and RandomBytes, the resources the program creates.
 *
 * Contract, and where each part was read:
 * - Type tokens, inputs (each resource's Args), outputs and secret outputs: node_modules/@pulumi/random 4.21.2,
 *   package.json ("pulumi.version"), randomPassword.d.ts/.js, randomString.d.ts/.js, randomBytes.d.ts/.js,
 *   provider.d.ts (no provider settings).
 * - Behaviour: pulumi-random 4.21.x bridges hashicorp/terraform-provider-random v3.9.0 (pulumi/pulumi-random
 *   commit 2ca9116d "Upgrade terraform-provider-random to v3.9.0", then v4.21.0). Read at tag v3.9.0:
 *   internal/provider/resource_password.go, resource_string.go, resource_bytes.go (schemas, defaults, validators,
 *   plan modifiers, ids), internal/random/string.go (how the string is drawn), internal/validators/boolvalidator.go,
 *   internal/planmodifiers/{bool,map,string}/*.go. pulumi/pulumi-random provider/resources.go (RandomBytes' id is its
 *   base64) and the recorded gRPC exchanges provider/testdata/recorded/TestProviderUpgrade/index_random{password,
 *   string,bytes}/4.16.0/grpc.json (Check returns the inputs as sent, without defaults; Create returns every
 *   attribute with its default, `id` and the bridge's `__meta` schema version; unset optional inputs are absent).
 *
 * At start it compares its version and each resource's inputs with the installed SDK (sdkInputs.ts) and refuses
 * to serve if they differ, so an SDK upgrade cannot silently outgrow this contract.
 *
 * What the stand-in does as the real one does:
 * - Check refuses inputs the Args do not declare, values of the wrong type, `length` < 1 or < the sum of the
 *   `min*`, `number` and `numeric` both set and different ("Number and numeric are both configured with different
 *   values"), and `number`/`numeric` false while `special`, `upper` and `lower` are all set false.
 * - Defaults: lower/upper/special true, number and numeric each follow the other when only one is set (true when
 *   neither is), min* 0, overrideSpecial and keepers unset (absent from the outputs).
 * - The string: the `min*` characters first, each from its own set whether or not that set is enabled, then the
 *   rest from upper+lower+numeric+special (`overrideSpecial` replacing the special set when not ""), drawn uniformly
 *   with node:crypto by Unicode code point (v3.9.0 draws runes), then shuffled.
 * - ids: RandomPassword "none", RandomString its result, RandomBytes its base64. Outputs carry `id` and, for the
 *   resources whose Terraform schema has a version (password 3, string 2), `__meta`, as the bridge records them.
 * - RandomBytes: `length` random bytes, `base64` (standard, padded) and `hex` (lowercase).
 * - bcryptHash: a real bcrypt hash, cost 10 (Go's bcrypt.DefaultCost), `$2a$` prefix as Go's x/crypto/bcrypt
 *   writes, of the first 72 bytes of the result, made by `python3`'s crypt module (libxcrypt bcrypt; the `$2a$`
 *   and `$2b$` computations are identical below 256 bytes). No bcrypt exists in node_modules or in openssl's CLI.
 *   If python3 or its crypt module (removed in Python 3.13) is missing, creating a RandomPassword fails and says so.
 * - Read (refresh) returns the state unchanged; Delete does nothing.
 *
 * Checked against the real plugin: a pulumi-resource-random 4.21.1 built from the pulumi/pulumi-random snapshot
 * (/var/cache/firmground-pulumi/random-v4.21.1, same upstream v3.9.0) run by the same engine on the same program
 * stores the same id, inputs, outputs, defaults, `__meta` and secret outputs as this stand-in, except the bridge's
 * internal `__pulumi_raw_state_delta` output (pulumi-random sets EnableRawStateDelta), which the stand-in omits.
 *
 * Where the stand-in differs:
 * - Inputs the SDK does not declare are refused (server.ts); the real plugin drops them silently (seen with 4.21.1).
 * - Replacement: every input change replaces (server.ts diffs the inputs as sent). The real provider plans from
 *   the prior state with defaults applied, so it does NOT replace when a default is merely spelled out (`special:
 *   true` added where it was unset, `number` renamed to `numeric` with the same value), when overrideSpecial goes
 *   from "" to unset, or when keepers change only by null-valued keys: the stand-in replaces there (stricter).
 * - The shuffle is a uniform Fisher-Yates; v3.9.0 sorts by random bytes with a comparator that does not follow the
 *   elements (not uniform). The set of characters drawn and their counts follow the same rules.
 * - Problems the real provider finds only when planning (number/numeric conflict) are reported at Check.
 * - Negative `min*` values are refused at Check; the real provider has no validator and panics creating the string.
 * - A result containing a NUL character (only possible through overrideSpecial) cannot be hashed through python.
 */
import { randomBytes, randomInt } from "node:crypto";
import { spawn } from "node:child_process";
import { servePlugin, type Properties, type StandInProvider, type StandInResource } from "./server";

const NUMERIC = "0123456789";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

type Failure = { property: string; reason: string };

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);

/** Type problems of the given inputs against their declared kinds. */
function typeFailures(inputs: Properties, kinds: Record<string, "int" | "bool" | "string" | "stringMap">): Failure[] {
  const failures: Failure[] = [];
  for (const [key, kind] of Object.entries(kinds)) {
    const value = inputs[key];
    if (value === undefined || value === null) continue;
    const ok =
      kind === "int"
        ? isInt(value)
        : kind === "bool"
          ? typeof value === "boolean"
          : kind === "string"
            ? typeof value === "string"
            : typeof value === "object" &&
              !Array.isArray(value) &&
              Object.values(value as object).every((v) => typeof v === "string");
    const expected = { int: "an integer", bool: "a boolean", string: "a string", stringMap: "a map of strings" }[kind];
    if (!ok) failures.push({ property: key, reason: `${key} must be ${expected}, got ${JSON.stringify(value)}` });
  }
  return failures;
}

export interface StringParams {
  length: number;
  upper: boolean;
  minUpper: number;
  lower: boolean;
  minLower: number;
  numeric: boolean;
  minNumeric: number;
  special: boolean;
  minSpecial: number;
  overrideSpecial: string;
}

/** internal/random/string.go CreateString (v3.9.0), with node:crypto's uniform draws. */
export function createString(p: StringParams): string {
  const specialChars = p.overrideSpecial !== "" ? p.overrideSpecial : SPECIAL;
  const chars =
    (p.upper ? UPPER : "") + (p.lower ? LOWER : "") + (p.numeric ? NUMERIC : "") + (p.special ? specialChars : "");
  if (chars === "") throw new Error("the character set specified is empty");
  const draw = (set: string, count: number): string[] => {
    const runes = Array.from(set);
    if (runes.length === 0 && count > 0) throw new Error("charSet is empty");
    return Array.from({ length: count }, () => runes[randomInt(runes.length)]);
  };
  // A Go map literal: should overrideSpecial equal another set, the later entry (special) wins.
  const minimums = new Map<string, number>([
    [NUMERIC, p.minNumeric],
    [LOWER, p.minLower],
    [UPPER, p.minUpper],
    [specialChars, p.minSpecial],
  ]);
  const result: string[] = [];
  for (const [set, count] of minimums) result.push(...draw(set, count));
  result.push(...draw(chars, p.length - result.length));
  for (let i = result.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [result[i], result[j]] = [result[j], result[i]];
  }
  return result.join("");
}

/** bcrypt (cost 10, `$2a$`) of the first 72 bytes, as generateHash in resource_password.go. */
export function bcryptHash(password: string): Promise<string> {
  // libxcrypt's bcrypt uses at most the first 72 bytes, like the provider's explicit truncation.
  const script = [
    "import crypt, sys",
    "salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024).replace('$2b$', '$2a$', 1)",
    "sys.stdout.write(crypt.crypt(sys.stdin.buffer.read().decode('utf-8'), salt))",
  ].join("\n");
  return new Promise((resolve, reject) => {
    const child = spawn("python3", ["-W", "ignore", "-c", script], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", (e) => reject(new Error(`bcryptHash needs python3 with its crypt module: ${e.message}`)));
    child.on("close", (code) => {
      if (code === 0 && /^\$2a\$10\$[./A-Za-z0-9]{53}$/.test(out)) resolve(out);
      else reject(new Error(`bcryptHash needs python3 with its crypt module (exit ${code}): ${err.trim() || out}`));
    });
    child.stdin.end(Buffer.from(password, "utf8"));
  });
}

const STRING_INPUTS = [
  "keepers",
  "length",
  "lower",
  "minLower",
  "minNumeric",
  "minSpecial",
  "minUpper",
  "number",
  "numeric",
  "overrideSpecial",
  "special",
  "upper",
] as const;

/** The validators of the password/string schemas (v3.9.0), plus the number/numeric plan modifier's error. */
function checkString(inputs: Properties): Failure[] {
  const failures = typeFailures(inputs, {
    keepers: "stringMap",
    length: "int",
    lower: "bool",
    minLower: "int",
    minNumeric: "int",
    minSpecial: "int",
    minUpper: "int",
    number: "bool",
    numeric: "bool",
    overrideSpecial: "string",
    special: "bool",
    upper: "bool",
  });
  if (failures.length) return failures;
  if (inputs.length === undefined) return [{ property: "length", reason: "Missing required argument: length" }];
  const mins = ["minUpper", "minLower", "minNumeric", "minSpecial"] as const;
  for (const key of mins) {
    if ((inputs[key] ?? 0) < 0) failures.push({ property: key, reason: `${key} must not be negative` });
  }
  if (inputs.length < 1) failures.push({ property: "length", reason: "length must be at least 1" });
  const sum = mins.reduce((total, key) => total + ((inputs[key] as number | undefined) ?? 0), 0);
  if (inputs.length < sum) {
    failures.push({
      property: "length",
      reason: `length must be at least sum of min_upper + min_lower + min_numeric + min_special (${sum}), got ${inputs.length}`,
    });
  }
  if (inputs.number !== undefined && inputs.numeric !== undefined && inputs.number !== inputs.numeric) {
    failures.push({
      property: "numeric",
      reason: "Number and numeric are both configured with different values (number is deprecated, use numeric)",
    });
  }
  for (const key of ["number", "numeric"] as const) {
    if (inputs[key] === false && inputs.special === false && inputs.upper === false && inputs.lower === false) {
      failures.push({
        property: key,
        reason: `At least one attribute out of [special,upper,lower,${key}] must be specified as true`,
      });
    }
  }
  return failures;
}

/** The planned attributes (inputs with their defaults) and the generated string. */
function generateString(inputs: Properties): Properties {
  const numeric = (inputs.numeric ?? inputs.number ?? true) as boolean;
  const planned = {
    length: inputs.length as number,
    lower: (inputs.lower ?? true) as boolean,
    minLower: (inputs.minLower ?? 0) as number,
    minNumeric: (inputs.minNumeric ?? 0) as number,
    minSpecial: (inputs.minSpecial ?? 0) as number,
    minUpper: (inputs.minUpper ?? 0) as number,
    number: numeric,
    numeric,
    special: (inputs.special ?? true) as boolean,
    upper: (inputs.upper ?? true) as boolean,
  };
  const overrideSpecial = inputs.overrideSpecial as string | undefined;
  const result = createString({ ...planned, overrideSpecial: overrideSpecial ?? "" });
  return {
    ...(inputs.keepers !== undefined && { keepers: inputs.keepers as Properties }),
    ...planned,
    ...(overrideSpecial !== undefined && { overrideSpecial }),
    result,
  };
}

const noop = async (): Promise<void> => {};

const randomPassword: StandInResource = {
  inputs: STRING_INPUTS,
  replaceOnChange: "all",
  check: checkString,
  async create(inputs) {
    const outs = generateString(inputs);
    const bcrypt = await bcryptHash(outs.result as string);
    return { id: "none", outs: { __meta: '{"schema_version":"3"}', ...outs, bcryptHash: bcrypt, id: "none" } };
  },
  delete: noop,
};

const randomString: StandInResource = {
  inputs: STRING_INPUTS,
  replaceOnChange: "all",
  check: checkString,
  create(inputs) {
    const outs = generateString(inputs);
    const id = outs.result as string;
    return Promise.resolve({ id, outs: { __meta: '{"schema_version":"2"}', ...outs, id } });
  },
  delete: noop,
};

const randomBytesResource: StandInResource = {
  inputs: ["keepers", "length"],
  replaceOnChange: "all",
  check(inputs) {
    const failures = typeFailures(inputs, { keepers: "stringMap", length: "int" });
    if (failures.length) return failures;
    if (inputs.length === undefined) return [{ property: "length", reason: "Missing required argument: length" }];
    return inputs.length < 1 ? [{ property: "length", reason: "length must be at least 1" }] : [];
  },
  create(inputs) {
    const bytes = randomBytes(inputs.length as number);
    const base64 = bytes.toString("base64");
    const outs = {
      ...(inputs.keepers !== undefined && { keepers: inputs.keepers as Properties }),
      length: inputs.length as number,
      base64,
      hex: bytes.toString("hex"),
    };
    return Promise.resolve({ id: base64, outs });
  },
  delete: noop,
};

export const provider: StandInProvider = {
  name: "random",
  version: "4.21.2",
  configKeys: [],
  resources: {
    "random:index/randomPassword:RandomPassword": randomPassword,
    "random:index/randomString:RandomString": randomString,
    "random:index/randomBytes:RandomBytes": randomBytesResource,
  },
};

/** Where each resource's Args live in @pulumi/random's declarations. */
const SDK_ARGS: Record<string, [file: string, args: string]> = {
  "random:index/randomPassword:RandomPassword": ["randomPassword", "RandomPasswordArgs"],
  "random:index/randomString:RandomString": ["randomString", "RandomStringArgs"],
  "random:index/randomBytes:RandomBytes": ["randomBytes", "RandomBytesArgs"],
};

if (require.main === module) servePlugin(provider, "@pulumi/random", SDK_ARGS);
