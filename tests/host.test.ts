/**
 * The host component on its own: resource options the mocks cannot see are captured with a
 * transformation, which Pulumi applies to every child before registering it.
 */
import * as pulumi from "@pulumi/pulumi";
import { RecordingMocks, settle } from "./support/mocks";
import { inboundRules } from "../components/host/scalewayHost";

async function volumeOptions(retainDataOnDestroy: boolean | undefined) {
  await pulumi.runtime.setMocks(new RecordingMocks(), "firmground", "test", true);
  const { ScalewayHost } = await import("../components/host/scalewayHost");
  const seen: Record<string, pulumi.CustomResourceOptions> = {};
  new ScalewayHost(
    `host-${String(retainDataOnDestroy)}`,
    {
      instanceType: "BASIC2-A2C-4G",
      imageLabel: "ubuntu_noble",
      dataVolumeSizeGb: 20,
      retainDataOnDestroy,
      adminCidrs: [],
      sshPublicKeys: [],
      turnRelayPorts: { min: 49152, max: 49172 },
    },
    {
      transformations: [
        (args) => {
          seen[args.type] = args.opts;
          return undefined;
        },
      ],
    },
  );
  await settle();
  return seen;
}

test.each([
  [undefined, true],
  [true, true],
  [false, false],
])("retainDataOnDestroy=%s keeps the data volume on delete: %s", async (setting, retained) => {
  const seen = await volumeOptions(setting);
  expect(seen["scaleway:block/volume:Volume"].retainOnDelete).toBe(retained);
  // The server is never retained, and a changed cloud-init template never replaces it.
  expect(seen["scaleway:instance/server:Server"].retainOnDelete).toBeFalsy();
  expect(seen["scaleway:instance/server:Server"].ignoreChanges).toEqual(["userData", "image"]);
});

test("inbound rules never open SSH or the Docker API to the world when adminCidrs is set", () => {
  const rules = inboundRules({ adminCidrs: ["198.51.100.0/24"], turnRelayPorts: { min: 50000, max: 50010 } });
  const admin = rules.filter((r) => r.port === 22 || r.port === 2376);
  expect(admin.map((r) => r.ipRange)).toEqual(["198.51.100.0/24", "198.51.100.0/24"]);
  expect(rules).toContainEqual({ protocol: "UDP", portRange: "50000-50010", ipRange: "0.0.0.0/0" });
});
