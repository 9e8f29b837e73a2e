/**
 * The host's first boot, for real: the rendered bootstrap script (config-templates/cloudInit.ts) run
 * as root in a fresh Debian root against a loop device exposed at the by-id path Scaleway gives the
 * data volume. Only the Docker install is stubbed (it records whether the volume was mounted when it
 * ran). A blank device must be formatted and mounted, with the data directories, before Docker is
 * installed; a second first boot (a new host over the retained volume) must keep the volume's files.
 */
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DATA_VOLUME_DIRS } from "../../components/services/registry";
import { DATA_MOUNT, renderBootstrapScript } from "../../config-templates/cloudInit";
import { inRoot, type Sandbox } from "./sandbox";

const VOLUME_UUID = "6f0e2d3c-1111-4222-8333-944455566677";
const BY_ID = `/dev/disk/by-id/scsi-0SCW_sbs_volume-${VOLUME_UUID}`;
const SCRIPT = "/usr/local/sbin/firmground-bootstrap";
const STUB_LOG = "/var/log/firmground-stubs.log";

/** apt-get and systemctl stand-ins: each notes its arguments and whether the data volume was mounted. */
const STUB = `#!/bin/sh
if mountpoint -q ${DATA_MOUNT}; then state=mounted; else state=NOT-mounted; fi
echo "$(basename "$0") $* [data ${"$"}state]" >> ${STUB_LOG}
`;

export type CheckFn = (name: string, ok: boolean, detail: string) => void;

export function checkBootstrap(sandbox: Sandbox, check: CheckFn) {
  const image = join(sandbox.runDir, "data-volume.img");
  sandbox.run("truncate", ["-s", "96M", image]);
  const loop = sandbox.run("losetup", ["--find", "--show", image]).stdout.trim();
  try {
    const first = firstBoot(sandbox, "bootstrap-1", loop);
    const label = sandbox.run("blkid", ["-s", "LABEL", "-o", "value", loop], { allowFailure: true }).stdout.trim();
    const uuid = sandbox.run("blkid", ["-s", "UUID", "-o", "value", loop], { allowFailure: true }).stdout.trim();
    const stubs = readStubs(first.root);
    check(
      "first boot on a blank volume: formatted (ext4, firmground-data) and mounted before Docker is installed",
      first.status === 0 &&
        label === "firmground-data" &&
        stubs.length > 0 &&
        stubs.every((line) => line.endsWith("[data mounted]")) &&
        stubs.some((line) => line.startsWith("apt-get install")),
      `exit ${first.status}; label ${label || "none"}; ${stubs.join("; ") || "Docker install never ran"}${first.status ? `; ${first.output}` : ""}`,
    );
    const wrongDirs = DATA_VOLUME_DIRS.flatMap((dir) => {
      const path = inRoot(first.root, `${DATA_MOUNT}/${dir.path}`);
      if (!existsSync(path)) return [`${dir.path} missing`];
      const stat = statSync(path);
      const mode = (stat.mode & 0o7777).toString(8).padStart(4, "0");
      return stat.uid === Number(dir.owner) && mode === dir.mode
        ? []
        : [`${dir.path} ${stat.uid}/${mode}, expected ${dir.owner}/${dir.mode}`];
    });
    const fstab = readFileSync(inRoot(first.root, "/etc/fstab"), "utf8");
    check(
      "first boot: every data directory with its owner and mode, and the volume in fstab by UUID",
      wrongDirs.length === 0 && fstab.includes(`UUID=${uuid} ${DATA_MOUNT} ext4`),
      wrongDirs.join("; ") || `${DATA_VOLUME_DIRS.length} directories; fstab: UUID=${uuid} ${DATA_MOUNT}`,
    );
    writeFileSync(inRoot(first.root, `${DATA_MOUNT}/postgres/PG_VERSION`), "17\n");
    sandbox.run("umount", [inRoot(first.root, DATA_MOUNT)], { allowFailure: true });

    // A new host over the retained volume: a fresh root (no fstab line), the same device.
    const second = firstBoot(sandbox, "bootstrap-2", loop);
    const uuidAfter = sandbox.run("blkid", ["-s", "UUID", "-o", "value", loop], { allowFailure: true }).stdout.trim();
    const kept = existsSync(inRoot(second.root, `${DATA_MOUNT}/postgres/PG_VERSION`));
    check(
      "first boot over a used volume keeps its files (not reformatted)",
      second.status === 0 && kept && uuidAfter === uuid,
      `exit ${second.status}; filesystem ${uuidAfter === uuid ? "unchanged" : `replaced (${uuid} → ${uuidAfter})`}; ` +
        `postgres/PG_VERSION ${kept ? "kept" : "gone"}${second.status ? `; ${second.output}` : ""}`,
    );
    sandbox.run("umount", [inRoot(second.root, DATA_MOUNT)], { allowFailure: true });
  } finally {
    sandbox.run("losetup", ["-d", loop], { allowFailure: true });
  }
}

/** One first boot in a fresh root: the device at its by-id path, the stubs, the rendered script. */
function firstBoot(sandbox: Sandbox, name: string, loop: string) {
  const root = sandbox.makeRoot(name);
  const node = inRoot(root, loop);
  writeFileSync(node, "");
  sandbox.mount(["--bind", loop], node);
  sandbox.run("mkdir", ["-p", inRoot(root, "/dev/disk/by-id")]);
  symlinkSync(loop, inRoot(root, BY_ID));
  for (const stub of ["apt-get", "systemctl"]) {
    sandbox.writeFile(root, `/usr/local/sbin/${stub}`, STUB, 0, 0, 0o755);
  }
  sandbox.writeFile(
    root,
    SCRIPT,
    renderBootstrapScript({ dataVolumeUuid: VOLUME_UUID, dataDirs: DATA_VOLUME_DIRS }),
    0,
    0,
    0o755,
  );
  chmodSync(inRoot(root, SCRIPT), 0o755);
  const result = sandbox.run("chroot", [root, SCRIPT], {
    allowFailure: true,
    timeoutMs: 120_000,
    env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  // What the script mounted inside the root is this run's to unmount.
  return { root, status: result.status, output: `${result.stdout}${result.stderr}`.trim().slice(-600) };
}

function readStubs(root: string): string[] {
  const log = inRoot(root, STUB_LOG);
  return existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : [];
}
