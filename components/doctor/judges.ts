/**
 * The doctor's verdicts: pure functions from what a probe saw (recorded as plain data) and the plan to
 * findings. No network here, so every verdict and its fix text is unit-tested on recorded answers.
 */
import { BlockList, isIP } from "node:net";
import { fail, pass, warn, type Finding } from "./findings";
import type { KeyCheck } from "./matrixKeys";
import { TURN_PORTS, type DoctorPlan } from "./plan";
import type { TurnProbe } from "./turn";

const DAY_MS = 86_400_000;
/** Certificate days left below which the doctor warns, and fails. */
export const CERT_WARN_DAYS = 20;
export const CERT_FAIL_DAYS = 7;
/** Share of a container's memory limit in use above which the doctor warns, and fails. */
export const MEMORY_WARN = 0.8;
export const MEMORY_FAIL = 0.9;
/** Share of the data volume in use above which the doctor warns, and fails. */
export const DISK_WARN = 0.8;
export const DISK_FAIL = 0.95;

// ---- DNS -----------------------------------------------------------------------------------------

export interface DnsSeen {
  name: string;
  a: string[] | { error: string };
  aaaa: string[] | { error: string };
}

const listOf = (records: string[] | { error: string }) =>
  Array.isArray(records) ? (records.length ? records.join(", ") : "none") : records.error;

export function judgeDns(plan: DoctorPlan, seen: DnsSeen): Finding {
  const id = `dns.${seen.name}`;
  const title = `DNS ${seen.name}`;
  const saw = `A ${listOf(seen.a)}; AAAA ${listOf(seen.aaaa)}`;
  const { ipv4, ipv6 } = plan.addresses;
  const where =
    seen.name === plan.serverName && plan.hostnames.includes(seen.name)
      ? "pulumi up manages these records in dnsZone: run it, and check the zone is served by Scaleway's name servers"
      : plan.hostnames.includes(seen.name)
        ? "pulumi up manages these records in dnsZone: run it, and check the zone's NS records at your registrar point to Scaleway"
        : "set these records at your DNS provider";
  const a = Array.isArray(seen.a) ? seen.a : [];
  if (a.length === 0 || a.some((ip) => ip !== ipv4))
    return fail(id, title, saw, `make ${seen.name} resolve to ${ipv4} only (A record); ${where}`);
  const aaaa = Array.isArray(seen.aaaa) ? seen.aaaa : [];
  if (aaaa.some((ip) => ip !== ipv6))
    return fail(
      id,
      title,
      saw,
      `remove AAAA records that are not the host's${ipv6 ? ` (${ipv6})` : ""}: IPv6 clients go there first; ${where}`,
    );
  if (ipv6 && aaaa.length === 0)
    return warn(id, title, saw, `add AAAA ${seen.name} → ${ipv6} so IPv6-only clients and servers reach it; ${where}`);
  return pass(id, title, saw);
}

// ---- TLS -----------------------------------------------------------------------------------------

export interface TlsSeen {
  host: string;
  port: number;
  error?: string;
  /** Chain valid against the trusted roots (and, for the name, the certificate covers it). */
  authorized?: boolean;
  authorizationError?: string;
  protocol?: string;
  alpn?: string | false;
  validFrom?: string;
  validTo?: string;
  subjectAltNames?: string[];
}

const TLS_VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

export function judgeTls(seen: TlsSeen, now: number, requireH2: boolean): Finding {
  const id = `tls.${seen.host}:${seen.port}`;
  const title = `TLS ${seen.host}:${seen.port}`;
  if (seen.error)
    return fail(
      id,
      title,
      seen.error,
      `nothing answers TLS on ${seen.host}:${seen.port}: check ${seen.port === TURN_PORTS.tls ? "coturn" : "HAProxy"} is running (the container checks below) and the firewall opens ${seen.port}`,
    );
  const daysLeft = seen.validTo ? (Date.parse(seen.validTo) - now) / DAY_MS : 0;
  const saw =
    `${seen.protocol ?? "?"}, ALPN ${seen.alpn || "none"}, ${Math.floor(daysLeft)} days left, ` +
    `names ${(seen.subjectAltNames ?? []).join(" ") || "none"}`;
  const certbot =
    "certbot renews from the certbot container: docker logs certbot shows why it did not (DNS, port 80 reachable from the Internet, rate limits)";
  if (!seen.authorized)
    return fail(
      id,
      title,
      `${saw}; not trusted: ${seen.authorizationError ?? "unknown"}`,
      /HOSTNAME|altname|Host:/i.test(seen.authorizationError ?? "")
        ? `the certificate does not cover ${seen.host}: ${certbot}`
        : /SELF_SIGNED|self.signed|unable to get local issuer/i.test(seen.authorizationError ?? "")
          ? `HAProxy serves its self-signed fallback: no certificate was issued yet; ${certbot}`
          : `the certificate chain is not valid: ${certbot}`,
    );
  if (TLS_VERSIONS.indexOf(seen.protocol ?? "") < TLS_VERSIONS.indexOf("TLSv1.2"))
    return fail(id, title, saw, "HAProxy must refuse TLS below 1.2: redeploy its rendered haproxy.cfg (pulumi up)");
  if (daysLeft < CERT_FAIL_DAYS) return fail(id, title, saw, `renew now: ${certbot}`);
  if (daysLeft < CERT_WARN_DAYS)
    return warn(id, title, saw, `the certificate expires in under ${CERT_WARN_DAYS} days: ${certbot}`);
  if (requireH2 && seen.alpn !== "h2")
    return warn(id, title, saw, "HAProxy should offer HTTP/2 (alpn h2,http/1.1): redeploy its rendered haproxy.cfg");
  return pass(id, title, saw);
}

/** Renewal: certbot renews a certificate when a third of its life is left; one older than that was missed. */
export function judgeRenewal(seen: TlsSeen, now: number): Finding | undefined {
  if (!seen.validFrom || !seen.validTo || seen.error) return undefined;
  const from = Date.parse(seen.validFrom);
  const lifetime = Date.parse(seen.validTo) - from;
  const ageDays = (now - from) / DAY_MS;
  const dueDays = ((lifetime * 2) / 3 + DAY_MS) / DAY_MS;
  const saw = `the certificate on ${seen.host} was issued ${ageDays.toFixed(1)} days ago (renewal due after ${Math.round(dueDays)} days)`;
  return ageDays > dueDays
    ? warn(
        "certificate.renewal",
        "Certificate renewal",
        saw,
        "certbot has not renewed on time: docker logs certbot, and check port 80 reaches HAProxy from the Internet",
      )
    : pass("certificate.renewal", "Certificate renewal", saw);
}

// ---- HTTP: well-known, client API, sliding sync ----------------------------------------------------

export interface HttpSeen {
  url: string;
  status?: number;
  contentType?: string;
  cors?: string;
  body?: string;
  error?: string;
}

const deepEqual = (a: unknown, b: unknown) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object")
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  return value;
}

export function judgeWellKnown(plan: DoctorPlan, kind: "server" | "client", seen: HttpSeen): Finding {
  const id = `wellKnown.${kind}`;
  const title = `/.well-known/matrix/${kind} on ${plan.serverName}`;
  const expected = kind === "server" ? plan.wellKnownServer : plan.wellKnownClient;
  const serve = plan.hostnames.includes(plan.serverName)
    ? `firmground serves it from NGINX on ${plan.serverName}: pulumi up restores it; docker logs nginx`
    : `manageApexRecords is false: serve the stack output wellKnown${kind === "server" ? "Server" : "Client"} at ${seen.url} (application/json, Access-Control-Allow-Origin: *)`;
  if (seen.error) return fail(id, title, seen.error, serve);
  const saw = `${seen.status} ${seen.contentType ?? "no content type"}, CORS ${seen.cors ?? "none"}: ${(seen.body ?? "").slice(0, 120)}`;
  if (seen.status !== 200) return fail(id, title, saw, serve);
  let body: unknown;
  try {
    body = JSON.parse(seen.body ?? "");
  } catch {
    return fail(id, title, saw, `it is not JSON; ${serve}`);
  }
  if (!deepEqual(body, expected)) return fail(id, title, saw, `it must be ${JSON.stringify(expected)}; ${serve}`);
  if (!(seen.contentType ?? "").startsWith("application/json"))
    return fail(id, title, saw, `serve it as application/json; ${serve}`);
  if (kind === "client" && seen.cors !== "*")
    return fail(id, title, saw, `web clients need Access-Control-Allow-Origin: *; ${serve}`);
  return pass(id, title, saw);
}

export function judgeClientVersions(seen: HttpSeen): Finding {
  const id = "client.versions";
  const title = "Client API through the public URL";
  const fix =
    "HAProxy forwards /_matrix to Synapse: check both containers (below) and docker logs haproxy, docker logs synapse";
  if (seen.error) return fail(id, title, seen.error, fix);
  let versions: string[] = [];
  try {
    versions = (JSON.parse(seen.body ?? "{}") as { versions?: string[] }).versions ?? [];
  } catch {
    // not JSON: judged below
  }
  const saw = `${seen.status} ${seen.url}: ${versions.length ? `${versions.length} versions, newest ${versions.at(-1)}` : (seen.body ?? "").slice(0, 80)}`;
  return seen.status === 200 && versions.length > 0 ? pass(id, title, saw) : fail(id, title, saw, fix);
}

export function judgeSlidingSync(seen: HttpSeen): Finding {
  const id = "client.slidingSync";
  const title = "Element X: native sliding sync";
  const saw = seen.error ?? `${seen.status} ${(seen.body ?? "").slice(0, 100)}`;
  if (seen.status === 200) return pass(id, title, `${seen.status} from ${new URL(seen.url).pathname}`);
  return fail(
    id,
    title,
    saw,
    seen.status === 404
      ? "Synapse answers 404: it is older than 1.114 or has MSC3575 off; use the stack's pinned image (pulumi up)"
      : "HAProxy must forward /_matrix/client/unstable/org.matrix.simplified_msc3575/sync to Synapse; docker logs haproxy",
  );
}

// ---- Federation ----------------------------------------------------------------------------------

export interface FederationSeen {
  /** How the server name was resolved: the well-known delegation, an SRV record, or the default port. */
  delegation?: { via: "well-known" | "srv" | "default"; host: string; port: number };
  error?: string;
  tls?: TlsSeen;
  keys?: KeyCheck;
  version?: { name?: string; version?: string };
}

export function judgeFederation(
  plan: DoctorPlan,
  seen: FederationSeen,
  expectedKeyId: string | undefined,
  now: number,
) {
  const id = "federation";
  const title = "Federation, as another server sees it";
  const d = seen.delegation;
  const route = d ? `${plan.serverName} → ${d.host}:${d.port} (${d.via})` : plan.serverName;
  const verdict = (finding: Finding, line: string) => ({ finding, line });
  if (seen.error || !d)
    return verdict(
      fail(
        id,
        title,
        `${route}: ${seen.error ?? "no route"}`,
        "fix the checks above (well-known, DNS, TLS on 8448) first",
      ),
      `NO — ${route}: ${seen.error ?? "no route"}`,
    );
  if (!seen.tls?.authorized)
    return verdict(
      fail(
        id,
        title,
        `${route}: TLS ${seen.tls?.error ?? seen.tls?.authorizationError ?? "failed"}`,
        `other servers need a valid certificate for ${d.host} on ${d.port}`,
      ),
      `NO — ${route}: TLS not valid`,
    );
  const keys = seen.keys;
  const keyProblem = !keys
    ? "no key document"
    : keys.serverName !== plan.serverName
      ? `the key document is for ${keys.serverName ?? "no server"}`
      : keys.verified.length === 0
        ? "no key's self-signature verifies"
        : expectedKeyId && !keys.verified.includes(expectedKeyId)
          ? `serves ${keys.keyIds.join(", ")}, not the stack's ${expectedKeyId}`
          : keys.validUntil !== undefined && keys.validUntil < now
            ? "the key document has expired"
            : undefined;
  if (keyProblem)
    return verdict(
      fail(
        id,
        title,
        `${route}: ${keyProblem}`,
        expectedKeyId && keys?.verified.length
          ? "the server runs with another signing key than the stack's: restore it from restoreSecrets.signingKey (pulumi up)"
          : "Synapse's /_matrix/key/v2/server must answer on the federation port: docker logs synapse",
      ),
      `NO — ${route}: ${keyProblem}`,
    );
  const version = seen.version?.name ? `${seen.version.name} ${seen.version.version ?? ""}`.trim() : undefined;
  if (!version)
    return verdict(
      fail(id, title, `${route}: keys fine, no /federation/v1/version`, "docker logs synapse; docker logs haproxy"),
      `NO — ${route}: /_matrix/federation/v1/version does not answer`,
    );
  const saw = `${route}, key ${keys!.verified.join(", ")} verified, ${version}`;
  if (d.via !== "well-known")
    return verdict(
      warn(
        id,
        title,
        saw,
        `works only through the ${d.via === "srv" ? "SRV record" : "default port 8448 on the apex"}: serve /.well-known/matrix/server on ${plan.serverName}`,
      ),
      `yes, but without delegation — ${saw}`,
    );
  return verdict(pass(id, title, saw), `yes — ${saw}`);
}

// ---- TURN ------------------------------------------------------------------------------------------

export function judgeTurn(plan: DoctorPlan, transport: "udp" | "tls", seen: TurnProbe | { error: string }): Finding {
  const id = `turn.${transport}`;
  const port = transport === "udp" ? TURN_PORTS.plain : TURN_PORTS.tls;
  const title = `TURN relay over ${transport.toUpperCase()} (${plan.turnHost}:${port})`;
  const probe = seen as Partial<TurnProbe>;
  const relayed = probe.relayed ? `${probe.relayed.address}:${probe.relayed.port}` : "none";
  const saw = `relayed ${relayed}${probe.relayRoundTrip ? ", a datagram came back through the relay" : ""}${seen.error ? `; ${seen.error}` : ""}${probe.ms !== undefined ? ` (${probe.ms} ms)` : ""}`;
  const { min, max } = plan.turnRelayPorts;
  if (!probe.relayed)
    return fail(
      id,
      title,
      saw,
      /credentials|turnServer/i.test(seen.error ?? "")
        ? "Synapse hands out no TURN credentials: check turn_uris and turn_shared_secret in homeserver.yaml (pulumi up)"
        : `coturn does not allocate on ${plan.turnHost}:${port}: check the coturn container (below), docker logs coturn, and that the firewall opens ${port}/${transport === "udp" ? "UDP" : "TCP"}`,
    );
  if (probe.relayed.address !== plan.addresses.ipv4)
    return fail(
      id,
      title,
      saw,
      `coturn advertises ${probe.relayed.address}, not the host's ${plan.addresses.ipv4}: its external-ip is wrong; pulumi up re-renders turnserver.conf`,
    );
  if (probe.relayed.port < min || probe.relayed.port > max)
    return fail(
      id,
      title,
      saw,
      `the relay port is outside turnRelayPorts ${min}-${max}: pulumi up re-renders turnserver.conf`,
    );
  if (!probe.relayRoundTrip)
    return fail(
      id,
      title,
      saw,
      `the relay range ${min}-${max}/UDP must be open to the world on the host's firewall (pulumi up sets the security group)`,
    );
  return pass(id, title, saw);
}

// ---- Exposure --------------------------------------------------------------------------------------

/** Whether `ip` lies in any of `cidrs` (IPv4 and IPv6). */
export function inCidrs(ip: string, cidrs: string[]): boolean {
  const family = isIP(ip);
  if (!family) return false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [network, length] = cidr.split("/");
    const networkFamily = isIP(network);
    if (networkFamily)
      list.addSubnet(
        network,
        Number(length ?? (networkFamily === 4 ? 32 : 128)),
        networkFamily === 4 ? "ipv4" : "ipv6",
      );
  }
  return list.check(ip, family === 4 ? "ipv4" : "ipv6");
}

export interface AdminGateSeen {
  /** Our address as the server sees it (from STUN), when known. */
  source?: string;
  api: HttpSeen;
  /** Absent when the admin UI is off. */
  ui?: HttpSeen;
}

/** An answer from Synapse itself (JSON with errcode or server_version), as opposed to HAProxy's refusal. */
const synapseAnswered = (seen: HttpSeen) => /"(errcode|server_version)"/.test(seen.body ?? "");

export function judgeAdminGate(plan: DoctorPlan, seen: AdminGateSeen): Finding[] {
  const fromAdmin = seen.source !== undefined && inCidrs(seen.source, plan.adminCidrs);
  const where = seen.source ? `from ${seen.source}` : "from this machine";
  const judge = (id: string, title: string, http: HttpSeen, reached: boolean): Finding => {
    const saw = `${where}: ${http.error ?? `${http.status}`}`;
    if (!reached) return pass(id, title, `${saw} (refused)`);
    if (fromAdmin)
      return pass(
        id,
        title,
        `${saw}: reachable, as expected from an admin source (${seen.source} is in adminCidrs); run npm run doctor from another network to see it refused`,
      );
    return fail(
      id,
      title,
      `${saw}: reachable from outside adminCidrs (${plan.adminCidrs.join(", ") || "empty"})`,
      plan.adminCidrs.length === 0
        ? "set adminCidrs to your own addresses: with it empty the admin API is not routed at all, so something else opened it — redeploy haproxy.cfg (pulumi up)"
        : "HAProxy must refuse these paths to other sources: redeploy its rendered haproxy.cfg (pulumi up) and check nothing else publishes Synapse's port",
    );
  };
  const findings = [
    judge(
      "exposure.adminApi",
      "/_synapse/admin refused to non-admin sources",
      seen.api,
      !seen.api.error && synapseAnswered(seen.api),
    ),
  ];
  if (seen.ui)
    findings.push(
      judge(
        "exposure.adminUi",
        "Admin UI refused to non-admin sources",
        seen.ui,
        !seen.ui.error && seen.ui.status === 200,
      ),
    );
  return findings;
}

/** Ports the doctor tries on the host, beyond the planned ones: what is commonly left open by mistake. */
export const PROBED_TCP_PORTS = [
  21, 22, 23, 25, 53, 80, 110, 111, 143, 443, 445, 2375, 2376, 2377, 3000, 3306, 3478, 5349, 5432, 5555, 6379, 8000,
  8008, 8009, 8080, 8081, 8088, 8443, 8448, 8404, 8405, 9000, 9090, 9093, 9100, 9200, 10250, 11211, 27017,
];

export function judgePorts(plan: DoctorPlan, open: number[], source: string | undefined): Finding {
  const id = "exposure.ports";
  const title = `Open TCP ports on ${plan.addresses.ipv4}`;
  const fromAdmin = source !== undefined && inCidrs(source, plan.adminCidrs);
  const adminOpenToUs = plan.adminCidrs.length === 0 || fromAdmin;
  const allowed = new Set([...plan.publicTcpPorts, ...(adminOpenToUs ? plan.adminTcpPorts : [])]);
  const unexpected = open.filter((p) => !allowed.has(p));
  const saw =
    `open ${open.join(", ") || "none"} of ${new Set([...PROBED_TCP_PORTS, ...plan.publicTcpPorts, ...plan.adminTcpPorts]).size} tried ${source ? `from ${source}` : ""}`.trim();
  if (unexpected.length === 0) return pass(id, title, saw);
  const admin = unexpected.filter((p) => plan.adminTcpPorts.includes(p));
  return fail(
    id,
    title,
    `${saw}; not expected: ${unexpected.join(", ")}`,
    admin.length === unexpected.length
      ? `${admin.join(", ")} must be open to adminCidrs only: pulumi up restores the security group's rules`
      : `close ${unexpected.join(", ")}: the security group opens only ${[...allowed].join(", ")} — something on the host publishes more (docker ps on the host; pulumi up restores the rules)`,
  );
}

// ---- Inside: containers, memory, disk, backups, versions -------------------------------------------

export interface ContainerSeen {
  name: string;
  /** Absent when Docker has no such container. */
  state?: {
    running: boolean;
    health?: string;
    restartCount: number;
    startedAt?: string;
    /** Config.Image, as created (an image id when Pulumi's provider created it). */
    image: string;
    /** The id of the image it runs. */
    imageId: string;
    memoryLimitBytes: number;
  };
  /** The id the stack's pinned image has on the host; absent when the host does not have it. */
  plannedImageId?: string;
  /** Memory in use (Docker's own figure: usage minus inactive file cache). */
  memoryUsageBytes?: number;
}

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;

export function judgeContainer(plan: DoctorPlan, seen: ContainerSeen): Finding[] {
  const planned = plan.containers.find((c) => c.name === seen.name);
  const id = `container.${seen.name}`;
  const title = `Container ${seen.name}`;
  const state = seen.state;
  if (!state) return [fail(id, title, "does not exist", "pulumi up creates it (it may have been removed by hand)")];
  const sameImage = seen.plannedImageId !== undefined && state.imageId === seen.plannedImageId;
  const image = sameImage ? planned!.image : state.image;
  const saw = `${state.running ? "running" : "stopped"}${state.health ? `, ${state.health}` : ""}, ${state.restartCount} restarts, ${image}`;
  const findings: Finding[] = [];
  if (!state.running)
    findings.push(
      fail(id, title, saw, `docker logs ${seen.name} says why it stopped; docker start ${seen.name}, or pulumi up`),
    );
  else if (state.health === "unhealthy")
    findings.push(fail(id, title, saw, `docker inspect ${seen.name} shows the failing healthcheck's output`));
  else if (planned && !sameImage)
    findings.push(
      warn(
        id,
        title,
        `${saw}, not ${planned.image}${seen.plannedImageId ? "" : " (not on the host)"}`,
        `the stack runs ${planned.image}: pulumi up pulls it and replaces the container`,
      ),
    );
  else if (state.restartCount > 0)
    findings.push(
      warn(
        id,
        title,
        saw,
        `it restarted since it was deployed: docker logs ${seen.name} (an OOM kill shows in docker inspect)`,
      ),
    );
  else findings.push(pass(id, title, saw));

  if (state.running && state.memoryLimitBytes > 0 && seen.memoryUsageBytes !== undefined) {
    const share = seen.memoryUsageBytes / state.memoryLimitBytes;
    const memorySaw = `${mib(seen.memoryUsageBytes)} of ${mib(state.memoryLimitBytes)} (${Math.round(share * 100)} %)`;
    const memoryId = `memory.${seen.name}`;
    const memoryTitle = `Memory of ${seen.name}`;
    const fix = `it is near its limit and the kernel kills it there: raise sizing.memoryMb.${planned?.service ?? seen.name} or move to a larger instanceType (pulumi up)`;
    findings.push(
      share >= MEMORY_FAIL
        ? fail(memoryId, memoryTitle, memorySaw, fix)
        : share >= MEMORY_WARN
          ? warn(memoryId, memoryTitle, memorySaw, fix)
          : pass(memoryId, memoryTitle, memorySaw),
    );
  }
  return findings;
}

export function judgeDisk(seen: { usedBytes: number; sizeBytes: number } | { error: string }): Finding {
  const id = "disk.data";
  const title = "Data volume";
  if ("error" in seen) return warn(id, title, seen.error, "the postgres container must be running to measure it");
  const share = seen.usedBytes / seen.sizeBytes;
  const saw = `${(seen.usedBytes / 2 ** 30).toFixed(1)} of ${(seen.sizeBytes / 2 ** 30).toFixed(1)} GiB usable in use (${Math.round(share * 100)} %)`;
  const fix =
    "raise dataVolumeSizeGb (the volume grows in place; pulumi up) or shorten media retention in synapseExtraConfig";
  return share >= DISK_FAIL
    ? fail(id, title, saw, fix)
    : share >= DISK_WARN
      ? warn(id, title, saw, fix)
      : pass(id, title, saw);
}

/** What `backup.sh status` prints. */
export interface BackupStatus {
  now: number;
  intervalSeconds: number;
  firstStart: number | null;
  lastSuccess: number | null;
  last: { time?: string; result?: string; reason?: string; snapshot?: string; error?: string } | null;
}

export function judgeBackup(plan: DoctorPlan, seen: BackupStatus | { error: string } | undefined): Finding | undefined {
  if (!plan.backup) return undefined;
  const id = "backup.age";
  const title = "Last good backup";
  if (!seen || "error" in seen)
    return fail(id, title, seen?.error ?? "no status", "the backup container must be running: docker logs backup");
  const hours = (s: number) => `${(s / 3600).toFixed(1)} h`;
  const last = seen.last?.result
    ? `; last run ${seen.last.result}${seen.last.error ? `: ${seen.last.error}` : ""}`
    : "";
  const fix =
    seen.last?.result === "failed"
      ? `the last run failed (${seen.last.error ?? "see docker logs backup"}); npm run restore -- --list tests the repository`
      : "docker logs backup says why no backup succeeded; the repository and its credentials are in the stack's backup settings";
  if (seen.lastSuccess === null) {
    const since = seen.firstStart === null ? 0 : seen.now - seen.firstStart;
    const saw = `no good backup yet, ${hours(since)} after the first start (every ${hours(seen.intervalSeconds)})${last}`;
    return since >= seen.intervalSeconds * 2
      ? fail(id, title, saw, fix)
      : since > seen.intervalSeconds + 3600
        ? warn(id, title, saw, fix)
        : pass(id, title, saw);
  }
  const age = seen.now - seen.lastSuccess;
  const saw = `${hours(age)} ago, every ${hours(seen.intervalSeconds)}${last}`;
  // As the container's healthcheck: two intervals without a good backup is a failure; a run that is
  // over an hour late, or a failed last run, a warning.
  if (age >= seen.intervalSeconds * 2) return fail(id, title, saw, fix);
  if (age > seen.intervalSeconds + 3600 || seen.last?.result === "failed") return warn(id, title, saw, fix);
  return pass(id, title, saw);
}

/** The version an image tag pins (`matrixdotorg/synapse:v1.160.0` → 1.160.0, `postgres:17.6-alpine` → 17.6). */
export function taggedVersion(image: string): string | undefined {
  return /:v?(\d+(?:\.\d+)*)/.exec(image)?.[1];
}

export function judgeVersion(
  service: "synapse" | "postgres",
  image: string | undefined,
  running: string | undefined,
): Finding {
  const id = `version.${service}`;
  const title = `${service === "synapse" ? "Synapse" : "PostgreSQL"} version`;
  const pinned = image ? taggedVersion(image) : undefined;
  const saw = `running ${running ?? "unknown"}, the stack pins ${image ?? "nothing"}`;
  if (!running) return warn(id, title, saw, `the ${service} container must answer to be checked`);
  if (!pinned || running === pinned || running.startsWith(`${pinned}.`) || running.startsWith(`${pinned} `))
    return pass(id, title, saw);
  return warn(id, title, saw, `the running server is not the pinned image's: pulumi up replaces the container`);
}
