import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

export interface DockerTlsArgs {
  /** The host's public IPv4: the server certificate's IP SAN. Replacing the IP re-issues it. */
  serverIp: pulumi.Input<string>;
  /**
   * Certificate lifetime in hours. Defaults to ten years: the server certificate reaches the host
   * only through first-boot cloud-init, so it is not rotated in place.
   */
  validityHours?: number;
}

/**
 * A private CA for the Docker API, a server certificate for the daemon (IP SAN) and a client
 * certificate for Pulumi. The daemon verifies clients against this CA (mTLS), so only holders of
 * the client key can drive it.
 */
export class DockerTls extends pulumi.ComponentResource {
  public readonly caCertPem: pulumi.Output<string>;
  public readonly serverCertPem: pulumi.Output<string>;
  public readonly serverKeyPem: pulumi.Output<string>;
  public readonly clientCertPem: pulumi.Output<string>;
  public readonly clientKeyPem: pulumi.Output<string>;

  constructor(name: string, args: DockerTlsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:host:DockerTls", name, {}, opts);
    const child = { parent: this };
    const validityPeriodHours = args.validityHours ?? 24 * 365 * 10;
    const key = (id: string) =>
      new tls.PrivateKey(`${name}-${id}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, child);

    const caKey = key("ca");
    const ca = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: caKey.privateKeyPem,
        subject: { commonName: "firmground Docker CA" },
        isCaCertificate: true,
        validityPeriodHours,
        allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
      },
      child,
    );

    const signed = (id: string, commonName: string, uses: string[], ipAddresses?: pulumi.Input<string>[]) => {
      const privateKey = key(id);
      const request = new tls.CertRequest(
        `${name}-${id}-csr`,
        { privateKeyPem: privateKey.privateKeyPem, subject: { commonName }, ipAddresses },
        child,
      );
      const cert = new tls.LocallySignedCert(
        `${name}-${id}-cert`,
        {
          certRequestPem: request.certRequestPem,
          caPrivateKeyPem: caKey.privateKeyPem,
          caCertPem: ca.certPem,
          validityPeriodHours,
          allowedUses: ["digital_signature", "key_encipherment", ...uses],
        },
        child,
      );
      return { cert: cert.certPem, key: privateKey.privateKeyPem };
    };

    const server = signed("server", "firmground Docker daemon", ["server_auth"], [args.serverIp]);
    const client = signed("client", "firmground Pulumi client", ["client_auth"]);

    this.caCertPem = ca.certPem;
    this.serverCertPem = server.cert;
    this.serverKeyPem = server.key;
    this.clientCertPem = client.cert;
    this.clientKeyPem = client.key;
    this.registerOutputs({
      caCertPem: this.caCertPem,
      serverCertPem: this.serverCertPem,
      serverKeyPem: this.serverKeyPem,
      clientCertPem: this.clientCertPem,
      clientKeyPem: this.clientKeyPem,
    });
  }
}
