/**
 * Stand-in images, one per default image reference of the program (same `name:tag`, so the program's
 * container specs run unchanged), built on the test's own Docker engine from the Debian sid rootfs the
 * real-daemon harness uses. No registry is reachable here, so the upstream images themselves cannot run.
 *
 * Each keeps what its upstream image promises and the program relies on (tests/support/imageContracts.ts
 * names each point and the upstream file and version it was read from): ENTRYPOINT and CMD, the user it
 * runs as, STOPSIGNAL, working directory, the entrypoint's argument rules (our own scripts under
 * images/<name>/), the tools it has and lacks (Alpine images: busybox wget, no curl, no python3), the
 * paths. After building, each image's configuration is read back with `docker inspect` and compared with
 * its contract.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_IMAGES } from "../../components/services/registry";
import { contractOf, type ImageContract } from "../support/imageContracts";
import type { TestDockerDaemon } from "./dockerd";

const FILES = join(__dirname, "images");

/** Alpine images have busybox's wget and neither curl nor python3. */
const ALPINE_TOOLS = "ln -sf /bin/busybox /usr/bin/wget && rm -f /usr/bin/curl /usr/bin/python3 /usr/bin/python3.*";

/** An account and its group, with fixed ids (`-o`: the Debian packages may already use the numbers). */
const account = (name: string, uid: number, gid: number, home: string) =>
  `(getent group ${name} >/dev/null || groupadd -o -g ${gid} ${name}) && useradd -o -M -u ${uid} -g ${gid} -d ${home} -s /bin/sh ${name}`;

export interface StandInImage {
  /** Files from images/<dir>/ and where they go in the image. */
  dir: string;
  copy: Record<string, string>;
  /** Shell run as root on the sid base, before the contract's settings. */
  setup: string[];
  env?: Record<string, string>;
  workdir?: string;
  /** USER, when the image sets one (those that start as root and drop privileges themselves do not). */
  user?: string;
}

/** What each image adds to the base, by image repository (DEFAULT_IMAGES holds the tags). */
export const STAND_INS: Record<keyof typeof DEFAULT_IMAGES, StandInImage> = {
  synapse: {
    dir: "synapse",
    copy: { "start.py": "/start.py" },
    setup: [account("synapse", 991, 991, "/data"), "mkdir -p /data", "rm -f /usr/bin/wget"],
  },
  postgres: {
    dir: "postgres",
    copy: { "docker-entrypoint.sh": "/usr/local/bin/docker-entrypoint.sh" },
    setup: [
      "usermod -o -u 70 postgres && groupmod -o -g 70 postgres",
      "ln -s /usr/lib/postgresql/*/bin/* /usr/local/bin/",
      // As the image does: a new cluster listens on every address.
      "sed -ri \"s!^#?(listen_addresses)\\s*=\\s*\\S+.*!\\1 = '*'!\" /usr/share/postgresql/*/postgresql.conf.sample",
      "mkdir -p /var/run/postgresql /var/lib/postgresql/data",
      "chown -R 70:70 /var/run/postgresql /var/lib/postgresql && chmod 3777 /var/run/postgresql && chmod 1777 /var/lib/postgresql/data",
      ALPINE_TOOLS,
      // The image has no backup tool: the backup container gets restic from the restic image only.
      "rm -f /usr/bin/restic",
    ],
    env: { PGDATA: "/var/lib/postgresql/data" },
  },
  coturn: {
    dir: "coturn",
    copy: {
      "docker-entrypoint.sh": "/usr/local/bin/docker-entrypoint.sh",
      "detect-external-ip": "/usr/local/bin/detect-external-ip",
    },
    setup: ["getent group 65533 >/dev/null || groupadd -o -g 65533 nogroup-image", ALPINE_TOOLS],
    user: "65534:65533",
  },
  haproxy: {
    dir: "haproxy",
    copy: { "docker-entrypoint.sh": "/usr/local/bin/docker-entrypoint.sh" },
    setup: [
      account("haproxy-image", 99, 99, "/var/lib/haproxy"),
      "mkdir -p /var/lib/haproxy /usr/local/etc/haproxy && chown 99:99 /var/lib/haproxy",
      ALPINE_TOOLS,
    ],
    workdir: "/var/lib/haproxy",
    user: "99:99",
  },
  nginx: {
    dir: "nginx",
    copy: { "docker-entrypoint.sh": "/docker-entrypoint.sh", "nginx.conf": "/etc/nginx/nginx.conf" },
    setup: [
      account("nginx", 101, 101, "/var/cache/nginx"),
      "rm -rf /etc/nginx/sites-enabled /etc/nginx/conf.d && mkdir -p /etc/nginx/conf.d /docker-entrypoint.d /var/cache/nginx /var/log/nginx",
      "ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log",
      // The full nginx:alpine image installs curl.
      "ln -sf /bin/busybox /usr/bin/wget && rm -f /usr/bin/python3 /usr/bin/python3.*",
    ],
  },
  element: {
    dir: "element",
    copy: {
      "../nginx/docker-entrypoint.sh": "/docker-entrypoint.sh",
      "nginx.conf": "/etc/nginx/nginx.conf",
      "default.conf.template": "/etc/nginx/templates/default.conf.template",
      "18-load-element-config.sh": "/docker-entrypoint.d/18-load-element-config.sh",
      "20-render-site.sh": "/docker-entrypoint.d/20-render-site.sh",
    },
    setup: [
      account("nginx", 101, 101, "/var/cache/nginx"),
      "rm -rf /etc/nginx/sites-enabled /etc/nginx/conf.d && mkdir -p /etc/nginx/conf.d /var/cache/nginx /var/log/nginx /app",
      "ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log",
      "echo '<!doctype html><title>Element (stand-in)</title>' > /app/index.html && echo '{}' > /app/config.json",
      "chown -R 101:0 /etc/nginx /var/cache/nginx && chmod -R g+w /etc/nginx /var/cache/nginx",
      ALPINE_TOOLS,
    ],
    env: { ELEMENT_WEB_PORT: "80" },
    user: "101",
  },
  certbot: {
    dir: "certbot",
    copy: {},
    setup: ["mkdir -p /opt/certbot", "ln -sf /bin/busybox /usr/bin/wget && rm -f /usr/bin/curl"],
    workdir: "/opt/certbot",
  },
  // restic's release image: Alpine with the binary at /usr/bin/restic (sid's restic stands in).
  backup: {
    dir: "restic",
    copy: {},
    setup: ["rm -f /usr/bin/pg_dump /usr/bin/pg_restore /usr/bin/psql && rm -rf /usr/lib/postgresql", ALPINE_TOOLS],
  },
  synapseAdmin: {
    dir: "ketesa",
    copy: {
      "entrypoint.sh": "/usr/local/bin/entrypoint.sh",
      "static-web-server": "/usr/local/bin/static-web-server",
    },
    setup: [
      account("sws", 1000, 1000, "/home/sws"),
      "mkdir -p /home/sws/public && ln -s /home/sws/public /var/public",
      "echo '<!doctype html><title>Ketesa (stand-in)</title>' > /home/sws/public/index.html",
      "chown -R 1000:1000 /home/sws",
      ALPINE_TOOLS,
    ],
    env: { SERVER_PORT: "8080", SERVER_HEALTH: "true", SERVER_FALLBACK_PAGE: "/var/public/index.html" },
    workdir: "/home/sws",
    user: "1000:1000",
  },
};

/** The Dockerfile of one stand-in: its additions, then the contract's settings. */
export function dockerfile(base: string, image: StandInImage, contract: ImageContract): string {
  const json = (value: string[]) => JSON.stringify(value);
  return [
    `FROM ${base}`,
    ...Object.values(image.copy).map((to, i) => `COPY f${i} ${to}`),
    `RUN set -e; ${image.setup.join("; ")}`,
    ...Object.entries(image.env ?? {}).map(([k, v]) => `ENV ${k}=${JSON.stringify(v)}`),
    ...(image.workdir ? [`WORKDIR ${image.workdir}`] : []),
    ...(image.user ? [`USER ${image.user}`] : []),
    `STOPSIGNAL ${contract.stopSignal}`,
    `ENTRYPOINT ${json(contract.entrypoint)}`,
    // Without CMD an image made FROM another keeps the base's; the contract's may be empty.
    `CMD ${json(contract.cmd)}`,
    "",
  ].join("\n");
}

/** The base image: the sid rootfs, imported as it is. */
function importBase(daemon: TestDockerDaemon, rootfs: string, tag: string) {
  const tar = `tar -C ${rootfs} --exclude=./proc --exclude=./sys --exclude=./dev -c . | docker -H ${daemon.host} import - ${tag}`;
  const result = daemon.docker(["image", "inspect", tag], { allowFailure: true });
  if (result.status === 0) return;
  const imported = spawnSync("sh", ["-c", tar], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (imported.status !== 0) throw new Error(`importing the rootfs failed: ${imported.stderr}`);
}

/** Builds every stand-in image, checks each against its contract, and returns what it found wrong. */
export function buildImages(daemon: TestDockerDaemon, rootfs: string, workDir: string, log: (l: string) => void) {
  const base = "firmground-stand-in/sid:base";
  importBase(daemon, rootfs, base);
  const problems: string[] = [];
  for (const [service, reference] of Object.entries(DEFAULT_IMAGES) as [keyof typeof DEFAULT_IMAGES, string][]) {
    const image = STAND_INS[service];
    const contract = contractOf(reference);
    const context = join(workDir, `image-${service}`);
    mkdirSync(context, { recursive: true });
    Object.keys(image.copy).forEach((from, i) => cpSync(join(FILES, image.dir, from), join(context, `f${i}`)));
    writeFileSync(join(context, "Dockerfile"), dockerfile(base, image, contract));
    const built = daemon.docker(["build", "-q", "-t", reference, context], { allowFailure: true });
    if (built.status !== 0) throw new Error(`building the stand-in for ${reference} failed:\n${built.stderr}`);
    problems.push(...inspectAgainstContract(daemon, reference, contract));
    log(`stand-in image ${reference} built`);
  }
  return problems;
}

/** What `docker inspect` says of an image, against its contract. */
function inspectAgainstContract(daemon: TestDockerDaemon, reference: string, contract: ImageContract): string[] {
  const config = JSON.parse(daemon.docker(["image", "inspect", "--format", "{{json .Config}}", reference]).stdout) as {
    Entrypoint: string[] | null;
    Cmd: string[] | null;
    User: string;
    StopSignal?: string;
  };
  const problems: string[] = [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(config.Entrypoint ?? [], contract.entrypoint))
    problems.push(`${reference}: entrypoint ${JSON.stringify(config.Entrypoint)}`);
  if (!same(config.Cmd ?? [], contract.cmd)) problems.push(`${reference}: cmd ${JSON.stringify(config.Cmd)}`);
  if ((config.StopSignal ?? "SIGTERM") !== contract.stopSignal)
    problems.push(`${reference}: stop signal ${config.StopSignal}`);
  const expectedUser = contract.dropsPrivileges || contract.runsAs.uid === 0 ? "" : String(contract.runsAs.uid);
  if ((config.User ?? "").split(":")[0] !== expectedUser) problems.push(`${reference}: user ${config.User}`);
  return problems;
}
