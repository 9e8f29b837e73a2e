/**
 * Runs the Pulumi program under mocks with the test stack config and takes, for every container, exactly
 * what Docker would receive: its uploads (byte-for-byte), command, entrypoint, environment, volumes,
 * published ports and healthcheck. The mocks generate real secrets and real keys and certificates, as the
 * random and tls providers would, so the files are the ones a deploy would write.
 */
import { generateKeyPairSync, randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { RecordingMocks, runProgram } from "../support/mocks";
import { openssl } from "../support/tools";

export interface ContainerFile {
  path: string;
  content: string;
  /** Numeric owner as uploaded; root when absent. */
  uid: number;
  gid: number;
  mode: number;
}

export interface ContainerMount {
  /** A host directory (on the data volume) or a named Docker volume. */
  hostPath?: string;
  volumeName?: string;
  containerPath: string;
  readOnly: boolean;
}

export interface ContainerSpec {
  /** The container's name, also its name on the network. */
  name: string;
  image: string;
  uploads: ContainerFile[];
  entrypoint?: string[];
  command?: string[];
  env: Record<string, string>;
  mounts: ContainerMount[];
  /** Host ports published, each to the same container port. */
  publishedPorts: number[];
  hostNetwork: boolean;
  healthcheck: string[];
  shmSizeMb?: number;
  memoryMb: number;
}

export interface Capture {
  containers: Record<string, ContainerSpec>;
  /** The program's stack outputs, secrets unwrapped. */
  outputs: Record<string, unknown>;
  /** Inputs of every MatrixUser (the dynamic resources), by resource name, secrets unwrapped. */
  users: Record<string, Record<string, unknown>>;
}

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const randomText = (length: number) =>
  Array.from({ length }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join("");

/** Mocks whose random and tls resources produce real values, as secrets, like the real providers. */
class RealisticMocks extends RecordingMocks {
  private readonly keys = new Map<string, string>();

  constructor(private readonly publicIpv4: string) {
    super();
  }

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, any> } {
    const result = super.newResource(args);
    const { state } = result;
    const inputs = unwrapSecrets(args.inputs) as Record<string, any>;
    switch (args.type) {
      case "random:index/randomPassword:RandomPassword":
        state.result = pulumi.secret(randomText(Number(inputs.length)));
        break;
      case "random:index/randomString:RandomString":
        state.result = randomText(Number(inputs.length));
        break;
      case "random:index/randomBytes:RandomBytes":
        state.base64 = pulumi.secret(randomBytes(Number(inputs.length)).toString("base64"));
        break;
      case "tls:index/privateKey:PrivateKey": {
        const pair =
          inputs.algorithm === "RSA"
            ? generateKeyPairSync("rsa", { modulusLength: Number(inputs.rsaBits ?? 2048) })
            : generateKeyPairSync("ec", { namedCurve: "P-256" });
        const pem = pair.privateKey.export({ type: inputs.algorithm === "RSA" ? "pkcs1" : "sec1", format: "pem" });
        this.keys.set(args.name, pem.toString());
        state.privateKeyPem = pulumi.secret(pem.toString());
        state.publicKeyPem = pair.publicKey.export({ type: "spki", format: "pem" }).toString();
        break;
      }
      case "tls:index/selfSignedCert:SelfSignedCert":
        state.certPem = selfSignedCert(
          String(inputs.privateKeyPem),
          String(inputs.subject?.commonName ?? "firmground"),
          (inputs.dnsNames ?? []) as string[],
          Math.ceil(Number(inputs.validityPeriodHours ?? 24) / 24),
        );
        break;
      case "scaleway:instance/ip:Ip":
        if (args.inputs.type !== "routed_ipv6") state.address = this.publicIpv4;
        break;
      case "scaleway:instance/server:Server":
        state.publicIps = [{ family: "inet", address: this.publicIpv4 }, ...state.publicIps.slice(1)];
        break;
    }
    return result;
  }
}

function selfSignedCert(keyPem: string, commonName: string, dnsNames: string[], days: number): string {
  const dir = mkdtempSync(join(tmpdir(), "firmground-cert-"));
  try {
    writeFileSync(join(dir, "key.pem"), keyPem, { mode: 0o600 });
    openssl(
      "req",
      "-x509",
      "-key",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      String(days),
      "-subj",
      `/CN=${commonName}`,
      ...(dnsNames.length > 0 ? ["-addext", `subjectAltName=${dnsNames.map((d) => `DNS:${d}`).join(",")}`] : []),
    );
    return readFileSync(join(dir, "cert.pem"), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The signature Pulumi puts on a serialized secret: `{ <sig>: <secret sig>, value }`. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Replaces every serialized secret by its plain value, recursively. */
export function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (SECRET_SIG in record && "value" in record) return unwrapSecrets(record.value);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

function toSpec(inputs: Record<string, any>, image: string): ContainerSpec {
  const env = Object.fromEntries(
    ((inputs.envs ?? []) as string[]).map((entry) => [
      entry.slice(0, entry.indexOf("=")),
      entry.slice(entry.indexOf("=") + 1),
    ]),
  );
  return {
    name: String(inputs.name),
    image,
    uploads: ((inputs.uploads ?? []) as Record<string, string>[]).map((u) => ({
      path: u.file,
      content: u.content,
      uid: Number(u.owner ?? 0),
      gid: Number(u.group ?? 0),
      mode: parseInt(u.permissions ?? "0644", 8),
    })),
    entrypoint: inputs.entrypoints as string[] | undefined,
    command: inputs.command as string[] | undefined,
    env,
    mounts: ((inputs.volumes ?? []) as Record<string, any>[]).map((v) => ({
      hostPath: v.hostPath as string | undefined,
      volumeName: v.volumeName as string | undefined,
      containerPath: String(v.containerPath),
      readOnly: Boolean(v.readOnly),
    })),
    publishedPorts: ((inputs.ports ?? []) as { internal: number; external: number }[]).map((p) => {
      if (p.internal !== p.external)
        throw new Error(`${inputs.name}: port ${p.external}→${p.internal} is not supported`);
      return p.external;
    }),
    hostNetwork: inputs.networkMode === "host",
    healthcheck: inputs.healthcheck?.tests as string[],
    shmSizeMb: inputs.shmSize as number | undefined,
    memoryMb: Number(inputs.memory),
  };
}

/**
 * Runs the program with `config` (the `firmground:*` keys) and returns every container's spec. Throws
 * when the program refuses the config.
 */
export async function captureContainers(config: Record<string, string>, publicIpv4: string): Promise<Capture> {
  const { mocks, outputs, error } = await runProgram(config, new RealisticMocks(publicIpv4));
  if (error) throw error instanceof Error ? error : new Error(JSON.stringify(error));
  const containers: Record<string, ContainerSpec> = {};
  const images = new Map(mocks.of("docker:index/remoteImage:RemoteImage").map((r) => [r.name, String(r.inputs.name)]));
  for (const container of mocks.of("docker:index/container:Container")) {
    const image = images.get(`${container.name}-image`) ?? "unknown";
    const spec = toSpec(unwrapSecrets(container.inputs) as Record<string, any>, image);
    containers[spec.name] = spec;
  }
  const plain: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(outputs ?? {})) {
    plain[key] = await new Promise((resolve) => pulumi.output(value).apply(resolve));
  }
  const users: Capture["users"] = {};
  for (const resource of mocks.of("pulumi-nodejs:dynamic:Resource")) {
    const inputs = unwrapSecrets(resource.inputs) as Record<string, unknown>;
    delete inputs.__provider; // the serialized provider, not an input of the account
    users[resource.name] = inputs;
  }
  return { containers, outputs: plain, users };
}
