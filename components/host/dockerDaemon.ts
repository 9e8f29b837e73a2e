/**
 * Waiting for a freshly created host's Docker daemon.
 *
 * Right after the server exists, cloud-init is still installing Docker and the API refuses
 * connections; the Docker provider would fail every container. The program therefore resolves the
 * provider's host only once the daemon answers `GET /_ping` over mutual TLS.
 */
import * as https from "node:https";

export interface DaemonEndpoint {
  /** Address of the daemon (IP or name the server certificate covers). */
  address: string;
  port: number;
  caPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

export interface WaitOptions {
  /** Give up after this long. Defaults to 15 minutes: first boot installs Docker from the mirror. */
  timeoutMs?: number;
  /** Pause between attempts. Defaults to 5 seconds. */
  intervalMs?: number;
  /** Called after each failed attempt (for progress logging). */
  onRetry?: (attempt: number, reason: string) => void;
}

/** One `GET /_ping`; resolves with the reason it failed, or undefined when the daemon answered OK. */
export function pingDockerDaemon(endpoint: DaemonEndpoint, timeoutMs = 10_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const request = https.request(
      {
        host: endpoint.address,
        port: endpoint.port,
        path: "/_ping",
        method: "GET",
        ca: endpoint.caPem,
        cert: endpoint.clientCertPem,
        key: endpoint.clientKeyPem,
        timeout: timeoutMs,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () =>
          resolve(
            response.statusCode === 200 && body.trim() === "OK"
              ? undefined
              : `HTTP ${response.statusCode}: ${body.slice(0, 200)}`,
          ),
        );
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on("error", (error) => resolve(error.message));
    request.end();
  });
}

/** Polls until the daemon answers; throws a clear error after the timeout. */
export async function waitForDockerDaemon(endpoint: DaemonEndpoint, options: WaitOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 15 * 60_000;
  const intervalMs = options.intervalMs ?? 5_000;
  const deadline = Date.now() + timeoutMs;
  let lastReason = "not tried";
  for (let attempt = 1; ; attempt++) {
    const reason = await pingDockerDaemon(endpoint, Math.min(10_000, Math.max(1, deadline - Date.now())));
    if (reason === undefined) return;
    lastReason = reason;
    options.onRetry?.(attempt, reason);
    if (Date.now() + intervalMs > deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `The Docker daemon at tcp://${endpoint.address}:${endpoint.port} did not answer within ${Math.round(timeoutMs / 1000)} s ` +
      `(last error: ${lastReason}). Check the instance's console for cloud-init errors (Docker is installed at first boot), ` +
      `and that this machine's address is allowed by adminCidrs.`,
  );
}
