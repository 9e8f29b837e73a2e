import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ELEMENT, HOSTS, NGINX, PORTS, SYNAPSE_ADMIN } from "../../config-templates/paths";
import {
  adminUiConfig,
  elementConfig,
  renderJson,
  renderNginxConf,
  wellKnownClient,
  wellKnownServer,
  type ElementInput,
} from "../../config-templates/web";
import { serviceContainer, upload, type ServiceArgs } from "./container";

export interface NginxArgs extends ServiceArgs {
  /** The client/federation hostname the .well-known documents point to. */
  matrixHost: string;
  /** Public HTTPS port, 443 unless on the local target. */
  httpsPort?: number;
  /** Docker volume holding the ACME challenge files the renewer writes. */
  acmeVolume: pulumi.Input<string>;
}

/** NGINX: the two /.well-known/matrix documents and the ACME webroot. */
export class Nginx extends pulumi.ComponentResource {
  public readonly nginxConf: string;
  public readonly wellKnownServer: string;
  public readonly wellKnownClient: string;
  public readonly container: docker.Container;

  constructor(name: string, args: NginxArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:services:Nginx", name, {}, opts);
    this.nginxConf = renderNginxConf();
    this.wellKnownServer = renderJson(wellKnownServer(args.matrixHost, args.httpsPort));
    this.wellKnownClient = renderJson(wellKnownClient(args.matrixHost, args.httpsPort));
    const wellKnown = `${NGINX.wellKnownDir}/.well-known/matrix`;
    this.container = serviceContainer(
      `${name}-container`,
      this,
      {
        ...args,
        serviceName: "nginx",
        uploads: [
          upload(NGINX.configFile, this.nginxConf),
          upload(`${wellKnown}/server`, this.wellKnownServer),
          upload(`${wellKnown}/client`, this.wellKnownClient),
        ],
        healthcheck: ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${PORTS.nginx}/healthz`],
        extra: { volumes: [{ volumeName: args.acmeVolume, containerPath: NGINX.acmeWebroot, readOnly: true }] },
      },
      opts,
    );
    this.registerOutputs({
      nginxConf: this.nginxConf,
      wellKnownServer: this.wellKnownServer,
      wellKnownClient: this.wellKnownClient,
    });
  }
}

export interface ElementArgs extends ServiceArgs {
  /** What config.json is rendered from. Can change at any time. */
  element: ElementInput;
}

/** Element web, pointed at this homeserver. */
export class Element extends pulumi.ComponentResource {
  public readonly configJson: string;
  public readonly container: docker.Container;

  constructor(name: string, args: ElementArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:services:Element", name, {}, opts);
    this.configJson = renderJson(elementConfig(args.element));
    this.container = serviceContainer(
      `${name}-container`,
      this,
      {
        ...args,
        serviceName: "element",
        uploads: [upload(ELEMENT.configFile, this.configJson)],
        // The image's nginx runs as uid 101 and listens on ELEMENT_WEB_PORT (80 by default, which
        // needs privileges or Docker's bridge default): a port above 1024 needs neither.
        extra: { envs: [`ELEMENT_WEB_PORT=${PORTS.element}`] },
        healthcheck: ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${PORTS.element}/config.json`],
      },
      opts,
    );
    this.registerOutputs({ configJson: this.configJson });
  }
}

export interface AdminUiArgs extends ServiceArgs {
  /** The homeserver the UI is locked to. Can change at any time. */
  matrixHost: string;
  /** Public HTTPS port, 443 unless on the local target. */
  httpsPort?: number;
}

/** The admin web UI (Ketesa, formerly synapse-admin), locked to this homeserver; HAProxy admits admin sources only. */
export class AdminUi extends pulumi.ComponentResource {
  public readonly configJson: string;
  public readonly container: docker.Container;

  constructor(name: string, args: AdminUiArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:services:AdminUi", name, {}, opts);
    this.configJson = renderJson(adminUiConfig(args.matrixHost, args.httpsPort));
    this.container = serviceContainer(
      `${name}-container`,
      this,
      {
        ...args,
        serviceName: HOSTS.synapseAdmin,
        uploads: [upload(SYNAPSE_ADMIN.configFile, this.configJson)],
        healthcheck: ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${PORTS.synapseAdmin}/health`],
      },
      opts,
    );
    this.registerOutputs({ configJson: this.configJson });
  }
}
