import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { LOCAL_PORTS, type Settings } from "../config";
import { SERVICE_NAMES, type Service } from "./registry";
import { DATA_VOLUME_DIRS } from "./registry";
import type { Secrets } from "../secrets/secrets";
import type { DockerConnection } from "../dockerApi";
import { Backup, BACKUP_CONTAINER } from "../backup/backup";
import { FirstStartRestore, UpgradeGuard } from "../backup/guards";
import type { BackupSettings } from "../config";
import { BACKUP, DATA_DIRS, IMAGE_USERS } from "../../config-templates/paths";
import { HAPROXY_DEFAULT_REQUESTS_PER_10S } from "../../config-templates/haproxy";
import { MAX_UPLOAD_BYTES, type Sizing } from "../../config-templates/sizing";
import { Certificates } from "./certbot";
import { Coturn } from "./coturn";
import { Haproxy, proxyRouting } from "./haproxy";
import { Postgres } from "./postgres";
import { Synapse } from "./synapse";
import { AdminUi, Element, Nginx } from "./web";

/** What the services are made from: the slice of the settings MatrixServices reads. */
export type ServiceSettings = Pick<
  Settings,
  | "serverName"
  | "matrixHost"
  | "elementHost"
  | "turnHost"
  | "adminHost"
  | "adminUi"
  | "adminCidrs"
  | "manageApexRecords"
  | "acmeEmail"
  | "acmeServer"
  | "federation"
  | "images"
  | "httpsPort"
  | "synapseExtraConfig"
  | "synapseExtraConfigSecret"
  | "turnRelayPorts"
>;

export interface MatrixServicesArgs {
  /** The validated stack settings this component reads. Changing serverName later is not supported. */
  settings: ServiceSettings;
  /** Generated secrets and the fallback certificate. */
  secrets: Secrets;
  /** The Docker daemon to run on. Any daemon works: nothing here is specific to Scaleway. */
  provider: docker.Provider;
  /** The public IPv4 coturn advertises. */
  publicIpv4: pulumi.Input<string>;
  /**
   * Give the network IPv6 and have HAProxy listen on it. Only where the daemon publishes ports through
   * ip6tables without its userland proxy (the Scaleway host's daemon.json), so that HAProxy sees each
   * IPv6 client's own address rather than the bridge's. Never change it on a running stack.
   */
  ipv6: boolean;
  /** Host directory for persistent data (the mounted data volume). Never change it. */
  dataRoot: string;
  /** Memory limits, caches and database settings, derived from RAM. Can change at any time. */
  sizing: Sizing;
  /**
   * The local target: serve this certificate (from the local CA) instead of obtaining one with ACME,
   * publish HAProxy on non-privileged host ports, and prepare the data directories, which no host
   * bootstrap has made. Default: Let's Encrypt, ports 80/443/8448, directories made at first boot.
   */
  local?: { certPem: pulumi.Input<string>; keyPem: pulumi.Input<string> };
  /**
   * The host's Docker API as the engine reaches it: the backup before an upgrade and the first start's
   * restore run through it.
   */
  connection: pulumi.Input<DockerConnection>;
  /** Backups, when they are on (see BackupTarget). */
  backup?: BackupTarget;
}

/** Where backups go and what opens them: the validated settings plus what the stack made for them. */
export interface BackupTarget {
  schedule: Pick<BackupSettings, "intervalHours" | "retention" | "checkEveryDays">;
  /** RESTIC_REPOSITORY (`s3:https://…`), or absent with `repositoryHostDir`. */
  repository?: pulumi.Input<string>;
  /** A directory on the Docker host holding the repository (docker target). */
  repositoryHostDir?: string;
  credentials?: pulumi.Input<{ accessKeyId: string; secretAccessKey: string }>;
  /** The repository's password. Never change it. */
  password: pulumi.Input<string>;
}

/** How long `pulumi up` waits on a backup or restore that has stopped printing anything. */
export const BACKUP_STEP_TIMEOUT_SECONDS = 3600;

/** The containers' IPv6 subnet (unique local; published ports reach it through ip6tables DNAT). */
export const CONTAINER_IPV6_SUBNET = "fd6d:6174:7269:7800::/64";

/** Memory limit of the local target's one-shot data-directory container (mkdir and chown). */
export const ONE_SHOT_MEMORY_MB = 64;

/**
 * Shell that makes the data directories below `root` with their owners and modes (local target), and
 * the backup repository's directory when there is one.
 */
export function dataDirsScript(root: string, repositoryDir?: string): string {
  const make = (path: string, owner: string, mode: string) =>
    `mkdir -p ${path} && chown ${owner}:${owner} ${path} && chmod ${mode} ${path}`;
  const backupDir = DATA_VOLUME_DIRS.find((d) => d.path === DATA_DIRS.backup)!;
  return [
    "set -eu",
    ...DATA_VOLUME_DIRS.map((d) => make(`${root}/${d.path}`, d.owner, d.mode)),
    ...(repositoryDir ? [make(repositoryDir, backupDir.owner, backupDir.mode)] : []),
  ].join("\n");
}

/**
 * Every public hostname pointed at this host, one certificate for them all. The server name (where
 * the .well-known documents live) is included only when its records point here.
 */
/** The local target's host port for each port HAProxy publishes (unprivileged, beside a desktop's own). */
export const LOCAL_HOST_PORTS: Record<number, number> = {
  80: LOCAL_PORTS.http,
  443: LOCAL_PORTS.https,
  8448: LOCAL_PORTS.federation,
};

/**
 * The services a stack runs as long-lived containers, in the registry's order: the admin UI when it is
 * on, certbot except on the local target (its CA signs instead), the backup container when backups are on.
 */
export function runningServices(
  settings: Pick<Settings, "adminUi">,
  options: { local: boolean; backup: boolean },
): Service[] {
  return SERVICE_NAMES.filter(
    (s) =>
      (s !== "synapseAdmin" || settings.adminUi) &&
      (s !== "certbot" || !options.local) &&
      (s !== "backup" || options.backup),
  );
}

export function publicHostnames(
  settings: Pick<
    Settings,
    "serverName" | "matrixHost" | "elementHost" | "turnHost" | "adminHost" | "adminUi" | "manageApexRecords"
  >,
): string[] {
  const apex = settings.manageApexRecords ? [settings.serverName] : [];
  const admin = settings.adminUi ? [settings.adminHost] : [];
  return [...new Set([settings.matrixHost, settings.elementHost, settings.turnHost, ...admin, ...apex])];
}

/**
 * The whole Matrix stack as containers on one bridge network: PostgreSQL, Synapse, coturn, HAProxy,
 * NGINX, Element and the certificate renewer. Only HAProxy publishes ports; only coturn uses host
 * networking.
 */
export class MatrixServices extends pulumi.ComponentResource {
  public readonly postgres: Postgres;
  public readonly synapse: Synapse;
  public readonly coturn: Coturn;
  public readonly haproxy: Haproxy;
  public readonly nginx: Nginx;
  public readonly element: Element;
  /** The certificate renewer, except on the local target. */
  public readonly certificates?: Certificates;
  /** The admin UI, when `adminUi` is on. */
  public readonly adminUi?: AdminUi;
  /** The backup container, when backups are on. */
  public readonly backup?: Backup;
  /** The internal network's name (user jobs join it). */
  public readonly networkName: pulumi.Output<string>;

  constructor(name: string, args: MatrixServicesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:services:MatrixServices", name, {}, { ...opts, providers: [args.provider] });
    const { settings, secrets, sizing } = args;
    const memoryMb = sizing.memoryMb;
    const child = { parent: this };
    const hostPath = (dir: string) => `${args.dataRoot}/${dir}`;

    const network = new docker.Network(
      `${name}-network`,
      {
        name: "firmground",
        driver: "bridge",
        ...(args.ipv6 ? { ipv6: true, ipamConfigs: [{ subnet: CONTAINER_IPV6_SUBNET }] } : {}),
      },
      child,
    );
    this.networkName = network.name;
    const acmeVolume = new docker.Volume(`${name}-acme`, { name: "firmground-acme" }, child);
    // HAProxy's master socket, shared with the renewer: a tmpfs owned by HAProxy's user from the
    // start, rather than whatever ownership Docker copies from the image into a new volume.
    const controlVolume = new docker.Volume(
      `${name}-haproxy-control`,
      {
        name: "firmground-haproxy-control",
        driver: "local",
        driverOpts: {
          type: "tmpfs",
          device: "tmpfs",
          o: `uid=${IMAGE_USERS.haproxy},gid=${IMAGE_USERS.haproxy},mode=0700,size=1m`,
        },
      },
      child,
    );
    // The local target has no host bootstrap: a one-shot container makes the data directories, each
    // owned by the image user that writes it, before any service mounts them.
    const repositoryHostDir = args.backup?.repositoryHostDir;
    const prepared = args.local
      ? [
          new docker.Container(
            `${name}-data-dirs`,
            {
              name: "firmground-data-dirs",
              // Pulled first: a container is created from an image the daemon already has.
              image: new docker.RemoteImage(
                `${name}-data-dirs-image`,
                { name: settings.images.postgres, keepLocally: true },
                child,
              ).imageId,
              entrypoints: [
                "/bin/sh",
                "-c",
                dataDirsScript("/data", repositoryHostDir ? BACKUP.localRepository : undefined),
              ],
              volumes: [
                { hostPath: args.dataRoot, containerPath: "/data" },
                ...(repositoryHostDir ? [{ hostPath: repositoryHostDir, containerPath: BACKUP.localRepository }] : []),
              ],
              mustRun: false,
              attach: true,
              restart: "no",
              memory: ONE_SHOT_MEMORY_MB,
              memorySwap: ONE_SHOT_MEMORY_MB,
            },
            child,
          ),
        ]
      : [];
    const afterData = { ...child, dependsOn: prepared };
    const base = (service: Service) => ({
      image: settings.images[service],
      networkName: network.name,
      memoryMb: memoryMb[service],
    });

    // A change of the Synapse or PostgreSQL image waits for a backup (with backups on); a PostgreSQL
    // major-version change is refused (components/backup/guards.ts).
    const upgradeGuard = new UpgradeGuard(
      `${name}-upgrade-guard`,
      {
        connection: args.connection,
        container: BACKUP_CONTAINER,
        images: { synapse: settings.images.synapse, postgres: settings.images.postgres },
        backups: !!args.backup,
        postgresDataPath: hostPath(DATA_DIRS.postgres),
        timeoutSeconds: BACKUP_STEP_TIMEOUT_SECONDS,
      },
      child,
    );

    this.postgres = new Postgres(
      `${name}-postgres`,
      {
        ...base("postgres"),
        password: secrets.postgresPassword,
        dataPath: hostPath(DATA_DIRS.postgres),
        memory: sizing.postgres,
      },
      { ...child, dependsOn: [...prepared, upgradeGuard] },
    );

    // Backups, and before Synapse first starts, the restore of a recovered stack's latest snapshot.
    if (args.backup) {
      this.backup = new Backup(
        `${name}-backup`,
        {
          postgresImage: settings.images.postgres,
          resticImage: settings.images.backup,
          networkName: network.name,
          memoryMb: memoryMb.backup,
          oneShotMemoryMb: ONE_SHOT_MEMORY_MB,
          serverName: settings.serverName,
          schedule: args.backup.schedule,
          ...(args.backup.repository !== undefined ? { repository: args.backup.repository } : {}),
          ...(repositoryHostDir ? { repositoryHostDir } : {}),
          ...(args.backup.credentials ? { credentials: args.backup.credentials } : {}),
          password: args.backup.password,
          postgresPassword: secrets.postgresPassword,
          signingKey: secrets.signingKey,
          mediaPath: hostPath(DATA_DIRS.media),
          statePath: hostPath(DATA_DIRS.backup),
        },
        { ...child, dependsOn: [this.postgres.container] },
      );
    }
    const restored = this.backup
      ? [
          new FirstStartRestore(
            `${name}-first-start-restore`,
            { connection: args.connection, container: BACKUP_CONTAINER, timeoutSeconds: BACKUP_STEP_TIMEOUT_SECONDS },
            { ...child, dependsOn: [this.backup.container] },
          ),
        ]
      : [];

    this.synapse = new Synapse(
      `${name}-synapse`,
      {
        ...base("synapse"),
        homeserver: {
          serverName: settings.serverName,
          matrixHost: settings.matrixHost,
          turnHost: settings.turnHost,
          federation: settings.federation,
          maxUploadBytes: MAX_UPLOAD_BYTES,
          httpsPort: settings.httpsPort,
          tuning: sizing.synapse,
          extra: settings.synapseExtraConfig,
          extraIsSecret: settings.synapseExtraConfigSecret,
        },
        signingKey: secrets.signingKey,
        macaroonSecretKey: secrets.macaroonSecretKey,
        registrationSharedSecret: secrets.registrationSharedSecret,
        formSecret: secrets.formSecret,
        turnSharedSecret: secrets.turnSharedSecret,
        postgresPassword: secrets.postgresPassword,
        mediaPath: hostPath(DATA_DIRS.media),
      },
      { ...child, dependsOn: [this.postgres.container, ...restored] },
    );

    this.coturn = new Coturn(
      `${name}-coturn`,
      {
        ...base("coturn"),
        realm: settings.turnHost,
        externalIp: args.publicIpv4,
        relayPorts: settings.turnRelayPorts,
        sharedSecret: secrets.turnSharedSecret,
        fallbackCertPem: args.local?.certPem ?? secrets.fallbackCertPem,
        fallbackKeyPem: args.local?.keyPem ?? secrets.fallbackKeyPem,
        certPath: hostPath(DATA_DIRS.coturnCerts),
      },
      afterData,
    );

    this.nginx = new Nginx(
      `${name}-nginx`,
      { ...base("nginx"), matrixHost: settings.matrixHost, httpsPort: settings.httpsPort, acmeVolume: acmeVolume.name },
      child,
    );

    this.element = new Element(
      `${name}-element`,
      {
        ...base("element"),
        element: {
          serverName: settings.serverName,
          matrixHost: settings.matrixHost,
          directoryServers: settings.federation.directoryServers,
          httpsPort: settings.httpsPort,
        },
      },
      child,
    );

    const running = runningServices(settings, { local: !!args.local, backup: !!args.backup });
    this.haproxy = new Haproxy(
      `${name}-haproxy`,
      {
        ...base("haproxy"),
        proxy: {
          knownHosts: [
            settings.serverName,
            settings.matrixHost,
            settings.elementHost,
            settings.turnHost,
            ...(settings.adminUi ? [settings.adminHost] : []),
          ],
          // What each running service declares it serves (components/services/registry.ts).
          ...proxyRouting(running, { elementHost: settings.elementHost, adminHost: settings.adminHost }),
          adminCidrs: settings.adminCidrs,
          maxBodyBytes: MAX_UPLOAD_BYTES,
          requestsPer10s: HAPROXY_DEFAULT_REQUESTS_PER_10S,
          ...sizing.haproxy,
          ipv6: args.ipv6,
        },
        fallbackPem: pulumi
          .all([args.local?.certPem ?? secrets.fallbackCertPem, args.local?.keyPem ?? secrets.fallbackKeyPem])
          .apply(([cert, key]) => `${cert.trim()}\n${key.trim()}\n`),
        certPath: hostPath(DATA_DIRS.haproxyCerts),
        controlVolume: controlVolume.name,
        ...(args.local ? { hostPorts: LOCAL_HOST_PORTS } : {}),
      },
      afterData,
    );

    if (settings.adminUi) {
      this.adminUi = new AdminUi(
        `${name}-admin-ui`,
        { ...base("synapseAdmin"), matrixHost: settings.matrixHost, httpsPort: settings.httpsPort },
        child,
      );
    }

    if (!args.local)
      this.certificates = new Certificates(
        `${name}-certificates`,
        {
          ...base("certbot"),
          acme: { domains: publicHostnames(settings), email: settings.acmeEmail, acmeServer: settings.acmeServer },
          letsencryptPath: hostPath(DATA_DIRS.letsencrypt),
          certsPath: hostPath("certs"),
          acmeVolume: acmeVolume.name,
          haproxyControlVolume: controlVolume.name,
        },
        // The first challenge goes through HAProxy's port 80 to NGINX.
        { ...child, dependsOn: [this.haproxy.container, this.nginx.container] },
      );

    this.registerOutputs({
      homeserverYaml: this.synapse.homeserverYaml,
      haproxyCfg: this.haproxy.haproxyCfg,
      turnserverConf: this.coturn.turnserverConf,
      elementConfig: this.element.configJson,
    });
  }
}
