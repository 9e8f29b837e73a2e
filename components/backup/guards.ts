/**
 * Two steps `pulumi up` takes through the backup container, as dynamic resources:
 *
 * - UpgradeGuard: when a change replaces the Synapse or PostgreSQL container with another image, a
 *   backup runs first and must succeed (with backups on); the containers depend on this resource, so the
 *   engine replaces them only after it, and a failed backup stops `pulumi up` with nothing replaced. A
 *   PostgreSQL major-version change is refused at its check (in preview too), with the steps to do it.
 * - FirstStartRestore: before Synapse first starts, restore the latest snapshot into an empty database
 *   (a new stack recovering an old one's backups); with data already there, or no backup yet, nothing.
 *
 * Both run backup.sh in the running backup container through the Docker API (exec). Like MatrixUser,
 * the engine serializes these providers into the state and runs them from that text in a plain
 * Node.js process: Node built-ins and functions only, errors as plain Errors with a name and a code.
 */
import * as pulumi from "@pulumi/pulumi";
import { BACKUP_EXIT } from "../../config-templates/backup";
import { BACKUP } from "../../config-templates/paths";
import { execIn, inspectContainer, type DockerConnection } from "../dockerApi";

export const BACKUP_JOB_ERROR = "BackupJobError";

/** A backup or restore that ran and failed (`code`: its BACKUP_EXIT), or could not run. */
export function backupJobError(message: string, code: number): Error & { code: number } {
  return Object.assign(new Error(message), { name: BACKUP_JOB_ERROR, code });
}

export const isBackupJobError = (error: unknown): error is Error & { code: number } =>
  error instanceof Error && error.name === BACKUP_JOB_ERROR;

/** The last line the script wrote, its one-line explanation of a failure, without the log's time and tag. */
const lastLine = (text: string) => (text.trim().split("\n").at(-1) ?? "").replace(/^\S+ backup: (error: )?/, "");

/**
 * Runs `backup.sh <args>` in the backup container; returns its standard output, or throws with the
 * script's explanation and exit code.
 */
export async function runBackupScript(
  connection: DockerConnection,
  container: string,
  args: string[],
  timeoutSeconds: number,
): Promise<string> {
  const state = await inspectContainer(connection, container);
  if (!state?.running) {
    throw backupJobError(
      `the backup container ${container} is ${state ? "not running" : "missing"} on the host`,
      BACKUP_EXIT.unreachable,
    );
  }
  const result = await execIn(connection, container, ["/bin/sh", BACKUP.script, ...args], timeoutSeconds);
  if (result.exitCode !== 0) {
    throw backupJobError(lastLine(result.stderr) || `backup.sh ${args[0]} exited ${result.exitCode}`, result.exitCode);
  }
  return result.stdout;
}

export interface UpgradeGuardInputs {
  connection: DockerConnection;
  container: string;
  /** The images whose change is an upgrade, by service (synapse, postgres). */
  images: Record<string, string>;
  /** Whether backups are on: only then does an upgrade wait for one. */
  backups: boolean;
  /** The host directory of PostgreSQL's cluster (for the steps of a major-version change). */
  postgresDataPath: string;
  /** Seconds of silence after which the backup is given up. */
  timeoutSeconds: number;
}

/** The major version in a PostgreSQL image's tag (`postgres:17.6-alpine` → 17); undefined for a digest only. */
export function postgresMajor(image: string): number | undefined {
  const tag = /:(\d+)(?:[.-][^/@]*)?(?:@|$)/.exec(image.split("/").at(-1) ?? "");
  return tag ? Number(tag[1]) : undefined;
}

/** Why a PostgreSQL image change is refused, with the steps to carry it out; undefined when it is not a major change. */
export function majorChangeRefusal(olds: UpgradeGuardInputs, news: UpgradeGuardInputs): string | undefined {
  const [from, to] = [postgresMajor(olds.images.postgres ?? ""), postgresMajor(news.images.postgres ?? "")];
  if (from === undefined || to === undefined || from === to) return undefined;
  const data = news.postgresDataPath;
  return [
    `PostgreSQL ${from} → ${to} (${olds.images.postgres} → ${news.images.postgres}) is a major-version change: the new server cannot read the old cluster, so pulumi up refuses it and changes nothing. To carry it out:`,
    `1. back up now: docker exec ${news.container} /bin/sh /etc/firmground/backup.sh once manual (backups must be on);`,
    `2. on the host, keep the old cluster aside: docker stop synapse postgres && mv ${data} ${data}-${from} && install -d -m 0700 ${data};`,
    "3. let the guard forget the old image (it manages nothing else): pulumi state delete '<urn>', the urn of matrix-upgrade-guard as pulumi stack --show-urns lists it;",
    `4. pulumi up: PostgreSQL ${to} starts on the empty directory;`,
    `5. npm run restore -- --snapshot latest: the dump goes into PostgreSQL ${to}; then remove ${data}-${from} when all is well.`,
  ].join("\n");
}

export const upgradeGuardProvider: pulumi.dynamic.ResourceProvider = {
  // Before anything is replaced, in preview as in up.
  check(olds: UpgradeGuardInputs, news: UpgradeGuardInputs) {
    const refusal = olds?.images ? majorChangeRefusal(olds, news) : undefined;
    return Promise.resolve({ inputs: news, failures: refusal ? [{ property: "images", reason: refusal }] : [] });
  },

  // Nothing to protect yet: the containers are created after this, from these images.
  create(inputs: UpgradeGuardInputs) {
    return Promise.resolve({ id: inputs.container, outs: { ...inputs, lastBackup: "" } });
  },

  diff(_id: string, olds: UpgradeGuardInputs, news: UpgradeGuardInputs) {
    const changed = Object.keys({ ...olds.images, ...news.images }).filter((s) => olds.images[s] !== news.images[s]);
    const settings = (["backups", "timeoutSeconds", "postgresDataPath"] as const).filter((k) => olds[k] !== news[k]);
    return Promise.resolve({ changes: changed.length + settings.length > 0 });
  },

  async update(_id: string, olds: UpgradeGuardInputs, news: UpgradeGuardInputs) {
    const upgrades = Object.keys(news.images)
      .filter((s) => olds.images[s] !== undefined && olds.images[s] !== news.images[s])
      .map((s) => `${s} ${olds.images[s]} → ${news.images[s]}`);
    if (upgrades.length === 0 || !news.backups) return { outs: { ...news, lastBackup: "" } };
    // A stack that only now turns backups on has no container to run one in yet.
    if (!(await inspectContainer(news.connection, news.container))) {
      return { outs: { ...news, lastBackup: "none: no backup container yet" } };
    }
    try {
      await runBackupScript(news.connection, news.container, ["once", "pre-upgrade"], news.timeoutSeconds);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw backupJobError(
        `the backup before the upgrade (${upgrades.join(", ")}) failed, so nothing was replaced: ${reason}. ` +
          "Fix the backup (docker logs backup on the host; npm run restore -- --list checks the repository) and " +
          "run pulumi up again, or set backup.enabled false to upgrade without one.",
        isBackupJobErrorLike(error) ? error.code : BACKUP_EXIT.unreachable,
      );
    }
    return { outs: { ...news, lastBackup: new Date().toISOString() } };
  },

  delete() {
    return Promise.resolve();
  },
};

// The provider runs from its serialized text: it may not rely on the module-level helper's identity.
function isBackupJobErrorLike(error: unknown): error is Error & { code: number } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "number";
}

/** Backs up before the Synapse or PostgreSQL image changes, and refuses a PostgreSQL major change (see above). */
export class UpgradeGuard extends pulumi.dynamic.Resource {
  declare public readonly lastBackup: pulumi.Output<string>;

  constructor(
    name: string,
    args: { [K in keyof UpgradeGuardInputs]: pulumi.Input<UpgradeGuardInputs[K]> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      upgradeGuardProvider,
      name,
      { lastBackup: undefined, ...args },
      {
        ...opts,
        additionalSecretOutputs: ["connection"],
      },
    );
  }
}

export interface FirstStartRestoreInputs {
  connection: DockerConnection;
  container: string;
  timeoutSeconds: number;
}

export const firstStartRestoreProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: FirstStartRestoreInputs) {
    const report = await runBackupScript(
      inputs.connection,
      inputs.container,
      ["restore-if-empty"],
      inputs.timeoutSeconds,
    );
    return { id: inputs.container, outs: { ...inputs, restored: report.trim() } };
  },

  // Once the stack has started, restores are `npm run restore`'s: nothing here changes anything.
  diff() {
    return Promise.resolve({ changes: false });
  },

  delete() {
    return Promise.resolve();
  },
};

/** The first start's restore into an empty database (see above). */
export class FirstStartRestore extends pulumi.dynamic.Resource {
  /** restore's JSON report, or "" when there was nothing to restore. */
  declare public readonly restored: pulumi.Output<string>;

  constructor(
    name: string,
    args: { [K in keyof FirstStartRestoreInputs]: pulumi.Input<FirstStartRestoreInputs[K]> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      firstStartRestoreProvider,
      name,
      { restored: undefined, ...args },
      {
        ...opts,
        additionalSecretOutputs: ["connection"],
      },
    );
  }
}
