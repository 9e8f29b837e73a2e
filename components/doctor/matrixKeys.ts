/** Matrix signing: canonical JSON and the check of a server's self-signed key document (`/_matrix/key/v2/server`). */
import { createPublicKey, verify } from "node:crypto";

/** Canonical JSON as Matrix signs it: keys sorted, no whitespace, UTF-8 (the spec's appendix). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** An ed25519 public key from its unpadded base64 (SPKI: the algorithm's prefix, then the 32 bytes). */
export function ed25519PublicKey(unpaddedBase64: string) {
  const raw = Buffer.from(unpaddedBase64, "base64");
  if (raw.length !== 32) throw new Error(`an ed25519 key has 32 bytes, not ${raw.length}`);
  return createPublicKey({
    key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]),
    format: "der",
    type: "spki",
  });
}

export interface ServerKeyDocument {
  server_name?: string;
  valid_until_ts?: number;
  verify_keys?: Record<string, { key?: string }>;
  signatures?: Record<string, Record<string, string>>;
}

export interface KeyCheck {
  serverName?: string;
  keyIds: string[];
  /** Key ids whose self-signature verifies over the document's canonical JSON. */
  verified: string[];
  validUntil?: number;
}

/** Which of the document's ed25519 keys sign it (each signature checked over canonical JSON without `signatures`). */
export function checkServerKeys(doc: ServerKeyDocument): KeyCheck {
  const { signatures, ...signed } = doc;
  const message = Buffer.from(canonicalJson(signed), "utf8");
  const keyIds = Object.keys(doc.verify_keys ?? {});
  const verified = keyIds.filter((keyId) => {
    const key = doc.verify_keys?.[keyId]?.key;
    const signature = doc.server_name ? signatures?.[doc.server_name]?.[keyId] : undefined;
    if (!keyId.startsWith("ed25519:") || !key || !signature) return false;
    try {
      return verify(null, message, ed25519PublicKey(key), Buffer.from(signature, "base64"));
    } catch {
      return false;
    }
  });
  return {
    ...(doc.server_name ? { serverName: doc.server_name } : {}),
    keyIds,
    verified,
    ...(typeof doc.valid_until_ts === "number" ? { validUntil: doc.valid_until_ts } : {}),
  };
}
