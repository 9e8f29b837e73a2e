/**
 * The one place that reads and validates the stack configuration.
 *
 * Everything here is a pure function of the raw config strings Pulumi hands the program, so the
 * whole of it is unit-tested without a Pulumi engine. The program validates before it creates any
 * resource; a bad value stops the run with one error that names every bad key, the value given and
 * what is allowed.
 */
import * as pulumi from "@pulumi/pulumi";
import { cidrProblem, coveredFamilies, deepMerge, isPlainObject } from "./util";
import { DEFAULT_IMAGES, SERVICE_NAMES, type Service } from "./services/registry";
import type { SizingOverrides } from "../config-templates/sizing";

/** The Pulumi project name, and so the config namespace (`firmground:serverName`). */
export const PROJECT = "firmground";

export const LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";
export const LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

/**
 * Top-level keys of homeserver.yaml that the program owns: they wire Synapse to the database, the
 * proxy and the secret files. `synapseExtraConfig` may not set them.
 */
export const SYNAPSE_OWNED_KEYS = [
  "server_name",
  "public_baseurl",
  "database",
  "listeners",
  "media_store_path",
  "signing_key_path",
  "log_config",
  "pid_file",
  "macaroon_secret_key",
  "macaroon_secret_key_path",
  "registration_shared_secret",
  "registration_shared_secret_path",
  "form_secret",
  "form_secret_path",
  "turn_shared_secret",
  "turn_shared_secret_path",
  "turn_uris",
  "worker_replication_secret",
] as const;

/** Validated, defaulted settings: the only thing the rest of the program reads. */
export interface Settings {
  serverName: string;
  dnsZone: string;
  matrixHost: string;
  elementHost: string;
  turnHost: string;
  manageApexRecords: boolean;
  acmeEmail: string;
  /** ACME directory URL. */
  acmeServer: string;
  instanceType: string;
  imageLabel: string;
  dataVolumeSizeGb: number;
  retainDataOnDestroy: boolean;
  adminCidrs: string[];
  sshPublicKeys: string[];
  turnRelayPorts: PortRange;
  federation: FederationSettings;
  images: Record<Service, string>;
  synapseExtraConfig: Record<string, unknown>;
  /** synapseExtraConfig was set with --secret: its settings go to a file only Synapse reads. */
  synapseExtraConfigSecret: boolean;
  /** Localpart of the first admin, created by `pulumi up`. */
  adminUser: string;
  /** The admin's password when given (a secret); generated otherwise. */
  adminPassword?: string;
  /** Users managed as code, besides the admin. */
  users: UserSpec[];
  /** Whether the synapse-admin web UI runs (at adminHost, admin sources only). */
  adminUi: boolean;
  adminHost: string;
  /** Where the stack runs: a Scaleway instance, or the local Docker daemon (try-it-anywhere). */
  target: Target;
  /** Public HTTPS port: 443, or LOCAL_PORTS.https on the local target. */
  httpsPort: number;
  /** Local target: the daemon's directory for persistent data. */
  localDataDir: string;
  /** Overrides of the memory settings derived from RAM (config-templates/sizing.ts). */
  sizing: SizingOverrides;
  /** A retained data volume to attach (`<zone>/<uuid>`) instead of creating one. */
  dataVolumeId?: string;
  /** Secrets of an earlier deploy to reuse over its retained volume. */
  restoreSecrets?: RestoreSecrets;
  /** Scheduled, encrypted, off-host backups (restic). */
  backup: BackupSettings;
}

/** How many snapshots `restic forget` keeps: the newest of each of the last N days, weeks and months. */
export interface BackupRetention {
  daily: number;
  weekly: number;
  monthly: number;
}

export interface BackupSettings {
  enabled: boolean;
  /**
   * Where the restic repository lives: "" for the stack's own Scaleway bucket (scaleway target), an
   * `s3:https://host/bucket[/path]` URL, or (docker target) an absolute directory on the Docker host.
   */
  repository: string;
  /** Credentials of an s3: repository that is not the stack's own bucket. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Hours between two backups. */
  intervalHours: number;
  retention: BackupRetention;
  /** Days between two `restic check` runs. */
  checkEveryDays: number;
}

export const TARGETS = ["scaleway", "docker"] as const;
export type Target = (typeof TARGETS)[number];

/** Host ports HAProxy publishes on the local target (non-privileged), by container port. */
export const LOCAL_PORTS = { http: 8080, https: 8443, federation: 8448 } as const;

/** What a re-deploy over a retained volume must reuse: the `restoreSecrets` output of the old stack. */
export interface RestoreSecrets {
  /** Synapse's signing key file (`ed25519 a_… <seed>`): the server's federation identity. */
  signingKey?: string;
  /** The synapse role's password, set in the retained database at its creation. */
  postgresPassword?: string;
  /** The first admin's password, whose account the retained database holds. */
  adminPassword?: string;
  /** The restic repository's password: without it no backup of the old stack can be read. */
  backupPassword?: string;
  /** The old stack's own backup bucket, `<region>/<projectId>/<bucket>`: a new stack backs up to it and restores from it. */
  backupBucket?: string;
}

/** One managed user. */
export interface UserSpec {
  /** Matrix localpart (`alice` in `@alice:example.org`). */
  name: string;
  admin: boolean;
  displayName?: string;
  /** Given in (secret) config; generated when absent. */
  password?: string;
  /** Deactivated (its data kept; Synapse takes it out of its rooms). */
  deactivated: boolean;
}

export interface PortRange {
  min: number;
  max: number;
}

export interface FederationSettings {
  enabled: boolean;
  /** Server names allowed to federate; undefined means every server. */
  whitelist?: string[];
  /** Servers whose public room directory Element offers. */
  directoryServers: string[];
}

/** The declared type of a config key, as in Pulumi.yaml's `config:` block. */
export type ConfigKeyType = "string" | "integer" | "boolean" | "array" | "object";

/** One config key, declared once: Pulumi.yaml's `config:` block and the README's table are generated from it. */
export interface ConfigKey {
  type: ConfigKeyType;
  /** For lists: the type of each item. */
  items?: Exclude<ConfigKeyType, "array">;
  /** The value when unset, as Pulumi.yaml declares it. "" means "not set": derived or generated. */
  default: unknown;
  /** Must be set with `pulumi config set --secret`; a plain-text value is refused. */
  secret?: true;
  /** The README's "Default" column when the default is derived, generated or required. */
  shownDefault?: string;
  /** Purpose, what "empty" means, and whether it may change after the first deploy. */
  description: string;
}

/**
 * Every config key with its type and its default. Pulumi.yaml declares the same keys, types and
 * defaults; a unit test keeps the two in step. Every key has a default: the engine treats a declared
 * key without one as required and stops before the program runs (components/render/engineConfig.ts),
 * and the program's own refusal names every problem at once. An empty string means "not set".
 *
 * Keys marked `secret` must be set with `pulumi config set --secret`; the program refuses a plain-text
 * value. Pulumi.yaml declares them `secret: true` without a type, because the engine enforces `secret`
 * only on typed keys, and there it also refuses the (unencrypted) default whenever the key is unset.
 */
export const CONFIG_KEYS: Record<string, ConfigKey> = {
  serverName: {
    type: "string",
    default: "",
    shownDefault: "(required)",
    description:
      "The Matrix server name: the part after the colon in @alice:example.org. Required. Immutable after the first deploy.",
  },
  dnsZone: {
    type: "string",
    default: "",
    shownDefault: "`serverName`",
    description: "The Scaleway DNS zone holding the records. Empty: serverName.",
  },
  matrixHost: {
    type: "string",
    default: "",
    shownDefault: "`matrix.<serverName>`",
    description: "Hostname of the client and federation API; must lie inside dnsZone. Empty: matrix.<serverName>.",
  },
  elementHost: {
    type: "string",
    default: "",
    shownDefault: "`element.<serverName>`",
    description: "Hostname of Element web; must lie inside dnsZone. Empty: element.<serverName>.",
  },
  turnHost: {
    type: "string",
    default: "",
    shownDefault: "`turn.<serverName>`",
    description: "Hostname of the TURN server; must lie inside dnsZone. Empty: turn.<serverName>.",
  },
  manageApexRecords: {
    type: "boolean",
    default: true,
    description:
      "Point A/AAAA for serverName at the host, which serves /.well-known/matrix there. When false, serve the wellKnownServer/wellKnownClient outputs yourself.",
  },
  acmeEmail: {
    type: "string",
    default: "",
    shownDefault: "(required on scaleway)",
    description:
      "Contact address for Let's Encrypt (expiry notices). Required on the scaleway target; not used by the docker target.",
  },
  acmeServer: {
    type: "string",
    default: "production",
    description:
      "ACME directory: production (Let's Encrypt), staging (Let's Encrypt staging), or any https:// directory URL.",
  },
  instanceType: {
    type: "string",
    default: "BASIC2-A2C-4G",
    description: "Scaleway instance type; must be arm64. Container memory limits are derived from its RAM.",
  },
  imageLabel: {
    type: "string",
    default: "ubuntu_noble",
    description: "Scaleway OS image label. Read only when the server is created.",
  },
  dataVolumeSizeGb: {
    type: "integer",
    default: 20,
    description: "Size in GB of the block volume holding PostgreSQL data, media and certificates. Can only grow.",
  },
  retainDataOnDestroy: {
    type: "boolean",
    default: true,
    description: "Keep the data volume when the stack is destroyed.",
  },
  adminCidrs: {
    type: "array",
    items: "string",
    default: [],
    description:
      "The only sources allowed to reach SSH, the Docker API (2376) and /_synapse/admin. Empty: SSH and Docker API stay open to all behind keys and mTLS, and /_synapse/admin is not routed.",
  },
  sshPublicKeys: {
    type: "array",
    items: "string",
    default: [],
    description: "OpenSSH public keys installed at first boot.",
  },
  turnRelayPorts: {
    type: "string",
    default: "49152-49172",
    description: "UDP port range coturn relays media on, as min-max within 1024-65535.",
  },
  federation: {
    type: "object",
    default: {},
    description:
      "Federation: {enabled (default true), whitelist (server names; default everyone), directoryServers (Element's room directory; default [serverName, matrix.org])}.",
  },
  images: {
    type: "object",
    default: {},
    description: `Image per service, a pinned, multi-arch name:tag or digest overriding the default (latest is refused). Defaults: ${SERVICE_NAMES.map((s) => `${s} ${DEFAULT_IMAGES[s]}`).join(", ")}.`,
  },
  synapseExtraConfig: {
    type: "object",
    default: {},
    description:
      "homeserver.yaml settings deep-merged over the defaults. Keys firmground owns (server_name, public_baseurl, database, listeners, media_store_path, signing_key_path, log_config, pid_file, every secret and *_path, turn_uris) are refused.",
  },
  adminUser: {
    type: "string",
    default: "admin",
    description:
      "Localpart of the first admin, created by pulumi up (password in the secret output adminPassword). Renaming creates a new admin; the old one is left as it is.",
  },
  adminPassword: {
    type: "string",
    default: "",
    secret: true,
    shownDefault: "a generated one",
    description:
      "The admin's password, at least 12 characters; set it with --secret. Empty: a generated one. Changing it rotates the password.",
  },
  users: {
    type: "array",
    items: "object",
    default: [],
    description:
      "Users managed as code: [{name, admin?, displayName?, password?, deactivated?}]. Passwords are generated unless given (set them with --secret --path). deactivated: true deactivates the account (its data kept; Synapse takes it out of its rooms); removing a user from the list only stops managing it, and pulumi destroy leaves every account as it is.",
  },
  adminUi: {
    type: "boolean",
    default: true,
    description:
      "Run the synapse-admin web UI at adminHost, reachable only from adminCidrs (not routed at all when adminCidrs is empty).",
  },
  adminHost: {
    type: "string",
    default: "",
    shownDefault: "`admin.<serverName>`",
    description: "Hostname of the admin UI; must lie inside dnsZone. Empty: admin.<serverName>.",
  },
  dataVolumeId: {
    type: "string",
    default: "",
    shownDefault: "a new volume",
    description:
      "A data volume kept by an earlier destroy (its dataVolumeId output, <zone>/<uuid>), attached instead of creating a new one; this stack never deletes it. Empty: a new volume.",
  },
  restoreSecrets: {
    type: "string",
    default: "",
    secret: true,
    shownDefault: "—",
    description:
      "Set it with --secret when re-deploying over a retained volume: the old stack's restoreSecrets output (JSON with signingKey, postgresPassword, adminPassword), so the server keeps its federation identity, database access and admin.",
  },
  target: {
    type: "string",
    default: "scaleway",
    description:
      "Where the stack runs: scaleway (an ARM instance, DNS, Let's Encrypt) or docker (the local Docker daemon from DOCKER_HOST or the default socket, a local CA, HAProxy on 8080/8443/8448, no Scaleway resource).",
  },
  localDataDir: {
    type: "string",
    default: "/var/lib/firmground",
    description: "docker target: the Docker host's directory for PostgreSQL data, media and certificates.",
  },
  sizing: {
    type: "object",
    default: {},
    description: `Overrides of the memory settings derived from the instance's RAM (see Sizing): {memoryMb: {${SERVICE_NAMES.join(", ")}: MiB}, synapse: {cacheFactor, cacheMaxMb, cacheTargetMb, eventCacheK, presence, remoteRoomComplexity}, postgres: {sharedBuffersMb, effectiveCacheSizeMb, workMemMb, maintenanceWorkMemMb, walBuffersMb, maxConnections}}. Checked against RAM before any resource.`,
  },
  backup: {
    type: "object",
    default: {},
    description:
      "Encrypted, deduplicated backups with restic (see Backups and restore): {enabled (default: true on scaleway; on docker, when repository is set), repository (empty: on scaleway a bucket of the stack's own, kept on destroy; or an s3:https://host/bucket[/path] URL; on docker also a directory on the Docker host), accessKeyId and secretAccessKey (for an s3: URL only; set them with --secret --path), intervalHours (default 24, 1-168), retention {daily 7, weekly 4, monthly 12}, checkEveryDays (default 7, 1-90)}. The repository may change later only to one holding the same backups.",
  },
};

/** A refused configuration. Pulumi prints a RunError's message without a stack trace. */
export class ConfigError extends pulumi.RunError {
  constructor(public readonly problems: string[]) {
    super(
      `Invalid ${PROJECT} configuration (nothing was created or changed):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

const DOMAIN_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const IMAGE_REF =
  /^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/;
const SSH_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
/** Matrix user localparts: lowercase letters, digits and `._=-/+` (the spec's historical set minus upper case). */
const LOCALPART = /^[a-z0-9._=\-/+]{1,64}$/;
/** The shortest password firmground accepts in config (generated ones are 32 characters). */
export const MIN_PASSWORD_LENGTH = 12;

/** True when `name` is a lowercase DNS name with at least two labels. */
export function isDomainName(name: string): boolean {
  if (name.length > 253) return false;
  const labels = name.split(".");
  return labels.length >= 2 && labels.every((l) => DOMAIN_LABEL.test(l)) && !/^[0-9]+$/.test(labels.at(-1)!);
}

/** True when `host` is `zone` itself or a name below it. */
export function isInZone(host: string, zone: string): boolean {
  return host === zone || host.endsWith(`.${zone}`);
}

/** The record name of `host` relative to `zone` ("" for the apex), as Scaleway DNS expects it. */
export function recordName(host: string, zone: string): string {
  return host === zone ? "" : host.slice(0, -(zone.length + 1));
}

export { cidrProblem, deepMerge, isPlainObject };

/**
 * Setting names that hold secrets in homeserver.yaml (email.smtp_pass, recaptcha_private_key,
 * oidc_providers[].client_secret, redis.password, …), matched on the last part of their name.
 */
export const SECRET_SETTING = /(^|_)(pass|passwd|password|secret|token|private_key|secret_key|api_key)$/i;

/** Every key path in a nested object, lists included (`["oidc_providers", "0", "client_secret"]`). */
export function keyPaths(value: unknown, prefix: string[] = []): string[][] {
  if (Array.isArray(value)) return value.flatMap((item, i) => keyPaths(item, [...prefix, String(i)]));
  if (!isPlainObject(value)) return [];
  return Object.entries(value).flatMap(([key, item]) => [[...prefix, key], ...keyPaths(item, [...prefix, key])]);
}

/** An absolute path with `//`, `/./` and a trailing `/` taken out. */
export function normalizedDir(path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  return `/${parts.join("/")}`;
}

/** Directories a data directory must never be, nor lie inside (the host's system and Docker's own). */
const SYSTEM_DIRS = [
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/lib",
  "/lib32",
  "/lib64",
  "/proc",
  "/run",
  "/sbin",
  "/sys",
  "/usr",
  "/var/lib/docker",
  "/var/run",
];
/** Directories a data directory must not be, though it may lie inside them. */
const SHARED_DIRS = [
  "/",
  "/home",
  "/mnt",
  "/media",
  "/opt",
  "/root",
  "/srv",
  "/tmp",
  "/var",
  "/var/lib",
  "/var/log",
  "/var/tmp",
];

export function isSystemDir(dir: string): boolean {
  return SHARED_DIRS.includes(dir) || SYSTEM_DIRS.some((system) => dir === system || dir.startsWith(`${system}/`));
}

/** Parses "min-max" into a port range; returns a problem text when it is not one. */
export function parsePortRange(text: string): PortRange | string {
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  if (!match) return 'expected "<min>-<max>", like "49152-49172"';
  const min = Number(match[1]);
  const max = Number(match[2]);
  if (min < 1024 || max > 65535) return "both ends must lie within 1024-65535";
  if (min > max) return "the range is inverted (min > max)";
  return { min, max };
}

const show = (value: unknown) => JSON.stringify(value);

/**
 * Whether a refusal may repeat the value at `key` (`users[0].name`, `synapseExtraConfig.email.smtp_pass`):
 * not for secret keys, unknown keys (a misspelt secret), Synapse settings (any may be a secret), nor
 * anything of a user but its name, flag and display name.
 */
export function echoable(key: string): boolean {
  const top = key.split(/[.[]/)[0];
  const declared = CONFIG_KEYS[top] as ConfigKey | undefined;
  if (!declared || declared.secret || top === "synapseExtraConfig") return false;
  if (top === "backup") return !/^backup\.(accessKeyId|secretAccessKey)$/.test(key);
  return top !== "users" || /^users\[\d+\]\.(name|admin|displayName|deactivated)$/.test(key);
}

/** What a refusal shows in place of a value it may not repeat. */
const shownAs = (key: string) =>
  CONFIG_KEYS[key.split(/[.[]/)[0]]?.secret || SECRET_SETTING.test(key.split(".").at(-1)!)
    ? '"[secret]"'
    : "[not shown]";

/**
 * Turns the raw config strings (as Pulumi passes them: scalars as text, arrays and objects as JSON)
 * into Settings, or throws one ConfigError listing every problem.
 *
 * @param raw config values keyed without the namespace (`serverName`, not `firmground:serverName`).
 */
export function parseSettings(raw: Record<string, string | undefined>, secretKeys: readonly string[] = []): Settings {
  const problems: string[] = [];
  // A refusal names the key and what is allowed; it repeats the value only where it cannot be a secret.
  const bad = (key: string, value: unknown, allowed: string) =>
    problems.push(`${PROJECT}:${key} = ${echoable(key) ? show(value) : shownAs(key)}: ${allowed}`);

  for (const key of Object.keys(raw)) {
    if (!(key in CONFIG_KEYS) && raw[key] !== undefined) {
      bad(key, raw[key], `unknown key; the known keys are ${Object.keys(CONFIG_KEYS).join(", ")}`);
    }
  }

  // Decode each value by its declared type; undefined and "" mean "not set, use the default".
  const decoded: Record<string, unknown> = {};
  for (const [key, { type, default: fallback, secret }] of Object.entries(CONFIG_KEYS)) {
    const text = raw[key];
    if (text === undefined || text === "") {
      decoded[key] = fallback === "" ? undefined : fallback;
      continue;
    }
    if (secret && !secretKeys.includes(key)) {
      bad(key, "[secret]", `must be stored encrypted: pulumi config set --secret ${PROJECT}:${key} …`);
      continue;
    }
    const value = decodeValue(text, type);
    if (value === undefined) {
      decoded[key] = fallback; // reported here; later checks see the default, not a second error
      bad(
        key,
        text,
        `expected ${type === "integer" ? "an integer" : `a${type === "array" || type === "object" ? "n" : ""} ${type}`}`,
      );
    } else {
      decoded[key] = value;
    }
  }

  // A derived default (dnsZone, the hosts) is only missing when serverName is: that is reported once.
  const domain = (key: string, fallback?: string, derived = false): string => {
    const value = decoded[key] ?? fallback;
    if (value === undefined) {
      if (!derived) bad(key, null, "required; set it with `pulumi config set " + key + " <value>`");
      return "";
    }
    if (typeof value !== "string" || !isDomainName(value)) {
      bad(key, value, "expected a lowercase DNS name such as example.org (letters, digits, hyphens; no port)");
      return "";
    }
    return value;
  };

  const serverName = domain("serverName");
  const dnsZone = domain("dnsZone", serverName || undefined, true);
  const hostIn = (key: string, prefix: string): string => {
    const host = domain(key, serverName ? `${prefix}.${serverName}` : undefined, true);
    if (host && dnsZone && !isInZone(host, dnsZone)) bad(key, host, `must lie inside the DNS zone ${dnsZone}`);
    return host;
  };
  const matrixHost = hostIn("matrixHost", "matrix");
  const elementHost = hostIn("elementHost", "element");
  const turnHost = hostIn("turnHost", "turn");
  const adminHost = hostIn("adminHost", "admin");
  const distinct = new Set([matrixHost, elementHost, turnHost, adminHost]);
  if (matrixHost && elementHost && turnHost && adminHost && distinct.size !== 4) {
    bad("elementHost", elementHost, "matrixHost, elementHost, turnHost and adminHost must be four different names");
  }
  // The admin host answers admin sources only: on the apex it would refuse everyone .well-known.
  if (adminHost && adminHost === serverName) {
    bad("adminHost", adminHost, "must not be serverName, whose /.well-known/matrix everyone must reach");
  }

  const manageApexRecords = decoded.manageApexRecords as boolean;
  if (manageApexRecords && serverName && dnsZone && !isInZone(serverName, dnsZone)) {
    bad(
      "manageApexRecords",
      true,
      `serverName ${serverName} is outside dnsZone ${dnsZone}; set it to false and serve .well-known yourself`,
    );
  }

  const target = decoded.target as Target;
  if (!TARGETS.includes(target)) bad("target", target, `one of ${TARGETS.join(", ")}`);
  const localDataDir = normalizedDir(String(decoded.localDataDir));
  if (!/^\/[\w./-]*$/.test(String(decoded.localDataDir)) || String(decoded.localDataDir).split("/").includes("..")) {
    bad("localDataDir", decoded.localDataDir, "expected an absolute path on the Docker host, like /var/lib/firmground");
  } else if (isSystemDir(localDataDir)) {
    bad(
      "localDataDir",
      decoded.localDataDir,
      `is ${localDataDir === "/" ? "the root directory" : `the system directory ${localDataDir} or inside one`}; ` +
        "use a directory of its own, like /var/lib/firmground",
    );
  }

  let acmeEmail = "";
  const email = decoded.acmeEmail as string | undefined;
  // The local target issues its certificates from its own CA: no ACME account.
  if (email === undefined && target === "docker") acmeEmail = "";
  else if (email === undefined)
    bad("acmeEmail", null, "required: the address Let's Encrypt writes to about expiring certificates");
  else if (!EMAIL.test(email)) bad("acmeEmail", email, "expected an e-mail address");
  else acmeEmail = email;

  const acmeServer = resolveAcmeServer(String(decoded.acmeServer));
  if (acmeServer === undefined) {
    bad("acmeServer", decoded.acmeServer, '"production", "staging", or the https:// URL of an ACME directory');
  }

  const instanceType = String(decoded.instanceType);
  if (!/^[A-Z0-9][A-Z0-9-]*$/.test(instanceType)) {
    bad("instanceType", instanceType, "expected a Scaleway commercial type such as BASIC2-A2C-4G");
  }
  const imageLabel = String(decoded.imageLabel);
  if (!/^[a-z0-9_]+$/.test(imageLabel))
    bad("imageLabel", imageLabel, "expected a Scaleway image label such as ubuntu_noble");

  const dataVolumeSizeGb = decoded.dataVolumeSizeGb as number;
  if (!Number.isInteger(dataVolumeSizeGb) || dataVolumeSizeGb < 1 || dataVolumeSizeGb > 10000) {
    bad("dataVolumeSizeGb", dataVolumeSizeGb, "expected a whole number of GB from 1 to 10000");
  }

  const stringList = (key: string, check: (item: string) => string | undefined): string[] => {
    const value = decoded[key];
    if (!Array.isArray(value)) {
      bad(key, value, "expected a list");
      return [];
    }
    value.forEach((item, i) => {
      const problem = typeof item === "string" ? check(item) : "expected a string";
      if (problem) bad(`${key}[${i}]`, item, problem);
    });
    return value.filter((item): item is string => typeof item === "string");
  };
  const adminCidrs = stringList("adminCidrs", cidrProblem);
  const covered = coveredFamilies(adminCidrs.filter((c) => cidrProblem(c) === undefined));
  if (covered.length > 0) {
    bad(
      "adminCidrs",
      adminCidrs,
      `covers every ${covered.join(" and every ")} address, which opens SSH, the Docker API and the admin API to ` +
        "the world; list your own addresses (or leave it empty: SSH and Docker then rely on keys and mutual TLS alone)",
    );
  }
  const sshPublicKeys = stringList("sshPublicKeys", (k) =>
    SSH_KEY.test(k) ? undefined : 'expected an OpenSSH public key line, like "ssh-ed25519 AAAA… you@laptop"',
  );

  const portRange = parsePortRange(String(decoded.turnRelayPorts));
  if (typeof portRange === "string") bad("turnRelayPorts", decoded.turnRelayPorts, portRange);

  const federation = parseFederation(decoded.federation, serverName, bad);
  const images = parseImages(decoded.images, bad);

  const extra = decoded.synapseExtraConfig ?? {};
  const extraIsSecret = secretKeys.includes("synapseExtraConfig");
  if (!isPlainObject(extra)) {
    bad("synapseExtraConfig", extra, "expected an object of homeserver.yaml settings");
  } else {
    for (const key of Object.keys(extra)) {
      if ((SYNAPSE_OWNED_KEYS as readonly string[]).includes(key)) {
        bad(
          `synapseExtraConfig.${key}`,
          extra[key],
          `owned by ${PROJECT} and cannot be overridden (owned keys: ${SYNAPSE_OWNED_KEYS.join(", ")})`,
        );
      }
    }
    for (const path of keyPaths(extra)) {
      const leaf = path.at(-1)!;
      const at = `synapseExtraConfig.${path.join(".")}`;
      // Synapse's YAML loader would merge a "<<" mapping into its parent: owned keys included.
      const owned = (SYNAPSE_OWNED_KEYS as readonly string[]).includes(path[0]);
      if (leaf === "<<") bad(at, undefined, "a YAML merge key; write the settings out, each under its own name");
      else if (!extraIsSecret && !owned && SECRET_SETTING.test(leaf)) {
        bad(
          at,
          undefined,
          "looks like a secret, and synapseExtraConfig is stored in plain text. Set it encrypted: " +
            `pulumi config set --secret --path '${PROJECT}:${at}' … — firmground then writes every synapseExtraConfig ` +
            "setting to a file only Synapse reads, and keeps them out of homeserver.yaml and the stack's plain outputs",
        );
      }
    }
  }

  const adminUser = String(decoded.adminUser);
  if (!LOCALPART.test(adminUser)) bad("adminUser", adminUser, LOCALPART_RULE);
  const adminPassword = decoded.adminPassword as string | undefined;
  if (adminPassword !== undefined && adminPassword.length < MIN_PASSWORD_LENGTH) {
    bad("adminPassword", "[secret]", `at least ${MIN_PASSWORD_LENGTH} characters (or unset it to have one generated)`);
  }
  const users = parseUsers(decoded.users, adminUser, secretKeys.includes("users"), bad);
  const dataVolumeId = decoded.dataVolumeId as string | undefined;
  if (dataVolumeId !== undefined && !VOLUME_ID.test(dataVolumeId)) {
    bad(
      "dataVolumeId",
      dataVolumeId,
      "expected a Scaleway volume id <zone>/<uuid>, like fr-par-2/6f0e2d3c-…, as the dataVolumeId output shows it",
    );
  }
  const sizing = parseSizing(decoded.sizing, bad);
  const restoreSecrets = parseRestoreSecrets(decoded.restoreSecrets as string | undefined, bad);
  const backup = parseBackup(decoded.backup, {
    target,
    localDataDir,
    encrypted: secretKeys.includes("backup"),
    restoredBucket: restoreSecrets?.backupBucket !== undefined,
    bad,
  });

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    serverName,
    dnsZone,
    matrixHost,
    elementHost,
    turnHost,
    manageApexRecords,
    acmeEmail,
    acmeServer: acmeServer!,
    instanceType,
    imageLabel,
    dataVolumeSizeGb,
    retainDataOnDestroy: decoded.retainDataOnDestroy as boolean,
    adminCidrs,
    sshPublicKeys,
    turnRelayPorts: portRange as PortRange,
    federation,
    images,
    synapseExtraConfig: extra as Record<string, unknown>,
    synapseExtraConfigSecret: extraIsSecret,
    adminUser,
    ...(adminPassword !== undefined ? { adminPassword } : {}),
    users,
    adminUi: decoded.adminUi as boolean,
    adminHost,
    sizing,
    target,
    httpsPort: target === "docker" ? LOCAL_PORTS.https : 443,
    localDataDir,
    ...(dataVolumeId !== undefined ? { dataVolumeId } : {}),
    ...(restoreSecrets ? { restoreSecrets } : {}),
    backup,
  };
}

export const BACKUP_DEFAULTS = {
  intervalHours: 24,
  retention: { daily: 7, weekly: 4, monthly: 12 },
  checkEveryDays: 7,
} as const;
const BACKUP_KEYS = [
  "enabled",
  "repository",
  "accessKeyId",
  "secretAccessKey",
  "intervalHours",
  "retention",
  "checkEveryDays",
] as const;
/** restic's S3 repository URL, as firmground accepts it: TLS, a host, a bucket, an optional path. */
const S3_REPOSITORY =
  /^s3:https:\/\/([a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:]+\])(:\d{1,5})?\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[\w.-]+)*\/?$/;
/** S3 access keys and secrets: printable, no spaces or quotes (they are written to a shell env file). */
const S3_CREDENTIAL = /^[A-Za-z0-9+/=._-]+$/;

function parseBackup(
  value: unknown,
  context: { target: Target; localDataDir: string; encrypted: boolean; restoredBucket: boolean; bad: Complain },
): BackupSettings {
  const { target, bad } = context;
  const settings: BackupSettings = {
    enabled: target === "scaleway",
    repository: "",
    intervalHours: BACKUP_DEFAULTS.intervalHours,
    retention: { ...BACKUP_DEFAULTS.retention },
    checkEveryDays: BACKUP_DEFAULTS.checkEveryDays,
  };
  if (!isPlainObject(value)) {
    bad("backup", value, `expected an object with ${BACKUP_KEYS.join(", ")}`);
    return settings;
  }
  unknownKeys("backup", value, BACKUP_KEYS, bad);
  const whole = (key: "intervalHours" | "checkEveryDays", min: number, max: number) => {
    const v = value[key];
    if (v === undefined) return;
    if (Number.isInteger(v) && (v as number) >= min && (v as number) <= max) settings[key] = v as number;
    else bad(`backup.${key}`, v, `expected a whole number from ${min} to ${max}`);
  };
  whole("intervalHours", 1, 168);
  whole("checkEveryDays", 1, 90);

  const retention = value.retention;
  if (retention !== undefined) {
    if (!isPlainObject(retention)) bad("backup.retention", retention, "expected an object {daily, weekly, monthly}");
    else {
      unknownKeys("backup.retention", retention, ["daily", "weekly", "monthly"], bad);
      for (const period of ["daily", "weekly", "monthly"] as const) {
        const v = retention[period];
        if (v === undefined) continue;
        if (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 1000)
          settings.retention[period] = v as number;
        else bad(`backup.retention.${period}`, v, "expected a whole number of snapshots from 0 to 1000");
      }
      const { daily, weekly, monthly } = settings.retention;
      if (daily + weekly + monthly === 0) {
        bad(
          "backup.retention",
          retention,
          "keeps nothing: restic forget would delete every snapshot; keep at least one",
        );
      }
    }
  }

  const repository = value.repository;
  if (repository !== undefined && repository !== "") {
    if (typeof repository !== "string") bad("backup.repository", repository, "expected a string");
    else if (repository.startsWith("s3:")) {
      if (!S3_REPOSITORY.test(repository)) {
        bad(
          "backup.repository",
          repository,
          "expected restic's S3 URL s3:https://<host>[:port]/<bucket>[/<path>] (https only, no credentials in it)",
        );
      } else settings.repository = repository.replace(/\/$/, "");
    } else if (repository.startsWith("/")) {
      const dir = normalizedDir(repository);
      if (target !== "docker") {
        bad(
          "backup.repository",
          repository,
          "a directory on the host is not off the host: on the scaleway target leave it empty (the stack's own bucket) or give an s3:https:// URL",
        );
      } else if (!/^\/[\w./-]*$/.test(repository) || repository.split("/").includes("..")) {
        bad(
          "backup.repository",
          repository,
          "expected an absolute directory on the Docker host, like /srv/firmground-backups",
        );
      } else if (isSystemDir(dir)) {
        bad("backup.repository", repository, "is a system directory or inside one; use a directory of its own");
      } else if (
        dir === context.localDataDir ||
        dir.startsWith(`${context.localDataDir}/`) ||
        context.localDataDir.startsWith(`${dir}/`)
      ) {
        bad(
          "backup.repository",
          repository,
          `overlaps localDataDir ${context.localDataDir}: backups must survive losing the data directory; use another directory (better: another disk)`,
        );
      } else settings.repository = dir;
    } else {
      bad(
        "backup.repository",
        repository,
        `expected an s3:https://<host>/<bucket> URL${target === "docker" ? " or an absolute directory on the Docker host" : ""}`,
      );
    }
  }

  const { accessKeyId, secretAccessKey } = value;
  const isS3 = settings.repository.startsWith("s3:");
  // A refused repository is reported once; its credentials are not judged against it.
  const repositoryRefused = typeof repository === "string" && repository !== "" && settings.repository === "";
  if ((accessKeyId !== undefined || secretAccessKey !== undefined) && !repositoryRefused) {
    if (!isS3) {
      bad(
        accessKeyId !== undefined ? "backup.accessKeyId" : "backup.secretAccessKey",
        undefined,
        settings.repository === "" && target === "scaleway"
          ? "the stack's own bucket gets a key of its own; give credentials only with an s3: repository"
          : "credentials go with an s3: repository only",
      );
    } else if (!context.encrypted) {
      bad(
        "backup.secretAccessKey",
        undefined,
        `must be stored encrypted: pulumi config set --secret --path '${PROJECT}:backup.secretAccessKey' …`,
      );
    }
  }
  if (isS3) {
    const credentialProblem = (key: string, v: unknown, min: number) => {
      if (typeof v !== "string" || v.length < min || v.length > 256 || !S3_CREDENTIAL.test(v)) {
        bad(
          `backup.${key}`,
          undefined,
          v === undefined
            ? `required with an s3: repository (pulumi config set --secret --path '${PROJECT}:backup.${key}' …)`
            : `expected ${min}-256 of A-Z a-z 0-9 + / = . _ -`,
        );
        return true;
      }
      return false;
    };
    const badId = credentialProblem("accessKeyId", accessKeyId, 3);
    const badSecret = credentialProblem("secretAccessKey", secretAccessKey, 8);
    if (!badId && !badSecret && context.encrypted) {
      settings.credentials = { accessKeyId: accessKeyId as string, secretAccessKey: secretAccessKey as string };
    }
  }

  const enabled = value.enabled;
  if (enabled !== undefined && typeof enabled !== "boolean") bad("backup.enabled", enabled, "expected true or false");
  settings.enabled =
    typeof enabled === "boolean"
      ? enabled
      : target === "scaleway" || settings.repository !== "" || context.restoredBucket;
  if (settings.enabled && target === "docker" && settings.repository === "") {
    bad(
      "backup.enabled",
      true,
      "the docker target has no bucket of its own: set backup.repository to a directory on the Docker host or an s3:https:// URL",
    );
  }
  return settings;
}

const SYNAPSE_TUNING_KEYS = [
  "cacheFactor",
  "cacheMaxMb",
  "cacheTargetMb",
  "eventCacheK",
  "presence",
  "remoteRoomComplexity",
] as const;
const POSTGRES_MEMORY_KEYS = [
  "sharedBuffersMb",
  "effectiveCacheSizeMb",
  "workMemMb",
  "maintenanceWorkMemMb",
  "walBuffersMb",
  "maxConnections",
] as const;

/** Types and ranges of `sizing` overrides; whether they fit the RAM is checked once it is known. */
function parseSizing(value: unknown, bad: Complain): SizingOverrides {
  if (value === undefined) return {};
  if (!isPlainObject(value)) {
    bad("sizing", value, "expected an object {memoryMb?, synapse?, postgres?}");
    return {};
  }
  unknownKeys("sizing", value, ["memoryMb", "synapse", "postgres"], bad);
  const section = (key: string, allowed: readonly string[], check: (k: string, v: unknown) => string | undefined) => {
    const part = value[key];
    if (part === undefined) return undefined;
    if (!isPlainObject(part)) {
      bad(`sizing.${key}`, part, "expected an object");
      return undefined;
    }
    unknownKeys(`sizing.${key}`, part, allowed, bad);
    for (const [k, v] of Object.entries(part)) {
      const problem = allowed.includes(k) ? check(k, v) : undefined;
      if (problem) bad(`sizing.${key}.${k}`, v, problem);
    }
    return part;
  };
  const wholePositive = (_k: string, v: unknown) =>
    Number.isInteger(v) && (v as number) > 0 ? undefined : "expected a whole number above 0";
  const memoryMb = section("memoryMb", SERVICE_NAMES, wholePositive);
  const synapse = section("synapse", SYNAPSE_TUNING_KEYS, (k, v) => {
    if (k === "presence") return typeof v === "boolean" ? undefined : "expected true or false";
    if (k === "cacheFactor" || k === "remoteRoomComplexity") {
      return typeof v === "number" && v > 0 && Number.isFinite(v) ? undefined : "expected a number above 0";
    }
    return wholePositive(k, v);
  });
  const postgres = section("postgres", POSTGRES_MEMORY_KEYS, wholePositive);
  return {
    ...(memoryMb ? { memoryMb: memoryMb } : {}),
    ...(synapse ? { synapse: synapse } : {}),
    ...(postgres ? { postgres: postgres } : {}),
  };
}

const VOLUME_ID = /^[a-z]{2}-[a-z]{3}-\d\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Synapse's signing key file: algorithm, key id, unpadded base64 of a 32-byte seed. */
const SIGNING_KEY = /^ed25519 a_[A-Za-z0-9_]+ [A-Za-z0-9+/]{43}\n?$/;

const RESTORE_SECRET_KEYS = ["signingKey", "postgresPassword", "adminPassword", "backupPassword", "backupBucket"];
/** A Scaleway bucket as a new stack finds it: region, project id, bucket name. */
const BACKUP_BUCKET =
  /^[a-z]{2}-[a-z]{3}\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function parseRestoreSecrets(text: string | undefined, bad: Complain): RestoreSecrets | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const allowed =
    "the JSON of the old stack's restoreSecrets output: {signingKey, postgresPassword, adminPassword, backupPassword, backupBucket}";
  if (!isPlainObject(value)) return void bad("restoreSecrets", "[secret]", allowed);
  unknownKeys("restoreSecrets", value, RESTORE_SECRET_KEYS, (key, _v, why) => bad(key, "[secret]", why));
  const { signingKey, postgresPassword, adminPassword, backupPassword, backupBucket } = value;
  if (backupBucket !== undefined && (typeof backupBucket !== "string" || !BACKUP_BUCKET.test(backupBucket))) {
    bad(
      "restoreSecrets.backupBucket",
      "[secret]",
      "expected <region>/<project id>/<bucket>, as the old stack wrote it",
    );
  }
  if (
    backupPassword !== undefined &&
    (typeof backupPassword !== "string" || backupPassword.length < MIN_PASSWORD_LENGTH)
  ) {
    bad(
      "restoreSecrets.backupPassword",
      "[secret]",
      `the old repository's password: at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  }
  if (signingKey !== undefined && (typeof signingKey !== "string" || !SIGNING_KEY.test(signingKey))) {
    bad(
      "restoreSecrets.signingKey",
      "[secret]",
      "expected Synapse's signing key file: ed25519 a_<id> <43 base64 characters>",
    );
  }
  if (postgresPassword !== undefined && (typeof postgresPassword !== "string" || postgresPassword.length === 0)) {
    bad("restoreSecrets.postgresPassword", "[secret]", "expected the old stack's non-empty PostgreSQL password");
  }
  for (const [field, text] of Object.entries({ postgresPassword, adminPassword, backupPassword })) {
    // A line break would end the password file (pgpass) or the header it is sent in early.
    if (typeof text === "string" && /[\x00-\x1f\x7f]/.test(text)) {
      bad(
        `restoreSecrets.${field}`,
        "[secret]",
        "holds a line break or another control character; copy the output again",
      );
    }
  }
  if (
    adminPassword !== undefined &&
    (typeof adminPassword !== "string" || adminPassword.length < MIN_PASSWORD_LENGTH)
  ) {
    bad("restoreSecrets.adminPassword", "[secret]", `at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  return value;
}

const LOCALPART_RULE = "expected a Matrix localpart: 1-64 of a-z 0-9 . _ = - / + (no upper case, no @ or :)";
const USER_KEYS = ["name", "admin", "displayName", "password", "deactivated"] as const;

function parseUsers(value: unknown, adminUser: string, encrypted: boolean, bad: Complain): UserSpec[] {
  if (!Array.isArray(value)) {
    bad("users", value, "expected a list of {name, admin?, displayName?, password?}");
    return [];
  }
  const seen = new Set<string>();
  const users: UserSpec[] = [];
  value.forEach((item: unknown, i) => {
    const key = `users[${i}]`;
    if (!isPlainObject(item)) return bad(key, item, "expected an object {name, admin?, displayName?, password?}");
    unknownKeys(key, item, USER_KEYS, bad);
    const { name, admin = false, displayName, password, deactivated = false } = item;
    if (typeof name !== "string" || !LOCALPART.test(name)) return bad(`${key}.name`, name, LOCALPART_RULE);
    if (name === adminUser) return bad(`${key}.name`, name, `is adminUser, which firmground already manages`);
    if (seen.has(name)) return bad(`${key}.name`, name, "appears twice in users");
    seen.add(name);
    if (typeof admin !== "boolean") return bad(`${key}.admin`, admin, "expected true or false");
    if (typeof deactivated !== "boolean") return bad(`${key}.deactivated`, deactivated, "expected true or false");
    if (displayName !== undefined && (typeof displayName !== "string" || displayName.length > 256)) {
      return bad(`${key}.displayName`, displayName, "expected a string of at most 256 characters");
    }
    if (password !== undefined && (typeof password !== "string" || password.length < MIN_PASSWORD_LENGTH)) {
      return bad(
        `${key}.password`,
        "[secret]",
        `at least ${MIN_PASSWORD_LENGTH} characters (or leave it out to have one generated)`,
      );
    }
    if (password !== undefined && !encrypted) {
      return bad(
        `${key}.password`,
        "[secret]",
        `must be stored encrypted: pulumi config set --secret --path '${PROJECT}:${key}.password' …`,
      );
    }
    users.push({
      name,
      admin,
      deactivated,
      ...(displayName ? { displayName } : {}),
      ...(password ? { password } : {}),
    });
  });
  return users;
}

function decodeValue(text: string, type: ConfigKeyType): unknown {
  switch (type) {
    case "string":
      return text;
    case "integer":
      return /^-?\d+$/.test(text.trim()) ? Number(text) : undefined;
    case "boolean":
      return text === "true" ? true : text === "false" ? false : undefined;
    case "array":
    case "object": {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return undefined;
      }
      return (type === "array" ? Array.isArray(value) : isPlainObject(value)) ? value : undefined;
    }
  }
}

/** "production" / "staging" / an https URL → directory URL; undefined when none of these. */
export function resolveAcmeServer(value: string): string | undefined {
  if (value === "production") return LETS_ENCRYPT_PRODUCTION;
  if (value === "staging") return LETS_ENCRYPT_STAGING;
  try {
    return new URL(value).protocol === "https:" ? value : undefined;
  } catch {
    return undefined;
  }
}

type Complain = (key: string, value: unknown, allowed: string) => void;

function unknownKeys(key: string, value: Record<string, unknown>, allowed: readonly string[], bad: Complain) {
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k)) bad(`${key}.${k}`, value[k], `unknown key in ${key}; allowed: ${allowed.join(", ")}`);
  }
}

function parseFederation(value: unknown, serverName: string, bad: Complain): FederationSettings {
  const settings: FederationSettings = {
    enabled: true,
    directoryServers: serverName ? [serverName, "matrix.org"] : [],
  };
  if (value === undefined) return settings;
  if (!isPlainObject(value)) {
    bad("federation", value, "expected an object with enabled, whitelist, directoryServers");
    return settings;
  }
  unknownKeys("federation", value, ["enabled", "whitelist", "directoryServers"], bad);
  if (value.enabled !== undefined) {
    if (typeof value.enabled !== "boolean") bad("federation.enabled", value.enabled, "expected true or false");
    else settings.enabled = value.enabled;
  }
  const domains = (key: "whitelist" | "directoryServers"): string[] | undefined => {
    const list = value[key];
    if (list === undefined) return undefined;
    if (!Array.isArray(list)) {
      bad(`federation.${key}`, list, "expected a list of server names");
      return undefined;
    }
    list.forEach((item, i) => {
      if (typeof item !== "string" || !isDomainName(item))
        bad(`federation.${key}[${i}]`, item, "expected a server name such as matrix.org");
    });
    return list.filter((item): item is string => typeof item === "string");
  };
  settings.whitelist = domains("whitelist");
  settings.directoryServers = domains("directoryServers") ?? settings.directoryServers;
  return settings;
}

function parseImages(value: unknown, bad: Complain): Record<Service, string> {
  const images = { ...DEFAULT_IMAGES };
  if (value === undefined) return images;
  if (!isPlainObject(value)) {
    bad("images", value, `expected an object keyed by ${SERVICE_NAMES.join(", ")}`);
    return images;
  }
  unknownKeys("images", value, SERVICE_NAMES, bad);
  for (const service of SERVICE_NAMES) {
    const ref = value[service];
    if (ref === undefined) continue;
    if (typeof ref !== "string" || !IMAGE_REF.test(ref)) {
      bad(`images.${service}`, ref, "expected an image reference like postgres:17.6-alpine");
    } else if (!/:[\w][\w.-]*(@|$)/.test(ref.split("/").at(-1)!) && !ref.includes("@sha256:")) {
      bad(`images.${service}`, ref, "needs a pinned tag or digest (name:tag or name@sha256:…)");
    } else if (/:latest(@|$)/.test(ref)) {
      bad(`images.${service}`, ref, 'the "latest" tag is not pinned; name a version');
    } else {
      images[service] = ref;
    }
  }
  return images;
}

/**
 * Checks the instance type Scaleway reports for `instanceType`: firmground's images and sizing are
 * for arm64 hosts. Returns the RAM in bytes.
 */
export function checkServerType(
  instanceType: string,
  found: { arch: string; ram: number; endOfService?: boolean },
): number {
  if (found.arch !== "arm64") {
    throw new ConfigError([
      `${PROJECT}:instanceType = ${show(instanceType)}: Scaleway reports arch ${show(found.arch)}; expected an arm64 type such as BASIC2-A2C-4G`,
    ]);
  }
  if (found.endOfService) {
    throw new ConfigError([
      `${PROJECT}:instanceType = ${show(instanceType)}: Scaleway marks this type end-of-service; choose a current arm64 type such as BASIC2-A2C-4G`,
    ]);
  }
  return found.ram;
}

/** Reads the raw config strings of the project namespace from the running Pulumi program. */
export function readRawConfig(): Record<string, string | undefined> {
  const raw: Record<string, string | undefined> = {};
  const prefix = `${PROJECT}:`;
  for (const [key, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (key.startsWith(prefix)) raw[key.slice(prefix.length)] = value;
  }
  return raw;
}

/**
 * The keys of the project namespace set with `--secret` (the engine lists them in the program's
 * environment, PULUMI_CONFIG_SECRET_KEYS); `isConfigSecret` is public at run time but not typed.
 */
export function readSecretConfigKeys(raw: Record<string, string | undefined>): string[] {
  const { isConfigSecret } = pulumi.runtime as unknown as { isConfigSecret: (key: string) => boolean };
  return Object.keys(raw).filter((key) => isConfigSecret(`${PROJECT}:${key}`));
}
