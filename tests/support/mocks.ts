/**
 * Pulumi mocks that behave like the real providers where the program depends on it: random and
 * tls outputs come back as secrets, Scaleway returns ids of the form "<zone>/<uuid>", and the
 * instance-type lookup answers from a small table.
 */
import * as pulumi from "@pulumi/pulumi";

// Internal (not in the typings), but the only way to know every registration has reached the mocks.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { waitForRPCs } = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> };

export interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

/** Server types the mocked Scaleway knows (RAM in bytes, as the API reports it). */
export const SERVER_TYPES: Record<string, { arch: string; ram: number; endOfService: boolean }> = {
  "BASIC2-A2C-4G": { arch: "arm64", ram: 4 * 1024 ** 3, endOfService: false },
  "BASIC2-A4C-8G": { arch: "arm64", ram: 8 * 1024 ** 3, endOfService: false },
  "COPARM1-2C-8G": { arch: "arm64", ram: 8 * 1024 ** 3, endOfService: true },
  "DEV1-S": { arch: "x86_64", ram: 2 * 1024 ** 3, endOfService: false },
  "TINY-ARM-1G": { arch: "arm64", ram: 1024 ** 3, endOfService: false },
};

export const IPV4 = "51.15.20.30";
export const IPV6 = "2001:bc8:1640:1::1";
export const VOLUME_UUID = "6f0e2d3c-1111-4222-8333-944455566677";

/** Marks every generated secret so a test can search rendered files for it. */
export const secretValue = (name: string) => `SECRET-${name}-0123456789`;

export class RecordingMocks implements pulumi.runtime.Mocks {
  public resources: Recorded[] = [];

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, any> } {
    this.resources.push({ type: args.type, name: args.name, inputs: args.inputs });
    const state: Record<string, any> = { ...args.inputs };
    const id = `${args.name}-id`;
    switch (args.type) {
      case "random:index/randomPassword:RandomPassword":
        state.result = pulumi.secret(secretValue(args.name));
        break;
      case "random:index/randomBytes:RandomBytes":
        state.base64 = pulumi.secret(
          Buffer.from(secretValue(args.name).padEnd(32, "x").slice(0, 32)).toString("base64"),
        );
        break;
      case "random:index/randomString:RandomString":
        state.result = "Ab1z";
        break;
      case "tls:index/privateKey:PrivateKey":
        state.privateKeyPem = pulumi.secret(`MOCK KEY ${secretValue(args.name)}\n`);
        state.publicKeyPem = `MOCK PUBLIC KEY ${args.name}\n`;
        break;
      case "tls:index/selfSignedCert:SelfSignedCert":
      case "tls:index/locallySignedCert:LocallySignedCert":
        state.certPem = `MOCK CERT ${args.name}\n`;
        break;
      case "tls:index/certRequest:CertRequest":
        state.certRequestPem = `MOCK CSR ${args.name}\n`;
        break;
      case "scaleway:instance/ip:Ip":
        state.address = args.inputs.type === "routed_ipv6" ? IPV6 : IPV4;
        return { id: `fr-par-2/${args.name}`, state };
      case "scaleway:block/volume:Volume":
        return { id: `fr-par-2/${VOLUME_UUID}`, state };
      case "scaleway:instance/server:Server":
        state.publicIps = [
          { family: "inet", address: IPV4 },
          { family: "inet6", address: IPV6 },
        ];
        return { id: `fr-par-2/${args.name}`, state };
      case "docker:index/remoteImage:RemoteImage":
        state.imageId = `sha256:${args.name}`;
        break;
      case "pulumi-nodejs:dynamic:Resource":
        // MatrixUser: the admin's resource keeps an access token, as the provider's create returns one.
        if (args.inputs.username === args.inputs.adminUser)
          state.accessToken = pulumi.secret(secretValue(`${args.name}-token`));
        return { id: `@${args.inputs.username}:${args.inputs.serverName}`, state };
    }
    return { id, state };
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
    if (args.token === "scaleway:instance/getServerType:getServerType") {
      const found = SERVER_TYPES[args.inputs.name as string];
      if (!found) throw new Error(`server type ${args.inputs.name} not found`);
      return { id: args.inputs.name, name: args.inputs.name, cpu: 2, ...found };
    }
    throw new Error(`unexpected call ${args.token}`);
  }

  of(type: string): Recorded[] {
    return this.resources.filter((r) => r.type === type);
  }
}

/** Waits until every pending registration has reached the mocks. */
export const settle = () => waitForRPCs();

/** Resolves an Output (or plain value) to its value. */
export function valueOf<T>(value: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(value).apply((v) => resolve(v as T)));
}

/** The minimal valid configuration the program tests start from. */
export const BASE_CONFIG: Record<string, string> = {
  serverName: "example.org",
  acmeEmail: "admin@example.org",
};

/**
 * Runs the whole program under mocks with the given `firmground:*` config (strings, JSON for
 * arrays and objects, as Pulumi passes them) and returns what it registered and exported.
 */
export async function runProgram(config: Record<string, string>, mocks = new RecordingMocks()) {
  // Preview mode: the program does not wait for a (non-existent) Docker daemon.
  await pulumi.runtime.setMocks(mocks, "firmground", "test", true);
  pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(config).map(([k, v]) => [`firmground:${k}`, v])));
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
