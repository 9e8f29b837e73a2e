import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { PortRange } from "../config";
import { COTURN, PORTS } from "../../config-templates/paths";
import { renderCoturnRunScript, renderTurnserverConf } from "../../config-templates/coturn";
import { IMAGE_USER_READABLE, serviceContainer, upload, type ServiceArgs } from "./container";

export interface CoturnArgs extends ServiceArgs {
  /** TURN realm: the TURN hostname. Can change at any time. */
  realm: string;
  /** The host's public IPv4, advertised in relayed candidates. */
  externalIp: pulumi.Input<string>;
  /** UDP relay ports; must match the security group's range. Can change at any time. */
  relayPorts: PortRange;
  /** Shared with Synapse (`turn_shared_secret`). */
  sharedSecret: pulumi.Input<string>;
  /** Self-signed certificate and key used until the renewer has issued the real one. */
  fallbackCertPem: pulumi.Input<string>;
  fallbackKeyPem: pulumi.Input<string>;
  /** Host directory where the renewer writes coturn's certificate. */
  certPath: string;
}

/** coturn with host networking (a relay range cannot sensibly be published through Docker). */
export class Coturn extends pulumi.ComponentResource {
  /** turnserver.conf; a secret output, it holds the shared secret. */
  public readonly turnserverConf: pulumi.Output<string>;
  public readonly container: docker.Container;

  constructor(name: string, args: CoturnArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:services:Coturn", name, {}, opts);
    this.turnserverConf = pulumi.secret(
      pulumi
        .all([args.externalIp, args.sharedSecret])
        .apply(([externalIp, sharedSecret]) =>
          renderTurnserverConf({ realm: args.realm, externalIp, relayPorts: args.relayPorts, sharedSecret }),
        ),
    );
    // The image runs as nobody from the start: root's files, readable by it (see upload()).
    const owned = { mode: IMAGE_USER_READABLE };
    this.container = serviceContainer(
      `${name}-container`,
      this,
      {
        ...args,
        serviceName: "coturn",
        hostNetwork: true,
        uploads: [
          upload(COTURN.configFile, this.turnserverConf, owned),
          upload(COTURN.runScript, renderCoturnRunScript(), { mode: "0755" }),
          upload(COTURN.fallbackCert, args.fallbackCertPem, owned),
          upload(COTURN.fallbackKey, pulumi.secret(args.fallbackKeyPem), owned),
        ],
        healthcheck: ["CMD", "turnutils_stunclient", "-p", String(PORTS.turn), "127.0.0.1"],
        extra: {
          entrypoints: ["/bin/sh", COTURN.runScript],
          volumes: [{ hostPath: args.certPath, containerPath: COTURN.certDir, readOnly: true }],
          init: true,
        },
      },
      opts,
    );
    this.registerOutputs({ turnserverConf: this.turnserverConf });
  }
}
