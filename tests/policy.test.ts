/**
 * The policy pack's rules, each called the way the Pulumi engine calls them, with resources that must
 * pass and resources that must fail; and the program's own default stack passes them all.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import {
  containersAreLimited,
  dataVolumeIsRetained,
  firewallIsClosed,
  imagesArePinned,
  onlyCoturnUsesHostNetwork,
  onlyHaproxyPublishesPorts,
  POLICIES,
  type FirmgroundPolicyConfig,
} from "../policy/policies";
import { BASE_CONFIG, runProgram } from "./support/mocks";
import { unwrapSecrets } from "../components/render/offline";

/** The violations `policy` reports for one resource. */
function violations(
  policy: ResourceValidationPolicy,
  type: string,
  props: Record<string, unknown>,
  config: FirmgroundPolicyConfig = {},
) {
  const found: string[] = [];
  const args = {
    type,
    props,
    urn: `urn:pulumi:test::firmground::${type}::r`,
    name: "r",
    opts: {},
    stackTags: new Map(),
    getConfig: () => config,
    isType: () => false,
    asType: () => undefined,
  } as unknown as ResourceValidationArgs;
  const validate = policy.validateResource;
  for (const fn of Array.isArray(validate) ? validate : [validate]) {
    if (fn) void fn(args, (message: string) => found.push(message));
  }
  return found;
}

const CONTAINER = "docker:index/container:Container";

test("only HAProxy publishes ports", () => {
  expect(
    violations(onlyHaproxyPublishesPorts, CONTAINER, { name: "haproxy", ports: [{ internal: 443, external: 443 }] }),
  ).toEqual([]);
  expect(violations(onlyHaproxyPublishesPorts, CONTAINER, { name: "synapse" })).toEqual([]);
  expect(
    violations(onlyHaproxyPublishesPorts, CONTAINER, { name: "postgres", ports: [{ internal: 5432, external: 5432 }] }),
  ).toEqual(["container postgres publishes 1 port(s); only haproxy may"]);
});

test("only coturn uses host networking", () => {
  expect(violations(onlyCoturnUsesHostNetwork, CONTAINER, { name: "coturn", networkMode: "host" })).toEqual([]);
  expect(violations(onlyCoturnUsesHostNetwork, CONTAINER, { name: "synapse", networkMode: "host" })).toHaveLength(1);
});

test("every container has a memory limit and no extra swap", () => {
  expect(violations(containersAreLimited, CONTAINER, { name: "a", memory: 512, memorySwap: 512 })).toEqual([]);
  expect(violations(containersAreLimited, CONTAINER, { name: "a" })).toEqual(["container a has no memory limit"]);
  expect(violations(containersAreLimited, CONTAINER, { name: "a", memory: 512, memorySwap: -1 })).toEqual([
    "container a may swap beyond its memory limit",
  ]);
});

test("images are pinned", () => {
  const image = "docker:index/remoteImage:RemoteImage";
  for (const name of [
    "postgres:17.6-alpine",
    "ghcr.io/etkecc/ketesa:v1.4.0",
    `nginx@sha256:${"a".repeat(64)}`,
    "localhost:5000/x:1",
  ]) {
    expect(violations(imagesArePinned, image, { name })).toEqual([]);
  }
  expect(violations(imagesArePinned, image, { name: "postgres" })).toEqual([
    "image postgres has no tag (Docker would use latest)",
  ]);
  expect(violations(imagesArePinned, image, { name: "nginx:latest" })).toEqual([
    "image nginx:latest is not pinned (latest)",
  ]);
  expect(violations(imagesArePinned, image, { name: "localhost:5000/x" })).toHaveLength(1);
});

describe("security group", () => {
  const SG = "scaleway:instance/securityGroup:SecurityGroup";
  const rule = (port: number, ipRange: string) => ({ action: "accept", protocol: "TCP", port, ipRange });
  const web = [rule(443, "0.0.0.0/0"), rule(443, "::/0")];

  test("drops by default", () => {
    expect(violations(firewallIsClosed, SG, { inboundDefaultPolicy: "accept", inboundRules: web })).toEqual([
      "inbound default policy is accept; it must be drop",
    ]);
  });

  test("SSH and the Docker API open to the world only where that is allowed", () => {
    const open = { inboundDefaultPolicy: "drop", inboundRules: [...web, rule(22, "0.0.0.0/0"), rule(2376, "::/0")] };
    expect(violations(firewallIsClosed, SG, open)).toEqual([]);
    expect(violations(firewallIsClosed, SG, open, { restrictAdminPorts: true })).toEqual([
      "port 22 is open to every IPv4 address (0.0.0.0/0); restrict it to adminCidrs",
      "port 2376 is open to every IPv6 address (::/0); restrict it to adminCidrs",
    ]);
    const restricted = {
      inboundDefaultPolicy: "drop",
      inboundRules: [...web, rule(22, "203.0.113.7/32"), rule(2376, "203.0.113.7/32")],
    };
    expect(violations(firewallIsClosed, SG, restricted, { restrictAdminPorts: true })).toEqual([]);
    // adminCidrs set, yet the port also open to the world: refused even without the config.
    const mixed = { inboundDefaultPolicy: "drop", inboundRules: [rule(22, "203.0.113.7/32"), rule(22, "0.0.0.0/0")] };
    expect(violations(firewallIsClosed, SG, mixed)).toEqual([
      "port 22 is open to every IPv4 address (203.0.113.7/32, 0.0.0.0/0); restrict it to adminCidrs",
    ]);
    // The world split into pieces is the world.
    const split = {
      inboundDefaultPolicy: "drop",
      inboundRules: [rule(2376, "0.0.0.0/1"), rule(2376, "128.0.0.0/2"), rule(2376, "192.0.0.0/2")],
    };
    expect(violations(firewallIsClosed, SG, split, { restrictAdminPorts: true })).toEqual([
      "port 2376 is open to every IPv4 address (0.0.0.0/1, 128.0.0.0/2, 192.0.0.0/2); restrict it to adminCidrs",
    ]);
    expect(violations(firewallIsClosed, SG, split)).toEqual([
      "port 2376 is open to every IPv4 address (0.0.0.0/1, 128.0.0.0/2, 192.0.0.0/2); restrict it to adminCidrs",
    ]);
  });
});

test("the data volume is retained where required", () => {
  const volume = "scaleway:block/volume:Volume";
  expect(violations(dataVolumeIsRetained, volume, { tags: ["firmground", "deleted-on-destroy"] })).toEqual([]);
  expect(
    violations(
      dataVolumeIsRetained,
      volume,
      { tags: ["firmground", "retained-on-destroy"] },
      { requireRetainedVolume: true },
    ),
  ).toEqual([]);
  expect(
    violations(
      dataVolumeIsRetained,
      volume,
      { tags: ["firmground", "deleted-on-destroy"] },
      { requireRetainedVolume: true },
    ),
  ).toHaveLength(1);
});

test.each([
  [
    "the default stack with adminCidrs, under prod's policy config",
    { adminCidrs: '["203.0.113.7/32"]' },
    { restrictAdminPorts: true, requireRetainedVolume: true },
    0,
  ],
  ["adminCidrs empty under prod's policy config", {}, { restrictAdminPorts: true, requireRetainedVolume: true }, 2],
  [
    "retainDataOnDestroy false under prod's policy config",
    { adminCidrs: '["203.0.113.7/32"]', retainDataOnDestroy: "false" },
    { restrictAdminPorts: true, requireRetainedVolume: true },
    1,
  ],
  ["adminCidrs empty under the default policy config", {}, {}, 0],
])("the program's resources: %s", async (_label, config, policyConfig, expected) => {
  const { mocks, error } = await runProgram({ ...BASE_CONFIG, ...config });
  expect(error).toBeUndefined();
  const found = mocks.resources.flatMap((r) =>
    POLICIES.flatMap((policy) =>
      violations(policy, r.type, unwrapSecrets(r.inputs) as Record<string, unknown>, policyConfig),
    ),
  );
  expect(found).toHaveLength(expected);
});
