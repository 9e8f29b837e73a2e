/**
 * The doctor's eyes on the outside: DNS, TLS, HTTP and TCP as a client or another server on the
 * Internet would see them. Each probe returns what it saw as plain data (judges.ts decides).
 */
import { promises as dns } from "node:dns";
import { request as httpsRequest } from "node:https";
import { connect as tcpConnect } from "node:net";
import {
  checkServerIdentity,
  connect as tlsConnect,
  rootCertificates,
  type ConnectionOptions,
  type PeerCertificate,
} from "node:tls";
import type { DnsSeen, HttpSeen, TlsSeen } from "./judges";

/** TLS trust: the system's roots, plus a CA file's certificates (the local target's CA, a test CA). */
export interface Trust {
  ca?: string[];
}

export const trustOptions = (trust: Trust): ConnectionOptions =>
  trust.ca ? { ca: [...rootCertificates, ...trust.ca] } : {};

const TIMEOUT_MS = 8000;

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0];

/** A and AAAA records of `name`: from DNS servers (`dns`), or as this machine resolves it, /etc/hosts included. */
export async function resolveName(name: string, how: "dns" | "system"): Promise<DnsSeen> {
  const records = async (family: 4 | 6): Promise<string[] | { error: string }> => {
    try {
      if (how === "system") return (await dns.lookup(name, { family, all: true })).map((a) => a.address);
      const resolver = new dns.Resolver({ timeout: 3000, tries: 2 });
      return await (family === 4 ? resolver.resolve4(name) : resolver.resolve6(name));
    } catch (error) {
      const code = (error as { code?: string }).code;
      // No record of that type is an answer, not an error.
      if (code === "ENODATA" || code === "ENOTFOUND") return [];
      return { error: `${code ?? ""} ${errorText(error)}`.trim() };
    }
  };
  return { name, a: await records(4), aaaa: await records(6) };
}

/** The certificate and session a TLS client gets from `address:port` asking for `host` (SNI). */
export function probeTls(host: string, port: number, address: string, trust: Trust): Promise<TlsSeen> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: address,
      port,
      servername: host,
      ALPNProtocols: ["h2", "http/1.1"],
      rejectUnauthorized: false,
      timeout: TIMEOUT_MS,
      ...trustOptions(trust),
    });
    const done = (seen: TlsSeen) => {
      socket.destroy();
      resolve(seen);
    };
    socket.once("secureConnect", () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      const names = (cert.subjectaltname ?? "")
        .split(/,\s*/)
        .filter((n) => n.startsWith("DNS:"))
        .map((n) => n.slice(4));
      // The chain (socket.authorized) and the name, checked as a browser would.
      const nameError = cert.subject ? undefined : "no certificate";
      const identity = socket.authorized ? (nameError ?? checkName(host, cert)) : undefined;
      done({
        host,
        port,
        authorized: socket.authorized && !identity,
        ...(socket.authorizationError || identity
          ? { authorizationError: String(socket.authorizationError ?? identity) }
          : {}),
        protocol: socket.getProtocol() ?? undefined,
        alpn: socket.alpnProtocol ?? false,
        validFrom: new Date(cert.valid_from).toISOString(),
        validTo: new Date(cert.valid_to).toISOString(),
        subjectAltNames: names,
      });
    });
    socket.once("timeout", () => done({ host, port, error: `no TLS answer within ${TIMEOUT_MS / 1000} s` }));
    socket.once("error", (error) => done({ host, port, error: errorText(error) }));
  });
}

function checkName(host: string, cert: PeerCertificate): string | undefined {
  // What https uses: an Error when the certificate does not cover the name.
  return checkServerIdentity(host, cert)?.message;
}

/** One HTTPS request to `url`, connecting to `address` when given (else DNS), no connection reuse. */
export function httpsCall(
  url: string,
  trust: Trust,
  options: { address?: string; method?: string; body?: string; token?: string } = {},
): Promise<HttpSeen> {
  const target = new URL(url);
  return new Promise((resolve) => {
    const req = httpsRequest(
      target,
      {
        method: options.method ?? "GET",
        servername: target.hostname,
        ...(options.address
          ? {
              // Node asks for every address (`all`) when it races IPv4 and IPv6.
              lookup: (
                _host: string,
                lookupOptions: { all?: boolean },
                callback: (e: null, a: string | { address: string; family: number }[], f?: number) => void,
              ) => {
                const family = options.address!.includes(":") ? 6 : 4;
                if (lookupOptions.all) callback(null, [{ address: options.address!, family }]);
                else callback(null, options.address!, family);
              },
            }
          : {}),
        headers: {
          ...(options.body ? { "content-type": "application/json" } : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
        agent: false,
        timeout: TIMEOUT_MS,
        ...trustOptions(trust),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            url,
            status: res.statusCode ?? 0,
            ...(res.headers["content-type"] ? { contentType: res.headers["content-type"] } : {}),
            ...(res.headers["access-control-allow-origin"]
              ? { cors: String(res.headers["access-control-allow-origin"]) }
              : {}),
            body: Buffer.concat(chunks)
              .toString("utf8")
              .slice(0, 64 * 1024),
          }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on("error", (error) => resolve({ url, error: errorText(error) }));
    req.end(options.body);
  });
}

/** The ports of `ports` that accept a TCP connection on `address` within `timeoutMs`. */
export async function openTcpPorts(address: string, ports: number[], timeoutMs = 2500): Promise<number[]> {
  const open = await Promise.all(
    ports.map(
      (port) =>
        new Promise<number | undefined>((resolve) => {
          const socket = tcpConnect({ host: address, port, timeout: timeoutMs });
          socket.once("connect", () => {
            socket.destroy();
            resolve(port);
          });
          socket.once("timeout", () => {
            socket.destroy();
            resolve(undefined);
          });
          socket.once("error", () => resolve(undefined));
        }),
    ),
  );
  return open.filter((p): p is number => p !== undefined).sort((a, b) => a - b);
}

/** The SRV target of `_matrix-fed._tcp.<host>`, when there is one. */
export async function matrixSrv(host: string): Promise<{ host: string; port: number } | undefined> {
  try {
    const [record] = (await dns.resolveSrv(`_matrix-fed._tcp.${host}`)).sort((a, b) => a.priority - b.priority);
    return record ? { host: record.name, port: record.port } : undefined;
  } catch {
    return undefined;
  }
}
