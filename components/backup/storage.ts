import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as scaleway from "@pulumiverse/scaleway";

/** A bucket as restoreSecrets.backupBucket names it: region, project id, bucket name. */
export interface BucketRef {
  region: string;
  projectId: string;
  bucket: string;
}

export interface BackupStorageArgs {
  /** Object Storage region of a new bucket (the provider's `scaleway:region`). Never change it. */
  region: string;
  /** Part of the project's and the credentials' names, to keep several stacks apart. Never change it. */
  stackName: string;
  /**
   * Keep the project, the bucket and every backup in it when the stack is destroyed (as the data
   * volume). Default true. Can change at any time.
   */
  retainOnDelete?: boolean;
  /**
   * The bucket of an earlier stack (its restoreSecrets.backupBucket) to back up to and restore from,
   * instead of a new project and bucket; this stack never deletes it. Set it only on a new stack.
   */
  existing?: BucketRef;
  /** Days an overwritten or deleted object stays recoverable as an old version. Default 30. Can change. */
  noncurrentVersionDays?: number;
}

/** The permission sets restic needs: read, write and delete objects, and find its bucket. */
export const BACKUP_PERMISSION_SETS = [
  "ObjectStorageObjectsRead",
  "ObjectStorageObjectsWrite",
  "ObjectStorageObjectsDelete",
  "ObjectStorageBucketsRead",
];

/** The prefix of the restic repository inside the bucket. */
export const REPOSITORY_PREFIX = "firmground";

/** restic's URL of a repository in a Scaleway bucket. */
export const scalewayRepository = (ref: { region: string; bucket: string }) =>
  `s3:https://s3.${ref.region}.scw.cloud/${ref.bucket}/${REPOSITORY_PREFIX}`;

/**
 * Where backups go on the scaleway target: a versioned Object Storage bucket in a project of its own,
 * and credentials that reach nothing else — an IAM application whose policy grants object storage in
 * that project only, and its API key. The project holds nothing but the bucket, so a key stolen from
 * the host can touch the backups and nothing else of the account; versioning keeps what it deletes or
 * overwrites for `noncurrentVersionDays`.
 */
export class BackupStorage extends pulumi.ComponentResource {
  /** RESTIC_REPOSITORY of the bucket. */
  public readonly repository: pulumi.Output<string>;
  /** The application's key (a secret). */
  public readonly credentials: pulumi.Output<{ accessKeyId: string; secretAccessKey: string }>;
  /** `<region>/<projectId>/<bucket>`: what a new stack needs to find the bucket (restoreSecrets.backupBucket). */
  public readonly bucketRef: pulumi.Output<string>;

  constructor(name: string, args: BackupStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:backup:BackupStorage", name, {}, opts);
    const child = { parent: this };
    const kept = { ...child, retainOnDelete: args.retainOnDelete ?? true };

    let projectId: pulumi.Output<string>;
    let bucketName: pulumi.Output<string>;
    let region: string;
    if (args.existing) {
      projectId = pulumi.output(args.existing.projectId);
      bucketName = pulumi.output(args.existing.bucket);
      region = args.existing.region;
    } else {
      const project = new scaleway.account.Project(
        `${name}-project`,
        {
          name: `firmground-backups-${args.stackName}`,
          description: "firmground's backups: one bucket, reachable with this project's key only",
        },
        kept,
      );
      // Bucket names are global: a random suffix keeps two stacks (or a re-created one) apart.
      const suffix = new random.RandomId(`${name}-suffix`, { byteLength: 4 }, child);
      const bucket = new scaleway.object.Bucket(
        `${name}-bucket`,
        {
          name: pulumi.interpolate`firmground-backups-${suffix.hex}`,
          projectId: project.id,
          region: args.region,
          versioning: { enabled: true },
          lifecycleRules: [
            {
              id: "expire-old-versions",
              enabled: true,
              noncurrentVersionExpiration: { noncurrentDays: args.noncurrentVersionDays ?? 30 },
            },
            { id: "abort-stale-uploads", enabled: true, abortIncompleteMultipartUploadDays: 2 },
          ],
        },
        kept,
      );
      projectId = project.id;
      bucketName = bucket.name;
      region = args.region;
    }

    const application = new scaleway.iam.Application(
      `${name}-application`,
      { name: `firmground-backup-${args.stackName}`, description: "firmground's backup container" },
      child,
    );
    new scaleway.iam.Policy(
      `${name}-policy`,
      {
        name: `firmground-backup-${args.stackName}`,
        description: "Object storage in the backup project only",
        applicationId: application.id,
        rules: [{ projectIds: [projectId], permissionSetNames: BACKUP_PERMISSION_SETS }],
      },
      child,
    );
    const key = new scaleway.iam.ApiKey(
      `${name}-key`,
      { applicationId: application.id, defaultProjectId: projectId, description: "firmground backups" },
      child,
    );

    this.repository = bucketName.apply((bucket) => scalewayRepository({ region, bucket }));
    this.credentials = pulumi.secret(
      pulumi
        .all([key.accessKey, key.secretKey])
        .apply(([accessKeyId, secretAccessKey]) => ({ accessKeyId, secretAccessKey })),
    );
    this.bucketRef = pulumi.interpolate`${region}/${projectId}/${bucketName}`;
    this.registerOutputs({ repository: this.repository, bucketRef: this.bucketRef });
  }
}
