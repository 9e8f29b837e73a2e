import * as pulumi from "@pulumi/pulumi";
import * as scaleway from "@pulumiverse/scaleway";
import { recordName } from "../config";

export interface DnsRecordsArgs {
  /** The Scaleway DNS zone holding the records, e.g. example.org. */
  dnsZone: string;
  /** Fully qualified names to point at the host; the zone itself means the apex. */
  hostnames: string[];
  /** The host's public IPv4 (A records). */
  ipv4: pulumi.Input<string>;
  /** The host's public IPv6 (AAAA records). */
  ipv6: pulumi.Input<string>;
  /** Record TTL in seconds. Defaults to 600. Can change at any time. */
  ttl?: number;
}

/**
 * A and AAAA records for every public name of the host. No SRV record: federation is delegated by
 * `/.well-known/matrix/server` (served on the apex), which servers consult before SRV, and an SRV
 * record would only matter when that document is missing.
 */
export class DnsRecords extends pulumi.ComponentResource {
  /** The record names created, relative to the zone ("" is the apex). */
  public readonly names: string[];

  constructor(name: string, args: DnsRecordsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("firmground:dns:DnsRecords", name, {}, opts);
    const ttl = args.ttl ?? 600;
    this.names = args.hostnames.map((host) => recordName(host, args.dnsZone));
    for (const record of this.names) {
      const label = record === "" ? "apex" : record.replace(/\./g, "-");
      for (const [type, data] of [
        ["A", args.ipv4],
        ["AAAA", args.ipv6],
      ] as const) {
        new scaleway.domain.Record(
          `${name}-${label}-${type.toLowerCase()}`,
          { dnsZone: args.dnsZone, name: record, type, data, ttl },
          { parent: this },
        );
      }
    }
    this.registerOutputs({ names: this.names });
  }
}
