/**
 * firmground's policies: what must hold of any stack, whatever its config. index.ts makes them the
 * policy pack that `pulumi preview --policy-pack policy` runs; each is a plain object, unit-tested by
 * calling its validator with passing and failing resources (tests/policy.test.ts).
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { coveredFamilies } from "../components/util";
import { RETAINED_TAG, WORLD } from "../components/host/conventions";
import { facts, SERVICE_NAMES } from "../components/services/registry";
import { DOCKER_TLS_PORT } from "../config-templates/cloudInit";

const CONTAINER = "docker:index/container:Container";
const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";
const SECURITY_GROUP = "scaleway:instance/securityGroup:SecurityGroup";
const VOLUME = "scaleway:block/volume:Volume";
const ADMIN_PORTS = [22, DOCKER_TLS_PORT];

export interface FirmgroundPolicyConfig {
  /** Refuse SSH and the Docker API open to the world (set where adminCidrs is set, e.g. prod). */
  restrictAdminPorts?: boolean;
  /** Refuse a data volume that `pulumi destroy` would delete (prod). */
  requireRetainedVolume?: boolean;
}

/** Containers that publish ports through Docker: services with public ports on the bridge (HAProxy). */
const PUBLISHERS = SERVICE_NAMES.filter((s) => facts(s).publicPorts && !facts(s).hostNetwork).map((s) => facts(s).host);
/** Containers on the host's network: services that say so (coturn, for its relay range). */
const HOST_NETWORKED = SERVICE_NAMES.filter((s) => facts(s).hostNetwork).map((s) => facts(s).host);

export const onlyHaproxyPublishesPorts: ResourceValidationPolicy = {
  name: "only-haproxy-publishes-ports",
  description: "Only the HAProxy container publishes ports; every other service is internal.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== CONTAINER) return;
    const ports = (args.props.ports ?? []) as unknown[];
    if (ports.length > 0 && !PUBLISHERS.includes(String(args.props.name))) {
      reportViolation(
        `container ${String(args.props.name)} publishes ${ports.length} port(s); only ${PUBLISHERS.join(", ")} may`,
      );
    }
  },
};

export const onlyCoturnUsesHostNetwork: ResourceValidationPolicy = {
  name: "only-coturn-uses-host-network",
  description: "Only coturn runs with host networking (its relay range).",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (
      args.type === CONTAINER &&
      args.props.networkMode === "host" &&
      !HOST_NETWORKED.includes(String(args.props.name))
    ) {
      reportViolation(
        `container ${String(args.props.name)} uses host networking; only ${HOST_NETWORKED.join(", ")} may`,
      );
    }
  },
};

export const containersAreLimited: ResourceValidationPolicy = {
  name: "containers-have-memory-limits",
  description: "Every container has a memory limit without extra swap, so one service cannot take the host down.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== CONTAINER) return;
    const memory = Number(args.props.memory ?? 0);
    if (!(memory > 0)) reportViolation(`container ${String(args.props.name)} has no memory limit`);
    else if (args.props.memorySwap !== undefined && Number(args.props.memorySwap) !== memory) {
      reportViolation(`container ${String(args.props.name)} may swap beyond its memory limit`);
    }
  },
};

export const imagesArePinned: ResourceValidationPolicy = {
  name: "images-are-pinned",
  description: "Every image is pinned to a tag or digest; never latest.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== REMOTE_IMAGE) return;
    const image = String(args.props.name ?? "");
    const last = image.split("/").pop() ?? "";
    if (image.includes("@sha256:")) return;
    if (!last.includes(":")) reportViolation(`image ${image} has no tag (Docker would use latest)`);
    else if (last.endsWith(":latest")) reportViolation(`image ${image} is not pinned (latest)`);
  },
};

export const firewallIsClosed: ResourceValidationPolicy = {
  name: "security-group-drops-by-default",
  description:
    "The security group drops unsolicited traffic, and SSH and the Docker API are not open to the world where admin sources are set.",
  enforcementLevel: "mandatory",
  configSchema: { properties: { restrictAdminPorts: { type: "boolean" } } },
  validateResource: (args, reportViolation) => {
    if (args.type !== SECURITY_GROUP) return;
    if (args.props.inboundDefaultPolicy !== "drop") {
      reportViolation(`inbound default policy is ${String(args.props.inboundDefaultPolicy)}; it must be drop`);
    }
    const { restrictAdminPorts } = args.getConfig<FirmgroundPolicyConfig>();
    const rules = (args.props.inboundRules ?? []) as { port?: number; ipRange?: string; action?: string }[];
    for (const port of ADMIN_PORTS) {
      const ranges = rules.filter((r) => r.port === port && r.action !== "drop").map((r) => String(r.ipRange));
      // Open to the world as one range or split into pieces (0.0.0.0/1 + 128.0.0.0/1).
      const covered = coveredFamilies(ranges);
      // Restricted rules next to world-covering ones mean adminCidrs is set yet the port is open anyway.
      const restricted = ranges.some((range) => !WORLD.includes(range));
      if (covered.length > 0 && (restrictAdminPorts || restricted)) {
        reportViolation(
          `port ${port} is open to every ${covered.join(" and every ")} address (${ranges.join(", ")}); restrict it to adminCidrs`,
        );
      }
    }
  },
};

export const dataVolumeIsRetained: ResourceValidationPolicy = {
  name: "data-volume-is-retained",
  description: "Where required (prod), the data volume survives pulumi destroy (retainDataOnDestroy: true).",
  enforcementLevel: "mandatory",
  configSchema: { properties: { requireRetainedVolume: { type: "boolean" } } },
  validateResource: (args, reportViolation) => {
    if (args.type !== VOLUME || !args.getConfig<FirmgroundPolicyConfig>().requireRetainedVolume) return;
    const tags = (args.props.tags ?? []) as string[];
    if (!tags.includes(RETAINED_TAG)) {
      reportViolation("the data volume would be deleted by pulumi destroy; set firmground:retainDataOnDestroy to true");
    }
  },
};

export const POLICIES = [
  onlyHaproxyPublishesPorts,
  onlyCoturnUsesHostNetwork,
  containersAreLimited,
  imagesArePinned,
  firewallIsClosed,
  dataVolumeIsRetained,
];
