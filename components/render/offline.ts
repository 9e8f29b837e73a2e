/**
 * The program without a Pulumi engine or a cloud: Pulumi's mocks stand in for the engine and the
 * providers, generated values (passwords, keys, certificates) come from a `GeneratedValues` strategy,
 * and what the program registers is recorded. `npm run render` uses placeholders; the real-daemon
 * harness uses real values; the unit tests use markers they can search for.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access -- Pulumi's mocks hand over untyped resource inputs */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { engineConfigOfValues, parseProject } from "./engineConfig";

// Internal (not in the typings), but the only way to know every registration has reached the mocks.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { waitForRPCs } = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> };

/** The project file, as the engine reads it before every run. */
const PROJECT_FILE = parseProject(readFileSync(join(__dirname, "..", "..", "Pulumi.yaml"), "utf8"));

export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

/** Scaleway's arm64 instance types (BASIC2-A, 2025) and the end-of-life COPARM1, as getServerType reports them. */
export const KNOWN_SERVER_TYPES: Record<string, { arch: string; ram: number; cpu: number; endOfService: boolean }> = {
  "BASIC2-A2C-4G": { arch: "arm64", ram: 4 * 1024 ** 3, cpu: 2, endOfService: false },
  "BASIC2-A2C-8G": { arch: "arm64", ram: 8 * 1024 ** 3, cpu: 2, endOfService: false },
  "BASIC2-A4C-8G": { arch: "arm64", ram: 8 * 1024 ** 3, cpu: 4, endOfService: false },
  "BASIC2-A4C-16G": { arch: "arm64", ram: 16 * 1024 ** 3, cpu: 4, endOfService: false },
  "BASIC2-A8C-16G": { arch: "arm64", ram: 16 * 1024 ** 3, cpu: 8, endOfService: false },
  "BASIC2-A8C-32G": { arch: "arm64", ram: 32 * 1024 ** 3, cpu: 8, endOfService: false },
  "BASIC2-A16C-32G": { arch: "arm64", ram: 32 * 1024 ** 3, cpu: 16, endOfService: false },
  "BASIC2-A16C-64G": { arch: "arm64", ram: 64 * 1024 ** 3, cpu: 16, endOfService: false },
  "COPARM1-2C-8G": { arch: "arm64", ram: 8 * 1024 ** 3, cpu: 2, endOfService: true },
};

/** What generated resources return. Secret ones are wrapped as secrets, as the real providers do. */
export interface GeneratedValues {
  /** random.RandomPassword's result. */
  password(name: string, length: number): string;
  /** random.RandomString's result (not secret). */
  text(name: string, length: number): string;
  /** random.RandomBytes' base64. */
  bytesBase64(name: string, length: number): string;
  /** tls.PrivateKey's PEMs. */
  privateKey(name: string, algorithm: string): { privateKeyPem: string; publicKeyPem: string };
  /** tls.SelfSignedCert / LocallySignedCert certPem, from the resource's (secret-free) inputs. */
  certificate(name: string, inputs: Record<string, any>): string;
}

/** Labelled placeholders: every rendered secret says which resource it comes from. */
export const PLACEHOLDERS: GeneratedValues = {
  password: (name) => `<secret:${name}>`,
  text: (_name, length) => "x".repeat(length),
  bytesBase64: (name) => `<secret:${name}>`,
  privateKey: (name) => ({
    // A label, not PEM armour: nothing in a rendered tree should look like a real key.
    privateKeyPem: `<secret:${name} (private key, PEM)>\n`,
    publicKeyPem: `-----BEGIN PUBLIC KEY-----\n<generated:${name}>\n-----END PUBLIC KEY-----\n`,
  }),
  certificate: (name) => `-----BEGIN CERTIFICATE-----\n<generated:${name}>\n-----END CERTIFICATE-----\n`,
};

/** Replaces every serialized secret (`{ <sig>: <secret sig>, value }`) by its value, recursively. */
export function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if ("4dabf18193072939515e22adb298388d" in record && "value" in record) return unwrapSecrets(record.value);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

/** Mocks that record every registration and answer like the providers the program uses. */
export class OfflineMocks implements pulumi.runtime.Mocks {
  public resources: Registered[] = [];

  constructor(
    readonly values: GeneratedValues,
    readonly network = { ipv4: "192.0.2.10", ipv6: "2001:db8::10", volumeUuid: "00000000-0000-4000-8000-000000000000" },
    readonly serverTypes = KNOWN_SERVER_TYPES,
  ) {}

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, any> } {
    this.resources.push({ type: args.type, name: args.name, inputs: args.inputs });
    const state: Record<string, any> = { ...args.inputs };
    const inputs = unwrapSecrets(args.inputs) as Record<string, any>;
    const { values } = this;
    switch (args.type) {
      case "random:index/randomPassword:RandomPassword":
        state.result = pulumi.secret(values.password(args.name, Number(inputs.length)));
        break;
      case "random:index/randomString:RandomString":
        state.result = values.text(args.name, Number(inputs.length));
        break;
      case "random:index/randomId:RandomId":
        // Hexadecimal, as the provider's (the strategies' text need not be).
        state.hex = createHash("sha256")
          .update(args.name)
          .digest("hex")
          .slice(0, 2 * Number(inputs.byteLength));
        break;
      case "scaleway:account/project:Project":
        return { id: "11111111-2222-4333-8444-555555555555", state };
      case "scaleway:iam/apiKey:ApiKey":
        state.accessKey = `SCW${values.text(args.name, 17).toUpperCase()}`;
        state.secretKey = pulumi.secret(values.password(`${args.name}-secret`, 36));
        break;
      case "random:index/randomBytes:RandomBytes":
        state.base64 = pulumi.secret(values.bytesBase64(args.name, Number(inputs.length)));
        break;
      case "tls:index/privateKey:PrivateKey": {
        const key = values.privateKey(args.name, String(inputs.algorithm));
        state.privateKeyPem = pulumi.secret(key.privateKeyPem);
        state.publicKeyPem = key.publicKeyPem;
        break;
      }
      case "tls:index/selfSignedCert:SelfSignedCert":
      case "tls:index/locallySignedCert:LocallySignedCert":
        state.certPem = values.certificate(args.name, inputs);
        break;
      case "tls:index/certRequest:CertRequest":
        state.certRequestPem = `-----BEGIN CERTIFICATE REQUEST-----\n<generated:${args.name}>\n-----END CERTIFICATE REQUEST-----\n`;
        break;
      case "scaleway:instance/ip:Ip":
        state.address = inputs.type === "routed_ipv6" ? this.network.ipv6 : this.network.ipv4;
        return { id: `fr-par-2/${args.name}`, state };
      case "scaleway:block/volume:Volume":
        return { id: `fr-par-2/${this.network.volumeUuid}`, state };
      case "scaleway:instance/server:Server":
        state.publicIps = [
          { family: "inet", address: this.network.ipv4 },
          { family: "inet6", address: this.network.ipv6 },
        ];
        return { id: `fr-par-2/${args.name}`, state };
      case "docker:index/remoteImage:RemoteImage":
        state.imageId = `sha256:${args.name}`;
        break;
      case "pulumi-nodejs:dynamic:Resource":
        // The backup guards: no backup or restore to report offline.
        if (inputs.username === undefined)
          return { id: String(inputs.container), state: { ...state, restored: "", lastBackup: "" } };
        // MatrixUser: the admin's resource keeps an access token, as the provider's create returns one.
        if (inputs.username === inputs.adminUser)
          state.accessToken = pulumi.secret(values.password(`${args.name}-token`, 32));
        return { id: `@${inputs.username}:${inputs.serverName}`, state };
    }
    return { id: `${args.name}-id`, state };
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
    if (args.token === "scaleway:instance/getServerType:getServerType") {
      const found = this.serverTypes[args.inputs.name as string];
      if (!found) throw new Error(`server type ${args.inputs.name} not found`);
      return { id: args.inputs.name, name: args.inputs.name, ...found };
    }
    throw new Error(`unexpected call ${args.token}`);
  }

  of(type: string): Registered[] {
    return this.resources.filter((r) => r.type === type);
  }
}

/** Resolves an Output (or plain value) to its value. */
export function valueOf<T>(value: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(value).apply((v) => resolve(v as T)));
}

/**
 * Runs the whole program under `mocks` with the given `firmground:*` config (strings, JSON for lists
 * and objects, as Pulumi passes them), in preview mode (nothing waits for a real host).
 */
export async function runOffline<M extends OfflineMocks>(
  config: Record<string, string>,
  mocks: M,
  secretKeys: readonly string[] = [],
) {
  await pulumi.runtime.setMocks(mocks, "firmground", "offline", true);
  // What the engine hands the program: these values plus Pulumi.yaml's defaults, or its refusal.
  const engine = engineConfigOfValues(PROJECT_FILE, "offline", config, secretKeys);
  if (engine.errors.length > 0) return { mocks, outputs: undefined, error: new EngineRefusal(engine.errors) };
  pulumi.runtime.setAllConfig(
    Object.fromEntries(Object.entries(engine.values).map(([k, v]) => [`firmground:${k}`, v])),
    engine.secretKeys.map((k) => `firmground:${k}`),
  );
  // Imported after the first setMocks; the program reads its config each time it is called.
  const program = (await import("../../index")).default as unknown as () => Promise<Record<string, any>>;
  try {
    const outputs = await program();
    // An output that never becomes known would otherwise leave nothing to wait for: Node exits 0.
    await Promise.race([
      valueOf(pulumi.output(outputs)),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error("the program's outputs never resolved")), 30_000).unref(),
      ),
    ]);
    await waitForRPCs();
    return { mocks, outputs, error: undefined as unknown };
  } catch (error) {
    await waitForRPCs();
    return { mocks, outputs: undefined, error };
  }
}

/** The engine stopped before the program ran (components/render/engineConfig.ts says why). */
export class EngineRefusal extends Error {
  constructor(readonly problems: string[]) {
    super(`the Pulumi engine refuses this stack's config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** Waits until every pending registration has reached the mocks. */
export const settle = () => waitForRPCs();
