import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { renderSigningKey } from "../../config-templates/synapse";

export interface SecretsArgs {
  /**
   * Secrets of an earlier deploy to reuse instead of generating (a re-deploy over its retained volume):
   * the signing key (federation identity), the database password and the backup repository's password.
   * Default: all generated.
   */
  restore?: { signingKey?: string; postgresPassword?: string; backupPassword?: string };
}

/**
 * Every secret the stack needs, generated once and stable across updates (Pulumi keeps them,
 * encrypted, in the stack state). Nothing is ever generated inside a container.
 */
export class Secrets extends pulumi.ComponentResource {
  /** Synapse's macaroon_secret_key: signs access tokens. */
  public readonly macaroonSecretKey: pulumi.Output<string>;
  /** Synapse's registration_shared_secret: can create admin users; treat as root. */
  public readonly registrationSharedSecret: pulumi.Output<string>;
  /** Synapse's form_secret. */
  public readonly formSecret: pulumi.Output<string>;
  /** Shared by Synapse and coturn to mint short-lived TURN credentials. */
  public readonly turnSharedSecret: pulumi.Output<string>;
  /** The PostgreSQL password of the synapse role. */
  public readonly postgresPassword: pulumi.Output<string>;
  /** The backup repository's password: without it, no backup can be read. Never change it. */
  public readonly backupPassword: pulumi.Output<string>;
  /** Synapse's signing key file content (`ed25519 a_xxxx <seed>`). Never change it. */
  public readonly signingKey: pulumi.Output<string>;
  /** The signing key's id, e.g. `ed25519:a_Xy1z` (not secret). */
  public readonly signingKeyId: pulumi.Output<string>;
  /** Self-signed certificate and key served until Let's Encrypt issues the real one. */
  public readonly fallbackCertPem: pulumi.Output<string>;
  public readonly fallbackKeyPem: pulumi.Output<string>;

  constructor(name: string, args: SecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:secrets:Secrets", name, {}, opts);
    const child = { parent: this };
    const password = (id: string, length: number) =>
      new random.RandomPassword(`${name}-${id}`, { length, special: false }, child).result;

    this.macaroonSecretKey = password("macaroon", 64);
    this.registrationSharedSecret = password("registration", 64);
    this.formSecret = password("form", 64);
    this.turnSharedSecret = password("turn", 64);
    const restore = args.restore ?? {};
    this.postgresPassword =
      restore.postgresPassword !== undefined ? pulumi.secret(restore.postgresPassword) : password("postgres", 48);
    this.backupPassword =
      restore.backupPassword !== undefined ? pulumi.secret(restore.backupPassword) : password("backup", 48);

    if (restore.signingKey !== undefined) {
      const restored = restore.signingKey.trim();
      this.signingKeyId = pulumi.output(`ed25519:${restored.split(" ")[1]}`);
      this.signingKey = pulumi.secret(`${restored}\n`);
    } else {
      const keyId = new random.RandomString(`${name}-signing-key-id`, { length: 4, special: false }, child).result;
      const seed = new random.RandomBytes(`${name}-signing-key`, { length: 32 }, child).base64;
      this.signingKeyId = pulumi.interpolate`ed25519:a_${keyId}`;
      this.signingKey = pulumi.secret(pulumi.all([keyId, seed]).apply(([id, s]) => renderSigningKey(`a_${id}`, s)));
    }

    const fallbackKey = new tls.PrivateKey(`${name}-fallback-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, child);
    const fallbackCert = new tls.SelfSignedCert(
      `${name}-fallback-cert`,
      {
        privateKeyPem: fallbackKey.privateKeyPem,
        // No hostnames, on purpose: HAProxy picks the certificate whose names match the client's SNI
        // and uses this one only when none does, so the issued certificate wins as soon as it exists.
        subject: { commonName: "firmground fallback (not yet issued)" },
        validityPeriodHours: 24 * 365 * 5,
        allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
      },
      child,
    );
    this.fallbackCertPem = fallbackCert.certPem;
    this.fallbackKeyPem = fallbackKey.privateKeyPem;

    this.registerOutputs({
      macaroonSecretKey: this.macaroonSecretKey,
      registrationSharedSecret: this.registrationSharedSecret,
      formSecret: this.formSecret,
      turnSharedSecret: this.turnSharedSecret,
      postgresPassword: this.postgresPassword,
      backupPassword: this.backupPassword,
      signingKey: this.signingKey,
      signingKeyId: this.signingKeyId,
      fallbackCertPem: this.fallbackCertPem,
      fallbackKeyPem: this.fallbackKeyPem,
    });
  }
}
