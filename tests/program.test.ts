/**
 * The whole program under Pulumi's mocks: what it registers, with which security-relevant inputs,
 * and that secrets stay secret.
 */
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { contractOf } from "./support/imageContracts";
import {
  BASE_CONFIG,
  IPV4,
  MARKED_VALUES,
  RecordingMocks,
  IPV6,
  runProgram,
  secretValue,
  SERVER_TYPES,
  valueOf,
  type Recorded,
} from "./support/mocks";

const CONTAINER = "docker:index/container:Container";
const SG = "scaleway:instance/securityGroup:SecurityGroup";
const RECORD = "scaleway:domain/record:Record";

/** Pulumi's marker for a secret value in serialized inputs. */
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const isSecretInput = (value: unknown) =>
  typeof value === "object" &&
  value !== null &&
  (value as Record<string, unknown>)["4dabf18193072939515e22adb298388d"] === SECRET_SIG;
const unwrap = (value: any): any => (isSecretInput(value) ? value.value : value);

function containers(resources: Recorded[]): Record<string, Record<string, any>> {
  return Object.fromEntries(
    resources
      .filter((r) => r.type === CONTAINER)
      .map((r) => [r.inputs.name as string, { ...r.inputs, uploads: unwrap(r.inputs.uploads) ?? [] }]),
  );
}

/** Long-running services, and one-shot containers (which run once at creation and stay stopped). */
function split(byName: Record<string, Record<string, any>>) {
  const entries = Object.entries(byName);
  return {
    services: Object.fromEntries(entries.filter(([, c]) => c.mustRun !== false)),
    oneShots: Object.fromEntries(entries.filter(([, c]) => c.mustRun === false)),
  };
}

function uploadOf(container: Record<string, any>, file: string): string {
  const found = (container.uploads as Array<{ file: string; content: string }>).find((u) => u.file === file);
  if (!found) throw new Error(`no upload ${file}`);
  return found.content;
}

describe("default stack", () => {
  let run: Awaited<ReturnType<typeof runProgram>>;
  beforeAll(async () => {
    run = await runProgram({ ...BASE_CONFIG, adminCidrs: JSON.stringify(["203.0.113.7/32"]) });
    if (run.error) throw run.error as Error;
  });

  test("registers exactly the expected resources", () => {
    const counts: Record<string, number> = {};
    for (const r of run.mocks.resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
    expect(counts).toEqual({
      "firmground:secrets:Secrets": 1,
      "firmground:host:ScalewayHost": 1,
      "firmground:host:DockerTls": 1,
      "firmground:dns:DnsRecords": 1,
      "firmground:services:MatrixServices": 1,
      "firmground:services:Postgres": 1,
      "firmground:services:Synapse": 1,
      "firmground:services:Coturn": 1,
      "firmground:services:Haproxy": 1,
      "firmground:services:Nginx": 1,
      "firmground:services:Element": 1,
      "firmground:services:Certificates": 1,
      "firmground:services:AdminUi": 1,
      "firmground:users:Users": 1,
      "firmground:backup:BackupStorage": 1,
      "firmground:backup:Backup": 1,
      // The admin's MatrixUser, the backup before an upgrade, the first start's restore.
      "pulumi-nodejs:dynamic:Resource": 3,
      "random:index/randomPassword:RandomPassword": 7,
      "random:index/randomId:RandomId": 1,
      "random:index/randomBytes:RandomBytes": 1,
      "random:index/randomString:RandomString": 1,
      "tls:index/privateKey:PrivateKey": 4,
      "tls:index/selfSignedCert:SelfSignedCert": 2,
      "tls:index/certRequest:CertRequest": 2,
      "tls:index/locallySignedCert:LocallySignedCert": 2,
      "scaleway:instance/ip:Ip": 2,
      "scaleway:instance/securityGroup:SecurityGroup": 1,
      "scaleway:block/volume:Volume": 1,
      "scaleway:instance/server:Server": 1,
      "scaleway:domain/record:Record": 10,
      "scaleway:account/project:Project": 1,
      "scaleway:object/bucket:Bucket": 1,
      "scaleway:iam/application:Application": 1,
      "scaleway:iam/policy:Policy": 1,
      "scaleway:iam/apiKey:ApiKey": 1,
      "pulumi:providers:docker": 1,
      "docker:index/network:Network": 1,
      "docker:index/volume:Volume": 3,
      "docker:index/remoteImage:RemoteImage": 10,
      "docker:index/container:Container": 10,
    });
  });

  test("an ARM instance from the image label, with the data volume attached", () => {
    const [server] = run.mocks.of("scaleway:instance/server:Server");
    expect(server.inputs.type).toBe("BASIC2-A2C-4G");
    expect(SERVER_TYPES[server.inputs.type].arch).toBe("arm64");
    expect(server.inputs.image).toBe("ubuntu_noble");
    expect(server.inputs.additionalVolumeIds).toEqual(["fr-par-2/6f0e2d3c-1111-4222-8333-944455566677"]);
    expect(server.inputs.rootVolume).toMatchObject({ volumeType: "sbs_volume" });
    expect(isSecretInput(server.inputs.userData)).toBe(true);
  });

  test("security group: drop by default, exactly the public ports, admin ports only from adminCidrs", () => {
    const [sg] = run.mocks.of(SG);
    expect(sg.inputs.inboundDefaultPolicy).toBe("drop");
    const rules = (sg.inputs.inboundRules as Array<Record<string, string | number>>).map(
      (r) => `${r.protocol} ${r.port ?? r.portRange} ${r.ipRange}`,
    );
    const world = ["0.0.0.0/0", "::/0"].flatMap((range) =>
      ["TCP 80", "TCP 443", "TCP 8448", "TCP 3478", "UDP 3478", "TCP 5349", "UDP 5349", "UDP 49152-49172"].map(
        (p) => `${p} ${range}`,
      ),
    );
    expect(rules.sort()).toEqual([...world, "TCP 22 203.0.113.7/32", "TCP 2376 203.0.113.7/32"].sort());
    expect((sg.inputs.inboundRules as Array<Record<string, unknown>>).every((r) => r.action === "accept")).toBe(true);
  });

  test("one data volume of dataVolumeSizeGb (its retention is tested in host.test.ts)", () => {
    const [volume] = run.mocks.of("scaleway:block/volume:Volume");
    expect(volume.inputs).toMatchObject({ sizeInGb: 20, iops: 5000 });
  });

  test("DNS: A and AAAA for matrix, element, turn, admin and the apex", () => {
    const records = run.mocks.of(RECORD).map((r) => `${r.inputs.type} ${r.inputs.name || "@"} ${r.inputs.data}`);
    const expected = ["matrix", "element", "turn", "admin", "@"].flatMap((name) => [
      `A ${name} ${IPV4}`,
      `AAAA ${name} ${IPV6}`,
    ]);
    expect(records.sort()).toEqual(expected.sort());
    expect(run.mocks.of(RECORD).every((r) => r.inputs.dnsZone === "example.org")).toBe(true);
  });

  test("one container per service, each with a pinned image, a memory limit, a healthcheck, restart and log rotation", () => {
    const { services: byName, oneShots } = split(containers(run.mocks.resources));
    // restic's binary is copied from its image by a one-shot container without a network.
    expect(Object.keys(oneShots)).toEqual(["firmground-backup-tools"]);
    for (const c of Object.values(oneShots)) {
      expect(c).toMatchObject({ attach: true, mustRun: false, networkMode: "none" });
      expect(c.memory).toBeGreaterThan(0);
    }
    expect(Object.keys(byName).sort()).toEqual([
      "backup",
      "certbot",
      "coturn",
      "element",
      "haproxy",
      "nginx",
      "postgres",
      "synapse",
      "synapse-admin",
    ]);
    const images = run.mocks.of("docker:index/remoteImage:RemoteImage").map((r) => r.inputs.name as string);
    for (const image of images) expect(image).toMatch(/:[\w][\w.-]*$/);
    expect(images.some((i) => /:latest$/.test(i))).toBe(false);
    for (const c of Object.values(byName)) {
      // The provider kills a container it deletes at once unless given a grace period.
      expect(c.destroyGraceSeconds).toBe(c.stopTimeout ?? 10);
      expect(c.memory).toBeGreaterThan(0);
      expect(c.restart).toBe("unless-stopped");
      expect(c.logOpts).toEqual({ "max-size": "10m", "max-file": "3" });
      expect(c.healthcheck.tests.length).toBeGreaterThan(1);
    }
    const total = Object.values(byName).reduce((sum, c) => sum + (c.memory as number), 0);
    expect(total).toBeLessThanOrEqual(4096 * 0.85);
  });

  test("only HAProxy publishes ports (80, 443, 8448); only coturn uses host networking; PostgreSQL publishes nothing", () => {
    const byName = split(containers(run.mocks.resources)).services;
    for (const [name, c] of Object.entries(byName)) {
      if (name === "haproxy") {
        expect(c.ports.map((p: { external: number }) => p.external).sort()).toEqual([443, 80, 8448]);
      } else {
        expect(c.ports ?? []).toEqual([]);
      }
      expect(c.networkMode === "host").toBe(name === "coturn");
      if (name !== "coturn") expect(c.networksAdvanced).toEqual([{ name: "firmground", aliases: [name] }]);
    }
    expect(byName.postgres.ports).toBeUndefined();
  });

  test("nothing relies on Docker's bridge defaults: low ports and the control socket's owner are explicit (inputs only)", () => {
    const byName = containers(run.mocks.resources);
    // HAProxy runs as uid 99 and binds 80 and 443; Element's nginx runs as uid 101.
    expect(byName.haproxy.sysctls).toEqual({ "net.ipv4.ip_unprivileged_port_start": "0" });
    expect(byName.element.envs).toEqual(["ELEMENT_WEB_PORT=8080"]);
    for (const [name, c] of Object.entries(byName)) if (name !== "haproxy") expect(c.sysctls).toBeUndefined();
    const control = run.mocks.of("docker:index/volume:Volume").find((v) => v.name === "matrix-haproxy-control")!;
    expect(control.inputs.driverOpts).toEqual({
      type: "tmpfs",
      device: "tmpfs",
      o: "uid=99,gid=99,mode=0700,size=1m",
    });
  });

  test("uploads name an owner only in images that start as root (Docker's copyUIDGID differs by engine version otherwise)", () => {
    const images = Object.fromEntries(
      run.mocks.of("docker:index/remoteImage:RemoteImage").map((r) => [r.name, String(r.inputs.name)]),
    );
    for (const r of run.mocks.of(CONTAINER)) {
      const contract = contractOf(images[`${r.name}-image`]);
      const user = r.inputs.user as string | undefined;
      const setsUser =
        (contract.runsAs.uid !== 0 && !contract.dropsPrivileges) || (user !== undefined && !/^0(:|$)/.test(user));
      const owned = (unwrap(r.inputs.uploads) ?? []).filter((u: { owner?: string }) => u.owner !== undefined);
      expect({ container: r.inputs.name, owned: setsUser ? owned.length : 0 }).toEqual({
        container: r.inputs.name,
        owned: 0,
      });
    }
  });

  test("PostgreSQL: UTF8 with C collation, password from a file, data on the volume", () => {
    const pg = containers(run.mocks.resources).postgres;
    expect(pg.envs).toContain("POSTGRES_INITDB_ARGS=--encoding=UTF8 --locale=C");
    expect(pg.envs).toContain("POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password");
    expect(pg.envs.join(" ")).not.toContain(secretValue("secrets-postgres"));
    expect(pg.volumes).toEqual([{ hostPath: "/srv/firmground/postgres", containerPath: "/var/lib/postgresql/data" }]);
  });

  test("Synapse starts directly from its rendered files; homeserver.yaml holds no secret", () => {
    const synapse = containers(run.mocks.resources).synapse;
    expect(synapse.command).toEqual(["run"]);
    expect(synapse.envs).toEqual(["SYNAPSE_CONFIG_PATH=/config/homeserver.yaml"]);
    const homeserver = uploadOf(synapse, "/config/homeserver.yaml");
    expect(homeserver).toBe(run.outputs!.homeserverYaml);
    const parsed = YAML.parse(homeserver);
    expect(parsed.server_name).toBe("example.org");
    expect(parsed.database.name).toBe("psycopg2");
    expect(parsed.listeners[0].port).toBe(8008);
    for (const name of ["macaroon", "registration", "form", "turn", "postgres"]) {
      const secret = secretValue(`secrets-${name}`);
      expect(homeserver).not.toContain(secret);
      expect(JSON.stringify(run.outputs!.wellKnownClient)).not.toContain(secret);
    }
    expect(uploadOf(synapse, "/secrets/pgpass")).toBe(
      `postgres:5432:synapse:synapse:${secretValue("secrets-postgres")}\n`,
    );
    expect(uploadOf(synapse, "/secrets/signing.key")).toMatch(/^ed25519 a_Ab1z [A-Za-z0-9+/]+\n$/);
    for (const file of ["/secrets/signing.key", "/secrets/macaroon_secret_key", "/secrets/pgpass"]) {
      expect(synapse.uploads.find((u: { file: string }) => u.file === file)).toMatchObject({
        owner: "991",
        permissions: "0600",
      });
    }
  });

  test("coturn shares Synapse's TURN secret; HAProxy and the renewer are wired to each other", () => {
    const byName = containers(run.mocks.resources);
    const turn = uploadOf(byName.coturn, "/etc/coturn/turnserver.conf");
    expect(turn).toContain(`static-auth-secret=${secretValue("secrets-turn")}`);
    expect(turn).toContain(`external-ip=${IPV4}`);
    expect(uploadOf(byName.synapse, "/secrets/turn_shared_secret")).toBe(secretValue("secrets-turn"));
    const renew = uploadOf(byName.certbot, "/etc/firmground/renew.sh");
    for (const d of ["matrix.example.org", "element.example.org", "turn.example.org", "example.org"])
      expect(renew).toContain(`-d '${d}'`);
    expect(byName.certbot.volumes).toContainEqual({
      volumeName: "firmground-haproxy-control",
      containerPath: "/run/haproxy",
    });
    expect(byName.haproxy.volumes).toContainEqual({
      volumeName: "firmground-haproxy-control",
      containerPath: "/var/lib/haproxy",
    });
    // No container gets the Docker socket.
    for (const c of Object.values(byName)) expect(JSON.stringify(c.volumes ?? [])).not.toContain("docker.sock");
  });

  test("the fallback certificate names no host, so HAProxy prefers the issued one for every SNI", () => {
    // Found by the real-daemon run: with the public names in it, HAProxy kept serving the fallback
    // after the renewer had installed the real certificate (both matched; the first declared won).
    const fallback = run.mocks.resources.find(
      (r) => r.type === "tls:index/selfSignedCert:SelfSignedCert" && r.name === "secrets-fallback-cert",
    );
    expect(fallback?.inputs.dnsNames ?? []).toEqual([]);
    expect(fallback?.inputs.ipAddresses ?? []).toEqual([]);
  });

  test("the admin UI: its own host, config locked to the homeserver, admin sources only", () => {
    const byName = containers(run.mocks.resources);
    expect(JSON.parse(uploadOf(byName["synapse-admin"], "/var/public/config.json"))).toEqual({
      restrictBaseUrl: "https://matrix.example.org",
    });
    const cfg = uploadOf(byName.haproxy, "/usr/local/etc/haproxy/haproxy.cfg");
    expect(cfg).toContain("acl admin_host var(txn.host) -m str admin.example.org");
    expect(cfg).toContain("http-request deny deny_status 403 if admin_host !admin_source");
    expect(cfg).toContain("use_backend synapse_admin if admin_host");
    expect(uploadOf(byName.certbot, "/etc/firmground/renew.sh")).toContain("-d 'admin.example.org'");
  });

  test("every output that holds a secret is secret; the others are plain", async () => {
    const outputs = run.outputs!;
    expect(await pulumi.isSecret(outputs.dockerTls)).toBe(true);
    expect(await pulumi.isSecret(outputs.serverIp)).toBe(false);
    expect(await pulumi.isSecret(outputs.dockerHost)).toBe(false);
    expect(await valueOf(outputs.dockerHost)).toBe(`tcp://${IPV4}:2376`);
    expect(outputs.wellKnownServer).toEqual({ "m.server": "matrix.example.org:443" });
    expect(outputs.homeserverUrl).toBe("https://matrix.example.org");
    expect(await valueOf(outputs.nextSteps)).toContain(`DOCKER_HOST=tcp://${IPV4}:2376`);
    for (const key of ["adminPassword", "userPasswords", "userAdmin"])
      expect(await pulumi.isSecret(outputs[key])).toBe(true);
    expect(await valueOf(outputs.adminPassword)).toBe(secretValue("users-admin-password"));
    expect(outputs.adminUser).toBe("@admin:example.org");
    expect(outputs.adminUiUrl).toBe("https://admin.example.org");
    // Containers that receive secret files have their uploads marked secret in the state.
    for (const r of run.mocks.of(CONTAINER)) {
      const holdsSecret = ["synapse", "postgres", "coturn", "haproxy", "backup"].includes(r.inputs.name);
      expect({ name: r.inputs.name, secret: isSecretInput(r.inputs.uploads) }).toEqual({
        name: r.inputs.name,
        secret: holdsSecret,
      });
    }
  });
});

describe("a secret synapseExtraConfig (inputs only: Synapse loading both files is checked in npm run test:stack)", () => {
  const SMTP = "smtp-password-0123456789";
  test("its settings leave homeserver.yaml and every plain output for a 0600 file only Synapse reads", async () => {
    const { mocks, outputs, error } = await runProgram(
      {
        ...BASE_CONFIG,
        synapseExtraConfig: JSON.stringify({
          email: { smtp_host: "mail.example.org", smtp_pass: SMTP, notif_from: "Matrix <m@example.org>" },
          caches: { sync_response_cache_duration: "2m" },
        }),
      },
      undefined,
      ["synapseExtraConfig"],
    );
    expect(error).toBeUndefined();
    const synapse = containers(mocks.resources).synapse;
    const main = uploadOf(synapse, "/config/homeserver.yaml");
    expect(main).not.toContain(SMTP);
    expect(main).toContain("read from /secrets/homeserver-secret.yaml instead: email, caches");
    expect(YAML.parse(main).caches).toBeUndefined();
    const secret = YAML.parse(uploadOf(synapse, "/secrets/homeserver-secret.yaml"));
    expect(secret.email.smtp_pass).toBe(SMTP);
    // Merged with firmground's defaults for the same top-level key, as homeserver.yaml would have been.
    expect(secret.caches).toMatchObject({ global_factor: 0.8, sync_response_cache_duration: "2m" });
    expect(synapse.uploads.find((u: { file: string }) => u.file === "/secrets/homeserver-secret.yaml")).toMatchObject({
      owner: "991",
      permissions: "0600",
    });
    expect(synapse.command).toEqual([
      "run",
      "--config-path",
      "/config/homeserver.yaml",
      "--config-path",
      "/secrets/homeserver-secret.yaml",
    ]);
    expect(outputs!.homeserverYaml).toBe(main);
    for (const [key, value] of Object.entries(outputs!)) {
      if (await pulumi.isSecret(pulumi.output(value))) continue;
      expect({ key, leaks: JSON.stringify(await valueOf(value)).includes(SMTP) }).toEqual({ key, leaks: false });
    }
  });

  test("without secret settings nothing changes: one file, the image's default config path", async () => {
    const { mocks } = await runProgram(BASE_CONFIG, undefined, ["synapseExtraConfig"]);
    const synapse = containers(mocks.resources).synapse;
    expect(synapse.command).toEqual(["run"]);
    expect(synapse.uploads.map((u: { file: string }) => u.file)).not.toContain("/secrets/homeserver-secret.yaml");
  });
});

describe("options change only what they should", () => {
  test("empty adminCidrs: SSH and Docker API open behind keys/mTLS, admin API not routed", async () => {
    const { mocks, error } = await runProgram(BASE_CONFIG);
    expect(error).toBeUndefined();
    const rules = (mocks.of(SG)[0].inputs.inboundRules as Array<Record<string, string | number>>).filter(
      (r) => r.port === 22 || r.port === 2376,
    );
    expect(rules.map((r) => `${r.port} ${r.ipRange}`).sort()).toEqual([
      "22 0.0.0.0/0",
      "22 ::/0",
      "2376 0.0.0.0/0",
      "2376 ::/0",
    ]);
    const cfg = uploadOf(containers(mocks.resources).haproxy, "/usr/local/etc/haproxy/haproxy.cfg");
    expect(cfg).toContain("http-request deny deny_status 403 if admin_path\n");
  });

  test("manageApexRecords false: no apex records, apex not in the certificate", async () => {
    const { mocks, error } = await runProgram({ ...BASE_CONFIG, manageApexRecords: "false" });
    expect(error).toBeUndefined();
    expect(mocks.of(RECORD).map((r) => r.inputs.name)).not.toContain("");
    expect(mocks.of(RECORD)).toHaveLength(8);
    expect(uploadOf(containers(mocks.resources).certbot, "/etc/firmground/renew.sh")).not.toContain("-d 'example.org'");
  });

  test("a changed setting changes only the containers whose files change; never the server or volume", async () => {
    const before = await runProgram(BASE_CONFIG);
    const after = await runProgram({
      ...BASE_CONFIG,
      federation: JSON.stringify({ directoryServers: ["example.org"] }),
    });
    const key = (r: Recorded) => `${r.type} ${r.name}`;
    const inputsOf = (rs: Recorded[]) => Object.fromEntries(rs.map((r) => [key(r), JSON.stringify(r.inputs)]));
    const a = inputsOf(before.mocks.resources);
    const b = inputsOf(after.mocks.resources);
    const changed = Object.keys(a).filter((k) => a[k] !== b[k]);
    expect(changed).toEqual([`${CONTAINER} matrix-element-container`]);
  });

  test("retainDataOnDestroy false is accepted and nothing else about the volume changes", async () => {
    const { mocks, error } = await runProgram({ ...BASE_CONFIG, retainDataOnDestroy: "false" });
    expect(error).toBeUndefined();
    expect(mocks.of("scaleway:block/volume:Volume")).toHaveLength(1);
  });
});

describe("re-deploying over a retained volume", () => {
  test("the restoreSecrets output of one deploy, given back with its volume, keeps the volume, key, database password and admin", async () => {
    const first = await runProgram(BASE_CONFIG);
    expect(first.error).toBeUndefined();
    const saved = (await valueOf(first.outputs!.restoreSecrets)) as Record<string, string>;
    expect(await pulumi.isSecret(first.outputs!.restoreSecrets)).toBe(true);
    const volumeId = await valueOf(first.outputs!.dataVolumeId);

    // A new stack (new random values) told to reuse them.
    const second = await runProgram(
      { ...BASE_CONFIG, dataVolumeId: String(volumeId), restoreSecrets: JSON.stringify(saved) },
      new RecordingMocks({ ...MARKED_VALUES, password: (name) => `OTHER-${name}-0123456789` }),
      ["restoreSecrets"],
    );
    expect(second.error).toBeUndefined();
    const { mocks } = second;
    expect(mocks.of("scaleway:block/volume:Volume")).toEqual([]);
    expect(mocks.of("random:index/randomBytes:RandomBytes")).toEqual([]);
    const server = mocks.of("scaleway:instance/server:Server")[0];
    expect(unwrap(server.inputs.additionalVolumeIds)).toEqual([volumeId]);
    const byName = containers(mocks.resources);
    expect(uploadOf(byName.synapse, "/secrets/signing.key")).toBe(saved.signingKey);
    expect(uploadOf(byName.synapse, "/secrets/pgpass")).toContain(`:${saved.postgresPassword}`);
    expect(uploadOf(byName.postgres, "/run/secrets/postgres-password")).toBe(saved.postgresPassword);
    // Backups: the old repository's password, the old stack's bucket (no new project or bucket), a key of its own.
    expect(uploadOf(byName.backup, "/secrets/restic-password")).toBe(saved.backupPassword);
    expect(mocks.of("scaleway:account/project:Project")).toEqual([]);
    expect(mocks.of("scaleway:object/bucket:Bucket")).toEqual([]);
    const [projectId, bucket] = saved.backupBucket.split("/").slice(1);
    const policy = mocks.of("scaleway:iam/policy:Policy")[0];
    expect(policy.inputs.rules).toEqual([{ projectIds: [projectId], permissionSetNames: expect.any(Array) }]);
    expect(await valueOf(second.outputs!.backupRepository)).toBe(`s3:https://s3.fr-par.scw.cloud/${bucket}/firmground`);
    const admin = mocks.of("pulumi-nodejs:dynamic:Resource").find((r) => r.name === "users-admin")!;
    expect(unwrap(admin.inputs.password)).toBe(saved.adminPassword);
    expect(await valueOf(second.outputs!.signingKeyId)).toBe(await valueOf(first.outputs!.signingKeyId));
    // Everything else is new, as it may be.
    expect(uploadOf(byName.synapse, "/secrets/macaroon_secret_key")).toBe("OTHER-secrets-macaroon-0123456789");
  });
});

describe("users and the admin UI", () => {
  const DYNAMIC = "pulumi-nodejs:dynamic:Resource";

  test("the admin and each configured user are one MatrixUser each, secrets kept secret", async () => {
    const { mocks, outputs, error } = await runProgram(
      {
        ...BASE_CONFIG,
        adminUser: "root",
        users: JSON.stringify([
          { name: "carol", displayName: "Carol" },
          { name: "dave", admin: true, password: "dave-given-password" },
        ]),
      },
      undefined,
      ["users"],
    );
    expect(error).toBeUndefined();
    const users = Object.fromEntries(
      mocks
        .of(DYNAMIC)
        .filter((r) => r.name.startsWith("users-"))
        .map((r) => [r.name, r.inputs]),
    );
    expect(Object.keys(users).sort()).toEqual(["users-admin", "users-user-carol", "users-user-dave"]);
    expect(users["users-admin"]).toMatchObject({
      username: "root",
      admin: true,
      adminUser: "root",
      image: "matrixdotorg/synapse:v1.160.0",
    });
    expect(users["users-user-carol"]).toMatchObject({ username: "carol", admin: false, displayName: "Carol" });
    expect(users["users-user-dave"]).toMatchObject({ username: "dave", admin: true });
    for (const inputs of Object.values(users)) {
      for (const key of ["password", "sharedSecret", "adminPassword", "connection"])
        expect(isSecretInput(inputs[key])).toBe(true);
    }
    // A given password is used; the others are generated.
    expect(unwrap(users["users-user-dave"].password)).toBe("dave-given-password");
    expect(unwrap(users["users-user-carol"].password)).toBe(secretValue("users-user-carol-password"));
    // Users other than the admin use the admin resource's kept token, so their jobs need not log in.
    expect(unwrap(users["users-user-carol"].adminToken)).toBe(secretValue("users-admin-token"));
    expect(await valueOf(outputs!.userPasswords)).toEqual({
      carol: secretValue("users-user-carol-password"),
      dave: "dave-given-password",
    });
  });

  test("adminUi false: no container, no DNS record, not in the certificate, not routed", async () => {
    const { mocks, outputs, error } = await runProgram({ ...BASE_CONFIG, adminUi: "false" });
    expect(error).toBeUndefined();
    const byName = containers(mocks.resources);
    expect(byName["synapse-admin"]).toBeUndefined();
    expect(mocks.of(RECORD).map((r) => r.inputs.name)).not.toContain("admin");
    expect(uploadOf(byName.certbot, "/etc/firmground/renew.sh")).not.toContain("admin.example.org");
    expect(uploadOf(byName.haproxy, "/usr/local/etc/haproxy/haproxy.cfg")).not.toContain("admin_host");
    expect(outputs!.adminUiUrl).toBeUndefined();
  });
});

describe("bad input creates nothing", () => {
  test.each([
    ["a non-arm64 instance type", { instanceType: "DEV1-S" }, /Scaleway reports arch "x86_64"/],
    ["an end-of-life ARM type", { instanceType: "COPARM1-2C-8G" }, /end-of-service/],
    ["an unknown instance type", { instanceType: "NOPE-1" }, /Scaleway does not offer this type/],
    ["too little RAM", { instanceType: "TINY-ARM-1G" }, /too little/],
    [
      "a host outside the zone",
      { turnHost: "turn.elsewhere.net" },
      /turnHost = "turn\.elsewhere\.net": must lie inside the DNS zone/,
    ],
    [
      "an owned Synapse key",
      { synapseExtraConfig: '{"listeners": []}' },
      /synapseExtraConfig\.listeners = \[not shown\]: owned by firmground/,
    ],
    ["a missing server name", { serverName: undefined as unknown as string }, /serverName = null: required/],
    [
      "sizing overrides that do not fit the RAM",
      { sizing: '{"memoryMb": {"synapse": 3500}}' },
      /firmground:sizing\.memoryMb = .*at most 3481 \(85 % of 4096 MiB RAM\)/,
    ],
    [
      "a sizing override of the wrong type",
      { sizing: '{"synapse": {"presence": "yes"}}' },
      /sizing\.synapse\.presence = "yes": expected true or false/,
    ],
  ])("%s", async (_label, change, message) => {
    const config = Object.fromEntries(
      Object.entries({ ...BASE_CONFIG, ...change }).filter(([, v]) => v !== undefined),
    ) as Record<string, string>;
    const { mocks, error } = await runProgram(config);
    expect(String(error)).toMatch(message);
    expect(mocks.resources).toEqual([]);
  });
});
