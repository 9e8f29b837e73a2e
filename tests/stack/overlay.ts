/**
 * Everything in which the real-daemon run differs from production, in one place. The rendered files
 * themselves are never edited: each difference below is either stack config (like any user's), the
 * network the harness builds in place of the Internet and Docker, or a stand-in for what an image
 * provides that Debian's package does not. `OVERLAYS` lists them; the summary prints that list.
 */
import { existsSync, readdirSync } from "node:fs";
import { contractOf, dockerArgv, synapseRunArgv, synapseStartPy } from "../support/imageContracts";
import type { ContainerSpec } from "./capture";

/** The test stack's `firmground:*` config: names under the reserved `.test` TLD, and Pebble as ACME. */
export const TEST_DOMAIN = "firmground.test";
export const ACME_HOST = "acme.test";
export const ADMIN_SOURCE = "198.51.100.7";

/** The S3 server the backups go to (rclone serve s3, TLS from the test CA), and its one key. */
export const S3_HOST = "s3.test";
export const S3_PORT = 9000;
export const S3_BUCKET = "firmground-backups";
export const S3_KEY = { accessKeyId: "firmground-test", secretAccessKey: "test-secret-access-key-0123456789" };

/** The test CA (of the ACME server's endpoint and remote.test), where certbot and Synapse find it. */
export const ACME_CA_FILE = "/etc/firmground-test/acme-ca.pem";

/** The remote test homeserver's address (NET.outside.remote). */
const NET_REMOTE = "198.51.100.50";

/** What Synapse needs to federate with the remote test homeserver. */
export const FEDERATION_FIXTURES = {
  // The remote test homeserver's certificate comes from the test CA (a file the harness adds).
  federation_custom_ca_list: [ACME_CA_FILE],
  // Synapse refuses documentation ranges by default; the remote test homeserver lives in one.
  ip_range_whitelist: [NET_REMOTE],
};

export const TEST_CONFIG: Record<string, string> = {
  serverName: TEST_DOMAIN,
  acmeEmail: `admin@${TEST_DOMAIN}`,
  acmeServer: `https://${ACME_HOST}:14000/dir`,
  adminCidrs: JSON.stringify([`${ADMIN_SOURCE}/32`]),
  // Every test client shares one address, which Synapse allows 5 logins before 1 per 333 s; real
  // users each have their own. The per-account and failed-attempt limits stay at Synapse's defaults.
  synapseExtraConfig: JSON.stringify({
    rc_login: { address: { per_second: 10, burst_count: 100 }, account: { per_second: 10, burst_count: 100 } },
    ...FEDERATION_FIXTURES,
  }),
  users: JSON.stringify([
    { name: "carol", displayName: "Carol" },
    { name: "dave", admin: true },
  ]),
  // An S3 repository given in config (the stack's own Scaleway bucket needs the Scaleway API).
  backup: JSON.stringify({
    repository: `s3:https://${S3_HOST}:${S3_PORT}/${S3_BUCKET}/firmground`,
    ...S3_KEY,
  }),
};

/**
 * The test config's keys set with `--secret`. synapseExtraConfig is, as an operator's with a secret
 * Synapse setting would be: its settings then live in the secret file, not homeserver.yaml, so the
 * relaxed login limits above take effect only if Synapse loads that file.
 */
export const TEST_SECRET_KEYS = ["synapseExtraConfig", "backup"];

/**
 * The network: a "host" namespace standing for the Scaleway instance, with the Docker bridge (one
 * namespace per container on it) and a "public" bridge on which the clients, the ACME server and a
 * TURN peer live. Addresses are documentation and private ranges, inside namespaces only.
 */
export const NET = {
  /** Namespace names are prefixed so a run never touches anything it did not make. */
  prefix: "fgs-",
  dockerBridge: { name: "docker0", gateway: "172.20.0.1", prefixLength: 24, subnet: "172.20.0.0/24" },
  publicBridge: { name: "public0", prefixLength: 24 },
  /** The instance's public IPv4: what DNS points at, what coturn advertises. */
  hostPublicIp: "198.51.100.1",
  /**
   * The public side's DNS resolver (dnsmasq): a second address on the public bridge, so that nothing
   * but the stack listens on the host's public address (the doctor scans it).
   */
  resolver: "198.51.100.2",
  /** Container addresses on the Docker bridge. */
  containers: {
    postgres: "172.20.0.10",
    synapse: "172.20.0.11",
    nginx: "172.20.0.12",
    element: "172.20.0.13",
    haproxy: "172.20.0.14",
    certbot: "172.20.0.15",
    "synapse-admin": "172.20.0.16",
    /** Where the Docker API shim runs one-shot containers (user jobs). */
    jobs: "172.20.0.17",
    backup: "172.20.0.18",
  } as Record<string, string>,
  /** Machines on the public side. */
  outside: {
    client: "198.51.100.20",
    admin: ADMIN_SOURCE,
    acme: "198.51.100.30",
    peer: "198.51.100.40",
    /** A second homeserver (remote.test) hosting the federated rooms of the big-room scenario. */
    remote: NET_REMOTE,
    /** The backups' S3 server (s3.test). */
    s3: "198.51.100.60",
  },
} as const;

/** Source addresses of a benchmark's users on the public side (HAProxy limits requests per source). */
export const loadSources = (count: number) => Array.from({ length: count }, (_, i) => `198.51.100.${100 + i}`);

/** The big-room scenario's remote homeserver. */
export const REMOTE_SERVER = "remote.test";
/**
 * The seed's big room on the remote homeserver, at the size of a real one: `members` users joined and
 * `fillerStateEvents` other state events, so its current state is above 10,000 events, past the remote-room
 * limit the default instance type (BASIC2-A2C-4G) gets (complexity 18: 9,000 state events).
 */
export const BIG_ROOM = { members: 5000, fillerStateEvents: 5000 };

/** The remote homeserver's homeserver.yaml: test-only, SQLite, TLS on 8448, no rate limits to speak of. */
export function remoteHomeserverConfig(paths: { cert: string; key: string; data: string; secret: string }) {
  const generous = { per_second: 1000, burst_count: 1000 };
  return {
    server_name: REMOTE_SERVER,
    report_stats: false,
    listeners: [
      {
        port: 8448,
        type: "http",
        tls: true,
        bind_addresses: ["0.0.0.0"],
        resources: [{ names: ["client", "federation"] }],
      },
    ],
    tls_certificate_path: paths.cert,
    tls_private_key_path: paths.key,
    database: { name: "sqlite3", args: { database: `${paths.data}/homeserver.db` } },
    media_store_path: `${paths.data}/media`,
    signing_key_path: `${paths.data}/signing.key`,
    registration_shared_secret_path: paths.secret,
    macaroon_secret_key: "remote-test-macaroon",
    form_secret: "remote-test-form",
    trusted_key_servers: [],
    federation_verify_certificates: false,
    // firmground's public address is in a documentation range, which Synapse blocks by default.
    ip_range_whitelist: ["198.51.100.0/24"],
    rc_message: generous,
    rc_joins: { local: generous, remote: generous },
    // Joins into one room (our server's make_join counts too): the big room takes 5,000 in minutes.
    rc_joins_per_room: generous,
    rc_login: { address: generous, account: generous, failed_attempts: generous },
  };
}

export type Outside = keyof typeof NET.outside;

/**
 * Pebble's settings: HTTP-01 on port 80 (as Let's Encrypt), no artificial delays, 90-day certificates
 * (Let's Encrypt's default). One profile only: Pebble picks a random profile for an order that names
 * none, and Debian's build gives every profile the validity of one of them (its ca.New keeps a pointer
 * to the loop variable), so profiles cannot make a short certificate here.
 */
export const PEBBLE = {
  directory: TEST_CONFIG.acmeServer,
  validitySeconds: 90 * 86_400,
  config: (certFile: string, keyFile: string) => ({
    pebble: {
      listenAddress: "0.0.0.0:14000",
      managementListenAddress: "0.0.0.0:15000",
      certificate: certFile,
      privateKey: keyFile,
      httpPort: 80,
      tlsPort: 443,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
      retryAfter: { authz: 1, order: 1 },
      profiles: { default: { description: "firmground test", validityPeriod: PEBBLE.validitySeconds } },
    },
  }),
  env: { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
};

/**
 * Added to certbot's renewal file after the first issuance: every later pass finds the 90-day
 * certificate due (as 60 days make it due in production), so waking the loop renews.
 */
export const RENEW_BEFORE_EXPIRY = "renew_before_expiry = 100 days";

/** The one relay peer coturn may reach in the test; every other denied range stays denied. */
export const TURN_PEER_PORT = 3480;
export const TURNSERVER_SHIM = `#!/bin/sh
# firmground test overlay: the TURN peer lives at a documentation address, which the production
# denied-peer-ip list refuses; allow that one address only.
exec /usr/bin/turnserver "$@" --allowed-peer-ip=${NET.outside.peer}
`;

export interface StandInFile {
  path: string;
  content: string;
  mode: number;
}

/** What an image gives its container that the Debian package in the rootfs does not. */
export interface StandIn {
  /** The user the image's process runs as, `uid:gid`. */
  user: string;
  /** Accounts the image has (`name:uid:gid:home`), added to the container's passwd and group. */
  accounts: string[];
  /** The image's environment (PATH and friends), under the container's own. */
  env: (root: string) => Record<string, string>;
  /** Files the image ships or the harness adds (listed in OVERLAYS). */
  files: StandInFile[];
  /** Files the image's entrypoint renders from the container's environment before it starts. */
  rendered?: (env: Record<string, string>) => StandInFile[];
  /** Debian files the image does not have. */
  remove: string[];
  /** Directories the image has, writable by its user. */
  dirs: { path: string; owner: string }[];
  /** Commands the image's entrypoint runs (as `user`) when `initUnless` does not exist yet. */
  init: (spec: ContainerSpec) => { argv: string[]; input?: string }[];
  initUnless?: string;
  /** The image's STOPSIGNAL, which `docker stop` sends. */
  stopSignal: NodeJS.Signals;
  /** The process the image's entrypoint finally execs, from the container's entrypoint and command. */
  argv: (spec: ContainerSpec) => string[];
}

const BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const exactly = (spec: ContainerSpec, field: "command" | "entrypoint", expected: string[] | undefined) => {
  if (JSON.stringify(spec[field]) !== JSON.stringify(expected)) {
    throw new Error(
      `${spec.name}: the stand-in for ${spec.image} does not know ${field} ${JSON.stringify(spec[field])}`,
    );
  }
};

/** The entrypoint when it is `/bin/sh <script>`: the script is one of the uploads, run as is. */
const shellEntrypoint = (spec: ContainerSpec) => {
  if (spec.entrypoint?.[0] !== "/bin/sh" || !spec.uploads.some((u) => u.path === spec.entrypoint?.[1])) {
    throw new Error(
      `${spec.name}: expected an uploaded /bin/sh script as entrypoint, got ${JSON.stringify(spec.entrypoint)}`,
    );
  }
  return spec.entrypoint;
};

/** The official image's nginx.conf: conf.d only (Debian's also enables a default site), logs to stdio. */
const IMAGE_NGINX_CONF = `user www-data;
worker_processes auto;
error_log /dev/stderr notice;
pid /run/nginx.pid;
events {
    worker_connections 1024;
}
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    keepalive_timeout 65;
    include /etc/nginx/conf.d/*.conf;
}
`;

/**
 * nginx.conf of an image whose nginx runs wholly as an unprivileged user (the master too): pid file and
 * temporary files under /tmp, as nginx-unprivileged (element-web's base) lays them out.
 */
const UNPRIVILEGED_NGINX_CONF = `worker_processes auto;
error_log stderr notice;
pid /tmp/nginx.pid;
events {
    worker_connections 1024;
}
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path /tmp/client_temp;
    proxy_temp_path /tmp/proxy_temp;
    fastcgi_temp_path /tmp/fastcgi_temp;
    uwsgi_temp_path /tmp/uwsgi_temp;
    scgi_temp_path /tmp/scgi_temp;
    # The harness's log file is root's: an unprivileged nginx cannot reopen it by path.
    access_log off;
    include /etc/nginx/conf.d/*.conf;
}
`;

/** A stand-in from what differs from an image that runs its one process as root with the base PATH. */
const standIn = (fields: Pick<StandIn, "argv"> & Partial<StandIn>): StandIn => ({
  user: "0:0",
  accounts: [],
  env: () => ({ PATH: BASE_PATH }),
  files: [],
  remove: [],
  dirs: [],
  init: () => [],
  stopSignal: "SIGTERM",
  ...fields,
});

const nginxStandIn = (extra: StandInFile[]): StandIn =>
  standIn({
    files: [{ path: "/etc/nginx/nginx.conf", content: IMAGE_NGINX_CONF, mode: 0o644 }, ...extra],
    stopSignal: "SIGQUIT",
    argv: (spec) => {
      exactly(spec, "command", undefined);
      return ["nginx", "-g", "daemon off;"];
    },
  });

/** One stand-in per service, keyed by container name. */
export const STAND_INS: Record<string, StandIn> = {
  postgres: standIn({
    user: "70:70",
    accounts: ["postgres-image:70:70:/var/lib/postgresql"],
    env: (root) => ({ PATH: `${postgresBinDir(root)}:${BASE_PATH}`, PGDATA: "/var/lib/postgresql/data" }),
    dirs: [{ path: "/var/run/postgresql", owner: "70:70" }],
    // docker-entrypoint.sh on an empty data directory: initdb from the POSTGRES_* variables, then
    // create POSTGRES_DB.
    initUnless: "/var/lib/postgresql/data/PG_VERSION",
    stopSignal: "SIGINT",
    init: (spec) => [
      {
        argv: [
          "initdb",
          `--username=${spec.env.POSTGRES_USER}`,
          `--pwfile=${spec.env.POSTGRES_PASSWORD_FILE}`,
          ...(spec.env.POSTGRES_INITDB_ARGS ?? "").split(" ").filter(Boolean),
        ],
      },
      {
        argv: ["postgres", "--single", "-c", "config_file=/dev/null", "-D", "/var/lib/postgresql/data", "postgres"],
        input: `CREATE DATABASE "${spec.env.POSTGRES_DB}";\n`,
      },
    ],
    argv: (spec) => {
      if (spec.command?.[0] !== "postgres")
        throw new Error(`postgres: unexpected command ${JSON.stringify(spec.command)}`);
      return spec.command;
    },
  }),
  synapse: standIn({
    user: "991:991",
    accounts: ["synapse:991:991:/data"],
    env: (root) => ({ PATH: BASE_PATH, LD_PRELOAD: jemalloc(root) }),
    dirs: [{ path: "/data", owner: "991:991" }],
    // start.py in "run" mode (as 991, jemalloc preloaded): the homeserver module with the config paths
    // given, or SYNAPSE_CONFIG_PATH; any other mode is refused as start.py refuses it.
    argv: (spec) => {
      exactly(spec, "entrypoint", undefined);
      const decided = synapseStartPy(spec.command ?? []);
      if ("exitCode" in decided || decided.mode !== "run") {
        throw new Error(`synapse: /start.py would not run Synapse with ${JSON.stringify(spec.command)}`);
      }
      return synapseRunArgv((spec.command ?? []).slice(1), spec.env);
    },
  }),
  coturn: standIn({
    user: "65534:65534",
    files: [{ path: "/usr/local/bin/turnserver", content: TURNSERVER_SHIM, mode: 0o755 }],
    argv: shellEntrypoint,
  }),
  haproxy: standIn({
    user: "99:99",
    accounts: ["haproxy-image:99:99:/var/lib/haproxy"],
    stopSignal: "SIGUSR1",
    // docker-entrypoint.sh: `haproxy …` becomes `haproxy -W -db …`.
    argv: (spec) => {
      if (spec.command?.[0] !== "haproxy")
        throw new Error(`haproxy: unexpected command ${JSON.stringify(spec.command)}`);
      return ["haproxy", "-W", "-db", ...spec.command.slice(1)];
    },
  }),
  nginx: nginxStandIn([]),
  // The Element image is nginx run wholly as uid 101, serving the app from /app on ELEMENT_WEB_PORT
  // (80 unless set; its entrypoint renders the site from that variable). The app itself is not
  // packaged in Debian, so the stand-in serves /app, where the uploaded config.json lands.
  element: standIn({
    user: "101:101",
    accounts: ["nginx-image:101:101:/var/cache/nginx"],
    files: [{ path: "/etc/nginx/nginx.conf", content: UNPRIVILEGED_NGINX_CONF, mode: 0o644 }],
    rendered: (env) => [
      {
        path: "/etc/nginx/conf.d/default.conf",
        content: `server {\n    listen ${env.ELEMENT_WEB_PORT ?? "80"};\n    root /app;\n}\n`,
        mode: 0o644,
      },
    ],
    stopSignal: "SIGQUIT",
    argv: (spec) => {
      exactly(spec, "command", undefined);
      return ["nginx", "-g", "daemon off;"];
    },
  }),
  // Ketesa is static-web-server, as uid 1000, serving /var/public on 8080 with /health; NGINX run as
  // that user stands in for it.
  "synapse-admin": standIn({
    user: "1000:1000",
    accounts: ["sws:1000:1000:/home/sws"],
    files: [
      { path: "/etc/nginx/nginx.conf", content: UNPRIVILEGED_NGINX_CONF, mode: 0o644 },
      {
        path: "/etc/nginx/conf.d/default.conf",
        content:
          "server {\n    listen 8080;\n    root /var/public;\n    location = /health {\n        return 200;\n    }\n}\n",
        mode: 0o644,
      },
    ],
    stopSignal: "SIGQUIT",
    argv: (spec) => {
      exactly(spec, "command", undefined);
      return ["nginx", "-g", "daemon off;"];
    },
  }),
  certbot: standIn({
    env: () => ({ PATH: BASE_PATH, REQUESTS_CA_BUNDLE: ACME_CA_FILE }),
    argv: shellEntrypoint,
  }),
  // The PostgreSQL image with backup.sh as its entrypoint, as the user the container sets (the image's
  // own entrypoint is replaced): its client tools on PATH, no restic but the tools volume's.
  backup: standIn({
    user: "0:0",
    env: (root) => ({ PATH: `${postgresBinDir(root)}:${BASE_PATH}` }),
    remove: ["/usr/bin/restic"],
    stopSignal: "SIGINT",
    argv: (spec) => [...shellEntrypoint(spec), ...(spec.command ?? [])],
  }),
  // The restic image (restic at /usr/bin/restic, root), running the copy the program gives it.
  "firmground-backup-tools": standIn({
    remove: ["/usr/bin/pg_dump", "/usr/bin/pg_restore", "/usr/bin/psql"],
    argv: (spec) => dockerArgv(contractOf(spec.image), spec.entrypoint, spec.command),
  }),
};

function postgresBinDir(root: string): string {
  const [version] = readdirSync(`${root}/usr/lib/postgresql`);
  return `/usr/lib/postgresql/${version}/bin`;
}

function jemalloc(root: string): string {
  for (const dir of readdirSync(`${root}/usr/lib`)) {
    if (existsSync(`${root}/usr/lib/${dir}/libjemalloc.so.2`)) return `/usr/lib/${dir}/libjemalloc.so.2`;
  }
  throw new Error("libjemalloc.so.2 not found in the rootfs");
}

/** Every difference from production, as printed in the summary. */
export const OVERLAYS = [
  `stack config: serverName ${TEST_DOMAIN}, adminCidrs ${ADMIN_SOURCE}/32, acmeServer ${TEST_CONFIG.acmeServer} (Pebble)`,
  `public IPv4 ${NET.hostPublicIp} (the mocked Scaleway IP); DNS answered by dnsmasq (at ${NET.resolver}) from the harness's hosts file`,
  "IPv4 only: DNS has no AAAA records and npm run doctor's plan drops the mocked host IPv6",
  `Docker: a namespace per container on a bridge, DNAT for published ports, MASQUERADE out, cgroup memory limits`,
  `Docker's embedded DNS: dnsmasq at ${NET.dockerBridge.gateway}`,
  `coturn: turnserver shim adds --allowed-peer-ip=${NET.outside.peer} (the test TURN peer)`,
  `certbot: REQUESTS_CA_BUNDLE trusts the test ACME server's HTTPS certificate`,
  `renewal: Pebble certificates last ${PEBBLE.validitySeconds / 86_400} days and certbot's renewal file gets "${RENEW_BEFORE_EXPIRY}" after the first issuance; the harness wakes the loop's 12 h sleep (and coturn's 60 s one)`,
  `images: Debian sid packages stand in for the images (entrypoint, user and layout reproduced in STAND_INS); the stack config's images name the versions of Debian's Synapse and PostgreSQL`,
  `element: NGINX run as uid 101 serves /app on ELEMENT_WEB_PORT in place of the Element image (its config.json is the uploaded file)`,
  `synapse-admin: NGINX run as uid 1000 serves /var/public on 8080 in place of Ketesa's static-web-server (its config.json is the uploaded file)`,
  `Docker's defaults are not reproduced where the program should not rely on them: no ip_unprivileged_port_start=0 unless the container sets it, no image ownership copied into new volumes`,
  `Docker API: a shim on a unix socket runs one-shot containers (the user jobs) from the rootfs in a namespace on the bridge, and answers inspect (health from the container's healthcheck run at that moment, no restarts) and stats (the container's memory cgroup) for the running ones`,
  `Synapse: federation_custom_ca_list is the test CA (the remote test homeserver's certificate comes from it; the harness adds the file)`,
  `Synapse: ip_range_whitelist holds the remote test homeserver's address (a documentation range, blocked by default)`,
  `remote.test: a second Synapse (SQLite, its own key and namespace) hosting the big (${BIG_ROOM.members} members and ${BIG_ROOM.fillerStateEvents} other state events, built once and cached, remoteRooms.ts) and small federated rooms`,
  `Synapse: rc_login.address and .account relaxed (all test clients share one address and log in as the admin many times in a minute); failed-attempt limits are the defaults`,
  `users: the MatrixUser provider is serialized as the engine serializes it and each call runs from that text in a plain Node.js process, with the inputs the program registered`,
  `backups: to rclone ${"serve s3"} at ${S3_HOST} (built from Go modules; TLS from the test CA, which the backup container's CA bundle also holds), an S3 repository given in config in place of the stack's own Scaleway bucket; sid's restic stands in for the restic image's`,
  `first boot: the bootstrap script runs in a fresh Debian root against a loop device at the data volume's by-id path; apt-get and systemctl are stubs that record whether the volume was mounted`,
];
