/**
 * firmground: a Scaleway account and a domain in, a working Matrix homeserver out.
 *
 * Data flows one way: stack config → validated settings → components → rendered files →
 * containers. Everything is validated, and the instance type looked up, before the first resource
 * is registered, so bad input never leaves a half-built stack.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as scaleway from "@pulumiverse/scaleway";
import {
  checkServerType,
  ConfigError,
  parseSettings,
  PROJECT,
  readRawConfig,
  readSecretConfigKeys,
  type Settings,
} from "./components/config";
import { DnsRecords } from "./components/dns/records";
import { ScalewayHost } from "./components/host/scalewayHost";
import { Secrets } from "./components/secrets/secrets";
import { LocalCa } from "./components/secrets/localCa";
import type { DockerConnection } from "./components/dockerApi";
import { Users } from "./components/users/users";
import { MatrixServices, publicHostnames, type BackupTarget } from "./components/services/matrixServices";
import { BACKUP_CONTAINER } from "./components/backup/backup";
import { doctorPlan } from "./components/doctor/plan";
import { BackupStorage } from "./components/backup/storage";
import { DATA_VOLUME_DIRS, facts, PUBLIC_PORTS } from "./components/services/registry";
import {
  deriveSizing,
  MAX_RAM_FRACTION,
  memoryLimitsMb,
  sizingProblems,
  totalMb,
  type Sizing,
} from "./config-templates/sizing";
import { httpsOrigin, wellKnownClient, wellKnownServer } from "./config-templates/web";

/** Looks the instance type up at Scaleway and derives the containers' memory limits from its RAM. */
async function sizeFor(settings: Settings) {
  let found: scaleway.instance.GetServerTypeResult;
  try {
    found = await scaleway.instance.getServerType({ name: settings.instanceType });
  } catch (error) {
    throw new ConfigError([
      `${PROJECT}:instanceType = ${JSON.stringify(settings.instanceType)}: Scaleway does not offer this type here ` +
        `(${error instanceof Error ? error.message.split("\n")[0] : String(error)}); use an arm64 type such as BASIC2-A2C-4G`,
    ]);
  }
  const ramBytes = checkServerType(settings.instanceType, found);
  const memoryMb = memoryLimitsMb(ramBytes);
  const ramMb = ramBytes / (1024 * 1024);
  if (totalMb(memoryMb) > ramMb * MAX_RAM_FRACTION) {
    throw new ConfigError([
      `${PROJECT}:instanceType = ${JSON.stringify(settings.instanceType)}: ${Math.round(ramMb)} MiB of RAM is too little; ` +
        `the services need ${totalMb(memoryMb)} MiB within ${MAX_RAM_FRACTION * 100} % of RAM (use BASIC2-A2C-4G or larger)`,
    ]);
  }
  return checkedSizing(ramBytes, settings);
}

/** The sizing for `ramBytes` with the config's overrides, refused before any resource when they do not fit. */
function checkedSizing(ramBytes: number, settings: Settings) {
  const sizing = deriveSizing(ramBytes, settings.sizing);
  const problems = sizingProblems(sizing);
  if (problems.length > 0) throw new ConfigError(problems);
  return sizing;
}

function nextSteps(settings: Settings, ip: string): string {
  const apex = settings.manageApexRecords
    ? `The apex ${settings.serverName} points here and serves /.well-known/matrix/{server,client}.`
    : `manageApexRecords is false: serve the outputs wellKnownServer and wellKnownClient as\n` +
      `   https://${settings.serverName}/.well-known/matrix/server and …/client (application/json,\n` +
      `   Access-Control-Allow-Origin: *).`;
  return [
    `1. DNS now points ${publicHostnames(settings).join(", ")} at ${ip}. ${apex}`,
    `2. Certificates are requested from ${settings.acmeServer} as soon as DNS resolves (retried every`,
    `   15 minutes); until then HAProxy serves a self-signed fallback.`,
    `3. Talk to the host's Docker daemon:`,
    `   pulumi stack output --show-secrets dockerTls  # ca, cert, key: save as ~/.docker/firmground/{ca,cert,key}.pem`,
    `   DOCKER_HOST=tcp://${ip}:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=~/.docker/firmground docker ps`,
    `4. The admin @${settings.adminUser}:${settings.serverName} exists: pulumi stack output --show-secrets adminPassword`,
    `   More users: list them in firmground:users, or npm run user -- add <name> (see the README).`,
    `5. Sign in at https://${settings.elementHost}` +
      (settings.adminUi ? `; the admin UI is https://${settings.adminHost} (from adminCidrs only).` : "."),
    `6. Check that everything works, and what to fix if not: run \`npm run doctor\``,
  ].join("\n");
}

/** The parts every target shares: secrets, the services on `provider`, the users, and their outputs. */
function servicesAndUsers(
  settings: Settings,
  target: {
    provider: docker.Provider;
    connection: pulumi.Input<DockerConnection>;
    publicIpv4: pulumi.Input<string>;
    /** The host's public IPv6, when it has one (the DNS records point at it). */
    publicIpv6?: pulumi.Input<string>;
    /** The daemon keeps IPv6 clients' addresses (see MatrixServicesArgs.ipv6). */
    ipv6: boolean;
    dataRoot: string;
    sizing: Sizing;
    local?: { certPem: pulumi.Input<string>; keyPem: pulumi.Input<string> };
    /** Where backups go, when they are on; the repository's password comes from the secrets. */
    backup?: Omit<BackupTarget, "password" | "schedule"> & { bucketRef?: pulumi.Input<string> };
  },
) {
  const secrets = new Secrets("secrets", settings.restoreSecrets ? { restore: settings.restoreSecrets } : {});
  const { backup, ...host } = target;
  const services = new MatrixServices("matrix", {
    settings,
    secrets,
    ...host,
    ...(backup ? { backup: { ...backup, schedule: settings.backup, password: secrets.backupPassword } } : {}),
  });

  // A re-deploy over a retained volume reuses the admin password its database holds.
  const adminPassword = settings.adminPassword ?? settings.restoreSecrets?.adminPassword;
  const users = new Users(
    "users",
    {
      connection: target.connection,
      image: settings.images.synapse,
      network: services.networkName,
      serverName: settings.serverName,
      registrationSharedSecret: secrets.registrationSharedSecret,
      adminUser: settings.adminUser,
      ...(adminPassword !== undefined ? { adminPassword } : {}),
      users: settings.users,
    },
    // Accounts live in Synapse's database: create them once both run.
    { dependsOn: [services.synapse.container, services.postgres.container] },
  );

  const origin = (host: string) => httpsOrigin(host, settings.httpsPort);
  return {
    homeserverUrl: origin(settings.matrixHost),
    elementUrl: origin(settings.elementHost),
    wellKnownServer: wellKnownServer(settings.matrixHost, settings.httpsPort),
    wellKnownClient: wellKnownClient(settings.matrixHost, settings.httpsPort),
    homeserverYaml: services.synapse.homeserverYaml,
    signingKeyId: secrets.signingKeyId,
    memoryLimitsMb: target.sizing.memoryMb,
    // Save it before `pulumi destroy` when the data volume is kept (see the README).
    restoreSecrets: pulumi.secret({
      signingKey: secrets.signingKey,
      postgresPassword: secrets.postgresPassword,
      adminPassword: users.adminPassword,
      backupPassword: secrets.backupPassword,
      ...(backup?.bucketRef ? { backupBucket: backup.bucketRef } : {}),
    }),
    ...(backup
      ? {
          // Where the backups are (no secret in it; the key is in restoreSecrets and the host's files).
          backupRepository: backup.repositoryHostDir ?? backup.repository,
          // What `npm run restore` needs to reach the host's backup container (a secret: it holds keys).
          backupAdmin: pulumi.secret(
            pulumi.output(target.connection).apply((connection) => ({
              connection,
              container: BACKUP_CONTAINER,
              synapseContainer: facts("synapse").host,
            })),
          ),
        }
      : {}),
    // What `npm run doctor` checks the live server against (no secret in it).
    doctorPlan: pulumi
      .all([target.publicIpv4, target.publicIpv6, secrets.signingKeyId])
      .apply(([ipv4, ipv6, signingKeyId]) =>
        doctorPlan(settings, { ipv4, ...(ipv6 ? { ipv6 } : {}) }, settings.target, signingKeyId),
      ),
    adminUser: users.adminUserId,
    adminPassword: users.adminPassword,
    userPasswords: users.passwords,
    ...(settings.adminUi ? { adminUiUrl: origin(settings.adminHost) } : {}),
    // What `npm run user` needs to run a user job on the host (a secret: it holds keys).
    userAdmin: pulumi.secret(
      pulumi
        .all([
          target.connection,
          services.networkName,
          secrets.registrationSharedSecret,
          users.adminPassword,
          users.adminAccessToken,
        ])
        .apply(([dockerConnection, network, sharedSecret, password, adminToken]) => ({
          connection: dockerConnection,
          image: settings.images.synapse,
          network,
          serverName: settings.serverName,
          sharedSecret,
          adminUser: settings.adminUser,
          adminPassword: password,
          ...(adminToken ? { adminToken } : {}),
        })),
    ),
  };
}

/** The production target: a Scaleway instance, its DNS records, Let's Encrypt. */
async function deployToScaleway(settings: Settings) {
  const sizing = await sizeFor(settings);
  const host = new ScalewayHost("host", {
    instanceType: settings.instanceType,
    imageLabel: settings.imageLabel,
    dataVolumeSizeGb: settings.dataVolumeSizeGb,
    retainDataOnDestroy: settings.retainDataOnDestroy,
    adminCidrs: settings.adminCidrs,
    sshPublicKeys: settings.sshPublicKeys,
    turnRelayPorts: settings.turnRelayPorts,
    publicPorts: PUBLIC_PORTS,
    dataDirs: DATA_VOLUME_DIRS,
    ...(settings.dataVolumeId ? { existingDataVolumeId: settings.dataVolumeId } : {}),
  });
  new DnsRecords("dns", {
    dnsZone: settings.dnsZone,
    hostnames: publicHostnames(settings),
    ipv4: host.ipv4,
    ipv6: host.ipv6,
  });

  const provider = new docker.Provider("docker", {
    host: host.dockerHost,
    caMaterial: host.dockerCaCertPem,
    certMaterial: host.dockerClientCertPem,
    keyMaterial: host.dockerClientKeyPem,
  });
  const connection = pulumi.secret(
    pulumi
      .all([host.dockerHost, host.dockerCaCertPem, host.dockerClientCertPem, host.dockerClientKeyPem])
      .apply(([dockerHost, ca, cert, key]) => ({ host: dockerHost, tls: { ca, cert, key } })),
  );
  const shared = servicesAndUsers(settings, {
    provider,
    connection,
    ...(settings.backup.enabled ? { backup: scalewayBackupTarget(settings) } : {}),
    publicIpv4: host.ipv4,
    publicIpv6: host.ipv6,
    // The host's daemon.json turns the userland proxy off and ip6tables on (config-templates/cloudInit.ts).
    ipv6: true,
    dataRoot: host.dataRoot,
    sizing,
  });

  return {
    ...shared,
    serverIp: host.ipv4,
    serverIpv6: host.ipv6,
    dataVolumeId: host.dataVolumeId,
    dockerHost: host.dockerHost,
    dockerTls: pulumi.secret({
      ca: host.dockerCaCertPem,
      cert: host.dockerClientCertPem,
      key: host.dockerClientKeyPem,
    }),
    nextSteps: host.ipv4.apply((ip) => nextSteps(settings, ip)),
  };
}

/**
 * Where the scaleway target backs up: a given S3 repository, the bucket of the stack whose
 * restoreSecrets this stack was given (a recovery), or a bucket of its own.
 */
function scalewayBackupTarget(settings: Settings) {
  if (settings.backup.repository) {
    return { repository: settings.backup.repository, credentials: pulumi.secret(settings.backup.credentials!) };
  }
  const existing = settings.restoreSecrets?.backupBucket?.split("/");
  const storage = new BackupStorage("backup-storage", {
    region: new pulumi.Config("scaleway").get("region") ?? DEFAULT_REGION,
    stackName: pulumi.getStack(),
    retainOnDelete: settings.retainDataOnDestroy,
    ...(existing ? { existing: { region: existing[0], projectId: existing[1], bucket: existing[2] } } : {}),
  });
  return { repository: storage.repository, credentials: storage.credentials, bucketRef: storage.bucketRef };
}

/** Object Storage region when the stack sets no `scaleway:region`. */
const DEFAULT_REGION = "fr-par";

/** RAM the local target sizes its containers for (as the default instance type). */
const LOCAL_RAM_BYTES = 4 * 1024 ** 3;

/**
 * The try-it-anywhere target: the same services on the local Docker daemon (DOCKER_HOST or the default
 * socket), certificates from a local CA, HAProxy on non-privileged ports, no Scaleway resource at all.
 */
function deployToDocker(settings: Settings) {
  const ca = new LocalCa("local-ca", { hostnames: publicHostnames(settings) });
  const dockerHost = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  const provider = new docker.Provider("docker", { host: dockerHost });
  const shared = servicesAndUsers(settings, {
    provider,
    connection: { host: dockerHost },
    publicIpv4: "127.0.0.1",
    // Your daemon's settings are your own: its userland proxy may stand between IPv6 clients and HAProxy.
    ipv6: false,
    dataRoot: settings.localDataDir,
    sizing: checkedSizing(LOCAL_RAM_BYTES, settings),
    local: { certPem: ca.certPem, keyPem: ca.keyPem },
    ...(settings.backup.enabled
      ? {
          backup: settings.backup.repository.startsWith("/")
            ? { repositoryHostDir: settings.backup.repository }
            : { repository: settings.backup.repository, credentials: pulumi.secret(settings.backup.credentials!) },
        }
      : {}),
  });
  return {
    ...shared,
    localCaCertPem: ca.caCertPem,
    nextSteps: [
      `1. Point the names at this machine, e.g. in /etc/hosts: 127.0.0.1 ${publicHostnames(settings).join(" ")}`,
      `   (names under .localhost usually resolve to 127.0.0.1 already).`,
      `2. Trust the local CA: pulumi stack output localCaCertPem > firmground-local-ca.pem`,
      `3. Sign in at ${httpsOrigin(settings.elementHost, settings.httpsPort)} as @${settings.adminUser}:${settings.serverName}`,
      `   (pulumi stack output --show-secrets adminPassword).`,
      `4. Check that everything works, and what to fix if not: run \`npm run doctor -- --ca-file firmground-local-ca.pem\``,
    ].join("\n"),
  };
}

export = async () => {
  const raw = readRawConfig();
  const settings = parseSettings(raw, readSecretConfigKeys(raw));
  return settings.target === "docker" ? deployToDocker(settings) : deployToScaleway(settings);
};
