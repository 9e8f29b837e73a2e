/**
 * Everything memory-related, derived from the instance's RAM: container limits (together at most
 * 85 % of RAM; the rest is for the kernel, Docker and the page cache PostgreSQL relies on), Synapse's
 * caches, presence and the largest remote room it may join, and PostgreSQL's memory settings from its
 * own container limit. Every value can be overridden (config `sizing`); the overrides are checked.
 */
import { SERVICE_NAMES, SERVICES, type Service } from "../components/services/registry";
import { postgresMemory, type PostgresMemory } from "./postgres";

/** Share of RAM per container, and a floor below which the service does not run well (the registry's). */
export const MEMORY_SHARES = Object.fromEntries(SERVICE_NAMES.map((s) => [s, SERVICES[s].memory])) as Record<
  Service,
  { share: number; minMb: number }
>;

/** The most of RAM the limits may add up to. */
export const MAX_RAM_FRACTION = 0.85;

/** Largest upload accepted, in bytes: Synapse's max_upload_size and HAProxy's body limit. */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

/**
 * Measured on Synapse 1.160 (the real-daemon proof's big-room joins): joining a remote room costs
 * about this much Synapse RSS per member, and as much again in PostgreSQL.
 */
export const JOIN_COST_KB_PER_MEMBER = 23;
/** Share of the smaller of the Synapse and PostgreSQL limits one join may take. */
export const JOIN_BUDGET_SHARE = 0.25;
/** Presence (typing, online state) costs CPU and memory per federated contact: only from this much RAM. */
export const PRESENCE_MIN_RAM_MB = 8 * 1024;

export interface SynapseTuning {
  /** caches.global_factor. */
  cacheFactor: number;
  /** caches.cache_autotuning: evict above max down to target (needs jemalloc, which the image preloads). */
  cacheMaxMb: number;
  cacheTargetMb: number;
  /** event_cache_size, in thousands of events. */
  eventCacheK: number;
  presence: boolean;
  /** limit_remote_rooms.complexity: state events / 500 of the largest remote room a user may join. */
  remoteRoomComplexity: number;
}

/** How many connections HAProxy holds, from its memory limit. */
export interface ProxyConnections {
  /** HAProxy's global maxconn. */
  maxConnections: number;
  /** What one source (an IPv4 address, an IPv6 /64) may hold of it. */
  connectionsPerSource: number;
}

export interface Sizing {
  ramMb: number;
  memoryMb: Record<Service, number>;
  synapse: SynapseTuning;
  postgres: PostgresMemory;
  haproxy: ProxyConnections;
}

/** What config `sizing` may override; anything left out is derived. */
export interface SizingOverrides {
  memoryMb?: Partial<Record<Service, number>>;
  synapse?: Partial<SynapseTuning>;
  postgres?: Partial<PostgresMemory>;
}

export function memoryLimitsMb(ramBytes: number): Record<Service, number> {
  const ramMb = Math.floor(ramBytes / (1024 * 1024));
  return Object.fromEntries(
    Object.entries(MEMORY_SHARES).map(([service, { share, minMb }]) => [
      service,
      Math.max(minMb, Math.floor(ramMb * share)),
    ]),
  ) as Record<Service, number>;
}

/** Total of the limits, to compare against MAX_RAM_FRACTION of RAM. */
export const totalMb = (limits: Record<string, number>) => Object.values(limits).reduce((a, b) => a + b, 0);

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

/** The largest remote room (as complexity) whose join fits the join budget of both Synapse and PostgreSQL. */
export function remoteRoomComplexity(synapseMb: number, postgresMb: number): number {
  const budgetKb = Math.min(synapseMb, postgresMb) * JOIN_BUDGET_SHARE * 1024;
  const members = budgetKb / JOIN_COST_KB_PER_MEMBER;
  return clamp(Math.floor(members / 500), 1, 50);
}

export function synapseTuning(ramMb: number, synapseMb: number, postgresMb: number): SynapseTuning {
  return {
    cacheFactor: clamp(Math.round((synapseMb / 2048) * 10) / 10, 0.5, 10),
    cacheMaxMb: Math.floor(synapseMb * 0.5),
    cacheTargetMb: Math.floor(synapseMb * 0.35),
    eventCacheK: clamp(Math.round(synapseMb / 100), 10, 200),
    presence: ramMb >= PRESENCE_MIN_RAM_MB,
    remoteRoomComplexity: remoteRoomComplexity(synapseMb, postgresMb),
  };
}

/** HAProxy's memory per connection, at most: two 16 KiB buffers and a TLS session. */
export const HAPROXY_KB_PER_CONNECTION = 64;

/**
 * Connections that fit HAProxy's limit, and one source's share: a sixteenth, at least 32 (a browser
 * opens six per host, a NAT'ed office many) and at most 256, so that one source cannot hold them all.
 */
export function proxyConnections(haproxyMb: number): ProxyConnections {
  const maxConnections = Math.floor((haproxyMb * 1024) / HAPROXY_KB_PER_CONNECTION);
  return { maxConnections, connectionsPerSource: clamp(Math.floor(maxConnections / 16), 32, 256) };
}

/** Every memory setting for a host with `ramBytes` of RAM, overrides applied. */
export function deriveSizing(ramBytes: number, overrides: SizingOverrides = {}): Sizing {
  const ramMb = Math.floor(ramBytes / (1024 * 1024));
  const memoryMb = { ...memoryLimitsMb(ramBytes), ...overrides.memoryMb } as Record<Service, number>;
  return {
    ramMb,
    memoryMb,
    synapse: { ...synapseTuning(ramMb, memoryMb.synapse, memoryMb.postgres), ...overrides.synapse },
    postgres: { ...postgresMemory(memoryMb.postgres), ...overrides.postgres },
    haproxy: proxyConnections(memoryMb.haproxy),
  };
}

/** What is wrong with a sizing (after overrides), each as "<key> = <value>: <why>" for a ConfigError. */
export function sizingProblems(sizing: Sizing): string[] {
  const problems: string[] = [];
  const bad = (key: string, value: unknown, why: string) =>
    problems.push(`firmground:sizing.${key} = ${JSON.stringify(value)}: ${why}`);
  const budget = Math.floor(sizing.ramMb * MAX_RAM_FRACTION);
  if (totalMb(sizing.memoryMb) > budget) {
    bad(
      "memoryMb",
      sizing.memoryMb,
      `the limits add up to ${totalMb(sizing.memoryMb)} MiB; at most ${budget} (${MAX_RAM_FRACTION * 100} % of ${sizing.ramMb} MiB RAM)`,
    );
  }
  for (const [service, mb] of Object.entries(sizing.memoryMb)) {
    const min = MEMORY_SHARES[service as Service].minMb;
    if (mb < min) bad(`memoryMb.${service}`, mb, `at least ${min} MiB`);
  }
  const { synapse, postgres } = sizing;
  if (synapse.cacheTargetMb > synapse.cacheMaxMb)
    bad("synapse.cacheTargetMb", synapse.cacheTargetMb, `at most cacheMaxMb (${synapse.cacheMaxMb})`);
  if (synapse.cacheMaxMb > sizing.memoryMb.synapse * 0.8) {
    bad(
      "synapse.cacheMaxMb",
      synapse.cacheMaxMb,
      `at most 80 % of Synapse's limit (${Math.floor(sizing.memoryMb.synapse * 0.8)} MiB)`,
    );
  }
  if (synapse.remoteRoomComplexity <= 0) bad("synapse.remoteRoomComplexity", synapse.remoteRoomComplexity, "above 0");
  const pgLimit = sizing.memoryMb.postgres;
  if (postgres.sharedBuffersMb > pgLimit * 0.4)
    bad(
      "postgres.sharedBuffersMb",
      postgres.sharedBuffersMb,
      `at most 40 % of PostgreSQL's limit (${Math.floor(pgLimit * 0.4)} MiB)`,
    );
  if (postgres.walBuffersMb >= postgres.sharedBuffersMb)
    bad("postgres.walBuffersMb", postgres.walBuffersMb, "below sharedBuffersMb");
  if (postgres.workMemMb * postgres.maxConnections > pgLimit) {
    bad(
      "postgres.workMemMb",
      postgres.workMemMb,
      `workMemMb × maxConnections must fit PostgreSQL's limit (${pgLimit} MiB)`,
    );
  }
  if (postgres.maxConnections < 20)
    bad("postgres.maxConnections", postgres.maxConnections, "at least 20 (Synapse's pool is 10)");
  return problems;
}
