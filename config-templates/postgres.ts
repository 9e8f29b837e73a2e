/**
 * postgresql.conf and pg_hba.conf for Synapse's database.
 *
 * The image's initdb runs with `--encoding=UTF8 --locale=C` (see the PostgreSQL component), which
 * Synapse requires; these files only tune and lock down the running server.
 */
import { POSTGRES } from "./paths";

export interface PostgresMemory {
  sharedBuffersMb: number;
  effectiveCacheSizeMb: number;
  workMemMb: number;
  maintenanceWorkMemMb: number;
  walBuffersMb: number;
  maxConnections: number;
}

export interface PostgresInput {
  /** Memory settings (config-templates/sizing.ts derives them from the container's limit). */
  memory: PostgresMemory;
}

/**
 * Memory settings from the container's limit (pgtune style): shared_buffers a quarter, the page cache
 * PostgreSQL may count on the rest, WAL buffers fixed and never equal to shared_buffers.
 */
export function postgresMemory(memoryLimitMb: number): PostgresMemory {
  const sharedBuffersMb = Math.max(32, Math.floor(memoryLimitMb / 4));
  // Synapse's pool (cp_max 10) plus headroom for maintenance and the healthcheck.
  const maxConnections = Math.min(100, Math.max(30, Math.floor(memoryLimitMb / 16)));
  return {
    sharedBuffersMb,
    effectiveCacheSizeMb: Math.max(64, memoryLimitMb - sharedBuffersMb),
    // Each connection may use it a few times per query: keep the total well inside the limit.
    workMemMb: Math.max(4, Math.floor(memoryLimitMb / maxConnections / 4)),
    maintenanceWorkMemMb: Math.max(16, Math.floor(memoryLimitMb / 16)),
    walBuffersMb: 16,
    maxConnections,
  };
}

export function renderPostgresqlConf(input: PostgresInput): string {
  const m = input.memory;
  const settings: Array<[string, string]> = [
    ["listen_addresses", "'*'"],
    ["port", "5432"],
    ["hba_file", `'${POSTGRES.hbaFile}'`],
    ["max_connections", String(m.maxConnections)],
    ["password_encryption", "'scram-sha-256'"],
    ["shared_buffers", `'${m.sharedBuffersMb}MB'`],
    ["effective_cache_size", `'${m.effectiveCacheSizeMb}MB'`],
    ["work_mem", `'${m.workMemMb}MB'`],
    ["maintenance_work_mem", `'${m.maintenanceWorkMemMb}MB'`],
    ["wal_buffers", `'${m.walBuffersMb}MB'`],
    ["min_wal_size", "'256MB'"],
    ["max_wal_size", "'1GB'"],
    ["checkpoint_completion_target", "0.9"],
    ["random_page_cost", "1.1"],
    ["effective_io_concurrency", "200"],
    ["log_min_duration_statement", "'2s'"],
    ["log_timezone", "'UTC'"],
    ["timezone", "'UTC'"],
  ];
  return "# Rendered by firmground.\n" + settings.map(([key, value]) => `${key} = ${value}`).join("\n") + "\n";
}

/** The maintenance database a restore connects to while it drops and re-creates Synapse's. */
export const MAINTENANCE_DATABASE = "postgres";

/**
 * Local socket connections (the healthcheck, maintenance) are trusted; over the network only the
 * Synapse user may connect, from the containers' own subnet, with SCRAM: to the Synapse database, and
 * to the maintenance database (a restore re-creates the Synapse database from there).
 */
export function renderPgHba(): string {
  return [
    "# Rendered by firmground.",
    "# TYPE  DATABASE  USER  ADDRESS  METHOD",
    "local   all       all            trust",
    `host    ${POSTGRES.database}   ${POSTGRES.user}   samenet  scram-sha-256`,
    `host    ${MAINTENANCE_DATABASE}   ${POSTGRES.user}   samenet  scram-sha-256`,
    "",
  ].join("\n");
}
