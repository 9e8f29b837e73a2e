import * as pulumi from "@pulumi/pulumi";
import * as scaleway from "@pulumiverse/scaleway";
import type { PortRange } from "../config";
import type { DataDir, PublicPort } from "../services/registry";
import { DATA_MOUNT, DOCKER_TLS_PORT, renderCloudInit } from "../../config-templates/cloudInit";
import { DELETED_TAG, RETAINED_TAG, WORLD } from "./conventions";
import { DockerTls } from "./dockerTls";
import { waitForDockerDaemon } from "./dockerDaemon";

export interface ScalewayHostArgs {
  /** Scaleway commercial type (arm64), e.g. BASIC2-A2C-4G. Changing it resizes the server in place. */
  instanceType: string;
  /** Scaleway image label, e.g. ubuntu_noble. Only read at creation: changing it later has no effect. */
  imageLabel: string;
  /** Size of the data volume in GB. Can only grow after the first deploy. */
  dataVolumeSizeGb: number;
  /** Keep the data volume when the stack is destroyed. Defaults to true. Can change at any time. */
  retainDataOnDestroy?: boolean;
  /**
   * The only sources allowed to reach SSH and the Docker API. Empty (the default) leaves both open
   * to the world, protected by SSH keys and Docker's mutual TLS. Can change at any time.
   */
  adminCidrs: string[];
  /** OpenSSH public keys for the default user. Only read at first boot. */
  sshPublicKeys: string[];
  /** UDP ports coturn relays media on; opened in the security group. Can change at any time. */
  turnRelayPorts: PortRange;
  /** The services' public ports, opened to the world. Can change at any time. */
  publicPorts: PublicPort[];
  /** Directories made on the data volume at first boot, with their owners. Only read at first boot. */
  dataDirs: DataDir[];
  /**
   * A data volume kept from an earlier deploy (`<zone>/<uuid>`), attached instead of creating one. It
   * is not managed by this stack: destroy never deletes it. Default: a new volume.
   */
  existingDataVolumeId?: string;
}

interface Rule {
  protocol: "TCP" | "UDP";
  port?: number;
  portRange?: string;
  ipRange: string;
}

/**
 * The inbound rules of the host, exactly: web and federation, TURN and its relay range from
 * anywhere; SSH and the Docker API from `adminCidrs` only (or, when it is empty, from anywhere,
 * where keys and mTLS are the only guard). Everything else is dropped.
 */
export function inboundRules(args: Pick<ScalewayHostArgs, "adminCidrs" | "turnRelayPorts" | "publicPorts">): Rule[] {
  const relay = `${args.turnRelayPorts.min}-${args.turnRelayPorts.max}`;
  const adminSources = args.adminCidrs.length > 0 ? args.adminCidrs : WORLD;
  return [
    ...WORLD.flatMap((ipRange) => [
      ...args.publicPorts.map(({ protocol, port }) => ({ protocol, port, ipRange })),
      { protocol: "UDP" as const, portRange: relay, ipRange },
    ]),
    ...adminSources.flatMap((ipRange) => [
      { protocol: "TCP" as const, port: 22, ipRange },
      { protocol: "TCP" as const, port: DOCKER_TLS_PORT, ipRange },
    ]),
  ];
}

/**
 * One Scaleway ARM instance running Docker: a routed flexible IPv4 and IPv6, a drop-by-default
 * security group, a block volume for all persistent data, and the TLS materials to drive its
 * Docker API. Knows nothing about the services that run on it.
 */
export class ScalewayHost extends pulumi.ComponentResource {
  public readonly ipv4: pulumi.Output<string>;
  public readonly ipv6: pulumi.Output<string>;
  /** Path on the host where the data volume is mounted. */
  public readonly dataRoot: string = DATA_MOUNT;
  public readonly dataVolumeId: pulumi.Output<string>;
  public readonly serverId: pulumi.Output<string>;
  /** `tcp://<ip>:2376`, resolved only once the daemon answers (immediately during preview). */
  public readonly dockerHost: pulumi.Output<string>;
  public readonly dockerCaCertPem: pulumi.Output<string>;
  public readonly dockerClientCertPem: pulumi.Output<string>;
  public readonly dockerClientKeyPem: pulumi.Output<string>;

  constructor(name: string, args: ScalewayHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:host:ScalewayHost", name, {}, opts);
    const child = { parent: this };

    const ipv4 = new scaleway.instance.Ip(`${name}-ipv4`, { type: "routed_ipv4" }, child);
    const ipv6 = new scaleway.instance.Ip(`${name}-ipv6`, { type: "routed_ipv6" }, child);

    const securityGroup = new scaleway.instance.SecurityGroup(
      `${name}-firewall`,
      {
        description: "firmground: web, federation, TURN; SSH and Docker API for admins",
        inboundDefaultPolicy: "drop",
        outboundDefaultPolicy: "accept",
        stateful: true,
        inboundRules: inboundRules(args).map((rule) => ({ action: "accept", ...rule })),
      },
      child,
    );

    const dataVolume = args.existingDataVolumeId
      ? { id: pulumi.output(args.existingDataVolumeId) }
      : new scaleway.block.Volume(
          `${name}-data`,
          {
            sizeInGb: args.dataVolumeSizeGb,
            iops: 5000,
            // The tag tells the operator (and the policy pack, which cannot see resource options) what
            // `pulumi destroy` will do with this volume.
            tags: ["firmground", (args.retainDataOnDestroy ?? true) ? RETAINED_TAG : DELETED_TAG],
          },
          { ...child, retainOnDelete: args.retainDataOnDestroy ?? true },
        );

    const dockerTls = new DockerTls(`${name}-docker-tls`, { serverIp: ipv4.address }, child);

    const userData = pulumi
      .all([dataVolume.id, dockerTls.caCertPem, dockerTls.serverCertPem, dockerTls.serverKeyPem])
      .apply(([volumeId, ca, cert, key]) =>
        renderCloudInit({
          // Scaleway ids are "<zone>/<uuid>"; the device is named after the uuid.
          dataVolumeUuid: volumeId.split("/").pop()!,
          sshPublicKeys: args.sshPublicKeys,
          dockerCaCert: ca,
          dockerServerCert: cert,
          dockerServerKey: key,
          dataDirs: args.dataDirs,
        }),
      );

    const server = new scaleway.instance.Server(
      `${name}-server`,
      {
        type: args.instanceType,
        image: args.imageLabel,
        ipIds: [ipv4.id, ipv6.id],
        securityGroupId: securityGroup.id,
        rootVolume: { volumeType: "sbs_volume", sizeInGb: 20, deleteOnTermination: true },
        additionalVolumeIds: [dataVolume.id],
        userData: { "cloud-init": pulumi.secret(userData) },
        tags: ["firmground"],
      },
      // cloud-init runs once, at first boot: a changed template must not replace a running server.
      { ...child, ignoreChanges: ["userData", "image"] },
    );

    this.ipv4 = ipv4.address;
    this.ipv6 = server.publicIps.apply((ips) => ips.find((ip) => ip.family === "inet6")?.address ?? "");
    this.dataVolumeId = dataVolume.id;
    this.serverId = server.id;
    this.dockerCaCertPem = dockerTls.caCertPem;
    this.dockerClientCertPem = dockerTls.clientCertPem;
    this.dockerClientKeyPem = dockerTls.clientKeyPem;
    // The address is public; only the TLS materials used to reach it are secret.
    this.dockerHost = pulumi.unsecret(
      pulumi
        .all([server.id, ipv4.address, dockerTls.caCertPem, dockerTls.clientCertPem, dockerTls.clientKeyPem])
        .apply(async ([, address, caPem, clientCertPem, clientKeyPem]) => {
          if (!pulumi.runtime.isDryRun()) {
            await waitForDockerDaemon(
              { address, port: DOCKER_TLS_PORT, caPem, clientCertPem, clientKeyPem },
              {
                onRetry: (n, why) => {
                  if (n % 6 === 1) void pulumi.log.info(`waiting for Docker on ${address} (${why})`, this);
                },
              },
            );
          }
          return `tcp://${address}:${DOCKER_TLS_PORT}`;
        }),
    );

    this.registerOutputs({
      ipv4: this.ipv4,
      ipv6: this.ipv6,
      dataVolumeId: this.dataVolumeId,
      serverId: this.serverId,
      dockerHost: this.dockerHost,
    });
  }
}
