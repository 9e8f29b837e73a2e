/**
 * The Debian sid root filesystem every daemon runs from: matrix-synapse is packaged in sid only.
 * Built once with debootstrap from a fixed package list and cached under a key derived from that
 * list, so a second run starts in seconds and a changed list builds a new one.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SUITE = "sid";
/** Any Debian mirror carrying sid; the default is the one CI machines reach. */
export const MIRROR = process.env.FIRMGROUND_STACK_MIRROR ?? "http://deb.debian.org/debian";

/** The daemons under test (and the ACME server), whose versions the summary reports. */
export const VERSIONED_PACKAGES = [
  "matrix-synapse",
  "postgresql",
  "coturn",
  "haproxy",
  "nginx-light",
  "certbot",
  "pebble",
];

/** Every package the harness runs, by name; the rootfs key changes when this list does. */
export const PACKAGES = [
  ...VERSIONED_PACKAGES,
  "dnsmasq-base",
  "iptables",
  "libjemalloc2",
  "python3",
  "curl",
  "wget",
  "openssl",
  "ca-certificates",
  // The host's first boot (bootstrap.ts): mkfs.ext4 on the data volume.
  "e2fsprogs",
  // The stand-in images of npm run test:deploy: busybox's wget, as Alpine images have.
  "busybox",
  // Backups: the backup tool (the S3 server it backs up to is rclone, built from Go modules: s3.ts).
  "restic",
];

export const rootfsKey = () =>
  createHash("sha256")
    .update(JSON.stringify({ suite: SUITE, mirror: MIRROR, variant: "minbase", packages: PACKAGES }))
    .digest("hex")
    .slice(0, 16);

/** A failure of the Debian mirror or of debootstrap, not of the project under test. */
export class MirrorError extends Error {}

function step(what: string, command: string, args: string[], log: (line: string) => void) {
  log(`rootfs: ${what}`);
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");
    throw new MirrorError(
      `building the Debian ${SUITE} rootfs failed at "${what}" (exit ${result.status ?? result.signal}).\n` +
        `This is the package mirror (${MIRROR}) or debootstrap, not firmground: retry later, or set ` +
        `FIRMGROUND_STACK_CACHE to a directory holding a rootfs built earlier.\n${output}`,
    );
  }
}

/** Returns the cached rootfs for the current package list, building it first when absent. */
export function ensureRootfs(cacheDir: string, log: (line: string) => void): string {
  const root = join(cacheDir, `rootfs-${rootfsKey()}`);
  if (existsSync(join(root, ".complete"))) return root;
  if (spawnSync("sh", ["-c", "command -v debootstrap"]).status !== 0) {
    throw new MirrorError("debootstrap is not installed: apt-get install debootstrap (.ci/run does)");
  }
  mkdirSync(cacheDir, { recursive: true });
  // Older builds (another package list) are dead weight: a rootfs is about 1 GB.
  for (const entry of readdirSync(cacheDir)) {
    if (entry.startsWith("rootfs-")) rmSync(join(cacheDir, entry), { recursive: true, force: true });
  }
  const building = `${root}.building`;
  rmSync(building, { recursive: true, force: true });
  step(
    `debootstrap ${SUITE}`,
    "debootstrap",
    ["--variant=minbase", "--include=ca-certificates", SUITE, building, MIRROR],
    log,
  );
  // No package may start its daemon inside the build; the harness starts each one itself.
  writeFileSync(join(building, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  const inChroot = (aptArgs: string) =>
    `mount -t proc proc ${building}/proc && DEBIAN_FRONTEND=noninteractive chroot ${building} ${aptArgs}`;
  // The sid Release file's Valid-Until is short; a slightly stale mirror is not an error here.
  step(
    "apt-get update",
    "unshare",
    ["-m", "--propagation", "private", "sh", "-c", inChroot("apt-get -qq -o Acquire::Check-Valid-Until=false update")],
    log,
  );
  step(
    `apt-get install ${PACKAGES.length} packages`,
    "unshare",
    [
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      inChroot(`apt-get install -y -qq --no-install-recommends ${PACKAGES.join(" ")}`),
    ],
    log,
  );
  spawnSync("chroot", [building, "apt-get", "clean"]);
  writeFileSync(join(building, ".complete"), `${new Date().toISOString()}\n`);
  renameSync(building, root);
  return root;
}

/** `package version` for each daemon, read from the rootfs's dpkg database. */
export function packageVersions(root: string): Record<string, string> {
  const result = spawnSync(
    "chroot",
    [root, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n", ...VERSIONED_PACKAGES],
    {
      encoding: "utf8",
    },
  );
  return Object.fromEntries(
    result.stdout
      .trim()
      .split("\n")
      .map((line) => line.split(" ") as [string, string]),
  );
}

/**
 * The images whose versions the rootfs's daemons actually are (Synapse and PostgreSQL), for the test
 * stack's `images` config: what the stack declares is then what runs, so `npm run doctor`'s version
 * checks compare like with like.
 */
export function runningImages(root: string): { synapse: string; postgres: string } {
  const query = (pattern: string) =>
    spawnSync("chroot", [root, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n", pattern], { encoding: "utf8" })
      .stdout.trim()
      .split("\n")
      .map((line) => line.split(" "));
  const upstream = (version: string) => version.replace(/^\d+:/, "").replace(/[-+~].*$/, "");
  const [, synapse] = query("matrix-synapse")[0];
  const server = query("postgresql-[0-9]*").find(([name]) => /^postgresql-\d+$/.test(name));
  if (!synapse || !server) throw new Error("the rootfs has no matrix-synapse or postgresql-N package");
  return {
    synapse: `matrixdotorg/synapse:v${upstream(synapse)}`,
    postgres: `postgres:${upstream(server[1])}-alpine`,
  };
}
