/**
 * A CPU calibration: a fixed reference workload (SHA-256 over 256 MiB, then JSON round trips of
 * 200,000 small objects), timed on one core. Recorded beside every benchmark and real-daemon run, so
 * figures from different machines or days can be set side by side: the same workload swings about 4×
 * between machines of the same kind here.
 */
import { createHash } from "node:crypto";
import { cpus, totalmem } from "node:os";

export const CALIBRATION_WORKLOAD =
  "sha256 over 8 × 32 MiB, then 5 JSON stringify+parse round trips of 200,000 objects; best of 3, one core";

export interface Calibration {
  workload: string;
  /** Seconds for the workload (the best of three); lower is a faster core. */
  seconds: number;
}

function once(): number {
  const started = process.hrtime.bigint();
  const block = Buffer.alloc(32 * 2 ** 20, 7);
  for (let i = 0; i < 8; i++) createHash("sha256").update(block).digest();
  const doc = Array.from({ length: 200_000 }, (_, i) => ({ id: i, body: `message ${i}`, ts: i * 1000 }));
  for (let i = 0; i < 5; i++) JSON.parse(JSON.stringify(doc));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export function cpuCalibration(): Calibration {
  const best = Math.min(once(), once(), once());
  return { workload: CALIBRATION_WORKLOAD, seconds: Math.round(best * 1000) / 1000 };
}

/** The machine a report was measured on. */
export const machineFacts = () => ({
  arch: process.arch,
  cpus: cpus().length,
  memoryMb: Math.round(totalmem() / 2 ** 20),
  cpuModel: cpus()[0]?.model ?? "unknown",
});
