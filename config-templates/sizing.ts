/**
 * Container memory limits derived from the host's RAM. The limits sum to at most 80 % of RAM;
 * the rest is for the kernel, Docker and the page cache PostgreSQL relies on.
 */
import type { Service } from "../components/config";

/** Share of RAM per container, and a floor below which the service does not run well. */
export const MEMORY_SHARES: Record<Service, { share: number; minMb: number }> = {
  synapse: { share: 0.4, minMb: 768 },
  postgres: { share: 0.2, minMb: 384 },
  coturn: { share: 0.04, minMb: 96 },
  haproxy: { share: 0.04, minMb: 96 },
  nginx: { share: 0.02, minMb: 48 },
  element: { share: 0.02, minMb: 48 },
  certbot: { share: 0.04, minMb: 128 },
  synapseAdmin: { share: 0.01, minMb: 32 },
};

/** The most of RAM the limits may add up to. */
export const MAX_RAM_FRACTION = 0.85;

/** Largest upload accepted, in bytes: Synapse's max_upload_size and HAProxy's body limit. */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

export function memoryLimitsMb(ramBytes: number): Record<Service, number> {
  const ramMb = Math.floor(ramBytes / (1024 * 1024));
  const limits = Object.fromEntries(
    Object.entries(MEMORY_SHARES).map(([service, { share, minMb }]) => [
      service,
      Math.max(minMb, Math.floor(ramMb * share)),
    ]),
  ) as Record<Service, number>;
  return limits;
}

/** Total of the limits, to compare against MAX_RAM_FRACTION of RAM. */
export const totalMb = (limits: Record<string, number>) => Object.values(limits).reduce((a, b) => a + b, 0);
