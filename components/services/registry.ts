/**
 * Every service the stack runs, and every fact about it that more than one file needs: its default
 * image, memory share, name on the internal network, ports, the user its image runs as, its data
 * directories, what HAProxy routes to it and which public ports it needs. Everything else — the image
 * defaults and their config check, sizing, paths, the host's data directories and security group, the
 * routes in haproxy.cfg, the policy pack, the tests' expectations — is derived from this list.
 *
 * Adding a service: an entry here, its component (components/services/<name>.ts), its renderer if it
 * has files (config-templates/<name>.ts), and a line in MatrixServices. See the README's "How the code
 * is laid out".
 */

/** A directory on the data volume (relative to its mount), owned by the user of the image that writes it. */
export interface DataDir {
  path: string;
  owner: string;
  mode: string;
}

/** A public port the host's firewall opens for a service. */
export interface PublicPort {
  protocol: "TCP" | "UDP";
  port: number;
}

/** What HAProxy sends to a service: requests for one of the public hosts, and/or paths on any host. */
export interface Route {
  /** The ACL's name in haproxy.cfg. */
  acl: string;
  /** A public host, by its config key (elementHost, adminHost, …), or path prefixes on any host. */
  match: { hostKey: "elementHost" | "adminHost" } | { paths: string[] };
  /** Reachable from adminCidrs only (403 elsewhere; not routed at all when adminCidrs is empty). */
  adminOnly?: boolean;
}

export interface ServiceFacts {
  /** Pinned, multi-arch (amd64 + arm64) default image; `images.<key>` overrides it. */
  image: string;
  /** Share of the host's RAM for its memory limit, and a floor below which it does not run well. */
  memory: { share: number; minMb: number };
  /** Container name, also its DNS name on the internal network. */
  host: string;
  /** Ports it listens on inside its container (the first is the one HAProxy forwards to). */
  ports: Record<string, number>;
  /** The numeric user its image's main process runs as ("0": root, or root dropping privileges itself). */
  uid: string;
  /** Directories it keeps on the data volume. */
  dataDirs?: DataDir[];
  /** What HAProxy forwards to it, in the order HAProxy checks them (lower first). */
  routes?: { order: number; route: Route }[];
  /** HAProxy's health check on its backend. */
  httpCheck?: string;
  /** Public ports the host's firewall opens for it (HAProxy also publishes its own through Docker). */
  publicPorts?: PublicPort[];
  /** Host networking instead of the internal bridge (a relay range cannot be published through Docker). */
  hostNetwork?: boolean;
}

export const SERVICES = {
  synapse: {
    image: "matrixdotorg/synapse:v1.160.0",
    memory: { share: 0.4, minMb: 768 },
    host: "synapse",
    ports: { http: 8008 },
    uid: "991",
    dataDirs: [
      { path: "synapse", owner: "991", mode: "0750" },
      { path: "synapse/media", owner: "991", mode: "0750" },
    ],
    routes: [
      {
        order: 40,
        route: { acl: "matrix_path", match: { paths: ["/_matrix", "/_synapse/client", "/_synapse/admin"] } },
      },
    ],
    httpCheck: "GET /health",
  },
  postgres: {
    image: "postgres:17.6-alpine",
    memory: { share: 0.2, minMb: 384 },
    host: "postgres",
    ports: { sql: 5432 },
    uid: "70",
    // Root's: the image's entrypoint hands it to its user at first start.
    dataDirs: [{ path: "postgres", owner: "0", mode: "0700" }],
  },
  coturn: {
    image: "coturn/coturn:4.7.0-alpine",
    memory: { share: 0.04, minMb: 96 },
    host: "coturn",
    ports: { turn: 3478, turns: 5349 },
    uid: "65534",
    dataDirs: [{ path: "certs/coturn", owner: "65534", mode: "0700" }],
    publicPorts: [
      { protocol: "TCP", port: 3478 },
      { protocol: "UDP", port: 3478 },
      { protocol: "TCP", port: 5349 },
      { protocol: "UDP", port: 5349 },
    ],
    hostNetwork: true,
  },
  haproxy: {
    image: "haproxy:3.2.9-alpine",
    memory: { share: 0.04, minMb: 96 },
    host: "haproxy",
    ports: { http: 80, https: 443, federation: 8448, health: 8405 },
    uid: "99",
    dataDirs: [{ path: "certs/haproxy", owner: "99", mode: "0700" }],
    publicPorts: [
      { protocol: "TCP", port: 80 },
      { protocol: "TCP", port: 443 },
      { protocol: "TCP", port: 8448 },
    ],
  },
  nginx: {
    image: "nginx:1.28.0-alpine",
    memory: { share: 0.02, minMb: 48 },
    host: "nginx",
    ports: { http: 8080 },
    uid: "0",
    routes: [{ order: 10, route: { acl: "well_known", match: { paths: ["/.well-known/matrix/"] } } }],
    httpCheck: "GET /healthz",
  },
  element: {
    image: "vectorim/element-web:v1.12.10",
    memory: { share: 0.02, minMb: 48 },
    host: "element",
    ports: { http: 8080 },
    uid: "101",
    routes: [{ order: 30, route: { acl: "element_host", match: { hostKey: "elementHost" } } }],
  },
  certbot: {
    image: "certbot/certbot:v4.2.0",
    memory: { share: 0.04, minMb: 128 },
    host: "certbot",
    ports: {},
    uid: "0",
    dataDirs: [
      { path: "letsencrypt", owner: "0", mode: "0700" },
      { path: "certs", owner: "0", mode: "0755" },
    ],
  },
  // Ketesa, etke.cc's maintained successor of synapse-admin (static-web-server, uid 1000, port 8080).
  synapseAdmin: {
    image: "ghcr.io/etkecc/ketesa:v1.4.0",
    memory: { share: 0.01, minMb: 32 },
    host: "synapse-admin",
    ports: { http: 8080 },
    uid: "1000",
    routes: [{ order: 20, route: { acl: "admin_host", match: { hostKey: "adminHost" }, adminOnly: true } }],
  },
  // The backup tool: restic's official image, from which its static binary is copied into a volume.
  // The backup container itself runs the PostgreSQL image (its pg_dump matches the server's major
  // version) as Synapse's user, who owns the media it backs up (components/backup/backup.ts).
  backup: {
    image: "restic/restic:0.18.1",
    memory: { share: 0.05, minMb: 160 },
    host: "backup",
    ports: {},
    uid: "991",
    dataDirs: [{ path: "backup", owner: "991", mode: "0700" }],
  },
} as const satisfies Record<string, ServiceFacts>;

/** A service, keyed as in the `images` and `sizing.memoryMb` config objects. */
export type Service = keyof typeof SERVICES;

export const SERVICE_NAMES = Object.keys(SERVICES) as Service[];

/** The facts of every service, typed as the interface (the list above keeps its literal types). */
export const facts = (service: Service): ServiceFacts => SERVICES[service];

/** Each service's default image. */
export const DEFAULT_IMAGES = Object.fromEntries(SERVICE_NAMES.map((s) => [s, SERVICES[s].image])) as Record<
  Service,
  string
>;

/**
 * The data volume's directories, parents first: the host's first boot (and the local target's one-shot
 * container) make them with their owners and modes.
 */
export const DATA_VOLUME_DIRS: DataDir[] = SERVICE_NAMES.flatMap((s) => facts(s).dataDirs ?? []).sort((a, b) =>
  a.path.localeCompare(b.path),
);

/** The ports the firewall opens to the world for the services (admin ports are the host's own). */
export const PUBLIC_PORTS: PublicPort[] = SERVICE_NAMES.flatMap((s) => facts(s).publicPorts ?? []);
