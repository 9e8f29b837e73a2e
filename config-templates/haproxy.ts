/**
 * haproxy.cfg: the only door in. TLS on 443 and 8448, plain HTTP on 80 for ACME and redirects.
 *
 * HAProxy starts with a self-signed fallback certificate and loads whatever the renewer has written
 * to the certificate directory; the renewer makes the master process reload after each issuance.
 */
import { HAPROXY, HOSTS, PORTS } from "./paths";

export interface HaproxyInput {
  serverName: string;
  matrixHost: string;
  elementHost: string;
  turnHost: string;
  /** Hostname of the admin UI, or undefined when it does not run. */
  adminHost?: string;
  /** Sources allowed to reach /_synapse/admin and the admin UI; empty means neither is routed. */
  adminCidrs: string[];
  /** Largest request body accepted, in bytes (Synapse's max_upload_size). */
  maxBodyBytes: number;
  /** Requests one source may make in 10 seconds before it gets 429. */
  requestsPer10s: number;
}

export const HAPROXY_DEFAULT_REQUESTS_PER_10S = 400;

export function renderHaproxyCfg(input: HaproxyInput): string {
  const knownHosts = [
    ...new Set([
      input.serverName,
      input.matrixHost,
      input.elementHost,
      input.turnHost,
      ...(input.adminHost ? [input.adminHost] : []),
    ]),
  ].join(" ");
  // One deny line per admin-only ACL: HAProxy conditions have no parentheses, and "a || b !c"
  // would read as "a || (b && !c)".
  const adminOnly = ["admin_path", ...(input.adminHost ? ["admin_host"] : [])];
  const adminRule = [
    ...(input.adminHost ? [`    acl admin_host var(txn.host) -m str ${input.adminHost}`] : []),
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
  const serverOpts = "check inter 10s resolvers dns init-addr last,libc,none";

  const lines = [
    "# Rendered by firmground; edit the stack config, not this file.",
    "global",
    "    log stdout format raw local0 info",
    "    maxconn 4096",
    "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
    "    ssl-default-server-options ssl-min-ver TLSv1.2",
    "",
    "defaults",
    "    mode http",
    "    log global",
    "    option httplog",
    "    option forwardfor",
    "    option http-server-close",
    "    timeout connect 5s",
    "    timeout client 900s",
    "    timeout http-keep-alive 900s",
    "    timeout http-request 10s",
    "    timeout server 180s",
    "",
    "resolvers dns",
    "    parse-resolv-conf",
    "    hold valid 10s",
    "",
    "frontend health",
    `    bind 127.0.0.1:${PORTS.haproxyHealth}`,
    "    monitor-uri /healthz",
    "",
    "frontend http",
    "    bind :80",
    "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
    `    http-request deny deny_status 421 unless { var(txn.host) -m str ${knownHosts} }`,
    "    acl acme_challenge path_beg /.well-known/acme-challenge/",
    "    http-request redirect scheme https code 301 unless acme_challenge",
    "    use_backend nginx if acme_challenge",
    "",
    "frontend https",
    `    bind :443 ssl crt ${HAPROXY.fallbackCert} crt ${HAPROXY.certDir}/ alpn h2,http/1.1`,
    `    bind :8448 ssl crt ${HAPROXY.fallbackCert} crt ${HAPROXY.certDir}/ alpn h2,http/1.1`,
    "    # Per-source request rate: one table entry per client address.",
    "    stick-table type ipv6 size 100k expire 60s store http_req_rate(10s)",
    "    http-request track-sc0 src",
    `    http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${input.requestsPer10s} }`,
    "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
    `    http-request deny deny_status 421 unless { var(txn.host) -m str ${knownHosts} }`,
    `    http-request deny deny_status 413 if { req.hdr_val(content-length) gt ${input.maxBodyBytes} }`,
    "    http-request set-header X-Forwarded-Proto https",
    '    http-response set-header Strict-Transport-Security "max-age=31536000"',
    "    acl admin_path path_beg /_synapse/admin",
    ...adminRule,
    "    acl federation_port dst_port 8448",
    "    acl matrix_path path_beg /_matrix /_synapse/client /_synapse/admin",
    "    acl well_known path_beg /.well-known/matrix/",
    `    acl element_host var(txn.host) -m str ${input.elementHost}`,
    "    use_backend synapse if federation_port",
    "    use_backend nginx if well_known",
    ...(input.adminHost ? ["    use_backend synapse_admin if admin_host"] : []),
    "    use_backend element if element_host",
    "    use_backend synapse if matrix_path",
    "    default_backend not_found",
    "",
    "backend synapse",
    "    option httpchk GET /health",
    `    server synapse ${HOSTS.synapse}:${PORTS.synapse} ${serverOpts}`,
    "",
    "backend nginx",
    "    option httpchk GET /healthz",
    `    server nginx ${HOSTS.nginx}:${PORTS.nginx} ${serverOpts}`,
    "",
    "backend element",
    `    server element ${HOSTS.element}:${PORTS.element} ${serverOpts}`,
    "",
    ...(input.adminHost
      ? [
          "backend synapse_admin",
          `    server synapse_admin ${HOSTS.synapseAdmin}:${PORTS.synapseAdmin} ${serverOpts}`,
          "",
        ]
      : []),
    "backend not_found",
    "    http-request return status 404",
    "",
  ];
  return lines.join("\n");
}
