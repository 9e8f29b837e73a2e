/**
 * haproxy.cfg: the only door in. TLS on 443 and 8448, plain HTTP on 80 for ACME and redirects.
 *
 * HAProxy starts with a self-signed fallback certificate and loads whatever the renewer has written
 * to the certificate directory; the renewer makes the master process reload after each issuance.
 */
import { HAPROXY, PORTS } from "./paths";

/** A service HAProxy forwards to: the backend's name, the container's name and port, its health check. */
export interface HaproxyBackend {
  name: string;
  host: string;
  port: number;
  /** `option httpchk` (e.g. "GET /health"); none: a TCP check. */
  httpCheck?: string;
}

/** Requests a backend gets: one public host, or path prefixes on any host, checked in `order`. */
export interface HaproxyRoute {
  backend: string;
  /** The ACL's name. */
  acl: string;
  order: number;
  match: { host: string } | { paths: string[] };
  /** Reachable from adminCidrs only. */
  adminOnly: boolean;
}

export interface HaproxyInput {
  /** Every public host name; requests for another get 421. */
  knownHosts: string[];
  /** The services' routes, in the services' order (their ACLs are declared in it). */
  routes: HaproxyRoute[];
  backends: HaproxyBackend[];
  /** The backend for port 8448 (federation and key APIs) and for ACME challenges on port 80. */
  federationBackend: string;
  acmeBackend: string;
  /** Sources allowed to reach /_synapse/admin and admin-only routes; empty means neither is routed. */
  adminCidrs: string[];
  /** Largest request body accepted, in bytes (Synapse's max_upload_size). */
  maxBodyBytes: number;
  /** Requests one source (an IPv4 address, an IPv6 /64) may make in 10 seconds before it gets 429. */
  requestsPer10s: number;
  /** Connections HAProxy holds at once, from its memory limit (config-templates/sizing.ts). */
  maxConnections: number;
  /** Connections one source (an IPv4 address, an IPv6 /64) may hold at once. */
  connectionsPerSource: number;
  /** Listen on IPv6 too (the Docker network has IPv6 and no userland proxy hides the sources). */
  ipv6: boolean;
}

export const HAPROXY_DEFAULT_REQUESTS_PER_10S = 400;

/** Seconds a client may take to complete its TLS handshake, hello included. */
export const TLS_HANDSHAKE_TIMEOUT_S = 5;
/** Seconds a client may take to send a request's headers and the start of its body. */
export const REQUEST_TIMEOUT_S = 10;

/** TLS 1.2 suites allowed: ECDHE with AEAD only (Mozilla's "intermediate" minus DHE); TLS 1.3 keeps its own. */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
];

/** The key one source is counted by: its IPv4 address, or its IPv6 /64 (one allocation). */
const SOURCE_KEY = "src,ipmask(32,64)";

export function renderHaproxyCfg(input: HaproxyInput): string {
  const knownHosts = [...new Set(input.knownHosts)].join(" ");
  const aclLine = (route: HaproxyRoute) =>
    "host" in route.match
      ? `    acl ${route.acl} var(txn.host) -m str ${route.match.host}`
      : `    acl ${route.acl} path_beg ${route.match.paths.join(" ")}`;
  const adminRoutes = input.routes.filter((r) => r.adminOnly);
  // One deny line per admin-only ACL: HAProxy conditions have no parentheses, and "a || b !c"
  // would read as "a || (b && !c)".
  const adminOnly = ["admin_path", ...adminRoutes.map((r) => r.acl)];
  const adminRule = [
    ...adminRoutes.map(aclLine),
    ...(input.adminCidrs.length > 0
      ? [
          `    acl admin_source src ${input.adminCidrs.join(" ")}`,
          ...adminOnly.map((acl) => `    http-request deny deny_status 403 if ${acl} !admin_source`),
        ]
      : [
          "    # adminCidrs is empty: the admin API and UI are not routed at all.",
          ...adminOnly.map((acl) => `    http-request deny deny_status 403 if ${acl}`),
        ]),
  ];
  const byOrder = [...input.routes].sort((a, b) => a.order - b.order);
  const serverOpts = "check inter 10s resolvers dns init-addr last,libc,none";
  // IPv4 and IPv6 on separate sockets: on one v4v6 socket an IPv4 client's address would read
  // ::ffff:a.b.c.d, which is what X-Forwarded-For would then tell Synapse.
  const bind = (port: number, tls = "") => [
    `    bind :${port}${tls}`,
    ...(input.ipv6 ? [`    bind :::${port} v6only${tls}`] : []),
  ];
  const tls = ` ssl crt ${HAPROXY.fallbackCert} crt ${HAPROXY.certDir}/ alpn h2,http/1.1`;
  // Every frontend counts a source's connections in one table, and refuses more than its share.
  const perSource = [
    `    tcp-request connection track-sc0 ${SOURCE_KEY} table per_source`,
    `    tcp-request connection reject if { sc0_conn_cur gt ${input.connectionsPerSource} }`,
  ];

  const lines = [
    "# Rendered by firmground; edit the stack config, not this file.",
    "global",
    "    log stdout format raw local0 info",
    `    maxconn ${input.maxConnections}`,
    "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
    `    ssl-default-bind-ciphers ${TLS12_CIPHERS.join(":")}`,
    "    ssl-default-server-options ssl-min-ver TLSv1.2",
    "",
    "defaults",
    "    mode http",
    "    log global",
    "    option httplog",
    // Keep connections to the backends open and reuse them between requests (safe: a connection's first
    // request is never sent over a reused one): no TCP setup to Synapse per request.
    "    option http-keep-alive",
    "    http-reuse safe",
    // The start of a body counts as part of the request: a trickled body is cut off like trickled headers.
    "    option http-buffer-request",
    "    timeout connect 5s",
    `    timeout client-hs ${TLS_HANDSHAKE_TIMEOUT_S}s`,
    `    timeout http-request ${REQUEST_TIMEOUT_S}s`,
    "    timeout client 60s",
    "    timeout http-keep-alive 60s",
    "    timeout server 180s",
    "",
    "resolvers dns",
    "    parse-resolv-conf",
    "    hold valid 10s",
    "",
    "# Per source (an IPv4 address, an IPv6 /64): connections held, and requests in 10 s.",
    "backend per_source",
    "    stick-table type ipv6 size 100k expire 60s store conn_cur,http_req_rate(10s)",
    "",
    "frontend health",
    `    bind 127.0.0.1:${PORTS.haproxyHealth}`,
    "    monitor-uri /healthz",
    "",
    "frontend http",
    ...bind(80),
    `    maxconn ${Math.max(1, Math.floor(input.maxConnections / 8))}`,
    ...perSource,
    "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
    `    http-request deny deny_status 421 unless { var(txn.host) -m str ${knownHosts} }`,
    "    acl acme_challenge path_beg /.well-known/acme-challenge/",
    "    http-request redirect scheme https code 301 unless acme_challenge",
    `    use_backend ${input.acmeBackend} if acme_challenge`,
    "",
    "frontend https",
    ...bind(443, tls),
    ...bind(8448, tls),
    ...perSource,
    `    http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${input.requestsPer10s} }`,
    "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
    `    http-request deny deny_status 421 unless { var(txn.host) -m str ${knownHosts} }`,
    `    http-request deny deny_status 413 if { req.hdr_val(content-length) gt ${input.maxBodyBytes} }`,
    "    # Synapse reads the first X-Forwarded-For value: it is the source HAProxy saw, whatever the client sent.",
    "    http-request set-header X-Forwarded-For %[src]",
    "    http-request set-header X-Forwarded-Proto https",
    "    # On every response, HAProxy's own refusals included.",
    '    http-after-response set-header Strict-Transport-Security "max-age=31536000"',
    "    acl federation_port dst_port 8448",
    "    acl federation_api path_beg /_matrix/federation/ /_matrix/key/",
    "    http-request deny deny_status 404 if federation_port !federation_api",
    "    acl admin_path path_beg /_synapse/admin",
    ...adminRule,
    ...input.routes.filter((r) => !r.adminOnly).map(aclLine),
    `    use_backend ${input.federationBackend} if federation_port`,
    ...byOrder.map((r) => `    use_backend ${r.backend} if ${r.acl}`),
    "    default_backend not_found",
    "",
    ...input.backends.flatMap((b) => [
      `backend ${b.name}`,
      ...(b.httpCheck ? [`    option httpchk ${b.httpCheck}`] : []),
      `    server ${b.name} ${b.host}:${b.port} ${serverOpts}`,
      "",
    ]),
    "backend not_found",
    "    http-request return status 404",
    "",
  ];
  return lines.join("\n");
}
