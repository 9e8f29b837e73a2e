/**
 * The local target (`target: docker`): the same services on the local Docker daemon, no Scaleway
 * resource, certificates from a local CA, HAProxy on non-privileged ports.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { stackConfig } from "../components/render/cli";
import { runProgram, valueOf } from "./support/mocks";
import { unwrapSecrets } from "../components/render/offline";
import { ONE_SHOT_MEMORY_MB } from "../components/services/matrixServices";

const LOCAL = stackConfig(fs.readFileSync(path.join(__dirname, "..", "Pulumi.local.yaml"), "utf8"));

let run: Awaited<ReturnType<typeof runProgram>>;
beforeAll(async () => {
  process.env.DOCKER_HOST = "unix:///run/test-docker.sock";
  run = await runProgram(LOCAL.values, undefined, LOCAL.secretKeys);
  delete process.env.DOCKER_HOST;
  if (run.error) throw run.error as Error;
});

const containers = () =>
  Object.fromEntries(
    run.mocks.of("docker:index/container:Container").map((c) => {
      const inputs = unwrapSecrets(c.inputs) as Record<string, any>;
      return [inputs.name as string, inputs];
    }),
  );
const upload = (container: Record<string, any>, file: string) =>
  (container.uploads as { file: string; content: string }[]).find((u) => u.file === file)!.content;

test("no Scaleway resource; the Docker provider is the local daemon", () => {
  expect(run.mocks.resources.filter((r) => r.type.startsWith("scaleway:"))).toEqual([]);
  const provider = run.mocks.of("pulumi:providers:docker")[0];
  expect(provider.inputs.host).toBe("unix:///run/test-docker.sock");
  const admin = run.mocks.of("pulumi-nodejs:dynamic:Resource").find((r) => r.name === "users-admin")!;
  expect((unwrapSecrets(admin.inputs) as { connection: unknown }).connection).toEqual({
    host: "unix:///run/test-docker.sock",
  });
});

test("the same services (the local CA replaces certbot), plus the one-shot that makes the data directories", () => {
  expect(Object.keys(containers()).sort()).toEqual(
    [
      "backup",
      "coturn",
      "element",
      "firmground-backup-tools",
      "firmground-data-dirs",
      "haproxy",
      "nginx",
      "postgres",
      "synapse",
      "synapse-admin",
    ].sort(),
  );
  const prepare = containers()["firmground-data-dirs"];
  // Pulumi.local.yaml backs up to a directory of the Docker host, which the one-shot makes too.
  expect(prepare.volumes).toEqual([
    { hostPath: "/var/lib/firmground-local", containerPath: "/data" },
    { hostPath: "/var/lib/firmground-local-backups", containerPath: "/repository" },
  ]);
  expect(prepare.entrypoints.join(" ")).toContain("chown 991:991 /data/synapse/media");
  // Memory-limited like every other container (the policy pack refuses one without a limit).
  expect(prepare.memory).toBe(ONE_SHOT_MEMORY_MB);
  expect(prepare.memorySwap).toBe(ONE_SHOT_MEMORY_MB);
  expect(containers().synapse.volumes[0].hostPath).toBe("/var/lib/firmground-local/synapse/media");
});

test("HAProxy is published on 8080, 8443 and 8448", () => {
  const ports = (containers().haproxy.ports as { internal: number; external: number }[]).map(
    (p) => `${p.external}->${p.internal}`,
  );
  expect(ports.sort()).toEqual(["8080->80", "8443->443", "8448->8448"]);
});

test("HAProxy and coturn serve the local CA's certificate for every name", () => {
  const tls = run.mocks.of("tls:index/certRequest:CertRequest")[0];
  expect((unwrapSecrets(tls.inputs) as { dnsNames: string[] }).dnsNames).toEqual([
    "matrix.firmground.localhost",
    "element.firmground.localhost",
    "turn.firmground.localhost",
    "admin.firmground.localhost",
    "firmground.localhost",
  ]);
  const pem = upload(containers().haproxy, "/usr/local/etc/haproxy/fallback.pem");
  expect(pem).toContain("MOCK CERT local-ca-server");
  expect(pem).toContain("MOCK KEY SECRET-local-ca-server-key");
  expect(upload(containers().coturn, "/etc/coturn/fallback-cert.pem")).toContain("MOCK CERT local-ca-server");
});

test("every public URL carries the 8443 port", async () => {
  expect(run.outputs!.homeserverUrl).toBe("https://matrix.firmground.localhost:8443");
  expect(upload(containers().synapse, "/config/homeserver.yaml")).toContain(
    "public_baseurl: https://matrix.firmground.localhost:8443/",
  );
  expect(
    JSON.parse(upload(containers().element, "/app/config.json"))["default_server_config"]["m.homeserver"].base_url,
  ).toBe("https://matrix.firmground.localhost:8443");
  expect(await valueOf(run.outputs!.localCaCertPem)).toContain("MOCK CERT local-ca-ca");
});
