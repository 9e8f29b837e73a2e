/**
 * What each upstream image promises and the program relies on, as read from its public Dockerfile and
 * entrypoint. Every stand-in for an image (the Docker API stand-in's one-shot containers, the
 * real-daemon harness's STAND_INS, the stand-in images `npm run test:deploy` builds) keeps these, so a
 * container spec that only works because a stand-in is lenient fails there too.
 *
 * Sources (read 2026-12-01; where the exact tag was not in the public snapshot, the nearest is named):
 * - synapse: element-hq/synapse docker/Dockerfile and docker/start.py at v1.157.1 (2b5a0623; the
 *   docker/ tree is identical on develop as of 2026-07-24; v1.160.0 itself was not in the snapshot).
 * - postgres: docker-library/postgres 17/alpine3.22/{Dockerfile,docker-entrypoint.sh} at 5ec89312
 *   (the last commit building 17.6).
 * - coturn: coturn/coturn docker/coturn/alpine/Dockerfile and rootfs/usr/local/bin/docker-entrypoint.sh
 *   at docker/4.7.0-r4 (6a0b3a64).
 * - haproxy: docker-library/haproxy 3.2/alpine/{Dockerfile,docker-entrypoint.sh} at 1721188a
 *   ("Update 3.2 to 3.2.9").
 * - nginx: nginx/docker-nginx stable/alpine{,-slim}/Dockerfile at tag 1.28.0 (7f1d49f6), nginx.conf
 *   from nginx/pkg-oss 1.28.0-1.
 * - element-web: element-hq/element-web Dockerfile (nginx-unprivileged base; seven stored versions from
 *   2025-04 to 2026-02, all alike at run time) and docker/nginx-templates/default.conf.template.
 * - certbot: certbot/certbot tools/docker/Dockerfile at v4.2.0 (832d11a6).
 * - ketesa: etkecc/ketesa docker/Dockerfile at v1.4.0 (ea1196d2) on static-web-server
 *   docker/alpine/{Dockerfile,entrypoint.sh} at v2.43.0.
 * - restic: restic/restic docker/Dockerfile.release at 02381b8e (the release image's recipe; alpine
 *   with restic at /usr/bin/restic).
 */

export interface ImageContract {
  /** The image's ENTRYPOINT and CMD, as `docker inspect` shows them. */
  entrypoint: string[];
  cmd: string[];
  /** The user the main process ends up as (after the entrypoint drops privileges, if it does). */
  runsAs: { uid: number; gid: number; name: string };
  /** Whether the entrypoint starts as root and drops to `runsAs` itself. */
  dropsPrivileges: boolean;
  /** The ports its default configuration, or the program's, listens on inside the container. */
  listens: number[];
  /** STOPSIGNAL (SIGTERM when the image sets none). */
  stopSignal: NodeJS.Signals;
  /** Tools a healthcheck or job may call, and ones it must not expect. */
  has: string[];
  lacks: string[];
  /** Facts the program relies on, each with the file it was read from. */
  notes: string[];
}

/** Contracts by image repository (the reference without its tag). */
export const IMAGE_CONTRACTS: Record<string, ImageContract> = {
  "matrixdotorg/synapse": {
    entrypoint: ["/start.py"],
    cmd: [],
    runsAs: { uid: 991, gid: 991, name: "synapse" },
    dropsPrivileges: true,
    listens: [8008],
    stopSignal: "SIGTERM",
    has: ["python3", "curl", "sh"],
    lacks: ["wget"],
    notes: [
      "docker/start.py: argv[1] is the mode (default run); run, generate and migrate_config are known, anything else exits 2 with \"Unknown execution mode '<mode>'\"",
      "docker/start.py: in run mode SYNAPSE_CONFIG_PATH is used unless an argument starts with --config-path or -c; LD_PRELOAD is set to the platform's libjemalloc.so.2; it execs gosu 991:991 when started as root",
      "docker/start.py: run mode does not chown /data",
    ],
  },
  postgres: {
    entrypoint: ["docker-entrypoint.sh"],
    cmd: ["postgres"],
    runsAs: { uid: 70, gid: 70, name: "postgres" },
    dropsPrivileges: true,
    listens: [5432],
    stopSignal: "SIGINT",
    has: [
      "psql",
      "pg_isready",
      "pg_dump",
      "pg_restore",
      "bash",
      "wget (busybox)",
      "timeout, find, sed, tr, cut (busybox)",
      "/etc/ssl/certs/ca-certificates.crt (alpine's ca-certificates-bundle)",
    ],
    lacks: ["curl", "restic", "jq"],
    notes: [
      "docker-entrypoint.sh: a first argument starting with '-' gets postgres prepended; for postgres, as root, it chowns PGDATA, re-execs itself as postgres (gosu) and, when PGDATA/PG_VERSION is missing, runs initdb from POSTGRES_USER, POSTGRES_PASSWORD(_FILE), POSTGRES_INITDB_ARGS and creates POSTGRES_DB",
      "docker-entrypoint.sh: X and X_FILE both set is an error (exit 1); the POSTGRES_* variables are ignored once PGDATA is initialised",
      "Dockerfile: PGDATA=/var/lib/postgresql/data; /var/run/postgresql is postgres:postgres 3777",
      "Dockerfile: no USER (root); the client tools (pg_dump, pg_restore, psql) are the server's major version",
    ],
  },
  "restic/restic": {
    entrypoint: ["/usr/bin/restic"],
    cmd: [],
    runsAs: { uid: 0, gid: 0, name: "root" },
    dropsPrivileges: false,
    listens: [],
    stopSignal: "SIGTERM",
    has: ["sh", "cp", "chmod", "mv", "jq", "ca-certificates"],
    lacks: ["pg_dump", "psql"],
    notes: [
      'docker/Dockerfile.release: FROM alpine; the statically linked release binary copied to /usr/bin/restic; ENTRYPOINT ["/usr/bin/restic"], no CMD, no USER',
    ],
  },
  "coturn/coturn": {
    entrypoint: ["docker-entrypoint.sh"],
    cmd: ["--log-file=stdout", "--external-ip=$(detect-external-ip)"],
    runsAs: { uid: 65534, gid: 65533, name: "nobody" },
    dropsPrivileges: false,
    listens: [3478, 5349],
    stopSignal: "SIGTERM",
    has: ["turnutils_stunclient", "turnutils_uclient", "bash", "wget (busybox)"],
    lacks: ["curl", "python3"],
    notes: [
      "docker-entrypoint.sh: a first argument starting with '-' gets turnserver prepended; every argument is passed through eval (so $ and quotes in arguments are expanded)",
      "Dockerfile: USER nobody:nogroup; turnserver has cap_net_bind_service; no turnserver.conf is shipped",
    ],
  },
  haproxy: {
    entrypoint: ["docker-entrypoint.sh"],
    cmd: ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
    runsAs: { uid: 99, gid: 99, name: "haproxy" },
    dropsPrivileges: false,
    listens: [],
    stopSignal: "SIGUSR1",
    has: ["wget (busybox)", "socat", "sh"],
    lacks: ["curl"],
    notes: [
      "docker-entrypoint.sh: a first argument starting with '-' gets haproxy prepended; haproxy becomes haproxy -W -db",
      "Dockerfile: USER haproxy (99) from the start; WORKDIR and owner of /var/lib/haproxy haproxy:haproxy; no haproxy.cfg shipped",
      "ports below 1024 bind as uid 99 only where net.ipv4.ip_unprivileged_port_start is 0 (Docker sets it on bridge networks since 20.10; firmground sets it explicitly)",
    ],
  },
  nginx: {
    entrypoint: ["/docker-entrypoint.sh"],
    cmd: ["nginx", "-g", "daemon off;"],
    runsAs: { uid: 0, gid: 0, name: "root (workers nginx, 101)" },
    dropsPrivileges: false,
    listens: [80],
    stopSignal: "SIGQUIT",
    has: ["curl", "wget (busybox)", "sh"],
    lacks: ["python3"],
    notes: [
      "docker-entrypoint.sh: only for nginx or nginx-debug it runs /docker-entrypoint.d/*.sh, then execs its arguments",
      "nginx.conf (pkg-oss): user nginx; include /etc/nginx/conf.d/*.conf; the master runs as root",
    ],
  },
  "vectorim/element-web": {
    entrypoint: ["/docker-entrypoint.sh"],
    cmd: ["nginx", "-g", "daemon off;"],
    runsAs: { uid: 101, gid: 101, name: "nginx" },
    dropsPrivileges: false,
    listens: [80],
    stopSignal: "SIGQUIT",
    has: ["wget (busybox)", "sh", "jq"],
    lacks: ["curl", "python3"],
    notes: [
      "Dockerfile: USER nginx (101), the nginx master too; ELEMENT_WEB_PORT=80 (EXPOSE 8080 is inherited and misleading)",
      "docker-entrypoint.d/18-load-element-modules.sh: /app/config*.json is copied to /tmp/element-web-config at start (so /tmp must be writable; a new config needs a restart)",
      "port 80 as uid 101 binds only where net.ipv4.ip_unprivileged_port_start is 0 (firmground sets it explicitly)",
    ],
  },
  "certbot/certbot": {
    entrypoint: ["certbot"],
    cmd: [],
    runsAs: { uid: 0, gid: 0, name: "root" },
    dropsPrivileges: false,
    listens: [],
    stopSignal: "SIGTERM",
    has: ["python3", "openssl", "wget (busybox)", "sh"],
    lacks: ["curl"],
    notes: ["tools/docker/Dockerfile: ENTRYPOINT certbot, no CMD, runs as root; WORKDIR /opt/certbot"],
  },
  "ghcr.io/etkecc/ketesa": {
    entrypoint: ["/usr/local/bin/entrypoint.sh"],
    cmd: ["static-web-server"],
    runsAs: { uid: 1000, gid: 1000, name: "sws" },
    dropsPrivileges: false,
    listens: [8080],
    stopSignal: "SIGQUIT",
    has: ["wget (busybox)", "sh"],
    lacks: ["curl", "python3"],
    notes: [
      "static-web-server Dockerfile: serves /home/sws/public; /var/public is a symlink to it; USER sws (1000)",
      "ketesa Dockerfile: SERVER_PORT=8080, SERVER_HEALTH=true (/health answers 200)",
    ],
  },
};

/** The contract of an image reference (`name:tag` or `name@sha256:…`). */
export function contractOf(image: string): ImageContract {
  const repository = image.replace(/@sha256:[0-9a-f]+$/, "").replace(/:[\w][\w.-]*$/, "");
  const contract = IMAGE_CONTRACTS[repository];
  if (!contract) throw new Error(`no image contract for ${image}; add it to tests/support/imageContracts.ts`);
  return contract;
}

/**
 * The argv of a container as Docker builds it from its create request and the image (moby
 * daemon/create.go `merge`): an Entrypoint in the request replaces the image's, and then the image's
 * CMD is not used; without one, the image's ENTRYPOINT stays and an empty Cmd takes the image's CMD.
 */
export function dockerArgv(
  image: ImageContract,
  entrypoint: string[] | null | undefined,
  cmd: string[] | null | undefined,
) {
  if (entrypoint && entrypoint.length > 0) return [...entrypoint, ...(cmd ?? [])];
  const args = cmd && cmd.length > 0 ? cmd : image.cmd;
  return [...(entrypoint === undefined || entrypoint === null ? image.entrypoint : []), ...args];
}

/**
 * The Synapse process /start.py runs in run mode: `python -m synapse.app.homeserver` (or the -m given)
 * with the remaining arguments, plus `--config-path $SYNAPSE_CONFIG_PATH` (default
 * /data/homeserver.yaml) unless an argument starts with --config-path or -c.
 */
export function synapseRunArgv(args: string[], env: Record<string, string>): string[] {
  const withModule = args.includes("-m") ? args : ["-m", env.SYNAPSE_WORKER ?? "synapse.app.homeserver", ...args];
  const hasConfig = args.some((a) => a.startsWith("--config-path") || a.startsWith("-c"));
  const configPath = env.SYNAPSE_CONFIG_PATH ?? `${env.SYNAPSE_CONFIG_DIR ?? "/data"}/homeserver.yaml`;
  return ["python3", ...withModule, ...(hasConfig ? [] : ["--config-path", configPath])];
}

/**
 * What the Synapse image's /start.py does with its arguments before anything runs: the mode is the
 * first one (default run); an unknown mode exits 2. Returns that refusal, or the mode.
 */
export function synapseStartPy(args: string[]): { mode: string } | { exitCode: number; stderr: string } {
  const mode = args[0] ?? "run";
  if (["run", "generate", "migrate_config"].includes(mode)) return { mode };
  return { exitCode: 2, stderr: `Unknown execution mode '${mode}'\n` };
}
