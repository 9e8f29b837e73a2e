/**
 * The load generator's HTTP side (load.ts, capacityLoad.ts): keep-alive clients spread over source
 * addresses, and a bounded parallel map.
 */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

/** What a load.ts command is given (a JSON file): where the server is, who the users are, the phase. */
export interface LoadPlan {
  serverName: string;
  /** Where the users' requests go: HAProxy's public name (TLS) or Synapse's own listener (plain HTTP). */
  baseUrl: string;
  /** Source addresses the users' connections are spread over (HAProxy limits requests per source). */
  sourceAddresses: string[];
  /** Synapse's listener, for setup (the admin API is refused through HAProxy from a user's address). */
  setupUrl: string;
  registrationSecret: string;
  users: number;
  rooms: number;
  phase?:
    { kind: "rate"; perSecond: number; seconds: number } | { kind: "saturate"; concurrency: number; seconds: number };
}

/** The load's server admin (setup registers it), kept beside the users file. */
export interface BenchAdmin {
  userId: string;
  token: string;
}
export const adminFileOf = (usersFile: string) => `${usersFile}.admin`;

export interface BenchUser {
  userId: string;
  token: string;
  roomId: string;
}

export interface Answer {
  status: number;
  body: string;
}

export class Client {
  private readonly agents: (HttpAgent | HttpsAgent)[];
  private readonly https: boolean;

  constructor(
    private readonly baseUrl: string,
    sourceAddresses: string[],
  ) {
    this.https = baseUrl.startsWith("https:");
    const Agent = this.https ? HttpsAgent : HttpAgent;
    this.agents = (sourceAddresses.length ? sourceAddresses : [undefined]).map(
      (localAddress) => new Agent({ keepAlive: true, localAddress }),
    );
  }

  /** One request; `source` picks the agent (and so the source address) the connection comes from. */
  request(method: string, path: string, body?: unknown, token?: string, source = 0): Promise<Answer> {
    const send = this.https ? httpsRequest : httpRequest;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = send(
        new URL(path, this.baseUrl),
        {
          method,
          agent: this.agents[source % this.agents.length],
          headers: {
            ...(payload ? { "content-type": "application/json" } : {}),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`timeout: ${method} ${path}`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** A request that must succeed; waits out Synapse's 429s (setup only: the phases count them). */
  async must(method: string, path: string, body?: unknown, token?: string): Promise<Record<string, unknown>> {
    for (;;) {
      const answer = await this.request(method, path, body, token);
      if (answer.status === 429) {
        const wait = Number((JSON.parse(answer.body) as { retry_after_ms?: number }).retry_after_ms ?? 1000);
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      if (answer.status !== 200 && answer.status !== 201)
        throw new Error(`${method} ${path}: ${answer.status} ${answer.body.slice(0, 300)}`);
      return JSON.parse(answer.body) as Record<string, unknown>;
    }
  }

  close() {
    for (const agent of this.agents) agent.destroy();
  }
}

/** Runs `task` over `items` with at most `width` in flight. */
export async function inParallel<T, R>(
  items: T[],
  width: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

export const enc = encodeURIComponent;
