/**
 * What the Pulumi engine does with a project's `config:` block and a stack's config file before the
 * program runs, so that code which runs the program without the engine (`npm run render`, the unit
 * tests, the real-daemon harness) sees exactly what `pulumi up` would hand it — and refuses what the
 * engine would refuse.
 *
 * Contract read from github.com/pulumi/pulumi/sdk/v3 at v3.248.0 (the version package-lock.json pins):
 * - go/common/workspace/project.go, `(*Project).Validate`: a key may not have both `default` and
 *   `value`; a typed array needs `items`; a typed key's default must be of its type.
 * - go/common/workspace/config.go, `mergeConfig`: a key of the project's namespace that the stack does
 *   not set and that has neither `default` nor `value` is *required*: the engine stops with "Stack 'S'
 *   is missing configuration value(s) …" before the program starts. A default is written into the
 *   stack's config as text (`fmt.Sprintf("%v")` for scalars, JSON for lists and objects).
 * - go/common/workspace/config.go, `validateStackConfigValues`: every *typed* key's value (set or
 *   defaulted) must be of its type; a typed key declared `secret: true` must hold an encrypted value
 *   — which a default never is, so such a key is effectively required. Untyped keys are not checked.
 * - go/common/workspace/project.go, `ValidateConfigValue`: integer accepts whole numbers and numeric
 *   strings, boolean accepts true/false and "true"/"false", object a map, array a list whose items
 *   match `items`.
 * The real CLI checks this stand-in: `npm run test:deploy` previews every committed stack with it.
 */
import * as YAML from "yaml";

export interface DeclaredKey {
  type?: "string" | "integer" | "boolean" | "array" | "object";
  items?: { type: string; items?: DeclaredKey["items"] };
  description?: string;
  secret?: boolean;
  default?: unknown;
  value?: unknown;
}

export interface Project {
  name: string;
  config?: Record<string, DeclaredKey>;
}

/** The engine's answer for one stack: the config the program receives, or why it stops first. */
export interface EngineConfig {
  /** Every key of the project's namespace the program sees, without the namespace, as text. */
  values: Record<string, string>;
  /** Keys (without namespace) holding an encrypted value, as PULUMI_CONFIG_SECRET_KEYS lists them. */
  secretKeys: string[];
  /** What the engine refuses, in its words; empty when the program would run. */
  errors: string[];
}

/** A stack file's value that `pulumi config set --secret` wrote: `{secure: <ciphertext>}`. */
const isSecure = (value: unknown): value is { secure: string } =>
  typeof value === "object" && value !== null && !Array.isArray(value) && "secure" in value;

const containsSecure = (value: unknown): boolean =>
  isSecure(value) || (typeof value === "object" && value !== null && Object.values(value).some(containsSecure));

/** `ValidateConfigValue`: whether `value` (decoded as the engine decodes it) is of the declared type. */
export function matchesType(type: string, items: DeclaredKey["items"], value: unknown): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "integer":
      return (
        (typeof value === "number" && Number.isInteger(value)) ||
        (typeof value === "string" && /^[+-]?\d+$/.test(value))
      );
    case "boolean":
      return typeof value === "boolean" || value === "true" || value === "false";
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    default:
      return Array.isArray(value) && items !== undefined && value.every((v) => matchesType(items.type, items.items, v));
  }
}

/** `(*Project).Validate` for the config block: problems with the declarations themselves. */
export function projectProblems(project: Project): string[] {
  const problems: string[] = [];
  for (const [key, declared] of Object.entries(project.config ?? {})) {
    if (declared.default !== undefined && declared.value !== undefined) {
      problems.push(`project config '${key}' cannot have both a 'default' and 'value' attribute`);
    }
    if (declared.type === "array" && declared.items === undefined) {
      problems.push(`The configuration key '${key}' declares an array but does not specify the underlying type`);
    }
    if (
      declared.type &&
      declared.default !== undefined &&
      !matchesType(declared.type, declared.items, declared.default)
    ) {
      problems.push(`The default value specified for configuration key '${key}' is not of the expected type`);
    }
  }
  return problems;
}

/** A scalar as Go's `fmt.Sprintf("%v")` prints it; lists and objects as JSON. */
function asConfigText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** Replaces each `{secure: …}` by what `decrypt` makes of it, as a decrypted value would stand there. */
function decrypted(value: unknown, key: string, decrypt: Decrypt): unknown {
  if (isSecure(value)) return decrypt(key, value.secure);
  if (Array.isArray(value)) return value.map((v, i) => decrypted(v, `${key}[${i}]`, decrypt));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decrypted(v, `${key}.${k}`, decrypt)]));
  }
  return value;
}

/** Turns an encrypted value into the text the program receives. */
export type Decrypt = (key: string, ciphertext: string) => string;

/** No passphrase is at hand: each encrypted value becomes a labelled placeholder. */
export const placeholderFor: Decrypt = (key) => `<secret:config:${key}>`;

/**
 * The config the engine hands the program for a stack whose config file holds `stackConfig` (the
 * parsed `config:` map of `Pulumi.<stack>.yaml`, keys with their namespace).
 */
export function engineConfig(
  project: Project,
  stackName: string,
  stackConfig: Record<string, unknown>,
  decrypt: Decrypt = placeholderFor,
): EngineConfig {
  const errors = projectProblems(project);
  const prefix = `${project.name}:`;
  const own = new Map<string, unknown>();
  for (const [fullKey, value] of Object.entries(stackConfig)) {
    if (fullKey.startsWith(prefix)) own.set(fullKey.slice(prefix.length), value);
  }

  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  const missing: string[] = [];
  for (const key of Object.keys(project.config ?? {}).sort()) {
    const declared = project.config![key];
    const name = key.startsWith(prefix) ? key.slice(prefix.length) : key;
    if (name.includes(":")) continue; // another namespace: not the program's concern here
    const set = own.has(name);
    const fallback = declared.default ?? declared.value;
    if (!set && fallback === undefined) {
      missing.push(key);
      continue;
    }
    const raw = set ? own.get(name) : fallback;
    const plain = decrypted(raw, name, decrypt);
    if (declared.type) {
      if (declared.secret && !(set && isSecure(raw))) {
        errors.push(`Stack '${stackName}' with configuration key '${key}' must be encrypted as it's secret`);
      }
      if (!matchesType(declared.type, declared.items, plain)) {
        errors.push(
          `Stack '${stackName}' with configuration key '${key}' must be of type '${declared.type}'` +
            `${declared.items ? ` of ${declared.items.type}` : ""}`,
        );
      }
    }
    values[name] = asConfigText(plain);
    if (set && containsSecure(raw)) secretKeys.push(name);
  }
  if (missing.length > 0) {
    errors.unshift(
      `Stack '${stackName}' is missing configuration value${missing.length > 1 ? "s" : ""} ${missing
        .map((k) => `'${k}'`)
        .join(", ")}`,
    );
  }
  // Keys the stack sets but the project does not declare still reach the program.
  for (const [name, value] of own) {
    if (values[name] !== undefined) continue;
    values[name] = asConfigText(decrypted(value, name, decrypt));
    if (containsSecure(value)) secretKeys.push(name);
  }
  return { values, secretKeys: secretKeys.sort(), errors };
}

/** engineConfig for the text of a `Pulumi.<stack>.yaml`. */
export function engineConfigOfFile(
  project: Project,
  stackName: string,
  stackFileText: string,
  decrypt: Decrypt = placeholderFor,
): EngineConfig {
  const parsed = YAML.parse(stackFileText) as { config?: Record<string, unknown> } | null;
  return engineConfig(project, stackName, parsed?.config ?? {}, decrypt);
}

/**
 * engineConfig for values given as the program receives them (text; JSON for lists and objects), as
 * if a stack set exactly these — the ones named in `secretKeys` with `--secret`.
 */
export function engineConfigOfValues(
  project: Project,
  stackName: string,
  values: Record<string, string>,
  secretKeys: readonly string[] = [],
): EngineConfig {
  const stackConfig = Object.fromEntries(
    Object.entries(values).map(([key, text]) => {
      let value: unknown = text;
      if (/^\s*[[{]/.test(text)) {
        try {
          value = JSON.parse(text);
        } catch {
          value = text;
        }
      }
      if (!secretKeys.includes(key)) return [`${project.name}:${key}`, value];
      // A list or object with secrets in it is set with `--secret --path`, leaf by leaf.
      return [`${project.name}:${key}`, value === text ? { secure: text } : encryptLeaves(value)];
    }),
  );
  return engineConfig(project, stackName, stackConfig, (_key, text) => text);
}

/** Every string in `value` as `--secret --path` stores it. */
function encryptLeaves(value: unknown): unknown {
  if (typeof value === "string") return { secure: value };
  if (Array.isArray(value)) return value.map(encryptLeaves);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encryptLeaves(v)]));
  }
  return value;
}

/** The project file (Pulumi.yaml) as the engine reads it. */
export const parseProject = (text: string) => YAML.parse(text) as Project;
