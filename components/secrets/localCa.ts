import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

export interface LocalCaArgs {
  /** Every hostname the server certificate covers. Adding one re-issues only that certificate. */
  hostnames: string[];
}

/**
 * The local target's certificate authority, in place of Let's Encrypt: a CA (trust its certificate,
 * the `localCaCertPem` output, in your browser or system) and one server certificate for every
 * hostname, which HAProxy and coturn serve.
 */
export class LocalCa extends pulumi.ComponentResource {
  /** The CA certificate to trust. Not secret. */
  public readonly caCertPem: pulumi.Output<string>;
  public readonly certPem: pulumi.Output<string>;
  /** The server certificate's key, a secret. */
  public readonly keyPem: pulumi.Output<string>;

  constructor(name: string, args: LocalCaArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:secrets:LocalCa", name, {}, opts);
    const child = { parent: this };
    const caKey = new tls.PrivateKey(`${name}-ca-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, child);
    const ca = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: caKey.privateKeyPem,
        subject: { commonName: "firmground local CA" },
        isCaCertificate: true,
        validityPeriodHours: 24 * 365 * 5,
        allowedUses: ["cert_signing", "crl_signing"],
      },
      child,
    );
    const serverKey = new tls.PrivateKey(`${name}-server-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, child);
    const request = new tls.CertRequest(
      `${name}-server-csr`,
      { privateKeyPem: serverKey.privateKeyPem, subject: { commonName: args.hostnames[0] }, dnsNames: args.hostnames },
      child,
    );
    const server = new tls.LocallySignedCert(
      `${name}-server`,
      {
        certRequestPem: request.certRequestPem,
        caPrivateKeyPem: caKey.privateKeyPem,
        caCertPem: ca.certPem,
        validityPeriodHours: 24 * 365,
        allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
      },
      child,
    );
    this.caCertPem = ca.certPem;
    this.certPem = pulumi
      .all([server.certPem, ca.certPem])
      .apply(([cert, caCert]) => `${cert.trim()}\n${caCert.trim()}\n`);
    this.keyPem = pulumi.secret(serverKey.privateKeyPem);
    this.registerOutputs({ caCertPem: this.caCertPem, certPem: this.certPem, keyPem: this.keyPem });
  }
}
