/**
 * Whether the daemons run with the sizing firmground rendered. Synapse ignores keys it does not know
 * and PostgreSQL can normalise or override a value, so "it started" proves little: the real-daemon run
 * asks Synapse's own config loader and PostgreSQL's `current_setting` what they took, and compares that
 * with what the rendered files say, converted as each daemon converts it.
 */

/** A rendered homeserver.yaml key, how Synapse converts it, and where Synapse's loaded config keeps it. */
interface SynapseSetting {
  /** Path in homeserver.yaml. */
  key: string;
  kind: "size" | "duration" | "plain";
  /** The attribute of Synapse's `HomeServerConfig` (`c`) it ends up in. */
  python: string;
}

export const SYNAPSE_SIZING: SynapseSetting[] = [
  { key: "caches.global_factor", kind: "plain", python: "c.caches.global_factor" },
  { key: "event_cache_size", kind: "size", python: "c.caches.event_cache_size" },
  {
    key: "caches.cache_autotuning.max_cache_memory_usage",
    kind: "size",
    python: 'c.caches.cache_autotuning["max_cache_memory_usage"]',
  },
  {
    key: "caches.cache_autotuning.target_cache_memory_usage",
    kind: "size",
    python: 'c.caches.cache_autotuning["target_cache_memory_usage"]',
  },
  {
    key: "caches.cache_autotuning.min_cache_ttl",
    kind: "duration",
    python: 'c.caches.cache_autotuning["min_cache_ttl"]',
  },
  { key: "presence.enabled", kind: "plain", python: "c.server.presence_enabled" },
  { key: "limit_remote_rooms.enabled", kind: "plain", python: "c.server.limit_remote_rooms.enabled" },
  { key: "limit_remote_rooms.complexity", kind: "plain", python: "c.server.limit_remote_rooms.complexity" },
  { key: "limit_remote_rooms.admins_can_join", kind: "plain", python: "c.server.limit_remote_rooms.admins_can_join" },
  { key: "max_upload_size", kind: "size", python: "c.media.max_upload_size" },
  { key: "forget_rooms_on_leave", kind: "plain", python: "c.room.forget_on_leave" },
  { key: "forgotten_room_retention_period", kind: "duration", python: "c.server.forgotten_room_retention_period" },
  { key: "user_ips_max_age", kind: "duration", python: "c.server.user_ips_max_age" },
];

/** A Python program printing, as JSON keyed like SYNAPSE_SIZING, what Synapse loaded from `configPath`. */
export function synapseLoadedScript(configPaths: string[]): string {
  const fields = SYNAPSE_SIZING.map((s) => `    ${JSON.stringify(s.key)}: ${s.python},`).join("\n");
  return [
    "import json",
    "from synapse.config.homeserver import HomeServerConfig",
    `c = HomeServerConfig.load_config("firmground check", ${JSON.stringify(configPaths.flatMap((p) => ["--config-path", p]))})`,
    "print(json.dumps({",
    fields,
    "}))",
  ].join("\n");
}

const SIZE_UNITS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** Bytes, as Synapse's `parse_size` reads "16K", "819M" or a bare number. */
export function synapseBytes(value: unknown): number {
  if (typeof value === "number") return value;
  const match = /^(\d+)([KMGT]?)$/.exec(String(value));
  if (!match) throw new Error(`not a Synapse size: ${JSON.stringify(value)}`);
  return Number(match[1]) * (SIZE_UNITS[match[2]] ?? 1);
}

/** Milliseconds, as Synapse's `parse_duration` reads "5m", "28d" or a bare number of ms. */
export function synapseMs(value: unknown): number {
  if (typeof value === "number") return value;
  const match = /^(\d+)(ms|[smhdwy])?$/.exec(String(value));
  if (!match) throw new Error(`not a Synapse duration: ${JSON.stringify(value)}`);
  return Number(match[1]) * (DURATION_UNITS[match[2] ?? "ms"] ?? 1);
}

/** What Synapse should hold for each SYNAPSE_SIZING key, from the rendered homeserver.yaml (parsed). */
export function expectedSynapse(homeserver: Record<string, unknown>): Record<string, unknown> {
  const at = (key: string) =>
    key.split(".").reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], homeserver);
  return Object.fromEntries(
    SYNAPSE_SIZING.map(({ key, kind }) => {
      const rendered = at(key);
      if (rendered === undefined) throw new Error(`the rendered homeserver.yaml has no ${key}`);
      return [key, kind === "size" ? synapseBytes(rendered) : kind === "duration" ? synapseMs(rendered) : rendered];
    }),
  );
}

/** PostgreSQL's memory settings firmground renders (postgresql.conf), in the order they are checked. */
export const POSTGRES_SIZING = [
  "shared_buffers",
  "effective_cache_size",
  "work_mem",
  "maintenance_work_mem",
  "wal_buffers",
  "max_connections",
] as const;

/** A PostgreSQL setting normalised: memory in kB ("204MB", "1GB", "'16MB'"), anything else as text. */
export function postgresValue(value: string): string {
  const text = value.trim().replace(/^'(.*)'$/, "$1");
  const units: Record<string, number> = { kB: 1, MB: 1024, GB: 1024 ** 2, TB: 1024 ** 3 };
  const match = /^(\d+)\s*(kB|MB|GB|TB)$/.exec(text);
  return match ? `${Number(match[1]) * units[match[2]]}kB` : text;
}

/** The POSTGRES_SIZING values of a rendered postgresql.conf (`key = value` lines), normalised. */
export function expectedPostgres(conf: string): Record<string, string> {
  const values = new Map(
    conf
      .split("\n")
      .map((line) => /^\s*([a-z_]+)\s*=\s*(.+?)\s*$/.exec(line))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => [m[1], m[2]]),
  );
  return Object.fromEntries(
    POSTGRES_SIZING.map((key) => {
      const value = values.get(key);
      if (value === undefined) throw new Error(`the rendered postgresql.conf has no ${key}`);
      return [key, postgresValue(value)];
    }),
  );
}

/** The SQL that prints `name=value` for each POSTGRES_SIZING setting, one per line. */
export const POSTGRES_CURRENT_SQL = `SELECT name || '=' || current_setting(name) FROM unnest(ARRAY[${POSTGRES_SIZING.map((k) => `'${k}'`).join(", ")}]) AS name`;

/** "key: expected X, got Y" for every difference (a key missing from `actual` included). */
export function differences(expected: Record<string, unknown>, actual: Record<string, unknown>): string[] {
  return Object.entries(expected)
    .filter(([key, value]) => JSON.stringify(actual[key]) !== JSON.stringify(value))
    .map(([key, value]) => `${key}: expected ${JSON.stringify(value)}, got ${JSON.stringify(actual[key])}`);
}
