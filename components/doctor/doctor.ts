/**
 * `npm run doctor`'s checks, run against a live server: from the outside (DNS, TLS, well-known,
 * federation, TURN, exposure, sliding sync) and, through the host's Docker API, from the inside
 * (containers, memory, disk, backups, versions). Probes run in parallel; judges.ts gives the verdicts.
 */
import { containerMemory, execIn, imageIdOf, inspectContainer, type DockerConnection } from "../dockerApi";
import { counts, fail, type DoctorReport, type Finding } from "./findings";
import {
  judgeAdminGate,
  judgeBackup,
  judgeClientVersions,
  judgeContainer,
  judgeDisk,
  judgeDns,
  judgeFederation,
  judgePorts,
  judgeRenewal,
  judgeSlidingSync,
  judgeTls,
  judgeTurn,
  judgeVersion,
  judgeWellKnown,
  PROBED_TCP_PORTS,
  type BackupStatus,
  type ContainerSeen,
  type FederationSeen,
  type HttpSeen,
} from "./judges";
import { checkServerKeys, type ServerKeyDocument } from "./matrixKeys";
import { TURN_PORTS, type DoctorPlan } from "./plan";
import { httpsCall, matrixSrv, openTcpPorts, probeTls, resolveName, trustOptions, type Trust } from "./probes";
import { probeTurn, stunBinding, type Address } from "./turn";

/** What the doctor needs beyond the plan (secrets: never printed). */
export interface DoctorAccess {
  /** The host's Docker API; without it the inside checks are reported as not run. */
  connection?: DockerConnection;
  /** An access token of the admin (the `userAdmin` output keeps one); else a password login. */
  adminToken?: string;
  adminUser?: string;
  adminPassword?: string;
}

const SLIDING_SYNC_PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
const DOCKER_STEP_SECONDS = 20;

const origin = (host: string, port: number) => (port === 443 ? `https://${host}` : `https://${host}:${port}`);

function parseJson<T>(text: string | undefined): T | undefined {
  try {
    return JSON.parse(text ?? "") as T;
  } catch {
    return undefined;
  }
}

/** The delegation a remote server follows: well-known, then SRV, then the server name on 8448. */
async function federation(plan: DoctorPlan, trust: Trust): Promise<FederationSeen> {
  const wellKnown = await httpsCall(`${origin(plan.serverName, plan.httpsPort)}/.well-known/matrix/server`, trust);
  const delegated =
    wellKnown.status === 200 ? parseJson<{ "m.server"?: string }>(wellKnown.body)?.["m.server"] : undefined;
  let delegation: FederationSeen["delegation"];
  if (delegated) {
    const [host, port] = delegated.split(":");
    delegation = { via: "well-known", host, port: Number(port ?? 8448) };
  } else {
    const srv = await matrixSrv(plan.serverName);
    delegation = srv ? { via: "srv", ...srv } : { via: "default", host: plan.serverName, port: 8448 };
  }
  const addresses = await resolveName(delegation.host, plan.resolver);
  const address = Array.isArray(addresses.a) ? addresses.a[0] : undefined;
  if (!address) return { delegation, error: `${delegation.host} does not resolve` };
  const tls = await probeTls(delegation.host, delegation.port, address, trust);
  const base = `https://${delegation.host}:${delegation.port}`;
  const [keys, version] = await Promise.all([
    httpsCall(`${base}/_matrix/key/v2/server`, trust, { address }),
    httpsCall(`${base}/_matrix/federation/v1/version`, trust, { address }),
  ]);
  const keyDocument = keys.status === 200 ? parseJson<ServerKeyDocument>(keys.body) : undefined;
  const server = parseJson<{ server?: { name?: string; version?: string } }>(version.body)?.server;
  return {
    delegation,
    tls,
    ...(keyDocument ? { keys: checkServerKeys(keyDocument) } : {}),
    ...(version.status === 200 && server ? { version: server } : {}),
  };
}

/** An admin access token: the kept one, or a password login (logged out again by the caller). */
async function adminSession(plan: DoctorPlan, access: DoctorAccess, trust: Trust) {
  const base = origin(plan.matrixHost, plan.httpsPort);
  if (access.adminToken) return { token: access.adminToken, logout: () => Promise.resolve() };
  if (!access.adminUser || !access.adminPassword) return undefined;
  const login = await httpsCall(`${base}/_matrix/client/v3/login`, trust, {
    method: "POST",
    body: JSON.stringify({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: access.adminUser },
      password: access.adminPassword,
      initial_device_display_name: "firmground doctor",
    }),
  });
  const token = parseJson<{ access_token?: string }>(login.body)?.access_token;
  if (!token) return undefined;
  return {
    token,
    logout: async () => {
      await httpsCall(`${base}/_matrix/client/v3/logout`, trust, { method: "POST", body: "{}", token });
    },
  };
}

async function turnChecks(plan: DoctorPlan, trust: Trust, token: string | undefined, turnAddress: string) {
  const base = origin(plan.matrixHost, plan.httpsPort);
  if (!token) {
    const error = "no admin access token or password to ask Synapse for TURN credentials (turnServer)";
    return [judgeTurn(plan, "udp", { error }), judgeTurn(plan, "tls", { error })];
  }
  const answer = await httpsCall(`${base}/_matrix/client/v3/voip/turnServer`, trust, { token });
  const credentials = parseJson<{ username?: string; password?: string }>(answer.body);
  if (answer.status !== 200 || !credentials?.username || !credentials.password) {
    const error = `no TURN credentials from /voip/turnServer (${answer.error ?? answer.status})`;
    return [judgeTurn(plan, "udp", { error }), judgeTurn(plan, "tls", { error })];
  }
  const creds = { username: credentials.username, password: credentials.password };
  const server = (port: number): Address => ({ address: turnAddress, port });
  // One after the other: the relay's datagram must reach the control connection that asked for it.
  const udp = await probeTurn(server(TURN_PORTS.plain), creds);
  const tls = await probeTurn(server(TURN_PORTS.tls), creds, {
    tls: { servername: plan.turnHost, ...trustOptions(trust) },
  });
  return [judgeTurn(plan, "udp", udp), judgeTurn(plan, "tls", tls)];
}

async function insideChecks(plan: DoctorPlan, connection: DockerConnection, synapseVersion: string | undefined) {
  const findings: Finding[] = [];
  let reachable = true;
  const containers = await Promise.all(
    plan.containers.map(async (planned): Promise<ContainerSeen> => {
      try {
        const state = await inspectContainer(connection, planned.name);
        if (!state) return { name: planned.name };
        const [memory, plannedImageId] = await Promise.all([
          state.running ? containerMemory(connection, planned.name).catch(() => undefined) : undefined,
          imageIdOf(connection, planned.image),
        ]);
        return {
          name: planned.name,
          state: { ...state, memoryLimitBytes: state.memoryLimitBytes || memory?.limitBytes || 0 },
          ...(plannedImageId ? { plannedImageId } : {}),
          ...(memory ? { memoryUsageBytes: memory.usageBytes } : {}),
        };
      } catch (error) {
        reachable = false;
        throw error;
      }
    }),
  ).catch((error: unknown) => {
    findings.push(
      fail(
        "docker.api",
        "The host's Docker API",
        error instanceof Error ? error.message : String(error),
        "the inside checks need it: run from an address in adminCidrs, with the stack's dockerTls (pulumi stack output --show-secrets userAdmin)",
      ),
    );
    return [];
  });
  if (!reachable) return findings;
  for (const seen of containers) findings.push(...judgeContainer(plan, seen));
  const running = (name: string) => containers.find((c) => c.name === name)?.state?.running;

  const exec = async (container: string, cmd: string[]) => {
    const result = await execIn(connection, container, cmd, DOCKER_STEP_SECONDS);
    if (result.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${result.exitCode}: ${result.stderr.trim()}`);
    return result.stdout;
  };
  const [disk, backup, postgresVersion] = await Promise.all([
    running(plan.dataVolume.container)
      ? exec(plan.dataVolume.container, ["df", "-Pk", plan.dataVolume.path]).then(
          (out) => {
            // As df's Use%: used over what is usable (the root-reserved blocks left out).
            const [, , used, available] = out.trim().split("\n").at(-1)!.split(/\s+/).map(Number);
            return { usedBytes: used * 1024, sizeBytes: (used + available) * 1024 };
          },
          (error: unknown) => ({ error: String(error instanceof Error ? error.message : error) }),
        )
      : Promise.resolve({ error: `${plan.dataVolume.container} is not running` }),
    plan.backup && running(plan.backup.container)
      ? exec(plan.backup.container, ["/bin/sh", plan.backup.script, "status"]).then(
          (out) => JSON.parse(out.trim().split("\n").at(-1)!) as BackupStatus,
          (error: unknown) => ({ error: String(error instanceof Error ? error.message : error) }),
        )
      : Promise.resolve(plan.backup ? { error: `${plan.backup.container} is not running` } : undefined),
    running(plan.postgresContainer)
      ? exec(plan.postgresContainer, ["postgres", "-V"]).then(
          (out) => /(\d+(?:\.\d+)+)/.exec(out)?.[1],
          () => undefined,
        )
      : Promise.resolve(undefined),
  ]);
  findings.push(judgeDisk(disk));
  const backupFinding = judgeBackup(plan, backup);
  if (backupFinding) findings.push(backupFinding);
  const image = (service: string) => plan.containers.find((c) => c.service === service)?.image;
  findings.push(judgeVersion("synapse", image("synapse"), synapseVersion));
  findings.push(judgeVersion("postgres", image("postgres"), postgresVersion));
  return findings;
}

/** Runs every check; never throws for what it finds (a failed probe is a finding). */
export async function runDoctor(plan: DoctorPlan, access: DoctorAccess, trust: Trust): Promise<DoctorReport> {
  const started = Date.now();
  const now = Date.now();
  const base = origin(plan.matrixHost, plan.httpsPort);
  const apex = origin(plan.serverName, plan.httpsPort);
  const session = await adminSession(plan, access, trust);
  try {
    const dnsSeen = await Promise.all(plan.hostnames.map((name) => resolveName(name, plan.resolver)));
    const turnA = dnsSeen.find((d) => d.name === plan.turnHost)?.a;
    const turnAddress = Array.isArray(turnA) && turnA[0] ? turnA[0] : plan.addresses.ipv4;
    const source = (await stunBinding({ address: turnAddress, port: TURN_PORTS.plain }))?.address;
    const tlsTargets: [string, number][] = [
      ...plan.hostnames.filter((h) => h !== plan.turnHost).map((h): [string, number] => [h, plan.httpsPort]),
      [plan.matrixHost, plan.federationPort],
      [plan.turnHost, TURN_PORTS.tls],
    ];
    const [tlsSeen, wellKnownServer, wellKnownClient, versions, fed, slidingSync, adminApi, adminUi, open] =
      await Promise.all([
        Promise.all(tlsTargets.map(([host, port]) => probeTls(host, port, plan.addresses.ipv4, trust))),
        httpsCall(`${apex}/.well-known/matrix/server`, trust),
        httpsCall(`${apex}/.well-known/matrix/client`, trust),
        httpsCall(`${base}/_matrix/client/versions`, trust),
        federation(plan, trust),
        session
          ? httpsCall(`${base}${SLIDING_SYNC_PATH}?timeout=0`, trust, {
              method: "POST",
              body: JSON.stringify({ lists: {} }),
              token: session.token,
            })
          : Promise.resolve<HttpSeen>({ url: `${base}${SLIDING_SYNC_PATH}`, error: "no admin session to ask with" }),
        httpsCall(`${base}/_synapse/admin/v1/server_version`, trust),
        // The admin UI's config.json: a file the stack uploads, so 200 means the UI itself answered.
        plan.adminHost
          ? httpsCall(`${origin(plan.adminHost, plan.httpsPort)}/config.json`, trust)
          : Promise.resolve(undefined),
        openTcpPorts(plan.addresses.ipv4, [
          ...new Set([...PROBED_TCP_PORTS, ...plan.publicTcpPorts, ...plan.adminTcpPorts]),
        ]),
      ]);
    // TURN last among the outside checks: it waits for datagrams that the parallel probes could delay.
    const turn = await turnChecks(plan, trust, session?.token, turnAddress);
    const { finding: federationFinding, line: federationLine } = judgeFederation(plan, fed, plan.signingKeyId, now);

    const findings: Finding[] = [
      ...dnsSeen.map((seen) => judgeDns(plan, seen)),
      ...tlsSeen.map((seen) => judgeTls(seen, now, seen.port === plan.httpsPort)),
    ];
    const renewal = judgeRenewal(tlsSeen[0], now);
    if (renewal) findings.push(renewal);
    findings.push(
      ...(["server", "client"] as const).map((kind) =>
        judgeWellKnown(plan, kind, kind === "server" ? wellKnownServer : wellKnownClient),
      ),
      judgeClientVersions(versions),
      federationFinding,
      ...turn,
      ...judgeAdminGate(plan, { ...(source ? { source } : {}), api: adminApi, ...(adminUi ? { ui: adminUi } : {}) }),
      judgePorts(plan, open, source),
      judgeSlidingSync(slidingSync),
    );
    if (access.connection) findings.push(...(await insideChecks(plan, access.connection, fed.version?.version)));
    else
      findings.push(
        fail(
          "docker.api",
          "The host's Docker API",
          "no connection given",
          "the inside checks need the userAdmin output (pulumi stack output --show-secrets userAdmin) or FIRMGROUND_USER_ADMIN",
        ),
      );
    return {
      version: 1,
      serverName: plan.serverName,
      startedAt: new Date(started).toISOString(),
      seconds: Math.round((Date.now() - started) / 100) / 10,
      counts: counts(findings),
      federation: federationLine,
      findings,
    };
  } finally {
    await session?.logout();
  }
}
