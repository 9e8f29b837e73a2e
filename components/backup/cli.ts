/**
 * `npm run restore -- [--stack S] [--snapshot ID|latest] [--dry-run] [--list]`: restores a backup onto
 * the running host. It checks everything first — repository, password, snapshot, that the snapshot is
 * this server's (its signing key), that no backup is running — and only then stops Synapse, recreates
 * the database from the snapshot's dump (one-time keys emptied), puts back the local media, starts
 * Synapse and waits for it to be healthy. `--dry-run` stops after the checks; `--list` lists snapshots.
 *
 * What it needs comes from `pulumi stack output backupAdmin --json --show-secrets` (add `--stack`), or
 * from FIRMGROUND_BACKUP_ADMIN (that output's JSON), as `npm run user` does.
 */
import { parseCommandLine, readStackOutput, runCommandLine, UsageError } from "../commandLine";
import { BACKUP_EXIT } from "../../config-templates/backup";
import { inspectContainer, isDockerApiError, startContainer, stopContainer, type DockerConnection } from "../dockerApi";
import { isBackupJobError, runBackupScript } from "./guards";

/** The `backupAdmin` stack output. */
export interface BackupAdmin {
  connection: DockerConnection;
  /** The backup container (backup.sh runs in it) and Synapse's. */
  container: string;
  synapseContainer: string;
}

export const USAGE = `usage: npm run restore -- [--stack <name>] [--snapshot <id>|latest] [--dry-run] [--list]
  Restores a backup onto the running host: checks the repository, password and snapshot first, then
  stops Synapse, recreates its database from the snapshot (one-time keys emptied), puts back the local
  media and starts Synapse again.
options:
  --stack <name>     the Pulumi stack whose backupAdmin output to use (default: the selected stack)
  --snapshot <id>    the snapshot to restore (default: latest); --list shows them
  --dry-run          run every check, change nothing
  --list             list the repository's snapshots
  -h, --help         this text
Without the Pulumi CLI, set FIRMGROUND_BACKUP_ADMIN to \`pulumi stack output backupAdmin --json --show-secrets\`.`;

const HINTS: Partial<Record<number, string>> = {
  [BACKUP_EXIT.unreachable]: "check the repository's address and credentials, and that the host reaches it",
  [BACKUP_EXIT.wrongPassword]:
    "a recovered stack needs restoreSecrets.backupPassword of the stack that made the backups",
  [BACKUP_EXIT.noSnapshot]: "npm run restore -- --list shows the snapshots",
  [BACKUP_EXIT.busy]: "a backup or restore is running; try again in a few minutes",
  [BACKUP_EXIT.foreignSnapshot]: "the stack must run with the old server's signing key (restoreSecrets.signingKey)",
  [BACKUP_EXIT.noRepository]: "no backup has been made yet, or backup.repository points elsewhere",
};

/** How long restore waits for Synapse to report healthy after starting it. */
const HEALTHY_WITHIN_SECONDS = 300;
/** Synapse's grace period when it is stopped for the restore (its container's stopTimeout). */
const SYNAPSE_STOP_SECONDS = 30;
/** Silence after which a backup.sh step is given up. */
const STEP_TIMEOUT_SECONDS = 3600;

export function loadBackupAdmin(stack: string | undefined, env: NodeJS.ProcessEnv): BackupAdmin {
  if (env.FIRMGROUND_BACKUP_ADMIN) return JSON.parse(env.FIRMGROUND_BACKUP_ADMIN) as BackupAdmin;
  return readStackOutput<BackupAdmin>("backupAdmin", {
    stack,
    secret: true,
    otherwise:
      "are backups on for this stack? Without the Pulumi CLI, set FIRMGROUND_BACKUP_ADMIN to that output's JSON.",
  });
}

async function waitHealthy(connection: DockerConnection, name: string, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const state = await inspectContainer(connection, name);
    if (state?.running && (state.health === undefined || state.health === "healthy")) return true;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  return false;
}

/** Runs the command line; returns the process exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  const { values } = parseCommandLine(argv, USAGE, {
    stack: { type: "string" },
    snapshot: { type: "string", default: "latest" },
    "dry-run": { type: "boolean" },
    list: { type: "boolean" },
  });
  const snapshot = values.snapshot;
  if (snapshot !== "latest" && !/^[0-9a-f]{8,64}$/.test(snapshot)) {
    throw new UsageError(
      `--snapshot takes "latest" or a snapshot id (8-64 hexadecimal digits), not ${JSON.stringify(snapshot)}`,
    );
  }
  const admin = loadBackupAdmin(values.stack, env);
  const script = (args: string[]) => runBackupScript(admin.connection, admin.container, args, STEP_TIMEOUT_SECONDS);

  try {
    if (values.list) {
      print((await script(["snapshots"])).trimEnd());
      return 0;
    }
    const verified = JSON.parse((await script(["verify", snapshot])).trim().split("\n").at(-1)!) as {
      snapshot: string;
      time: string;
    };
    print(`snapshot ${verified.snapshot.slice(0, 8)} of ${verified.time}: this server's, readable, no backup running`);
    if (values["dry-run"]) {
      print(
        `dry run: a restore would stop ${admin.synapseContainer}, recreate its database from this snapshot ` +
          "(one-time keys emptied), replace its local media, and start it again. Nothing was changed.",
      );
      return 0;
    }

    print(`stopping ${admin.synapseContainer}`);
    await stopContainer(admin.connection, admin.synapseContainer, SYNAPSE_STOP_SECONDS);
    let report: Record<string, unknown>;
    try {
      // The very snapshot verified, even if a backup has landed since.
      report = JSON.parse((await script(["restore", verified.snapshot])).trim().split("\n").at(-1)!) as Record<
        string,
        unknown
      >;
    } catch (error) {
      // Nothing changed unless the restore had begun on the database: then Synapse stays stopped
      // rather than start on an incomplete one.
      if (isBackupJobError(error) && error.code === BACKUP_EXIT.restoreFailed) throw error;
      await startContainer(admin.connection, admin.synapseContainer);
      throw error;
    }
    print(
      `restored snapshot ${String(report.snapshot).slice(0, 8)}: database dump ${String(report.databaseDumpBytes)} bytes, ` +
        `${String(report.mediaFiles)} media files, one-time keys emptied, in ${String(report.seconds)} s`,
    );
    await startContainer(admin.connection, admin.synapseContainer);
    const healthy = await waitHealthy(admin.connection, admin.synapseContainer, HEALTHY_WITHIN_SECONDS);
    print(
      healthy
        ? `${admin.synapseContainer} is running and healthy`
        : `${admin.synapseContainer} did not report healthy within ${HEALTHY_WITHIN_SECONDS} s: docker logs ${admin.synapseContainer}`,
    );
    return healthy ? 0 : 1;
  } catch (error) {
    if (isBackupJobError(error)) {
      const kept =
        error.code === BACKUP_EXIT.restoreFailed
          ? ` ${admin.synapseContainer} is left stopped; run the restore again.`
          : " Nothing was changed.";
      print(`error: ${error.message}.${kept}${HINTS[error.code] ? ` (${HINTS[error.code]})` : ""}`);
      return error.code;
    }
    if (isDockerApiError(error)) {
      print(`error: cannot reach the host's Docker API: ${error.message}`);
      return BACKUP_EXIT.unreachable;
    }
    throw error;
  }
}

if (require.main === module) runCommandLine(main);
