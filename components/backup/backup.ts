import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { BackupSettings } from "../config";
import { serviceContainer, upload } from "../services/container";
import { facts } from "../services/registry";
import { renderBackupScript, renderCredentialsFile } from "../../config-templates/backup";
import { BACKUP, HOSTS, PORTS, POSTGRES } from "../../config-templates/paths";

export interface BackupArgs {
  /** The PostgreSQL image the server runs: its pg_dump and pg_restore match the server's major version. */
  postgresImage: string;
  /** The restic image its binary is copied from (`images.backup`). Changing it updates the binary. */
  resticImage: string;
  /** The internal network (PostgreSQL is reached on it). */
  networkName: pulumi.Input<string>;
  /** Hard memory limit in MiB. Can change at any time. */
  memoryMb: number;
  /** Memory limit of the one-shot container copying restic's binary. */
  oneShotMemoryMb: number;
  /** restic's `--host` on every snapshot. Never change it. */
  serverName: string;
  /** Interval, retention and check schedule. Can change at any time. */
  schedule: Pick<BackupSettings, "intervalHours" | "retention" | "checkEveryDays">;
  /**
   * RESTIC_REPOSITORY: an `s3:https://…` URL, or absent with `repositoryHostDir`. Change it only to a
   * repository holding the same backups (or to start a new series).
   */
  repository?: pulumi.Input<string>;
  /** A directory on the Docker host holding the repository (docker target), instead of `repository`. */
  repositoryHostDir?: string;
  /** Credentials of an S3 repository (a secret). */
  credentials?: pulumi.Input<{ accessKeyId: string; secretAccessKey: string }>;
  /** The repository's password (a secret). Never change it: the old backups would not open. */
  password: pulumi.Input<string>;
  /** The synapse role's password, for pg_dump and the restore. */
  postgresPassword: pulumi.Input<string>;
  /** Synapse's signing key: backed up, and compared with a snapshot's before a restore. */
  signingKey: pulumi.Input<string>;
  /** Host directories: Synapse's media store, and the backup's own directory (on the data volume). */
  mediaPath: string;
  statePath: string;
}

/** The backup container's name, also its name on the internal network. */
export const BACKUP_CONTAINER = facts("backup").host;
/** The restic binary's volume. */
export const TOOLS_VOLUME = "firmground-backup-tools";

/**
 * Scheduled, encrypted backups with restic: a long-running container from the PostgreSQL image, as
 * Synapse's user, runs backup.sh's loop — a consistent pg_dump (one-time keys left out), local media
 * and the signing key into restic's repository, retention, a periodic `restic check`, a status file the
 * healthcheck reads. It has no Docker socket and publishes nothing. restic's static binary comes from
 * its official image through a volume, so both images stay upstream's and pinned.
 */
export class Backup extends pulumi.ComponentResource {
  /** The rendered script (no secret in it). */
  public readonly script: pulumi.Output<string>;
  public readonly container: docker.Container;

  constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:backup:Backup", name, {}, opts);
    const child = { parent: this };

    const tools = new docker.Volume(`${name}-tools`, { name: TOOLS_VOLUME }, child);
    const resticImage = new docker.RemoteImage(
      `${name}-copy-restic-image`,
      { name: args.resticImage, keepLocally: true },
      child,
    );
    // Copied under a temporary name and renamed, so a backup never runs a half-written binary.
    const copyRestic = new docker.Container(
      `${name}-copy-restic`,
      {
        name: "firmground-backup-tools",
        image: resticImage.imageId,
        entrypoints: [
          "/bin/sh",
          "-c",
          `cp ${BACKUP.imageRestic} ${BACKUP.restic}.new && chmod 0755 ${BACKUP.restic}.new && mv ${BACKUP.restic}.new ${BACKUP.restic}`,
        ],
        volumes: [{ volumeName: tools.name, containerPath: BACKUP.toolsDir }],
        networkMode: "none",
        mustRun: false,
        attach: true,
        restart: "no",
        memory: args.oneShotMemoryMb,
        memorySwap: args.oneShotMemoryMb,
      },
      child,
    );

    const repository = args.repositoryHostDir ? pulumi.output(BACKUP.localRepository) : pulumi.output(args.repository!);
    this.script = repository.apply((url) =>
      renderBackupScript({
        serverName: args.serverName,
        repository: url,
        intervalHours: args.schedule.intervalHours,
        retention: args.schedule.retention,
        checkEveryDays: args.schedule.checkEveryDays,
        paths: BACKUP,
        postgres: { host: HOSTS.postgres, port: PORTS.postgres, user: POSTGRES.user, database: POSTGRES.database },
      }),
    );

    this.container = serviceContainer(
      `${name}-container`,
      this,
      {
        image: args.postgresImage,
        networkName: args.networkName,
        memoryMb: args.memoryMb,
        serviceName: BACKUP_CONTAINER,
        // The container runs as Synapse's user from its start: its files are root's and readable
        // (see upload()), and only that user runs in it.
        uploads: [
          upload(BACKUP.script, this.script),
          upload(BACKUP.passwordFile, pulumi.secret(args.password)),
          upload(BACKUP.postgresPasswordFile, pulumi.secret(args.postgresPassword)),
          upload(BACKUP.signingKey, pulumi.secret(args.signingKey)),
          ...(args.credentials
            ? [
                upload(
                  BACKUP.credentialsFile,
                  pulumi.secret(pulumi.output(args.credentials).apply(renderCredentialsFile)),
                ),
              ]
            : []),
        ],
        healthcheck: ["CMD", "/bin/sh", BACKUP.script, "health"],
        extra: {
          entrypoints: ["/bin/sh", BACKUP.script],
          command: ["loop"],
          user: `${facts("backup").uid}:${facts("backup").uid}`,
          envs: [
            `HOME=${BACKUP.state}`,
            // restic is a Go program: keep its heap well inside the container's limit.
            `GOMEMLIMIT=${Math.floor(args.memoryMb * 0.7)}MiB`,
          ],
          volumes: [
            { hostPath: args.mediaPath, containerPath: BACKUP.media },
            { hostPath: args.statePath, containerPath: BACKUP.state },
            { volumeName: tools.name, containerPath: BACKUP.toolsDir, readOnly: true },
            ...(args.repositoryHostDir
              ? [{ hostPath: args.repositoryHostDir, containerPath: BACKUP.localRepository }]
              : []),
          ],
          // A backup in progress is interrupted; restic resumes from what it already uploaded.
          stopTimeout: 30,
        },
      },
      { ...opts, dependsOn: [copyRestic, ...((opts?.dependsOn as pulumi.Resource[]) ?? [])] },
    );
    this.registerOutputs({ script: this.script });
  }
}
