/**
 * The host component on its own: resource options the mocks cannot see are captured with a
 * transformation, which Pulumi applies to every child before registering it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { unwrapSecrets } from "../components/render/offline";
import { BASE_CONFIG, RecordingMocks, runProgram, settle } from "./support/mocks";
import { haveTool, run } from "./support/tools";
import { inboundRules } from "../components/host/scalewayHost";
import { DATA_VOLUME_DIRS, PUBLIC_PORTS } from "../components/services/registry";

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
      publicPorts: PUBLIC_PORTS,
      dataDirs: DATA_VOLUME_DIRS,
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
  const rules = inboundRules({
    adminCidrs: ["198.51.100.0/24"],
    turnRelayPorts: { min: 50000, max: 50010 },
    publicPorts: PUBLIC_PORTS,
  });
  const admin = rules.filter((r) => r.port === 22 || r.port === 2376);
  expect(admin.map((r) => r.ipRange)).toEqual(["198.51.100.0/24", "198.51.100.0/24"]);
  expect(rules).toContainEqual({ protocol: "UDP", portRange: "50000-50010", ipRange: "0.0.0.0/0" });
});

describe("the rendered user data, checked by the real cloud-init (Debian's cloud-init schema)", () => {
  let dir: string;
  beforeAll(() => {
    haveTool("cloud-init");
    dir = mkdtempSync(join(tmpdir(), "firmground-cloud-init-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const schema = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return run("cloud-init", ["schema", "--config-file", file]);
  };

  test("the program's user data (with SSH keys) is valid cloud-config", async () => {
    const { mocks, error } = await runProgram({
      ...BASE_CONFIG,
      sshPublicKeys: JSON.stringify([
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl you@laptop",
      ]),
    });
    expect(error).toBeUndefined();
    const server = mocks.of("scaleway:instance/server:Server")[0];
    const text = (unwrapSecrets(server.inputs.userData) as Record<string, string>)["cloud-init"];
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const result = schema("user-data.yaml", text);
    expect(result.output).toContain("Valid cloud-config");
    expect(result.status).toBe(0);
  });

  test("the check is real: a malformed document is refused", () => {
    const result = schema("bad.yaml", "#cloud-config\nwrite_files:\n  - pathx: /x\nruncmd: 3\n");
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/'path' is a required property/);
  });
});
