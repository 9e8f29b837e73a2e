/**
 * The `restore` scenario of `npm run test:stack`: the program's backup container (its rendered script,
 * real restic, real pg_dump) backs up to a real S3 server on its own schedule; `npm run restore` (its
 * main, through the Docker API shim) refuses each bad case with nothing changed, then brings a wiped
 * server back; the first-start restore and the pre-upgrade backup run from their providers' serialized
 * text. A client checks every message, the image, the logins, the members and the signing key.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { BACKUP_EXIT } from "../../config-templates/backup";
import { BACKUP, POSTGRES } from "../../config-templates/paths";
import { main as restoreMain } from "../../components/backup/cli";
import {
  upgradeGuardProvider,
  firstStartRestoreProvider,
  type UpgradeGuardInputs,
  type FirstStartRestoreInputs,
} from "../../components/backup/guards";
import { serializedProvider } from "../support/dynamicProvider";
import type { Harness } from "./harness";
import { log } from "./isolation";
import type { Outside } from "./overlay";
import { delay, inRoot } from "./sandbox";

/** What the scenario needs of the run. */
export interface RestoreHarness extends Harness {
  client(where: Outside, phase: string, ...args: string[]): string;
  /** The Docker API shim's socket (it answers for the harness's containers). */
  shimSocket(): string;
}

interface BackupStatus {
  result: string;
  reason: string;
  snapshot: string;
  seconds: number;
  repositoryBytes: number;
  addedBytes: number;
}

const DATABASE = POSTGRES.database;

export async function restoreScenario(t: RestoreHarness): Promise<Record<string, unknown>> {
  const connection = { host: `unix://${t.shimSocket()}` };
  const admin = JSON.stringify({ connection, container: "backup", synapseContainer: "synapse" });
  const printed: string[] = [];
  const restore = async (...args: string[]) => {
    const lines: string[] = [];
    const code = await restoreMain(args, { FIRMGROUND_BACKUP_ADMIN: admin }, (line) => lines.push(line));
    printed.push(`npm run restore -- ${args.join(" ")} → ${code}: ${lines.join(" | ")}`);
    log(printed.at(-1)!);
    return { code, output: lines.join("\n") };
  };
  const sql = (statement: string, database: string = DATABASE) =>
    t
      .execIn(
        "postgres",
        [
          "psql",
          "-h",
          "/var/run/postgresql",
          "-U",
          POSTGRES.user,
          "-d",
          database,
          "-At",
          "-v",
          "ON_ERROR_STOP=1",
          "-c",
          statement,
        ],
        {
          allowFailure: true,
        },
      )
      .stdout.trim();
  const events = () => sql("SELECT count(*) FROM events");
  const oneTimeKeys = () => Number(sql("SELECT count(*) FROM e2e_one_time_keys_json"));
  const statusFile = t.path(`volume/${"backup"}/status.json`);
  const status = () =>
    existsSync(statusFile) ? (JSON.parse(readFileSync(statusFile, "utf8")) as BackupStatus) : undefined;

  // ---- the server's data, and the container's own first backup --------------------------------------
  t.startS3Server();
  const stateFile = t.path("backup-state.json");
  t.client("admin", "backup-seed", stateFile);
  if (!existsSync(stateFile)) throw new Error("the backup seed failed; see the client checks");
  const oneTimeKeysBefore = oneTimeKeys();
  const messagesBefore = (JSON.parse(readFileSync(stateFile, "utf8")) as { messages: number }).messages;

  t.runOneShot("firmground-backup-tools");
  await t.startContainer("backup");
  // The loop backs up at once: there is no good backup yet. It runs inside the container's cgroup.
  await t.waitFor("the first scheduled backup", () => ["ok", "failed"].includes(status()?.result ?? ""), 300);
  const first = status();
  const memory = t.sandbox.memory("backup");
  t.check(
    "the backup container backs up on its own schedule (dump, media, signing key to S3)",
    first?.result === "ok" && first.reason === "scheduled",
    JSON.stringify(first),
  );
  t.check(
    "the backup container stays within its memory limit",
    (memory.cgroupLimitHits ?? 0) === 0,
    `cgroup peak ${memory.cgroupPeakMb} MiB of ${t.container("backup").memoryMb}`,
  );
  const health = t.execIn("backup", ["/bin/sh", BACKUP.script, "health"], { allowFailure: true });
  t.check(
    "its healthcheck reads the last good backup",
    health.status === 0 && /^last good backup \d+ s ago/.test(health.stdout),
    health.stdout.trim(),
  );

  // ---- bad cases: each a clear error, nothing changed -------------------------------------------------
  const unchanged = async (
    name: string,
    run: () => Promise<{ code: number; output: string }>,
    expected: number,
    text: RegExp,
  ) => {
    const before = events();
    const { code, output } = await run();
    const running = t.sandbox.isRunning("synapse");
    t.check(
      `restore refused: ${name} (exit ${expected}), nothing changed`,
      code === expected && text.test(output) && running && events() === before,
      `exit ${code}; Synapse ${running ? "running" : "stopped"}; events ${before} → ${events()}; ${output.split("\n").at(-1)}`,
    );
  };
  const passwordFile = inRoot(t.rootOf("backup"), BACKUP.passwordFile);
  const password = readFileSync(passwordFile, "utf8");
  writeFileSync(passwordFile, "not-the-repository-password");
  await unchanged(
    "wrong repository password",
    () => restore(),
    BACKUP_EXIT.wrongPassword,
    /does not open with this stack's password/,
  );
  writeFileSync(passwordFile, password);
  await unchanged(
    "a snapshot that does not exist",
    () => restore("--snapshot", "deadbeef"),
    BACKUP_EXIT.noSnapshot,
    /no snapshot deadbeef/,
  );
  const lock = t.path("volume/backup/lock");
  const backingUp = t.execInAsync("backup", ["/bin/sh", BACKUP.script, "once", "manual"]);
  await t.waitFor("a manual backup holding the lock", () => existsSync(lock), 30);
  await unchanged("while a backup runs", () => restore(), BACKUP_EXIT.busy, /a backup is running/);
  const manual = await backingUp;
  t.check("the manual backup meanwhile succeeds", manual.status === 0, manual.stderr.trim().split("\n").at(-1) ?? "");
  await t.sandbox.stop("s3");
  await unchanged("unreachable repository", () => restore(), BACKUP_EXIT.unreachable, /unreachable/);
  t.startS3Server();
  await unchanged("dry run", () => restore("--dry-run"), 0, /dry run: .*Nothing was changed/);

  // ---- disaster: database and media wiped; npm run restore brings them back -------------------------
  const wipe = async () => {
    await t.sandbox.stop("synapse");
    sql(`DROP DATABASE ${DATABASE} WITH (FORCE)`, "postgres");
    sql(
      `CREATE DATABASE ${DATABASE} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 OWNER ${POSTGRES.user}`,
      "postgres",
    );
    for (const dir of ["local_content", "local_thumbnails"])
      rmSync(t.path(`volume/synapse/media/${dir}`), { recursive: true, force: true });
    return sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'");
  };
  const tablesAfterWipe = await wipe();
  const started = Date.now();
  const restored = await restore();
  const restoreSeconds = Math.round((Date.now() - started) / 100) / 10;
  t.check(
    "npm run restore brings a wiped server back and Synapse is healthy",
    restored.code === 0 && t.sandbox.isRunning("synapse"),
    `${tablesAfterWipe} tables after the wipe; ${restored.output.replace(/\n/g, " | ")}`,
  );
  const oneTimeKeysAfter = oneTimeKeys();
  t.check(
    "the one-time-key table is empty after the restore",
    oneTimeKeysAfter === 0,
    `${oneTimeKeysBefore} before, ${oneTimeKeysAfter} after`,
  );
  const report = t.path("backup-verify-restore.json");
  t.client("client", "backup-verify", stateFile, report, "after npm run restore");
  const after = existsSync(report) ? (JSON.parse(readFileSync(report, "utf8")) as Record<string, any>) : {};

  // ---- a new stack's first start: the guard restores into an empty database --------------------------
  await wipe();
  const firstStart = await serializedProvider(firstStartRestoreProvider);
  const firstInputs = {
    ...(t.capture.dynamic["matrix-first-start-restore"] as unknown as FirstStartRestoreInputs),
    connection,
  };
  let firstStartReport = "";
  try {
    firstStartReport = String((await firstStart.call("create", firstInputs)).outs.restored);
  } catch (error) {
    firstStartReport = `failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  await t.startContainer("synapse");
  t.check(
    "the first start of an empty server restores the latest snapshot",
    /"snapshot":"[0-9a-f]{64}"/.test(firstStartReport),
    firstStartReport,
  );
  const firstReport = t.path("backup-verify-first-start.json");
  t.client("client", "backup-verify", stateFile, firstReport, "after the first-start restore");
  const again = await firstStart.call("create", firstInputs);
  t.check(
    "with data there, the first-start restore does nothing",
    again.outs.restored === "",
    JSON.stringify(again.outs.restored),
  );

  // ---- an upgrade: a changed Synapse image waits for a backup ------------------------------------------
  const beforeUpgrade = await serializedProvider(upgradeGuardProvider);
  const olds = {
    ...(t.capture.dynamic["matrix-upgrade-guard"] as unknown as UpgradeGuardInputs),
    connection,
  };
  const news = { ...olds, images: { ...olds.images, synapse: "matrixdotorg/synapse:v1.161.0" } };
  const upgradeStarted = Date.now();
  const upgraded = await beforeUpgrade.callRaw("update", "backup", olds, news);
  const repositoryBytes = status()?.repositoryBytes ?? 0;
  t.check(
    "a changed Synapse image backs up first (the pre-upgrade backup succeeds)",
    !upgraded.error && status()?.reason === "pre-upgrade" && status()?.result === "ok",
    `${upgraded.error ? JSON.stringify(upgraded.error) : "ok"} in ${((Date.now() - upgradeStarted) / 1000).toFixed(1)} s; ${JSON.stringify(status())}`,
  );
  await t.sandbox.stop("s3");
  const failedUpgrade = await beforeUpgrade.callRaw("update", "backup", olds, news);
  t.check(
    "a failed pre-upgrade backup stops the upgrade with the reason",
    failedUpgrade.error?.code === BACKUP_EXIT.unreachable &&
      /nothing was replaced: .*unreachable/.test(String(failedUpgrade.error?.message)),
    String(failedUpgrade.error?.message),
  );
  t.startS3Server();
  await delay(500);

  const ok =
    restored.code === 0 &&
    after.messages === messagesBefore &&
    after.mediaIdentical === true &&
    after.signingKeyIdSame === true &&
    oneTimeKeysAfter === 0;
  return {
    ok,
    messages: { before: messagesBefore, after: after.messages },
    mediaIdentical: after.mediaIdentical,
    signingKeyIdSame: after.signingKeyIdSame,
    logins: after.logins,
    members: after.members,
    oneTimeKeysBefore,
    oneTimeKeysAfter,
    backupSeconds: first?.seconds,
    restoreSeconds,
    repositoryBytes,
    backupContainerPeakMb: memory.cgroupPeakMb,
    backupContainerLimitMb: t.container("backup").memoryMb,
    firstStartRestore: existsSync(firstReport) ? JSON.parse(readFileSync(firstReport, "utf8")) : undefined,
    commands: printed,
  };
}
