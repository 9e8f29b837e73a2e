/**
 * Stand-in for the `tls` resource provider plugin, version 5.6.1 (what @pulumi/tls 5.6.1 asks for), for
 * `npm run test:deploy`: PrivateKey, SelfSignedCert, CertRequest and LocallySignedCert, the resources the program
 * creates (components/secrets, components/host/dockerTls.ts). Keys, certificates and requests are real: keys from
 * node:crypto, certificates and requests DER-encoded here field by field as Go's crypto/x509 encodes them and signed
 * with node:crypto, so `openssl verify`/`openssl x509` and any TLS stack accept them.
 *
 * Contract, and where each part was read:
 * - Type tokens, inputs (each resource's Args), outputs, secret outputs, the provider's one setting (`proxy`):
 *   node_modules/@pulumi/tls 5.6.1, package.json ("pulumi.version"), privateKey.d.ts/.js, selfSignedCert.d.ts/.js,
 *   certRequest.d.ts/.js, locallySignedCert.d.ts/.js, types/input.d.ts (subject), provider.d.ts.
 * - Behaviour: pulumi-tls 5.6.1 bridges hashicorp/terraform-provider-tls v4.3.0 (pulumi/pulumi-tls 3506858
 *   "Upgrade terraform-provider-tls to v4.3.0"). v4.3.0's source was not available; read hashicorp/
 *   terraform-provider-tls at d72d90e1 (main, 2026-04-28, after v4.2.1): internal/provider/resource_private_key.go,
 *   resource_self_signed_cert.go, resource_cert_request.go, resource_locally_signed_cert.go, common_key.go,
 *   common_cert.go, common.go, types.go, attribute_plan_modifier_bool/default_value.go. The write-only inputs
 *   (privateKeyPemWo/caPrivateKeyPemWo and their *WoVersion) are v4.3.0's and known from the SDK's doc comments only.
 * - Encodings: Go's crypto/x509 (CreateCertificate, CreateCertificateRequest, buildCertExtensions,
 *   marshalKeyUsage/BasicConstraints/SANs, parseCertificateRequest), crypto/x509/pkix (ToRDNSequence,
 *   FillFromRDNSequence), encoding/asn1 (string and time types) from the Go 1.26.8 source in /usr/local/go (the
 *   provider is built with Go 1.25, pulumi-tls provider/go.mod); golang.org/x/crypto/ssh's MarshalPrivateKey
 *   (openssh-key-v1, unencrypted, 8-byte padding) and MarshalAuthorizedKey/Fingerprint* as documented there.
 * - Output shapes: pulumi/pulumi-tls recorded gRPC, provider/testdata/recorded/TestProviderUpgrade/
 *   index_{privatekey,certrequest}/5.0.2/grpc.json and examples/testdata/recorded/TestProviderUpgrade/ts/5.0.0/
 *   grpc.json: Check returns the inputs as sent (no defaults); Create returns every attribute with its default plus
 *   `id` (PrivateKey also the bridge's `__meta` schema version 1); unset optional inputs are absent.
 *
 * At start it compares its version and each resource's inputs with the installed SDK (sdkInputs.ts) and refuses
 * to serve if they differ, so an SDK upgrade cannot silently outgrow this contract.
 *
 * What the stand-in does as the real one does:
 * - PrivateKey: RSA (rsaBits, default 2048, below 1024 refused at create as Go's crypto/rsa does), ECDSA (ecdsaCurve
 *   P224/P256/P384/P521, default P224), ED25519; anything else refused at Check. privateKeyPem is PKCS#1 "RSA
 *   PRIVATE KEY", SEC1 "EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY" (ED25519); privateKeyPemPkcs8 PKCS#8; publicKeyPem
 *   PKIX "PUBLIC KEY"; privateKeyOpenssh "OPENSSH PRIVATE KEY" (64-column PEM, empty comment); publicKeyOpenssh
 *   "<type> <base64>\n"; fingerprints "aa:bb:..." (MD5) and "SHA256:<unpadded base64>". For ECDSA P224 the four
 *   OpenSSH outputs are "" (x/crypto/ssh has no P-224). Outputs keep rsaBits/ecdsaCurve defaults for every algorithm.
 *   id: hex SHA-1 of the PKIX public key DER after Go's strings.TrimSpace, as hashForState does.
 * - Private keys given to the certificate resources: the first PEM block, "RSA PRIVATE KEY"/"EC PRIVATE KEY"/
 *   "PRIVATE KEY" only, RSA/ECDSA (the four curves)/ED25519 only; keyAlgorithm/caKeyAlgorithm name it.
 * - Certificates (x509.CreateCertificate with the provider's template): v3, random serial below 2^128 (also the
 *   id, in decimal), notBefore now and notAfter now + validityPeriodHours (UTCTime until 2049, then
 *   GeneralizedTime), signed SHA-256 (RSA PKCS#1 v1.5, ECDSA P224/P256), SHA-384 (P384), SHA-512 (P521) or Ed25519.
 *   Extensions in Go's order: keyUsage (critical, from allowedUses' key usages), extendedKeyUsage (allowedUses'
 *   extended usages, in order), basicConstraints (always, critical; CA:TRUE for isCaCertificate; pathlen from
 *   maxPathLength when >= 1 -- 0 and -1 mean no limit, as Go encodes MaxPathLen 0 without MaxPathLenZero; a
 *   maxPathLength >= 1 on a non-CA fails as Go does), subjectKeyIdentifier (CA or setSubjectKeyId: SHA-1 of the
 *   PKCS#1 key, the EC point, or the ASN.1 OCTET STRING of the Ed25519 key, as generateSubjectKeyID does),
 *   authorityKeyIdentifier (SelfSignedCert: setAuthorityKeyId, its own key id, refused without one;
 *   LocallySignedCert: the CA certificate's subject key id when the issuer name differs), subjectAltName (DNS names,
 *   then IPs -- IPv4 and v4-mapped in 4 bytes --, then URIs; critical when the subject is empty). A CA needs a
 *   non-empty subject. allowedUses takes the snake_case names (digital_signature, key_encipherment, cert_signing,
 *   crl_signing, server_auth, client_auth, ...); the SDK's doc comment lists them camelCased, which the real
 *   provider's validator refuses, and so does the stand-in.
 * - Subject names in pkix.Name.ToRDNSequence order (C, ST, L, STREET, PostalCode, O, OU, CN, SERIALNUMBER, then
 *   emailAddress as IA5String), each value a PrintableString when it can be one, else UTF8String; empty commonName
 *   and serialNumber are left out.
 * - CertRequest: PKCS#10 v1, the subject and SANs above in an extensionRequest attribute (none when there are no
 *   SANs), signed like a certificate; id: hex SHA-1 of the DER after strings.TrimSpace.
 * - LocallySignedCert: subject, DNS names, IPs and URIs from the request (the subject re-encoded from its parsed
 *   fields, so an emailAddress or unknown attribute in a request's subject is dropped, as Go's template does), the
 *   request's public key, signed with caPrivateKeyPem, which must match caCertPem's key; the request's signature is
 *   not checked (neither does the real provider); a CA certificate without CA:TRUE only warns (on stderr).
 * - validityStartTime/validityEndTime: RFC 3339 with fractional seconds, trailing zeros dropped (Go's
 *   Time.MarshalText). readyForRenewal at create/update: validityPeriodHours is 0 or earlyRenewalHours >= it; on
 *   refresh it turns true once now >= end - earlyRenewalHours.
 * - Replacement: every input replaces, except earlyRenewalHours on the two certificates, updated in place.
 * - Check refuses undeclared inputs (also inside subject), wrong types, unknown allowedUses, negative
 *   validityPeriodHours/earlyRenewalHours, maxPathLength < -1, empty ipAddresses/uris entries, not exactly one of
 *   privateKeyPem/privateKeyPemWo (caPrivateKeyPem/caPrivateKeyPemWo), and a *Wo without its *WoVersion.
 *
 * Where the stand-in differs:
 * - The real provider also replaces a certificate at plan time once it is within earlyRenewalHours of its end (or
 *   past it): server.ts diffs inputs only, so the stand-in never does (a refresh still shows readyForRenewal true).
 * - Replacement is decided on the inputs as sent: spelling out a default (e.g. isCaCertificate: false where it was
 *   unset) or changing only a write-only key (privateKeyPemWo without its version) replaces here, not in the real
 *   provider (stricter).
 * - Times are always UTC ("Z") with millisecond precision; Go writes the process' local zone and nanoseconds.
 * - validityPeriodHours above 2562047 is refused at Check: Go's time.Duration overflows there (the real provider
 *   then writes a nonsensical notAfter).
 * - URIs: Go's url.Parse/String are approximated: a URI must be ASCII without control characters and is written as
 *   given; Go may normalise some (escaping), and checks a URI's host when reading a request.
 * - CSR subjects with T61String values are read as Latin-1 (encoding/asn1 keeps the raw bytes).
 * - Problems the real provider reports at create (bad PEM, bad IP) are reported at create here too; the rest at
 *   Check, where the real provider's validators run.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from "node:crypto";
import { isIPv6 } from "node:net";
import { promisify } from "node:util";
import { servePlugin, type Properties, type StandInProvider, type StandInResource } from "./server";

type Failure = { property: string; reason: string };
type Algorithm = "RSA" | "ECDSA" | "ED25519";

// ---------------------------------------------------------------------------------------------------------------
// DER

const derLength = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
};
const seq = (...content: Buffer[]) => tlv(0x30, ...content);
/** DER SET OF: elements sorted by their encodings, as encoding/asn1 does. */
const setOf = (items: Buffer[]) => tlv(0x31, ...[...items].sort((a, b) => Buffer.compare(a, b)));
const derInt = (value: bigint): Buffer => {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, "hex");
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
};
const derBool = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));
const octets = (value: Buffer) => tlv(0x04, value);
const bitString = (bytes: Buffer, unusedBits = 0) => tlv(0x03, Buffer.from([unusedBits]), bytes);
const oid = (dotted: string): Buffer => {
  const [first, second, ...rest] = dotted.split(".").map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
};

interface Der {
  tag: number;
  start: number;
  body: number;
  end: number;
  buf: Buffer;
}
const derAt = (buf: Buffer, offset: number, limit: number): Der => {
  if (offset + 2 > limit) throw new Error("asn1: truncated element");
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new Error("asn1: high-tag-number form not supported");
  let length = buf[offset + 1];
  let body = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || body + count > limit) throw new Error("asn1: bad length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[body++];
  }
  if (body + length > limit) throw new Error("asn1: truncated element");
  return { tag, start: offset, body, end: body + length, buf };
};
const parseDer = (buf: Buffer): Der => {
  const node = derAt(buf, 0, buf.length);
  if (node.end !== buf.length) throw new Error("asn1: trailing data");
  return node;
};
const children = (node: Der): Der[] => {
  const out: Der[] = [];
  for (let offset = node.body; offset < node.end;) {
    const child = derAt(node.buf, offset, node.end);
    out.push(child);
    offset = child.end;
  }
  return out;
};
const raw = (node: Der) => node.buf.subarray(node.start, node.end);
const content = (node: Der) => node.buf.subarray(node.body, node.end);
const oidString = (node: Der): string => {
  if (node.tag !== 0x06) throw new Error("asn1: expected an object identifier");
  const bytes = content(node);
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join(".");
};

const OID = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  ed25519: "1.3.101.112",
  sha256WithRSA: "1.2.840.113549.1.1.11",
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
  ecdsaWithSHA384: "1.2.840.10045.4.3.3",
  ecdsaWithSHA512: "1.2.840.10045.4.3.4",
  extensionRequest: "1.2.840.113549.1.9.14",
  emailAddress: "1.2.840.113549.1.9.1",
  subjectKeyId: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyId: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
};

// ---------------------------------------------------------------------------------------------------------------
// PEM, hashes

/** encoding/pem: 64-column base64 and a final newline. */
const pemEncode = (type: string, der: Buffer): string =>
  `-----BEGIN ${type}-----\n${der
    .toString("base64")
    .replace(/.{64}/g, "$&\n")
    .replace(/\n$/, "")}\n-----END ${type}-----\n`;

/** The first PEM block (pem.Decode), or undefined. */
const pemDecode = (text: string): { type: string; der: Buffer } | undefined => {
  const match = /-----BEGIN ([^\n]*?)-----[ \t]*\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!match || !/^[A-Za-z0-9+/=\s]*$/.test(match[2])) return undefined;
  return { type: match[1], der: Buffer.from(match[2].replace(/\s+/g, ""), "base64") };
};

/** decodePEM in resource_locally_signed_cert.go. */
const decodePemOfType = (text: string, type: string): Buffer => {
  const block = pemDecode(text);
  if (!block) throw new Error(`failed to decode PEM of expected type "${type}" from bytes`);
  if (block.type !== type) throw new Error(`invalid PEM type - expected "${type}", got "${block.type}"`);
  return block.der;
};

const ASCII_SPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]);
/** UTF-8 encodings of the non-ASCII runes unicode.IsSpace accepts. */
const UNICODE_SPACES = [
  "c285",
  "c2a0",
  "e19a80",
  ...Array.from({ length: 11 }, (_, i) => `e280${(0x80 + i).toString(16)}`),
  "e280a8",
  "e280a9",
  "e280af",
  "e2819f",
  "e38080",
].map((hex) => Buffer.from(hex, "hex"));

/**
 * hashForState (common.go): hex SHA-1 of strings.TrimSpace(string(der)). DER starts with a tag byte (0x30), never
 * a space, so only the end can be trimmed: ASCII spaces and whole UTF-8-encoded Unicode spaces.
 */
const hashForState = (der: Buffer): string => {
  let end = der.length;
  while (end > 0) {
    const last = der[end - 1];
    if (last < 0x80) {
      if (!ASCII_SPACE.has(last)) break;
      end--;
      continue;
    }
    const space = UNICODE_SPACES.find((s) => s.length <= end && der.subarray(end - s.length, end).equals(s));
    if (!space) break;
    end -= space.length;
  }
  return createHash("sha1").update(der.subarray(0, end)).digest("hex");
};

// ---------------------------------------------------------------------------------------------------------------
// Keys

const CURVES: Record<string, { name: string; node: string; ssh?: string; hash: string; sigOid: string }> = {
  secp224r1: { name: "P224", node: "P-224", hash: "sha256", sigOid: OID.ecdsaWithSHA256 },
  prime256v1: { name: "P256", node: "P-256", ssh: "nistp256", hash: "sha256", sigOid: OID.ecdsaWithSHA256 },
  secp384r1: { name: "P384", node: "P-384", ssh: "nistp384", hash: "sha384", sigOid: OID.ecdsaWithSHA384 },
  secp521r1: { name: "P521", node: "P-521", ssh: "nistp521", hash: "sha512", sigOid: OID.ecdsaWithSHA512 },
};
const curveOf = (key: KeyObject) => {
  const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ""];
  if (!curve) throw new Error(`unsupported elliptic curve ${key.asymmetricKeyDetails?.namedCurve}`);
  return curve;
};

/** privateKeyToAlgorithm: RSA, ECDSA (the four NIST curves Go supports) or ED25519. */
const algorithmOf = (key: KeyObject): Algorithm => {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return "RSA";
    case "ec":
      curveOf(key);
      return "ECDSA";
    case "ed25519":
      return "ED25519";
    default:
      throw new Error(`unsupported private key type: ${key.asymmetricKeyType}`);
  }
};

const PRIVATE_KEY_FORMATS: Record<string, "pkcs1" | "sec1" | "pkcs8"> = {
  "RSA PRIVATE KEY": "pkcs1",
  "EC PRIVATE KEY": "sec1",
  "PRIVATE KEY": "pkcs8",
};

/** parsePrivateKeyPEM (common_key.go). */
const parsePrivateKeyPem = (text: string): { key: KeyObject; algorithm: Algorithm } => {
  const block = pemDecode(text);
  if (!block) throw new Error("failed to decode PEM block");
  const format = PRIVATE_KEY_FORMATS[block.type];
  if (!format) {
    const known = ["PUBLIC KEY", "CERTIFICATE", "CERTIFICATE REQUEST"].includes(block.type);
    throw new Error(
      known
        ? `unable to determine parser for PEM preamble: ${block.type}`
        : `unsupported PEM preamble/type: ${block.type}`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: block.der, format: "der", type: format });
  } catch (error) {
    throw new Error(`failed to parse private key given PEM preamble '${block.type}': ${(error as Error).message}`);
  }
  try {
    return { key, algorithm: algorithmOf(key) };
  } catch (error) {
    throw new Error(`failed to determine key algorithm for private key: ${(error as Error).message}`);
  }
};

const spkiOf = (key: KeyObject): Buffer =>
  (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });

/** The subjectPublicKey bits and algorithm of a SubjectPublicKeyInfo. */
const parseSpki = (spki: Buffer): { algorithm: string; keyBits: Buffer } => {
  const [algorithmId, bits] = children(parseDer(spki));
  return { algorithm: oidString(children(algorithmId)[0]), keyBits: content(bits).subarray(1) };
};

/** generateSubjectKeyID (common_cert.go): SHA-1 of the marshalled public key. */
const subjectKeyIdOf = (spki: Buffer): Buffer => {
  const { algorithm, keyBits } = parseSpki(spki);
  // RSA: asn1.Marshal(rsa.PublicKey) is the PKCS#1 key, ECDSA: elliptic.Marshal is the point, both the BIT STRING's
  // content; Ed25519: asn1.Marshal of the key bytes is an OCTET STRING.
  return createHash("sha1")
    .update(algorithm === OID.ed25519 ? octets(keyBits) : keyBits)
    .digest();
};

/** x509.signingParamsForKey and signTBS. */
const signerOf = (key: KeyObject): { algorithmId: Buffer; sign(data: Buffer): Buffer } => {
  switch (algorithmOf(key)) {
    case "RSA": {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 1024) throw new Error(`crypto/rsa: ${bits}-bit keys are insecure`);
      return { algorithmId: seq(oid(OID.sha256WithRSA), tlv(0x05)), sign: (data) => sign("sha256", data, key) };
    }
    case "ECDSA": {
      const curve = curveOf(key);
      return { algorithmId: seq(oid(curve.sigOid)), sign: (data) => sign(curve.hash, data, key) };
    }
    case "ED25519":
      return { algorithmId: seq(oid(OID.ed25519)), sign: (data) => sign(null, data, key) };
  }
};

// OpenSSH (golang.org/x/crypto/ssh)
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const sshString = (data: Buffer | string) => {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  return Buffer.concat([u32(bytes.length), bytes]);
};
const mpint = (bytes: Buffer) => {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  let value = bytes.subarray(i);
  if (value.length && value[0] & 0x80) value = Buffer.concat([Buffer.from([0]), value]);
  return sshString(value);
};

/** The OpenSSH outputs: "" for all four when x/crypto/ssh cannot represent the key (ECDSA P-224). */
const opensshOutputs = (key: KeyObject) => {
  if (key.asymmetricKeyType === "ec" && !curveOf(key).ssh) {
    return { privateKeyOpenssh: "", publicKeyOpenssh: "", publicKeyFingerprintMd5: "", publicKeyFingerprintSha256: "" };
  }
  const jwk = key.export({ format: "jwk" });
  const b = (field: string | undefined) => Buffer.from(field ?? "", "base64url");
  let keyType: string;
  let publicWire: Buffer;
  let privateFields: Buffer;
  if (key.asymmetricKeyType === "rsa") {
    keyType = "ssh-rsa";
    publicWire = Buffer.concat([sshString(keyType), mpint(b(jwk.e)), mpint(b(jwk.n))]);
    // N, E, D, Iqmp, P, Q
    privateFields = Buffer.concat([b(jwk.n), b(jwk.e), b(jwk.d), b(jwk.qi), b(jwk.p), b(jwk.q)].map(mpint));
  } else if (key.asymmetricKeyType === "ec") {
    const curve = curveOf(key).ssh as string;
    keyType = `ecdsa-sha2-${curve}`;
    const point = Buffer.concat([Buffer.from([4]), b(jwk.x), b(jwk.y)]);
    publicWire = Buffer.concat([sshString(keyType), sshString(curve), sshString(point)]);
    privateFields = Buffer.concat([sshString(curve), sshString(point), mpint(b(jwk.d))]);
  } else {
    keyType = "ssh-ed25519";
    const pub = b(jwk.x);
    publicWire = Buffer.concat([sshString(keyType), sshString(pub)]);
    privateFields = Buffer.concat([sshString(pub), sshString(Buffer.concat([b(jwk.d), pub]))]);
  }
  const check = randomBytes(4);
  const block = [...Buffer.concat([check, check, sshString(keyType), privateFields, sshString("")])];
  for (let i = 0; block.length % 8 !== 0; i++) block.push(i + 1);
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    u32(1),
    sshString(publicWire),
    sshString(Buffer.from(block)),
  ]);
  const md5 = createHash("md5").update(publicWire).digest("hex");
  return {
    privateKeyOpenssh: pemEncode("OPENSSH PRIVATE KEY", body),
    publicKeyOpenssh: `${keyType} ${publicWire.toString("base64")}\n`,
    publicKeyFingerprintMd5: md5.replace(/(..)(?!$)/g, "$1:"),
    publicKeyFingerprintSha256: `SHA256:${createHash("sha256").update(publicWire).digest("base64").replace(/=+$/, "")}`,
  };
};

// ---------------------------------------------------------------------------------------------------------------
// Names

type ListField =
  "country" | "province" | "locality" | "streetAddress" | "postalCode" | "organization" | "organizationalUnit";

/** pkix.Name, the fields the provider sets or reads; undefined list = nil slice. */
interface Name {
  country?: string[];
  province?: string[];
  locality?: string[];
  streetAddress?: string[];
  postalCode?: string[];
  organization?: string[];
  organizationalUnit?: string[];
  commonName: string;
  serialNumber: string;
  /** ExtraNames: the emailAddress attribute (only from a subject input). */
  emailAddress?: string;
}

const SUBJECT_FIELDS = [
  "commonName",
  "country",
  "emailAddress",
  "locality",
  "organization",
  "organizationalUnit",
  "postalCode",
  "province",
  "serialNumber",
  "streetAddresses",
];

/** createSubjectDistinguishedNames (common_cert.go). */
const nameFromSubject = (subject: Properties | undefined): Name => {
  const name: Name = { commonName: "", serialNumber: "" };
  if (!subject) return name;
  const one = (value: unknown) => (value === undefined || value === null ? undefined : [value as string]);
  name.commonName = (subject.commonName as string | undefined) ?? "";
  name.organization = one(subject.organization);
  name.organizationalUnit = one(subject.organizationalUnit);
  name.streetAddress = subject.streetAddresses ? [...(subject.streetAddresses as string[])] : undefined;
  name.locality = one(subject.locality);
  name.province = one(subject.province);
  name.country = one(subject.country);
  name.postalCode = one(subject.postalCode);
  name.serialNumber = (subject.serialNumber as string | undefined) ?? "";
  name.emailAddress = (subject.emailAddress as string | undefined) ?? undefined;
  return name;
};

/** cmp.Equal(name, pkix.Name{}). */
const nameIsEmpty = (n: Name) =>
  n.commonName === "" &&
  n.serialNumber === "" &&
  n.emailAddress === undefined &&
  [n.country, n.province, n.locality, n.streetAddress, n.postalCode, n.organization, n.organizationalUnit].every(
    (v) => v === undefined,
  );

/** encoding/asn1's choice for an untyped string: PrintableString when possible, else UTF8String. */
const directoryString = (value: string) =>
  /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value) ? tlv(0x13, Buffer.from(value)) : tlv(0x0c, Buffer.from(value, "utf8"));

/** asn1.Marshal(name.ToRDNSequence()). */
const encodeName = (n: Name): Buffer => {
  const rdns: Buffer[] = [];
  const add = (values: string[] | undefined, type: string) => {
    if (values?.length) rdns.push(setOf(values.map((v) => seq(oid(type), directoryString(v)))));
  };
  add(n.country, "2.5.4.6");
  add(n.province, "2.5.4.8");
  add(n.locality, "2.5.4.7");
  add(n.streetAddress, "2.5.4.9");
  add(n.postalCode, "2.5.4.17");
  add(n.organization, "2.5.4.10");
  add(n.organizationalUnit, "2.5.4.11");
  if (n.commonName) add([n.commonName], "2.5.4.3");
  if (n.serialNumber) add([n.serialNumber], "2.5.4.5");
  if (n.emailAddress !== undefined) {
    rdns.push(setOf([seq(oid(OID.emailAddress), tlv(0x16, Buffer.from(n.emailAddress, "utf8")))]));
  }
  return seq(...rdns);
};

/** A string-valued attribute as encoding/asn1 reads it into an interface{}, or undefined. */
const readDirectoryString = (node: Der): string | undefined => {
  const bytes = content(node);
  switch (node.tag) {
    case 0x0c: // UTF8String
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
      return bytes.toString("utf8");
    case 0x14: // T61String
      return bytes.toString("latin1");
    case 0x1e: // BMPString (UCS-2, big-endian)
      return bytes.length % 2 ? undefined : Buffer.from(bytes).swap16().toString("utf16le");
    default:
      return undefined;
  }
};

/** pkix.Name.FillFromRDNSequence: only the known fields survive (the certificate template re-encodes them). */
const nameFromRdns = (node: Der): Name => {
  const name: Name = { commonName: "", serialNumber: "" };
  const lists: Record<string, ListField> = {
    "2.5.4.6": "country",
    "2.5.4.7": "locality",
    "2.5.4.8": "province",
    "2.5.4.9": "streetAddress",
    "2.5.4.10": "organization",
    "2.5.4.11": "organizationalUnit",
    "2.5.4.17": "postalCode",
  };
  for (const rdn of children(node)) {
    for (const atv of children(rdn)) {
      const [type, valueNode] = children(atv);
      const value = readDirectoryString(valueNode);
      if (value === undefined) continue;
      const id = oidString(type);
      if (id === "2.5.4.3") name.commonName = value;
      else if (id === "2.5.4.5") name.serialNumber = value;
      else if (lists[id]) (name[lists[id]] ??= []).push(value);
    }
  }
  return name;
};

// ---------------------------------------------------------------------------------------------------------------
// Subject alternative names

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ipv4Bytes = (s: string) => Buffer.from(s.split(".").map(Number));

/** net.ParseIP, then To4() when it is an IPv4 address: 4 or 16 bytes, or undefined. */
const parseIp = (s: string): Buffer | undefined => {
  if (IPV4.test(s)) return ipv4Bytes(s);
  if (!isIPv6(s) || s.includes("%")) return undefined;
  const groups = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").flatMap((g) => {
          if (!g.includes(".")) return [parseInt(g, 16)];
          const v4 = ipv4Bytes(g);
          return [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
        });
  const [left, right] = s.includes("::") ? s.split("::") : [s, undefined];
  const head = groups(left);
  const tail = right === undefined ? [] : groups(right);
  const all = [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = Buffer.alloc(16);
  all.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  return to4(bytes);
};

/** net.IP.To4 for a 16-byte address: IPv4-mapped addresses become their 4 bytes. */
const to4 = (ip: Buffer): Buffer =>
  ip.length === 16 && ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff
    ? Buffer.from(ip.subarray(12))
    : Buffer.from(ip);

/** x509's isIA5String. */
const assertIa5 = (value: string) => {
  if (![...value].every((c) => c.charCodeAt(0) < 0x80)) {
    throw new Error(`x509: ${JSON.stringify(value)} cannot be encoded as an IA5String`);
  }
};

interface Sans {
  dnsNames: string[];
  ipAddresses: Buffer[];
  uris: string[];
}

/** The resources' dns_names/ip_addresses/uris as the provider turns them into template fields. */
const sansFromInputs = (inputs: Properties): Sans => ({
  dnsNames: [...((inputs.dnsNames as string[] | undefined) ?? [])],
  ipAddresses: ((inputs.ipAddresses as string[] | undefined) ?? []).map((ip) => {
    const parsed = parseIp(ip);
    if (!parsed) throw new Error(`Invalid IP address: Failed to parse ${JSON.stringify(ip)}`);
    return parsed;
  }),
  uris: ((inputs.uris as string[] | undefined) ?? []).map((uri) => {
    // url.Parse refuses ASCII control characters.
    if ([...uri].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
      throw new Error(`Invalid URI: Failed to parse ${JSON.stringify(uri)}`);
    }
    return uri;
  }),
});

const hasSans = (s: Sans) => s.dnsNames.length + s.ipAddresses.length + s.uris.length > 0;

/** x509.marshalSANs: DNS names, (no emails), IPs, URIs. */
const encodeSans = (s: Sans): Buffer => {
  s.dnsNames.forEach(assertIa5);
  s.uris.forEach(assertIa5);
  return seq(
    ...s.dnsNames.map((name) => tlv(0x82, Buffer.from(name))),
    ...s.ipAddresses.map((ip) => tlv(0x87, ip)),
    ...s.uris.map((uri) => tlv(0x86, Buffer.from(uri))),
  );
};

const extension = (id: string, critical: boolean, value: Buffer) =>
  seq(oid(id), ...(critical ? [derBool(true)] : []), octets(value));

// ---------------------------------------------------------------------------------------------------------------
// Certificates and requests

const KEY_USAGES: Record<string, number> = {
  digital_signature: 1 << 0,
  content_commitment: 1 << 1,
  key_encipherment: 1 << 2,
  data_encipherment: 1 << 3,
  key_agreement: 1 << 4,
  cert_signing: 1 << 5,
  crl_signing: 1 << 6,
  encipher_only: 1 << 7,
  decipher_only: 1 << 8,
};
const EXT_KEY_USAGES: Record<string, string> = {
  any_extended: "2.5.29.37.0",
  server_auth: "1.3.6.1.5.5.7.3.1",
  client_auth: "1.3.6.1.5.5.7.3.2",
  code_signing: "1.3.6.1.5.5.7.3.3",
  email_protection: "1.3.6.1.5.5.7.3.4",
  ipsec_end_system: "1.3.6.1.5.5.7.3.5",
  ipsec_tunnel: "1.3.6.1.5.5.7.3.6",
  ipsec_user: "1.3.6.1.5.5.7.3.7",
  timestamping: "1.3.6.1.5.5.7.3.8",
  ocsp_signing: "1.3.6.1.5.5.7.3.9",
  microsoft_server_gated_crypto: "1.3.6.1.4.1.311.10.3.3",
  netscape_server_gated_crypto: "2.16.840.1.113730.4.1",
  microsoft_commercial_code_signing: "1.3.6.1.4.1.311.2.1.22",
  microsoft_kernel_code_signing: "1.3.6.1.4.1.311.61.1.1",
};
const SUPPORTED_USES = [...Object.keys(KEY_USAGES), ...Object.keys(EXT_KEY_USAGES)].sort();

/** x509.marshalKeyUsage: bits reversed per byte, trailing zero bits dropped. */
const keyUsageValue = (usage: number): Buffer => {
  const reverse = (b: number) => parseInt(b.toString(2).padStart(8, "0").split("").reverse().join(""), 2);
  const bytes = [reverse(usage & 0xff), reverse(usage >> 8)];
  const used = Buffer.from(bytes[1] ? bytes : bytes.slice(0, 1));
  const last = used[used.length - 1];
  let unused = 0;
  while (unused < 8 && !((last >> unused) & 1)) unused++;
  return bitString(used, unused);
};

/** UTCTime until 2049, GeneralizedTime after (encoding/asn1). */
const asn1Time = (date: Date): Buffer => {
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const year = date.getUTCFullYear();
  const rest = [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes()].map((n) => pad(n));
  const tail = `${rest.join("")}${pad(date.getUTCSeconds())}Z`;
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(`${pad(year % 100)}${tail}`))
    : tlv(0x18, Buffer.from(`${pad(year, 4)}${tail}`));
};

/** time.Time.MarshalText (RFC 3339, fraction without trailing zeros), in UTC. */
const rfc3339 = (date: Date) => date.toISOString().replace(/\.(\d*?)0*Z$/, (_m, f: string) => (f ? `.${f}Z` : "Z"));

/** The issuing certificate, as x509.ParseCertificate gives the fields CreateCertificate reads. */
interface Parent {
  rawSubject: Buffer;
  subjectKeyId: Buffer;
  spki: Buffer;
}

const HOUR = 3_600_000;
const MAX_VALIDITY_HOURS = 2_562_047; // time.Duration(h) * time.Hour overflows int64 beyond this

/** createCertificate (common_cert.go) then x509.CreateCertificate; parent undefined: self-signed. */
function createCertificate(
  plan: Properties,
  template: { subject: Name; sans: Sans; spki: Buffer },
  signingKey: KeyObject,
  parent?: Parent,
) {
  const notBefore = new Date();
  const notAfter = new Date(notBefore.getTime() + (plan.validityPeriodHours as number) * HOUR);
  const serial = BigInt(`0x${randomBytes(16).toString("hex")}`);

  let keyUsage = 0;
  const extKeyUsages: string[] = [];
  for (const use of plan.allowedUses as string[]) {
    if (use in KEY_USAGES) keyUsage |= KEY_USAGES[use];
    if (use in EXT_KEY_USAGES) extKeyUsages.push(EXT_KEY_USAGES[use]);
  }

  let subjectKeyId: Buffer | undefined;
  let authorityKeyId: Buffer | undefined;
  const isCA = plan.isCaCertificate === true;
  if (isCA) {
    if (nameIsEmpty(template.subject)) {
      throw new Error(
        "Invalid Certificate Subject: Must contain at least one Distinguished Name when creating Certificate Authority (CA)",
      );
    }
    subjectKeyId = subjectKeyIdOf(template.spki);
  }
  const maxPathLength = plan.maxPathLength as number | undefined;
  const maxPathLen = maxPathLength !== undefined && maxPathLength >= 0 ? maxPathLength : 0;
  if (plan.setSubjectKeyId === true) subjectKeyId = subjectKeyIdOf(template.spki);
  if (plan.setAuthorityKeyId === true) {
    // Only SelfSignedCert has set_authority_key_id: its parent is the template itself.
    if (!subjectKeyId?.length) {
      throw new Error("Invalid Certificate Authority: Could not determine Authority Key Identifier");
    }
    authorityKeyId = subjectKeyId;
  }

  // x509.CreateCertificate
  if (!isCA && maxPathLen !== 0) throw new Error("x509: only CAs are allowed to specify MaxPathLen");
  const signer = signerOf(signingKey);
  const subject = encodeName(template.subject);
  const issuer = parent ? parent.rawSubject : subject;
  if (parent && !issuer.equals(subject) && parent.subjectKeyId.length > 0) authorityKeyId = parent.subjectKeyId;
  if (parent && !spkiOf(signingKey).equals(parent.spki)) {
    throw new Error("x509: provided PrivateKey doesn't match parent's PublicKey");
  }
  const extensions: Buffer[] = [];
  if (keyUsage) extensions.push(extension(OID.keyUsage, true, keyUsageValue(keyUsage)));
  if (extKeyUsages.length) extensions.push(extension(OID.extKeyUsage, false, seq(...extKeyUsages.map(oid))));
  // MaxPathLen 0 without MaxPathLenZero is encoded as "no limit" (-1, omitted).
  const basic = [...(isCA ? [derBool(true)] : []), ...(maxPathLen > 0 ? [derInt(BigInt(maxPathLen))] : [])];
  extensions.push(extension(OID.basicConstraints, true, seq(...basic)));
  if (subjectKeyId?.length) extensions.push(extension(OID.subjectKeyId, false, octets(subjectKeyId)));
  if (authorityKeyId?.length) extensions.push(extension(OID.authorityKeyId, false, seq(tlv(0x80, authorityKeyId))));
  if (hasSans(template.sans)) {
    const subjectIsEmpty = subject.equals(seq());
    extensions.push(extension(OID.subjectAltName, subjectIsEmpty, encodeSans(template.sans)));
  }
  const tbs = seq(
    tlv(0xa0, derInt(2n)),
    derInt(serial),
    signer.algorithmId,
    issuer,
    seq(asn1Time(notBefore), asn1Time(notAfter)),
    subject,
    template.spki,
    tlv(0xa3, seq(...extensions)),
  );
  const der = seq(tbs, signer.algorithmId, bitString(signer.sign(tbs)));
  return {
    id: serial.toString(),
    certPem: pemEncode("CERTIFICATE", der),
    validityStartTime: rfc3339(notBefore),
    validityEndTime: rfc3339(notAfter),
  };
}

/** x509.CreateCertificateRequest with the provider's template. */
function createCertificateRequest(subject: Name, sans: Sans, key: KeyObject): Buffer {
  const signer = signerOf(key);
  const attributes = hasSans(sans)
    ? [seq(oid(OID.extensionRequest), setOf([seq(extension(OID.subjectAltName, false, encodeSans(sans)))]))]
    : [];
  const info = seq(derInt(0n), encodeName(subject), spkiOf(key), tlv(0xa0, ...attributes));
  return seq(info, signer.algorithmId, bitString(signer.sign(info)));
}

/** x509.ParseCertificateRequest: the fields the locally signed template takes. */
function parseCertificateRequest(der: Buffer): { subject: Name; sans: Sans; spki: Buffer } {
  const [info] = children(parseDer(der));
  const [version, subjectNode, spkiNode, ...rest] = children(info);
  if (version.tag !== 0x02 || subjectNode.tag !== 0x30 || spkiNode.tag !== 0x30) {
    throw new Error("asn1: structure error in certificate request");
  }
  // Re-marshalled as Go does after parsing it (and refused when Go would not parse it).
  const key = createPublicKey({ key: raw(spkiNode), format: "der", type: "spki" });
  algorithmOf(key);
  const sans: Sans = { dnsNames: [], ipAddresses: [], uris: [] };
  const attributes = rest.find((n) => n.tag === 0xa0);
  for (const attribute of attributes ? children(attributes) : []) {
    const [type, values] = children(attribute);
    if (oidString(type) !== OID.extensionRequest || !values || children(values).length === 0) continue;
    for (const ext of children(children(values)[0])) {
      const parts = children(ext);
      if (oidString(parts[0]) !== OID.subjectAltName) continue;
      for (const generalName of children(parseDer(content(parts[parts.length - 1])))) {
        const value = content(generalName);
        const ia5 = (what: string) => {
          if (!value.every((b) => b < 0x80)) throw new Error(`x509: SAN ${what} is malformed`);
          return value.toString("latin1");
        };
        if (generalName.tag === 0x81) ia5("rfc822Name");
        else if (generalName.tag === 0x82) sans.dnsNames.push(ia5("dNSName"));
        else if (generalName.tag === 0x86) sans.uris.push(ia5("uniformResourceIdentifier"));
        else if (generalName.tag === 0x87) {
          if (value.length !== 4 && value.length !== 16) {
            throw new Error(`x509: cannot parse IP address of length ${value.length}`);
          }
          sans.ipAddresses.push(to4(value));
        }
      }
    }
  }
  return { subject: nameFromRdns(subjectNode), sans, spki: spkiOf(key) };
}

/** x509.ParseCertificate: subject (raw), subject key id, public key, CA flag. */
function parseCertificate(der: Buffer): Parent & { isCA: boolean } {
  const cert = new X509Certificate(der);
  const [tbs] = children(parseDer(der));
  const fields = children(tbs);
  const i = fields[0].tag === 0xa0 ? 1 : 0;
  const subject = fields[i + 4];
  const spki = fields[i + 5];
  let subjectKeyId = Buffer.alloc(0);
  const extensions = fields.find((f) => f.tag === 0xa3);
  for (const ext of extensions ? children(children(extensions)[0]) : []) {
    const parts = children(ext);
    if (oidString(parts[0]) === OID.subjectKeyId) {
      subjectKeyId = Buffer.from(content(parseDer(content(parts[parts.length - 1]))));
    }
  }
  const key = createPublicKey({ key: raw(spki), format: "der", type: "spki" });
  return { rawSubject: Buffer.from(raw(subject)), subjectKeyId, spki: spkiOf(key), isCA: cert.ca };
}

// ---------------------------------------------------------------------------------------------------------------
// Checks

type Kind = "string" | "int" | "bool" | "stringList" | "subject";

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);

function typeFailures(inputs: Properties, kinds: Record<string, Kind>, required: string[] = []): Failure[] {
  const failures: Failure[] = [];
  for (const key of required) {
    if (inputs[key] === undefined || inputs[key] === null) {
      failures.push({ property: key, reason: `Missing required argument: ${key}` });
    }
  }
  const isStringList = (v: unknown) => Array.isArray(v) && v.every((e) => typeof e === "string");
  for (const [key, kind] of Object.entries(kinds)) {
    const value = inputs[key];
    if (value === undefined || value === null) continue;
    if (kind === "subject") {
      if (typeof value !== "object" || Array.isArray(value)) {
        failures.push({ property: key, reason: "subject must be an object" });
        continue;
      }
      for (const [field, fieldValue] of Object.entries(value as Properties)) {
        if (!SUBJECT_FIELDS.includes(field)) {
          failures.push({ property: `subject.${field}`, reason: `subject has no field ${field}` });
        } else if (
          fieldValue !== undefined &&
          fieldValue !== null &&
          !(field === "streetAddresses" ? isStringList(fieldValue) : typeof fieldValue === "string")
        ) {
          failures.push({ property: `subject.${field}`, reason: `subject.${field} has the wrong type` });
        }
      }
      continue;
    }
    const ok = {
      string: typeof value === "string",
      int: isInt(value),
      bool: typeof value === "boolean",
      stringList: isStringList(value),
    }[kind];
    if (!ok) failures.push({ property: key, reason: `${key} must be ${kind}, got ${JSON.stringify(value)}` });
  }
  return failures;
}

const oneOf = (inputs: Properties, key: string, allowed: string[]): Failure[] =>
  inputs[key] !== undefined && !allowed.includes(inputs[key] as string)
    ? [
        {
          property: key,
          reason: `value must be one of: ${JSON.stringify(allowed)}, got: ${JSON.stringify(inputs[key])}`,
        },
      ]
    : [];

const atLeast = (inputs: Properties, key: string, min: number): Failure[] =>
  inputs[key] !== undefined && (inputs[key] as number) < min
    ? [{ property: key, reason: `${key} must be at least ${min}, got: ${inputs[key]}` }]
    : [];

/** Exactly one of a key and its write-only variant; the write-only one needs its version. */
const keyChoice = (inputs: Properties, key: string): Failure[] => {
  const has = (k: string) => inputs[k] !== undefined && inputs[k] !== null;
  const failures: Failure[] = [];
  if (has(key) === has(`${key}Wo`)) {
    failures.push({ property: key, reason: `Exactly one of ${key} or ${key}Wo must be set` });
  }
  if (has(`${key}Wo`) && !has(`${key}WoVersion`)) {
    failures.push({ property: `${key}WoVersion`, reason: `${key}Wo requires ${key}WoVersion to be set` });
  }
  return failures;
};

const nonEmptyEntries = (inputs: Properties, key: string): Failure[] =>
  ((inputs[key] as string[] | undefined) ?? []).some((e) => e.length < 1)
    ? [{ property: key, reason: `every element of ${key} must be at least 1 character long` }]
    : [];

const SAN_KINDS: Record<string, Kind> = { dnsNames: "stringList", ipAddresses: "stringList", uris: "stringList" };

const certificateChecks = (inputs: Properties): Failure[] => [
  ...((inputs.allowedUses as string[] | undefined) ?? [])
    .filter((use) => !SUPPORTED_USES.includes(use))
    .map((use) => ({
      property: "allowedUses",
      reason: `value must be one of: ${JSON.stringify(SUPPORTED_USES)}, got: ${JSON.stringify(use)}`,
    })),
  ...atLeast(inputs, "validityPeriodHours", 0),
  ...((inputs.validityPeriodHours as number) > MAX_VALIDITY_HOURS
    ? [
        {
          property: "validityPeriodHours",
          reason: `the stand-in refuses more than ${MAX_VALIDITY_HOURS} hours, where Go's time.Duration overflows`,
        },
      ]
    : []),
  ...atLeast(inputs, "earlyRenewalHours", 0),
  ...atLeast(inputs, "maxPathLength", -1),
];

// ---------------------------------------------------------------------------------------------------------------
// Resources

const noop = async (): Promise<void> => {};
const generate = promisify(generateKeyPair);
const present = (inputs: Properties, keys: string[]): Properties =>
  Object.fromEntries(keys.filter((k) => inputs[k] !== undefined && inputs[k] !== null).map((k) => [k, inputs[k]]));

const privateKey: StandInResource = {
  inputs: ["algorithm", "ecdsaCurve", "rsaBits"],
  replaceOnChange: "all",
  check: (inputs) => {
    const failures = typeFailures(inputs, { algorithm: "string", ecdsaCurve: "string", rsaBits: "int" }, ["algorithm"]);
    if (failures.length) return failures;
    return [
      ...oneOf(inputs, "algorithm", ["RSA", "ECDSA", "ED25519"]),
      ...oneOf(inputs, "ecdsaCurve", ["P224", "P256", "P384", "P521"]),
    ];
  },
  async create(inputs) {
    const algorithm = inputs.algorithm as Algorithm;
    const rsaBits = (inputs.rsaBits as number | undefined) ?? 2048;
    const ecdsaCurve = (inputs.ecdsaCurve as string | undefined) ?? "P224";
    let key: KeyObject;
    if (algorithm === "RSA") {
      if (rsaBits < 1024) {
        throw new Error(`Unable to generate Key from configuration: crypto/rsa: ${rsaBits}-bit keys are insecure`);
      }
      key = (await generate("rsa", { modulusLength: rsaBits, publicExponent: 65537 })).privateKey;
    } else if (algorithm === "ECDSA") {
      const curve = Object.values(CURVES).find((c) => c.name === ecdsaCurve);
      if (!curve) throw new Error(`invalid ECDSA curve; supported values are: [P224 P256 P384 P521]`);
      key = (await generate("ec", { namedCurve: curve.node })).privateKey;
    } else {
      key = (await generate("ed25519", {})).privateKey;
    }
    const pemType = { RSA: "pkcs1", ECDSA: "sec1", ED25519: "pkcs8" } as const;
    const spki = spkiOf(key);
    const id = hashForState(spki);
    const outs = {
      __meta: '{"schema_version":"1"}',
      algorithm,
      ecdsaCurve,
      rsaBits,
      id,
      privateKeyPem: key.export({ format: "pem", type: pemType[algorithm] }) as string,
      privateKeyPemPkcs8: key.export({ format: "pem", type: "pkcs8" }) as string,
      publicKeyPem: pemEncode("PUBLIC KEY", spki),
      ...opensshOutputs(key),
    };
    return { id, outs };
  },
  delete: noop,
};

const CERT_COMPUTED_DEFAULTS = { earlyRenewalHours: 0, isCaCertificate: false, setSubjectKeyId: false };

/** ready_for_renewal's plan modifier (attribute_plan_modifier_bool). */
const readyForRenewal = (plan: Properties) =>
  plan.validityPeriodHours === 0 || (plan.earlyRenewalHours as number) >= (plan.validityPeriodHours as number);

/** earlyRenewalHours is the one input updated in place (no RequiresReplace). */
const updateEarlyRenewal = (_id: string, olds: Properties, news: Properties): Promise<Properties> => {
  const plan = { ...olds, earlyRenewalHours: (news.earlyRenewalHours as number | undefined) ?? 0 };
  return Promise.resolve({ ...plan, readyForRenewal: readyForRenewal(plan) });
};

/** modifyStateIfCertificateReadyForRenewal. */
const readCertificate = (_id: string, props: Properties): Promise<Properties> => {
  const end = Date.parse(props.validityEndTime as string);
  const renewal = end - ((props.earlyRenewalHours as number | undefined) ?? 0) * HOUR;
  return Promise.resolve(renewal - Date.now() <= 0 ? { ...props, readyForRenewal: true } : props);
};

const SELF_SIGNED_INPUTS = [
  "allowedUses",
  "dnsNames",
  "earlyRenewalHours",
  "ipAddresses",
  "isCaCertificate",
  "maxPathLength",
  "privateKeyPem",
  "privateKeyPemWo",
  "privateKeyPemWoVersion",
  "setAuthorityKeyId",
  "setSubjectKeyId",
  "subject",
  "uris",
  "validityPeriodHours",
];

const selfSignedCert: StandInResource = {
  inputs: SELF_SIGNED_INPUTS,
  replaceOnChange: SELF_SIGNED_INPUTS.filter((k) => k !== "earlyRenewalHours"),
  check: (inputs) => {
    const failures = typeFailures(
      inputs,
      {
        ...SAN_KINDS,
        allowedUses: "stringList",
        earlyRenewalHours: "int",
        isCaCertificate: "bool",
        maxPathLength: "int",
        privateKeyPem: "string",
        privateKeyPemWo: "string",
        privateKeyPemWoVersion: "int",
        setAuthorityKeyId: "bool",
        setSubjectKeyId: "bool",
        subject: "subject",
        validityPeriodHours: "int",
      },
      ["allowedUses", "validityPeriodHours"],
    );
    if (failures.length) return failures;
    return [
      ...certificateChecks(inputs),
      ...keyChoice(inputs, "privateKeyPem"),
      ...nonEmptyEntries(inputs, "ipAddresses"),
      ...nonEmptyEntries(inputs, "uris"),
    ];
  },
  create(inputs) {
    const plan: Properties = {
      ...CERT_COMPUTED_DEFAULTS,
      setAuthorityKeyId: false,
      ...present(inputs, SELF_SIGNED_INPUTS),
    };
    const { key, algorithm } = parsePrivateKeyPem((inputs.privateKeyPem ?? inputs.privateKeyPemWo) as string);
    const template = {
      subject: nameFromSubject(inputs.subject as Properties | undefined),
      sans: sansFromInputs(inputs),
      spki: spkiOf(key),
    };
    const cert = createCertificate(plan, template, key);
    delete plan.privateKeyPemWo; // write-only: never in state
    const outs = { ...plan, keyAlgorithm: algorithm, ...cert, readyForRenewal: readyForRenewal(plan) };
    return Promise.resolve({ id: cert.id, outs });
  },
  update: updateEarlyRenewal,
  read: readCertificate,
  delete: noop,
};

const CERT_REQUEST_INPUTS = [
  "dnsNames",
  "ipAddresses",
  "privateKeyPem",
  "privateKeyPemWo",
  "privateKeyPemWoVersion",
  "subject",
  "uris",
];

const certRequest: StandInResource = {
  inputs: CERT_REQUEST_INPUTS,
  replaceOnChange: "all",
  check: (inputs) => {
    const failures = typeFailures(inputs, {
      ...SAN_KINDS,
      privateKeyPem: "string",
      privateKeyPemWo: "string",
      privateKeyPemWoVersion: "int",
      subject: "subject",
    });
    if (failures.length) return failures;
    return [
      ...keyChoice(inputs, "privateKeyPem"),
      ...nonEmptyEntries(inputs, "ipAddresses"),
      ...nonEmptyEntries(inputs, "uris"),
    ];
  },
  create(inputs) {
    const { key, algorithm } = parsePrivateKeyPem((inputs.privateKeyPem ?? inputs.privateKeyPemWo) as string);
    const der = createCertificateRequest(
      nameFromSubject(inputs.subject as Properties | undefined),
      sansFromInputs(inputs),
      key,
    );
    const id = hashForState(der);
    const plan = present(inputs, CERT_REQUEST_INPUTS);
    delete plan.privateKeyPemWo;
    const outs = { ...plan, certRequestPem: pemEncode("CERTIFICATE REQUEST", der), id, keyAlgorithm: algorithm };
    return Promise.resolve({ id, outs });
  },
  delete: noop,
};

const LOCALLY_SIGNED_INPUTS = [
  "allowedUses",
  "caCertPem",
  "caPrivateKeyPem",
  "caPrivateKeyPemWo",
  "caPrivateKeyPemWoVersion",
  "certRequestPem",
  "earlyRenewalHours",
  "isCaCertificate",
  "maxPathLength",
  "setSubjectKeyId",
  "validityPeriodHours",
];

const locallySignedCert: StandInResource = {
  inputs: LOCALLY_SIGNED_INPUTS,
  replaceOnChange: LOCALLY_SIGNED_INPUTS.filter((k) => k !== "earlyRenewalHours"),
  check: (inputs) => {
    const failures = typeFailures(
      inputs,
      {
        allowedUses: "stringList",
        caCertPem: "string",
        caPrivateKeyPem: "string",
        caPrivateKeyPemWo: "string",
        caPrivateKeyPemWoVersion: "int",
        certRequestPem: "string",
        earlyRenewalHours: "int",
        isCaCertificate: "bool",
        maxPathLength: "int",
        setSubjectKeyId: "bool",
        validityPeriodHours: "int",
      },
      ["allowedUses", "caCertPem", "certRequestPem", "validityPeriodHours"],
    );
    if (failures.length) return failures;
    return [...certificateChecks(inputs), ...keyChoice(inputs, "caPrivateKeyPem")];
  },
  create(inputs) {
    const plan: Properties = { ...CERT_COMPUTED_DEFAULTS, ...present(inputs, LOCALLY_SIGNED_INPUTS) };
    let request: ReturnType<typeof parseCertificateRequest>;
    try {
      request = parseCertificateRequest(decodePemOfType(inputs.certRequestPem as string, "CERTIFICATE REQUEST"));
    } catch (error) {
      throw new Error(`Failed to parse certificate request PEM: ${(error as Error).message}`);
    }
    const { key, algorithm } = parsePrivateKeyPem((inputs.caPrivateKeyPem ?? inputs.caPrivateKeyPemWo) as string);
    let ca: ReturnType<typeof parseCertificate>;
    try {
      ca = parseCertificate(decodePemOfType(inputs.caCertPem as string, "CERTIFICATE"));
    } catch (error) {
      throw new Error(`Failed to parse CA certificate PEM: ${(error as Error).message}`);
    }
    if (!ca.isCA) console.error("warning: CA certificate does not appear to be a valid Certificate Authority");
    const cert = createCertificate(plan, request, key, ca);
    delete plan.caPrivateKeyPemWo; // write-only: never in state
    const outs = { ...plan, caKeyAlgorithm: algorithm, ...cert, readyForRenewal: readyForRenewal(plan) };
    return Promise.resolve({ id: cert.id, outs });
  },
  update: updateEarlyRenewal,
  read: readCertificate,
  delete: noop,
};

export const provider: StandInProvider = {
  name: "tls",
  version: "5.6.1",
  configKeys: ["proxy"],
  resources: {
    "tls:index/privateKey:PrivateKey": privateKey,
    "tls:index/selfSignedCert:SelfSignedCert": selfSignedCert,
    "tls:index/certRequest:CertRequest": certRequest,
    "tls:index/locallySignedCert:LocallySignedCert": locallySignedCert,
  },
};

/** Where each resource's Args live in @pulumi/tls's declarations. */
const SDK_ARGS: Record<string, [file: string, args: string]> = {
  "tls:index/privateKey:PrivateKey": ["privateKey", "PrivateKeyArgs"],
  "tls:index/selfSignedCert:SelfSignedCert": ["selfSignedCert", "SelfSignedCertArgs"],
  "tls:index/certRequest:CertRequest": ["certRequest", "CertRequestArgs"],
  "tls:index/locallySignedCert:LocallySignedCert": ["locallySignedCert", "LocallySignedCertArgs"],
};

if (require.main === module) servePlugin(provider, "@pulumi/tls", SDK_ARGS);
