import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CERTBOT } from "../../config-templates/paths";
import { renderDeployHook, renderRenewScript, type CertbotInput } from "../../config-templates/certbot";
import { serviceContainer, upload, type ServiceArgs } from "./container";

export interface CertificatesArgs extends ServiceArgs {
  /** Hostnames, contact address and ACME directory. Adding a hostname expands the certificate. */
  acme: CertbotInput;
  /** Host directory for certbot's account and certificates (on the data volume). */
  letsencryptPath: string;
  /** Host directory the deploy hook writes HAProxy's and coturn's certificates into. */
  certsPath: string;
  /** Docker volume holding ACME challenge files, served by NGINX. */
  acmeVolume: pulumi.Input<string>;
  /** Docker volume holding HAProxy's master CLI socket. */
  haproxyControlVolume: pulumi.Input<string>;
}

/** certbot in a renewal loop; its deploy hook installs certificates and reloads HAProxy. */
export class Certificates extends pulumi.ComponentResource {
  public readonly renewScript: string;
  public readonly deployHook: string;
  public readonly container: docker.Container;

  constructor(name: string, args: CertificatesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:services:Certificates", name, {}, opts);
    this.renewScript = renderRenewScript(args.acme);
    this.deployHook = renderDeployHook();
    this.container = serviceContainer(
      `${name}-container`,
      this,
      {
        ...args,
        serviceName: "certbot",
        uploads: [
          upload(CERTBOT.renewScript, this.renewScript, { mode: "0755" }),
          upload(CERTBOT.deployHook, this.deployHook, { mode: "0755" }),
        ],
        // Healthy while the renewal loop is alive: it touches the heartbeat every cycle (≤ 12 h).
        healthcheck: ["CMD-SHELL", `find ${CERTBOT.heartbeat} -mmin -780 | grep -q .`],
        extra: {
          entrypoints: ["/bin/sh", CERTBOT.renewScript],
          volumes: [
            { hostPath: args.letsencryptPath, containerPath: CERTBOT.configDir },
            { hostPath: args.certsPath, containerPath: "/certs" },
            { volumeName: args.acmeVolume, containerPath: CERTBOT.webroot },
            { volumeName: args.haproxyControlVolume, containerPath: CERTBOT.haproxyControlDir },
          ],
        },
      },
      opts,
    );
    this.registerOutputs({ renewScript: this.renewScript, deployHook: this.deployHook });
  }
}
