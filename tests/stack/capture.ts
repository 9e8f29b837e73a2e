/**
 * The stack as the real-daemon run boots it: the same offline render as `npm run render`
 * (components/render), with real generated values instead of placeholders, as the random and tls
 * providers would produce them, so the files are the ones a deploy would write.
 */
import { generateKeyPairSync, randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GeneratedValues } from "../../components/render/offline";
import { renderStack, type RenderedStack } from "../../components/render/render";
import { openssl } from "../support/tools";

export type { ContainerFile, ContainerMount, ContainerSpec } from "../../components/render/render";
export type Capture = RenderedStack;

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const randomText = (length: number) =>
  Array.from({ length }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join("");

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

/** Real values: random secrets, real keys, and real self-signed certificates made with openssl. */
export const REAL_VALUES: GeneratedValues = {
  password: (_name, length) => randomText(length),
  text: (_name, length) => randomText(length),
  bytesBase64: (_name, length) => randomBytes(length).toString("base64"),
  privateKey: (_name, algorithm) => {
    const pair =
      algorithm === "RSA"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 })
        : generateKeyPairSync("ec", { namedCurve: "P-256" });
    const privateKeyPem = pair.privateKey
      .export({ type: algorithm === "RSA" ? "pkcs1" : "sec1", format: "pem" })
      .toString();
    return { privateKeyPem, publicKeyPem: pair.publicKey.export({ type: "spki", format: "pem" }).toString() };
  },
  certificate: (_name, inputs) =>
    inputs.privateKeyPem
      ? selfSignedCert(
          String(inputs.privateKeyPem),
          String(inputs.subject?.commonName ?? "firmground"),
          (inputs.dnsNames ?? []) as string[],
          Math.ceil(Number(inputs.validityPeriodHours ?? 24) / 24),
        )
      : "-----BEGIN CERTIFICATE-----\nnot used by the harness\n-----END CERTIFICATE-----\n",
};

/** Renders the stack with `config` and real values, the host's public IPv4 being `publicIpv4`. */
export function captureContainers(
  config: Record<string, string>,
  publicIpv4: string,
  secretKeys: string[] = [],
): Promise<Capture> {
  return renderStack({ values: config, secretKeys }, REAL_VALUES, {
    ipv4: publicIpv4,
    ipv6: "2001:db8::1",
    volumeUuid: "00000000-0000-4000-8000-000000000001",
  });
}
