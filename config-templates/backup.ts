/**
 * The backup container's script: restic (client-side encryption, deduplication, retention) over a
 * consistent PostgreSQL dump, Synapse's local media and its signing key. One POSIX sh script, run by
 * the PostgreSQL image (whose pg_dump matches the server's major version) as Synapse's user:
 *
 *   loop                 back up every interval, forever (the container's command)
 *   once [reason]        one backup now: dump, snapshot, retention, check when due, status
 *   verify <id|latest>   what restore would use, changing nothing: repository, password, snapshot, key
 *   restore <id|latest>  database (recreated, one-time keys emptied) and local media from a snapshot
 *   restore-if-empty     the first start of a new stack: restore the latest snapshot into an empty database
 *   health               the healthcheck: the last good backup is younger than twice the interval
 *   status               the last run's status file
 *
 * Exit codes are BACKUP_EXIT's; every failure prints one line saying what to fix.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MAINTENANCE_DATABASE } from "./postgres";
import { quoteShell } from "./shell";

/** Exit codes of the script, read by `npm run restore` and the pre-upgrade backup. */
export const BACKUP_EXIT = {
  ok: 0,
  /** The repository did not answer (network, endpoint, credentials). */
  unreachable: 20,
  /** The repository does not open with this stack's password. */
  wrongPassword: 21,
  /** No such snapshot (or none at all, for latest). */
  noSnapshot: 22,
  /** A backup or a restore is already running. */
  busy: 23,
  /** The snapshot holds another server's signing key. */
  foreignSnapshot: 24,
  /** PostgreSQL refused the dump or was unreachable. */
  database: 25,
  /** The restore failed after it had started changing the database or media. */
  restoreFailed: 26,
  /** There is no repository at the location yet. */
  noRepository: 27,
  usage: 64,
} as const;

/** What the backup snapshot holds, relative to nothing: the script's paths inside its container. */
export interface BackupPaths {
  /** restic's binary (copied from the restic image into a volume). */
  restic: string;
  /** The backup's own directory on the data volume: status, lock, dump staging, restic's cache. */
  state: string;
  /** Synapse's media store (local_content and local_thumbnails are backed up; remote media is fetched again). */
  media: string;
  /** Synapse's signing key file, as Synapse reads it. */
  signingKey: string;
  /** The repository password (a Pulumi secret). */
  passwordFile: string;
  /** The synapse role's PostgreSQL password. */
  postgresPasswordFile: string;
  /** Shell assignments of the repository's credentials (AWS_ACCESS_KEY_ID, …); absent for a directory. */
  credentialsFile: string;
}

export interface BackupScriptInput {
  /** Snapshots are restic's `--host` this: one server's snapshots, whichever container made them. */
  serverName: string;
  /** RESTIC_REPOSITORY: `s3:https://…` or a directory inside the container. */
  repository: string;
  intervalHours: number;
  checkEveryDays: number;
  retention: { daily: number; weekly: number; monthly: number };
  paths: BackupPaths;
  postgres: { host: string; port: number; user: string; database: string };
}

/** How long the first contact with the repository may take before it counts as unreachable. */
export const PROBE_SECONDS = 30;

/** Local media directories in Synapse's media store; remote media and URL previews are fetched again. */
export const BACKED_UP_MEDIA = ["local_content", "local_thumbnails"] as const;
/** The table whose data the dump leaves out and a restore empties: old one-time keys break decryption. */
export const ONE_TIME_KEYS_TABLE = "e2e_one_time_keys_json";
/** restic's tag on every snapshot firmground makes. */
export const SNAPSHOT_TAG = "firmground";

/** The repository's credentials file: shell assignments the script sources (values are single-quoted). */
export function renderCredentialsFile(credentials: { accessKeyId: string; secretAccessKey: string }): string {
  return `AWS_ACCESS_KEY_ID=${quoteShell(credentials.accessKeyId)}\nAWS_SECRET_ACCESS_KEY=${quoteShell(credentials.secretAccessKey)}\n`;
}

export function renderBackupScript(input: BackupScriptInput): string {
  const { paths, postgres, retention } = input;
  const keep = [
    retention.daily ? `--keep-daily ${retention.daily}` : "",
    retention.weekly ? `--keep-weekly ${retention.weekly}` : "",
    retention.monthly ? `--keep-monthly ${retention.monthly}` : "",
  ]
    .filter(Boolean)
    .join(" ");
  const settings = [
    `RESTIC=${quoteShell(paths.restic)}`,
    `STATE=${quoteShell(paths.state)}`,
    `MEDIA=${quoteShell(paths.media)}`,
    `SIGNING_KEY=${quoteShell(paths.signingKey)}`,
    `SERVER=${quoteShell(input.serverName)}`,
    `TAG=${SNAPSHOT_TAG}`,
    `INTERVAL=${input.intervalHours * 3600}`,
    `CHECK_EVERY=${input.checkEveryDays * 86400}`,
    `KEEP=${quoteShell(keep)}`,
    `MEDIA_DIRS=${quoteShell(BACKED_UP_MEDIA.join(" "))}`,
    `ONE_TIME_KEYS=${ONE_TIME_KEYS_TABLE}`,
    `CREDENTIALS=${quoteShell(paths.credentialsFile)}`,
    `export RESTIC_REPOSITORY=${quoteShell(input.repository)}`,
    `export RESTIC_PASSWORD_FILE=${quoteShell(paths.passwordFile)}`,
    `export RESTIC_CACHE_DIR="$STATE/cache"`,
    `export PGHOST=${quoteShell(postgres.host)} PGPORT=${postgres.port} PGUSER=${quoteShell(postgres.user)}`,
    `DATABASE=${quoteShell(postgres.database)}`,
    `MAINTENANCE_DATABASE=${MAINTENANCE_DATABASE}`,
    `PROBE_SECONDS=${PROBE_SECONDS}`,
    `PG_PASSWORD_FILE=${quoteShell(paths.postgresPasswordFile)}`,
  ];
  return `#!/bin/sh
# firmground backup, rendered from config-templates/backup.ts: see that file for the subcommands.
set -eu
${settings.join("\n")}
${Object.entries(BACKUP_EXIT)
  .filter(([name]) => name !== "ok")
  .map(([name, code]) => `EXIT_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}=${code}`)
  .join("\n")}
${SCRIPT_BODY}`;
}

/** The fixed part (backup.sh beside this file, checked by shellcheck in the tests), read once when this module loads. */
const SCRIPT_BODY = readFileSync(join(__dirname, "backup.sh"), "utf8");
