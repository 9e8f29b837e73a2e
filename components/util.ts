/**
 * Helpers shared by the config, the renderers and the policy pack: deep merging of settings, and
 * address ranges (parsing CIDRs, and whether a set of them covers a whole address family, which the
 * config refuses for adminCidrs and the policy pack refuses on admin ports).
 */
import * as net from "node:net";

/** Parses an IPv4 or IPv6 address into its bits, most significant first. */
function addressBits(address: string): bigint | undefined {
  if (net.isIPv4(address)) {
    return address.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  }
  if (!net.isIPv6(address) || address.includes(".")) return undefined;
  const [head, tail] = address.split("::");
  const groups = (s: string | undefined) => (s ? s.split(":") : []);
  const left = groups(head);
  const right = groups(tail);
  const all =
    tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Checks a CIDR; returns why it is wrong, or undefined when it is right. */
export function cidrProblem(cidr: string): string | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!match) return "expected an address and a prefix length, like 203.0.113.7/32 or 2001:db8::/48";
  const [, address, prefixText] = match;
  const width = net.isIPv4(address) ? 32 : 128;
  const bits = addressBits(address);
  if (bits === undefined) return `"${address}" is not an IPv4 or IPv6 address`;
  const prefix = Number(prefixText);
  if (prefix > width) return `the prefix length must be 0..${width}`;
  const hostMask = (1n << BigInt(width - prefix)) - 1n;
  if ((bits & hostMask) !== 0n) return "the address has bits set beyond the prefix length";
  return undefined;
}

/**
 * The address families (`IPv4`, `IPv6`) whose whole space the given CIDRs cover together, as one
 * range (0.0.0.0/0) or split into pieces (0.0.0.0/1 and 128.0.0.0/1). Malformed entries are ignored.
 */
export function coveredFamilies(cidrs: string[]): ("IPv4" | "IPv6")[] {
  const covered: ("IPv4" | "IPv6")[] = [];
  for (const [family, width] of [
    ["IPv4", 32],
    ["IPv6", 128],
  ] as const) {
    const ranges = cidrs
      .filter((cidr) => cidrProblem(cidr) === undefined)
      .map((cidr) => cidr.split("/"))
      .filter(([address]) => (width === 32 ? net.isIPv4(address) : net.isIPv6(address)))
      .map(([address, prefix]) => {
        const start = addressBits(address)!;
        return [start, start + (1n << BigInt(width - Number(prefix))) - 1n] as const;
      })
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let next = 0n;
    for (const [start, end] of ranges) {
      if (start > next) break;
      if (end + 1n > next) next = end + 1n;
    }
    if (next === 1n << BigInt(width)) covered.push(family);
  }
  return covered;
}

/**
 * Deep-merges `extra` over `base`: objects merge key by key, anything else (arrays included)
 * replaces. Neither input is modified.
 */
export function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
