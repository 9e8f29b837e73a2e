/**
 * Backups, in the unit tests: the `backup` config (inputs refused before any resource), the rendered
 * script (shellcheck, settings quoted), what the program registers (Pulumi's mocks: which inputs and
 * options are passed — what Scaleway, Docker, restic and PostgreSQL do with them is proven by
 * `npm run test:stack`'s restore scenario and `npm run test:deploy`), and the guards' providers run from
 * their serialized text as the engine runs them.
 */
import { createServer } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parseSettings } from "../components/config";
import { configProblems } from "./support/configProblems";
import { unwrapSecrets } from "../components/render/offline";
import { BACKUP_PERMISSION_SETS } from "../components/backup/storage";
import { firstStartRestoreProvider, postgresMajor, upgradeGuardProvider } from "../components/backup/guards";
import { BACKUP_EXIT, renderBackupScript, renderCredentialsFile } from "../config-templates/backup";
import { BACKUP } from "../config-templates/paths";
import { serializedProvider } from "./support/dynamicProvider";
import { BASE_CONFIG, RecordingMocks, runProgram, settle } from "./support/mocks";
import { haveTool, run } from "./support/tools";

const base = { serverName: "example.org", acmeEmail: "admin@example.org" };
const S3 = "s3:https://s3.example.net/backups/firmground";
const KEY_ID = "AKIAEXAMPLE123";
const KEY_SECRET = "hunter2-secret-access-key/xyz";

const problems = (raw: Record<string, string>, secretKeys: string[] = ["backup"]) => configProblems(raw, secretKeys);

describe("config: backup", () => {
  test("on by default on scaleway, to the stack's own bucket, daily with 7/4/12 kept and a weekly check", () => {
    expect(parseSettings(base).backup).toEqual({
      enabled: true,
      repository: "",
      intervalHours: 24,
      retention: { daily: 7, weekly: 4, monthly: 12 },
      checkEveryDays: 7,
    });
  });

  test("off by default on the docker target, on once a repository is given", () => {
    const docker = { serverName: "firmground.localhost", target: "docker" };
    expect(parseSettings(docker).backup.enabled).toBe(false);
    const withDir = parseSettings({ ...docker, backup: JSON.stringify({ repository: "/srv/firmground-backups/" }) });
    expect(withDir.backup).toMatchObject({ enabled: true, repository: "/srv/firmground-backups" });
  });

  test("an S3 repository with its credentials, set encrypted", () => {
    const settings = parseSettings(
      {
        ...base,
        backup: JSON.stringify({
          repository: S3,
          accessKeyId: KEY_ID,
          secretAccessKey: KEY_SECRET,
          intervalHours: 6,
          retention: { daily: 14, weekly: 0 },
        }),
      },
      ["backup"],
    );
    expect(settings.backup).toEqual({
      enabled: true,
      repository: S3,
      credentials: { accessKeyId: KEY_ID, secretAccessKey: KEY_SECRET },
      intervalHours: 6,
      retention: { daily: 14, weekly: 0, monthly: 12 },
      checkEveryDays: 7,
    });
  });

  const backup = (value: unknown) => ({ ...base, backup: JSON.stringify(value) });
  test.each([
    ["not an object", { ...base, backup: "[1]" }, /backup = "\[1\]": expected an object/],
    [
      "an unknown key",
      backup({ schedule: "daily" }),
      /backup\.schedule = "daily": unknown key in backup; allowed: enabled, repository/,
    ],
    [
      "intervalHours 0",
      backup({ intervalHours: 0 }),
      /backup\.intervalHours = 0: expected a whole number from 1 to 168/,
    ],
    ["intervalHours 1.5", backup({ intervalHours: 1.5 }), /backup\.intervalHours = 1\.5: expected a whole number/],
    [
      "checkEveryDays 91",
      backup({ checkEveryDays: 91 }),
      /backup\.checkEveryDays = 91: expected a whole number from 1 to 90/,
    ],
    [
      "a negative retention",
      backup({ retention: { daily: -1 } }),
      /backup\.retention\.daily = -1: expected a whole number of snapshots/,
    ],
    [
      "a retention that keeps nothing",
      backup({ retention: { daily: 0, weekly: 0, monthly: 0 } }),
      /backup\.retention = .*keeps nothing: restic forget would delete every snapshot/,
    ],
    [
      "an http repository",
      backup({ repository: "s3:http://s3.example.net/b", accessKeyId: KEY_ID, secretAccessKey: KEY_SECRET }),
      /https only/,
    ],
    [
      "credentials inside the URL",
      backup({ repository: "s3:https://me:pw@s3.example.net/b", accessKeyId: KEY_ID, secretAccessKey: KEY_SECRET }),
      /no credentials in it/,
    ],
    [
      "another scheme",
      backup({ repository: "rest:https://x.example.net/" }),
      /expected an s3:https:\/\/<host>\/<bucket> URL$/,
    ],
    [
      "a directory on the scaleway target",
      backup({ repository: "/srv/backups" }),
      /a directory on the host is not off the host/,
    ],
    [
      "credentials for the stack's own bucket",
      backup({ accessKeyId: KEY_ID, secretAccessKey: KEY_SECRET }),
      /the stack's own bucket gets a key of its own/,
    ],
    ["enabled not a boolean", backup({ enabled: "yes" }), /backup\.enabled = "yes": expected true or false/],
  ])("refused: %s", (_label, raw, message) => {
    const found = problems(raw);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  test("an S3 repository needs both credentials; each problem is reported", () => {
    expect(problems(backup({ repository: S3 }))).toEqual([
      expect.stringMatching(/backup\.accessKeyId = \[not shown\]: required with an s3: repository/),
      expect.stringMatching(/backup\.secretAccessKey = \[not shown\]: required with an s3: repository/),
    ]);
    expect(problems(backup({ repository: S3, accessKeyId: "a b" }))).toHaveLength(2);
  });

  test("docker target: a repository inside (or holding) localDataDir, or a system directory, is refused", () => {
    const docker = { serverName: "firmground.localhost", target: "docker", localDataDir: "/srv/firmground" };
    for (const repository of ["/srv/firmground/backups", "/srv", "/srv/firmground"])
      expect(problems({ ...docker, backup: JSON.stringify({ repository }) })).toEqual([
        expect.stringMatching(/overlaps localDataDir \/srv\/firmground|system directory/),
      ]);
    expect(problems({ ...docker, backup: JSON.stringify({ repository: "/etc/backups" }) })[0]).toMatch(
      /system directory or inside one/,
    );
    expect(problems({ ...docker, backup: JSON.stringify({ enabled: true }) })[0]).toMatch(
      /backup\.enabled = true: the docker target has no bucket of its own/,
    );
  });

  test("credentials in plain text are refused, and never repeated", () => {
    const found = problems(backup({ repository: S3, accessKeyId: KEY_ID, secretAccessKey: KEY_SECRET }), []);
    expect(found).toEqual([
      expect.stringMatching(
        /backup\.secretAccessKey = \[not shown\]: must be stored encrypted: pulumi config set --secret --path 'firmground:backup\.secretAccessKey'/,
      ),
    ]);
    const bad = problems(backup({ repository: S3, accessKeyId: KEY_ID, secretAccessKey: "has space" }));
    expect(bad.join("\n")).not.toContain("has space");
    expect(
      problems(backup({ repository: S3, accessKeyId: KEY_ID, secretAccessKey: KEY_SECRET, bogus: KEY_SECRET })).join(
        "\n",
      ),
    ).toMatch(/backup\.bogus = "hunter2/);
  });

  test("restoreSecrets carries the repository's password and the old stack's bucket, each checked", () => {
    const restore = (value: Record<string, string>) => ({ ...base, restoreSecrets: JSON.stringify(value) });
    const bucket = "fr-par/11111111-2222-4333-8444-555555555555/firmground-backups-0a1b2c3d";
    expect(
      parseSettings(restore({ backupPassword: "p".repeat(48), backupBucket: bucket }), ["restoreSecrets"])
        .restoreSecrets,
    ).toEqual({
      backupPassword: "p".repeat(48),
      backupBucket: bucket,
    });
    const found = problems(restore({ backupPassword: "short", backupBucket: "my-bucket" }), ["restoreSecrets"]);
    expect(found).toEqual([
      expect.stringMatching(/restoreSecrets\.backupBucket = "\[secret\]": expected <region>\/<project id>\/<bucket>/),
      expect.stringMatching(/restoreSecrets\.backupPassword = "\[secret\]": the old repository's password/),
    ]);
  });
});

const INPUT = {
  serverName: "example.org",
  repository: S3,
  intervalHours: 24,
  checkEveryDays: 7,
  retention: { daily: 7, weekly: 4, monthly: 12 },
  paths: BACKUP,
  postgres: { host: "postgres", port: 5432, user: "synapse", database: "synapse" },
};

describe("the backup script (restic, pg_dump and PostgreSQL run it in npm run test:stack)", () => {
  const dir = mkdtempSync(join(tmpdir(), "firmground-backup-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("shellcheck finds nothing in it, as sh (BusyBox ash and dash run it)", () => {
    haveTool("shellcheck");
    const file = join(dir, "backup.sh");
    writeFileSync(file, renderBackupScript(INPUT));
    const result = run("shellcheck", ["--shell=sh", file]);
    expect(result.output).toBe("");
    expect(result.status).toBe(0);
  });

  test("sh parses it and refuses an unknown subcommand with the usage exit code", () => {
    const file = join(dir, "usage.sh");
    writeFileSync(file, renderBackupScript({ ...INPUT, paths: { ...BACKUP, postgresPasswordFile: "/dev/null" } }));
    expect(run("sh", ["-n", file]).status).toBe(0);
    const result = run("sh", [file, "bogus"]);
    expect(result.status).toBe(BACKUP_EXIT.usage);
    expect(result.output).toMatch(/^usage: backup.sh loop\|once/);
  });

  test("settings are single-quoted shell words, retention drops what keeps nothing", () => {
    const script = renderBackupScript({
      ...INPUT,
      serverName: "it's.example.org",
      retention: { daily: 7, weekly: 0, monthly: 12 },
    });
    expect(script).toContain(`SERVER='it'\\''s.example.org'`);
    expect(script).toContain(`KEEP='--keep-daily 7 --keep-monthly 12'`);
    expect(script).toContain(`export RESTIC_REPOSITORY='${S3}'`);
    expect(script).toContain("INTERVAL=86400");
    // No secret in the script itself: the passwords are files.
    expect(script).toContain(`export RESTIC_PASSWORD_FILE='${BACKUP.passwordFile}'`);
  });

  test("the credentials file is shell assignments the script sources", () => {
    const file = join(dir, "credentials");
    writeFileSync(file, renderCredentialsFile({ accessKeyId: KEY_ID, secretAccessKey: "a'b" }));
    const result = run("sh", ["-c", `set -a; . ${file}; printf '%s|%s' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"`]);
    expect(result.output).toBe(`${KEY_ID}|a'b`);
  });
});

describe("what the program registers for backups (inputs only)", () => {
  test("the backup container: the PostgreSQL image as Synapse's user, no socket, no port, the data it backs up", async () => {
    const { mocks, error } = await runProgram(BASE_CONFIG);
    expect(error).toBeUndefined();
    const containers = Object.fromEntries(
      mocks
        .of("docker:index/container:Container")
        .map((r) => [r.inputs.name, unwrapSecrets(r.inputs) as Record<string, any>]),
    );
    const backup = containers.backup;
    const images = Object.fromEntries(
      mocks.of("docker:index/remoteImage:RemoteImage").map((r) => [r.name, r.inputs.name]),
    );
    expect(images["matrix-backup-container-image"]).toBe("postgres:17.6-alpine");
    expect(images["matrix-backup-copy-restic-image"]).toBe("restic/restic:0.18.1");
    expect(backup).toMatchObject({ user: "991:991", entrypoints: ["/bin/sh", BACKUP.script], command: ["loop"] });
    expect(backup.ports ?? []).toEqual([]);
    expect(backup.healthcheck.tests).toEqual(["CMD", "/bin/sh", BACKUP.script, "health"]);
    const mounts = (
      backup.volumes as { hostPath?: string; volumeName?: string; containerPath: string; readOnly?: boolean }[]
    ).map((v) => `${v.hostPath ?? v.volumeName}:${v.containerPath}${v.readOnly ? ":ro" : ""}`);
    expect(mounts).toEqual([
      "/srv/firmground/synapse/media:/data/media_store",
      "/srv/firmground/backup:/backup",
      "firmground-backup-tools:/opt/restic:ro",
    ]);
    expect(mounts.join(" ")).not.toMatch(/docker\.sock/);
    const files = Object.fromEntries(
      (backup.uploads as { file: string; content: string }[]).map((u) => [u.file, u.content]),
    );
    expect(Object.keys(files).sort()).toEqual(
      [
        BACKUP.script,
        BACKUP.credentialsFile,
        BACKUP.postgresPasswordFile,
        BACKUP.passwordFile,
        BACKUP.signingKey,
      ].sort(),
    );
    expect(files[BACKUP.script]).toContain(
      "export RESTIC_REPOSITORY='s3:https://s3.fr-par.scw.cloud/firmground-backups-",
    );
    expect(files[BACKUP.credentialsFile]).toMatch(
      /^AWS_ACCESS_KEY_ID='SCW\w+'\nAWS_SECRET_ACCESS_KEY='SECRET-backup-storage-key-secret/,
    );
    expect(files[BACKUP.passwordFile]).toBe("SECRET-secrets-backup-0123456789");
    expect(containers["firmground-backup-tools"].entrypoints.join(" ")).toContain(
      `cp ${BACKUP.imageRestic} ${BACKUP.restic}.new`,
    );
  });

  test("Scaleway: a versioned bucket in a project of its own; a key whose policy reaches that project only", async () => {
    const { mocks, outputs, error } = await runProgram(BASE_CONFIG);
    expect(error).toBeUndefined();
    const [project] = mocks.of("scaleway:account/project:Project");
    const [bucket] = mocks.of("scaleway:object/bucket:Bucket");
    expect(bucket.inputs).toMatchObject({
      projectId: "11111111-2222-4333-8444-555555555555",
      region: "fr-par",
      versioning: { enabled: true },
      lifecycleRules: [
        { id: "expire-old-versions", enabled: true, noncurrentVersionExpiration: { noncurrentDays: 30 } },
        { id: "abort-stale-uploads", enabled: true, abortIncompleteMultipartUploadDays: 2 },
      ],
    });
    expect(String(bucket.inputs.name)).toMatch(/^firmground-backups-[0-9a-f]{8}$/);
    expect(project.inputs.name).toBe("firmground-backups-offline");
    const [policy] = mocks.of("scaleway:iam/policy:Policy");
    const [application] = mocks.of("scaleway:iam/application:Application");
    expect(policy.inputs).toMatchObject({
      applicationId: `${application.name}-id`,
      rules: [{ projectIds: ["11111111-2222-4333-8444-555555555555"], permissionSetNames: BACKUP_PERMISSION_SETS }],
    });
    expect(BACKUP_PERMISSION_SETS.some((p) => /FullAccess|Bucket(s)?Write|BucketsDelete/.test(p))).toBe(false);
    // The repository is plain; the key and the password are secrets.
    expect(await pulumi.isSecret(outputs!.backupRepository)).toBe(false);
    expect(await pulumi.isSecret(outputs!.backupAdmin)).toBe(true);
    expect(await pulumi.isSecret(outputs!.restoreSecrets)).toBe(true);
  });

  test("the project and the bucket are kept on destroy unless retainDataOnDestroy is false (options)", async () => {
    const seen = async (retainOnDelete: boolean) => {
      await pulumi.runtime.setMocks(new RecordingMocks(), "firmground", "test", true);
      const { BackupStorage } = await import("../components/backup/storage");
      const options: Record<string, pulumi.CustomResourceOptions> = {};
      new BackupStorage(
        `storage-${String(retainOnDelete)}`,
        { region: "fr-par", stackName: "test", retainOnDelete },
        { transformations: [(args) => void (options[args.type] = args.opts)] },
      );
      await settle();
      return options;
    };
    for (const retain of [true, false]) {
      const options = await seen(retain);
      expect(options["scaleway:object/bucket:Bucket"].retainOnDelete).toBe(retain);
      expect(options["scaleway:account/project:Project"].retainOnDelete).toBe(retain);
      expect(options["scaleway:iam/apiKey:ApiKey"].retainOnDelete).toBeFalsy();
    }
  });

  test("PostgreSQL and Synapse wait for the backup before an upgrade; Synapse for the first start's restore", async () => {
    const { mocks, error } = await runProgram(BASE_CONFIG);
    expect(error).toBeUndefined();
    const dynamic = Object.fromEntries(
      mocks.of("pulumi-nodejs:dynamic:Resource").map((r) => [r.name, unwrapSecrets(r.inputs) as any]),
    );
    expect(dynamic["matrix-upgrade-guard"]).toMatchObject({
      container: "backup",
      backups: true,
      postgresDataPath: "/srv/firmground/postgres",
      images: { synapse: "matrixdotorg/synapse:v1.160.0", postgres: "postgres:17.6-alpine" },
    });
    expect(dynamic["matrix-first-start-restore"]).toMatchObject({ container: "backup" });
  });

  test("backup.enabled false: no storage, no container, no guard", async () => {
    const { mocks, outputs, error } = await runProgram({ ...BASE_CONFIG, backup: JSON.stringify({ enabled: false }) });
    expect(error).toBeUndefined();
    expect(mocks.of("scaleway:object/bucket:Bucket")).toEqual([]);
    expect(mocks.of("docker:index/container:Container").map((r) => r.inputs.name)).not.toContain("backup");
    // The upgrade guard stays (it refuses a PostgreSQL major change); it has no backup to wait for.
    const dynamic = mocks.of("pulumi-nodejs:dynamic:Resource");
    expect(dynamic.map((r) => r.name).sort()).toEqual(["matrix-upgrade-guard", "users-admin"]);
    expect(dynamic.find((r) => r.name === "matrix-upgrade-guard")!.inputs.backups).toBe(false);
    expect(outputs!.backupAdmin).toBeUndefined();
  });

  test("docker target with a directory: the one-shot makes it Synapse's user's, the backup container mounts it", async () => {
    const { mocks, outputs, error } = await runProgram({
      serverName: "firmground.localhost",
      target: "docker",
      backup: JSON.stringify({ repository: "/srv/firmground-backups" }),
    });
    expect(error).toBeUndefined();
    const containers = Object.fromEntries(
      mocks.of("docker:index/container:Container").map((r) => [r.inputs.name, unwrapSecrets(r.inputs) as any]),
    );
    expect(containers["firmground-data-dirs"].entrypoints[2]).toContain(
      `mkdir -p ${BACKUP.localRepository} && chown 991:991 ${BACKUP.localRepository} && chmod 0700 ${BACKUP.localRepository}`,
    );
    expect(containers.backup.volumes).toContainEqual({
      hostPath: "/srv/firmground-backups",
      containerPath: BACKUP.localRepository,
    });
    expect(containers.backup.uploads.map((u: { file: string }) => u.file)).not.toContain(BACKUP.credentialsFile);
    expect(await new Promise((r) => pulumi.output(outputs!.backupRepository).apply(r))).toBe("/srv/firmground-backups");
  });
});

describe("the guards, run from their serialized text as the engine runs them", () => {
  // A Docker API that knows no container: what a stack that only now turns backups on meets.
  let socket = "";
  let server: ReturnType<typeof createServer>;
  const calls: string[] = [];
  beforeAll(async () => {
    socket = join(mkdtempSync(join(tmpdir(), "firmground-docker-")), "docker.sock");
    server = createServer((req, res) => {
      calls.push(`${req.method} ${req.url}`);
      res.writeHead(404, { "content-type": "application/json" }).end('{"message":"No such container: backup"}');
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });
  afterAll(() => server.close());

  const inputs = (images: Record<string, string>) => ({
    connection: { host: `unix://${socket}` },
    container: "backup",
    images,
    backups: true,
    postgresDataPath: "/srv/firmground/postgres",
    timeoutSeconds: 60,
  });

  test("a PostgreSQL major-version change is refused at check, with the steps; a minor one passes", async () => {
    const provider = await serializedProvider(upgradeGuardProvider);
    const old = inputs({ synapse: "s:1", postgres: "postgres:17.6-alpine" });
    const minor = await provider.call("check", old, inputs({ synapse: "s:1", postgres: "postgres:17.7-alpine" }));
    expect(minor.failures).toEqual([]);
    const major = await provider.call("check", old, inputs({ synapse: "s:1", postgres: "postgres:18.1-alpine" }));
    expect(major.failures).toHaveLength(1);
    expect(major.failures[0].reason).toMatch(/^PostgreSQL 17 → 18 .* refuses it and changes nothing/);
    expect(major.failures[0].reason).toContain("mv /srv/firmground/postgres /srv/firmground/postgres-17");
    expect(major.failures[0].reason).toContain("npm run restore -- --snapshot latest");
    // A first registration has no old inputs to compare.
    expect((await provider.call("check", undefined, old)).failures).toEqual([]);
    expect(postgresMajor("registry.example.net:5000/library/postgres:16-bookworm")).toBe(16);
    expect(postgresMajor("postgres@sha256:" + "a".repeat(64))).toBeUndefined();
  });

  test("before an upgrade: a changed image is a change, an unchanged one is not; no container yet means no backup", async () => {
    const provider = await serializedProvider(upgradeGuardProvider);
    const old = inputs({ synapse: "s:1", postgres: "p:1" });
    expect(await provider.call("diff", "backup", old, old)).toEqual({ changes: false });
    expect(await provider.call("diff", "backup", old, inputs({ synapse: "s:2", postgres: "p:1" }))).toEqual({
      changes: true,
    });
    const updated = await provider.call("update", "backup", old, inputs({ synapse: "s:2", postgres: "p:1" }));
    expect(updated.outs.lastBackup).toBe("none: no backup container yet");
    expect(calls).toEqual(["GET /containers/backup/json"]);
  });

  test("first start: a missing backup container is a clear error with a code", async () => {
    const provider = await serializedProvider(firstStartRestoreProvider);
    const answer = await provider.callRaw("create", {
      connection: { host: `unix://${socket}` },
      container: "backup",
      timeoutSeconds: 60,
    });
    expect(answer.error).toMatchObject({
      name: "BackupJobError",
      code: BACKUP_EXIT.unreachable,
      message: "the backup container backup is missing on the host",
    });
  });
});
