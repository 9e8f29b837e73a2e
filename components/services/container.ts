import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

/**
 * The mode of a file (a secret included) for an image whose one user is not root: only that user runs
 * in the container, so "readable by others" means readable by the service alone.
 */
export const IMAGE_USER_READABLE = "0644";

/** Docker's own stop timeout, for services that set none. */
export const DEFAULT_STOP_SECONDS = 10;

/** The sysctl below which binding a port needs privileges (per network namespace). */
export const UNPRIVILEGED_PORT_START = "net.ipv4.ip_unprivileged_port_start";

/** What every service container shares: its image, network, memory limit and file uploads. */
export interface ServiceArgs {
  /** Pinned image reference (name:tag). Changing it replaces the container only. */
  image: string;
  /** The internal bridge network's name; the container joins it under its service name. */
  networkName: pulumi.Input<string>;
  /** Hard memory limit in MiB (no swap beyond it). Can change at any time. */
  memoryMb: number;
}

export interface ContainerSpec extends ServiceArgs {
  /** Container name, also its DNS name on the network. */
  serviceName: string;
  /** Files placed in the container before it starts. A change replaces the container. */
  uploads: pulumi.Input<docker.types.input.ContainerUpload>[];
  /** Docker healthcheck command (`CMD …` or `CMD-SHELL …`). */
  healthcheck: string[];
  /** Host networking instead of the bridge network (coturn only). */
  hostNetwork?: boolean;
  /**
   * Namespaced kernel settings. Set explicitly what the image needs, rather than rely on Docker's
   * defaults for bridge networks (which, since 20.10, let any user bind ports below 1024).
   */
  sysctls?: Record<string, string>;
  /** Everything else the service needs (command, mounts, ports, env). */
  extra?: Partial<docker.ContainerArgs>;
}

/**
 * A file for `uploads`: text content, optionally owned by a user and with a mode.
 *
 * `owner` only for images that start as root (Synapse, PostgreSQL): the provider sets an upload's owner
 * through Docker's copyUIDGID, which for an image with a USER chowns to that user instead, resolved
 * differently by each engine version — on the host before 24, without a `:group` part before 28 — and
 * fails where it cannot resolve it. Files for images that run as their user from the start are
 * root's with a mode their user can read (`IMAGE_USER_READABLE`).
 */
export function upload(
  file: string,
  content: pulumi.Input<string>,
  options: { owner?: string; mode?: string } = {},
): docker.types.input.ContainerUpload {
  return {
    file,
    content,
    ...(options.owner ? { owner: options.owner, group: options.owner } : {}),
    permissions: options.mode ?? "0644",
  };
}

/**
 * Pulls the image and runs one service container with the stack's common settings: restart
 * unless stopped, json-file logs rotated at 3 × 10 MB, a memory limit without extra swap, a
 * healthcheck, and `pulumi up` waiting until the container reports healthy.
 *
 * `componentOpts` are the owning component's options: its `dependsOn` (say, Synapse on
 * PostgreSQL) is passed to the container, since Pulumi does not hand it down to children.
 */
export function serviceContainer(
  name: string,
  parent: pulumi.Resource,
  spec: ContainerSpec,
  componentOpts: pulumi.ComponentResourceOptions = {},
) {
  const image = new docker.RemoteImage(`${name}-image`, { name: spec.image, keepLocally: true }, { parent });
  return new docker.Container(
    name,
    {
      name: spec.serviceName,
      image: image.imageId,
      restart: "unless-stopped",
      memory: spec.memoryMb,
      memorySwap: spec.memoryMb,
      logDriver: "json-file",
      logOpts: { "max-size": "10m", "max-file": "3" },
      ...(spec.hostNetwork
        ? { networkMode: "host" }
        : { networksAdvanced: [{ name: spec.networkName, aliases: [spec.serviceName] }] }),
      healthcheck: { tests: spec.healthcheck, interval: "30s", timeout: "10s", retries: 3, startPeriod: "60s" },
      // The provider stops a container it deletes or replaces with this grace period, and with none
      // (an immediate kill) when it is unset: give each service the time its own stop needs.
      destroyGraceSeconds: spec.extra?.stopTimeout ?? DEFAULT_STOP_SECONDS,
      ...(spec.sysctls ? { sysctls: spec.sysctls } : {}),
      wait: true,
      waitTimeout: 300,
      uploads: spec.uploads,
      ...spec.extra,
    },
    // Names (and for HAProxy, host ports) are fixed, so the old container must go first.
    { parent, dependsOn: componentOpts.dependsOn, deleteBeforeReplace: true },
  );
}
