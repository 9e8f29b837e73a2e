/**
 * The program's offline mocks (components/render/offline.ts) with values a test can search for: every
 * generated secret is a marker naming its resource, keys and certificates are labelled strings, and
 * the mocked Scaleway also knows an x86 type and a too-small arm64 type.
 */
import {
  KNOWN_SERVER_TYPES,
  OfflineMocks,
  runOffline,
  settle,
  valueOf,
  type GeneratedValues,
  type Registered,
} from "../../components/render/offline";

export { settle, valueOf };
export type Recorded = Registered;

/** Server types the mocked Scaleway knows (RAM in bytes, as the API reports it). */
export const SERVER_TYPES: typeof KNOWN_SERVER_TYPES = {
  ...KNOWN_SERVER_TYPES,
  "DEV1-S": { arch: "x86_64", ram: 2 * 1024 ** 3, cpu: 2, endOfService: false },
  "TINY-ARM-1G": { arch: "arm64", ram: 1024 ** 3, cpu: 1, endOfService: false },
};

export const IPV4 = "51.15.20.30";
export const IPV6 = "2001:bc8:1640:1::1";
export const VOLUME_UUID = "6f0e2d3c-1111-4222-8333-944455566677";

/** Marks every generated secret so a test can search rendered files for it. */
export const secretValue = (name: string) => `SECRET-${name}-0123456789`;

export const MARKED_VALUES: GeneratedValues = {
  password: (name) => secretValue(name),
  text: () => "Ab1z",
  bytesBase64: (name) => Buffer.from(secretValue(name).padEnd(32, "x").slice(0, 32)).toString("base64"),
  privateKey: (name) => ({
    privateKeyPem: `MOCK KEY ${secretValue(name)}\n`,
    publicKeyPem: `MOCK PUBLIC KEY ${name}\n`,
  }),
  certificate: (name) => `MOCK CERT ${name}\n`,
};

export class RecordingMocks extends OfflineMocks {
  constructor(values: GeneratedValues = MARKED_VALUES, ipv4 = IPV4) {
    super(values, { ipv4, ipv6: IPV6, volumeUuid: VOLUME_UUID }, SERVER_TYPES);
  }
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
export const runProgram = (
  config: Record<string, string>,
  mocks: OfflineMocks = new RecordingMocks(),
  secretKeys: readonly string[] = [],
) => runOffline(config, mocks, secretKeys);
