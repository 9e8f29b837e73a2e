import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { HAPROXY, PORTS } from "../../config-templates/paths";
import { renderHaproxyCfg, type HaproxyInput } from "../../config-templates/haproxy";
import { facts, type Service } from "./registry";
import { IMAGE_USER_READABLE, serviceContainer, UNPRIVILEGED_PORT_START, upload, type ServiceArgs } from "./container";

export interface HaproxyArgs extends ServiceArgs {
  /** Everything haproxy.cfg is rendered from. */
  proxy: HaproxyInput;
  /** Self-signed certificate and key (one PEM) served until the real certificate exists. */
  fallbackPem: pulumi.Input<string>;
  /** Host directory where the renewer writes HAProxy's certificate. */
  certPath: string;
  /** Docker volume shared with the renewer, holding the master CLI socket. */
  controlVolume: pulumi.Input<string>;
  /** Host port per published container port. Default: the same numbers (80, 443, 8448). */
  hostPorts?: Partial<Record<number, number>>;
}

/**
 * HAProxy's routes and backends from what the running services declare (components/services/registry.ts):
 * each route's ACL, its host (resolved from the settings) or paths, and the order HAProxy checks them in.
 */
export function proxyRouting(
  running: Service[],
  hosts: Record<"elementHost" | "adminHost", string>,
): Pick<HaproxyInput, "routes" | "backends" | "federationBackend" | "acmeBackend"> {
  const backendName = (service: Service) => facts(service).host.replace(/-/g, "_");
  const routed = running.filter((s) => facts(s).routes);
  return {
    routes: routed.flatMap((service) =>
      (facts(service).routes ?? []).map(({ order, route }) => ({
        backend: backendName(service),
        acl: route.acl,
        order,
        match: "hostKey" in route.match ? { host: hosts[route.match.hostKey] } : { paths: [...route.match.paths] },
        adminOnly: route.adminOnly ?? false,
      })),
    ),
    backends: routed.map((service) => ({
      name: backendName(service),
      host: facts(service).host,
      port: Object.values(facts(service).ports)[0],
      ...(facts(service).httpCheck ? { httpCheck: facts(service).httpCheck } : {}),
    })),
    // The federation port is Synapse's; ACME challenges are answered from NGINX's webroot.
    federationBackend: backendName("synapse"),
    acmeBackend: backendName("nginx"),
  };
}

/** The public ports to publish: HAProxy is the only container that publishes any. */
export const PUBLISHED_PORTS = (facts("haproxy").publicPorts ?? []).map((p) => p.port);

/** HAProxy: TLS, routing, the admin-API gate and the per-source rate limit. */
export class Haproxy extends pulumi.ComponentResource {
  public readonly haproxyCfg: string;
  public readonly container: docker.Container;

  constructor(name: string, args: HaproxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:services:Haproxy", name, {}, opts);
    this.haproxyCfg = renderHaproxyCfg(args.proxy);
    this.container = serviceContainer(
      `${name}-container`,
      this,
      {
        ...args,
        serviceName: "haproxy",
        // The image runs HAProxy as uid 99, which binds 80 and 443 only with this.
        sysctls: { [UNPRIVILEGED_PORT_START]: "0" },
        uploads: [
          upload(HAPROXY.configFile, this.haproxyCfg),
          // The image runs as haproxy (99) from the start: root's file, readable by it (see upload()).
          upload(HAPROXY.fallbackCert, pulumi.secret(args.fallbackPem), { mode: IMAGE_USER_READABLE }),
        ],
        healthcheck: ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${PORTS.haproxyHealth}/healthz`],
        extra: {
          // The image's entrypoint adds -W (master-worker) and -db; -S opens the master CLI the
          // renewer uses to request a reload.
          command: ["haproxy", "-f", HAPROXY.configFile, "-S", `${HAPROXY.masterSocket},mode,600`],
          ports: PUBLISHED_PORTS.map((port) => ({
            internal: port,
            external: args.hostPorts?.[port] ?? port,
            protocol: "tcp",
          })),
          volumes: [
            { hostPath: args.certPath, containerPath: HAPROXY.certDir, readOnly: true },
            { volumeName: args.controlVolume, containerPath: HAPROXY.controlDir },
          ],
        },
      },
      opts,
    );
    this.registerOutputs({ haproxyCfg: this.haproxyCfg });
  }
}
