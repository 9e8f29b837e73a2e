/**
 * The capacity run's flags, report and goals (capacity.ts measures; this file is pure and unit-tested).
 */
import { parseCommandLine } from "../../components/commandLine";
import type { CapacityResult, SharedJoin } from "./capacityLoad";
import type { Calibration } from "./calibration";

export const CAPACITY_USAGE = `usage: npm run capacity -- [--minutes N] [--users N] [--rooms N] [--rate N] [--shared-members N] [--federated-rate N]
  Boots firmground's rendered stack for the default instance type (BASIC2-A2C-4G) on the real daemons,
  with a second homeserver whose big room (5,000 members) our server joins, and holds a steady mix:
  every user's /sync long-poll open, messages at a fixed rate into the users' rooms, and the remote
  server sending into the big room. Reports send and sync wake-up latency, each container's peak
  against its limit and PostgreSQL's growth.
options:
  --minutes N          length of the steady phase (default 10)
  --users N            users, each with a /sync long-poll open (default 500)
  --rooms N            rooms, users spread over them (default 50; at most --users)
  --rate N             messages/s our users send in total (default 10)
  --shared-members N   users who also join the remote big room (default 100; at most --users)
  --federated-rate N   messages/s the remote server sends into the big room (default 0.2; 0 for none)
  -h, --help           this text
Writes .stack/capacity.json (CAPACITY_FILE overrides).`;

export interface CapacityWorkload {
  minutes: number;
  users: number;
  rooms: number;
  sendPerSecond: number;
  sharedMembers: number;
  federatedPerSecond: number;
}

/** The workload from the flags; throws naming the flag, its value and what is allowed. */
export function capacityWorkloadFromArgs(args: string[]): CapacityWorkload {
  const { values } = parseCommandLine(args, CAPACITY_USAGE, {
    minutes: { type: "string", default: "10" },
    users: { type: "string", default: "500" },
    rooms: { type: "string", default: "50" },
    rate: { type: "string", default: "10" },
    "shared-members": { type: "string", default: "100" },
    "federated-rate": { type: "string", default: "0.2" },
  });
  const number = (key: keyof typeof values, min: number, whole = true) => {
    const value = Number(values[key]);
    if (!Number.isFinite(value) || (whole && !Number.isInteger(value)) || value < min)
      throw new Error(`--${key} ${values[key]}: expected a ${whole ? "whole " : ""}number of at least ${min}`);
    return value;
  };
  const workload: CapacityWorkload = {
    minutes: number("minutes", 1),
    users: number("users", 2),
    rooms: number("rooms", 1),
    sendPerSecond: number("rate", 0.1, false),
    sharedMembers: number("shared-members", 1),
    federatedPerSecond: number("federated-rate", 0, false),
  };
  if (workload.rooms > workload.users)
    throw new Error(`--rooms ${workload.rooms}: at most --users (${workload.users})`);
  if (workload.sharedMembers > workload.users)
    throw new Error(`--shared-members ${workload.sharedMembers}: at most --users (${workload.users})`);
  return workload;
}

/** A container's memory over the steady phase. */
export interface ContainerPeak {
  /** The cgroup's peak (memory.max_usage_in_bytes: what the limit is enforced on, page cache included). */
  cgroupPeakMb: number;
  /** RSS (PSS for PostgreSQL's processes, which share buffers) sampled each second. */
  processPeakMb: number;
  limitMb: number;
  /** cgroupPeakMb as a share of limitMb. */
  percentOfLimit: number;
  /** Times the cgroup hit its limit (memory.failcnt). */
  limitHits: number;
  /** Share of one core over the steady phase. */
  cpuPercent: number;
}

export interface CapacityReport {
  ok: boolean;
  startedAt: string;
  seconds: number;
  machine: { arch: string; cpus: number; memoryMb: number; cpuModel: string };
  calibration: { before?: Calibration; after?: Calibration };
  versions: Record<string, string>;
  instanceType: string;
  workload: CapacityWorkload;
  notes: string[];
  setup?: { usersSeconds: number; sharedJoin: SharedJoin };
  result?: CapacityResult;
  containers: Record<string, ContainerPeak>;
  /**
   * Share of one core the test's other processes took from the same CPUs over the steady phase: the
   * remote homeserver (each message it sends into its 5,000-member room costs it push rules for every
   * member) and the load generator.
   */
  sharingTheCpus?: { remoteHomeserver: number; loadGenerator: number };
  postgres?: { databaseMbBefore: number; databaseMbAfter: number; growthMb: number };
  goals: { goal: string; met: boolean; detail: string }[];
  error?: string;
}

/** The issue's goals for the smallest type: p99 send under a second, no container above 85 % of its limit. */
export const GOALS = { sendP99Ms: 1000, percentOfLimit: 85 };

export function judgeGoals(result: CapacityResult, containers: Record<string, ContainerPeak>): CapacityReport["goals"] {
  const over = Object.entries(containers).filter(([, c]) => c.percentOfLimit > GOALS.percentOfLimit);
  const highest = Object.entries(containers).sort(([, a], [, b]) => b.percentOfLimit - a.percentOfLimit)[0];
  return [
    {
      goal: `p99 send < ${GOALS.sendP99Ms} ms`,
      met: result.sends.ok > 0 && result.sends.latencyMs.p99 < GOALS.sendP99Ms,
      detail: `p99 ${result.sends.latencyMs.p99} ms over ${result.sends.ok} sends`,
    },
    {
      goal: `no container above ${GOALS.percentOfLimit} % of its memory limit`,
      met: highest !== undefined && over.length === 0,
      detail: over.length
        ? over.map(([name, c]) => `${name} ${c.percentOfLimit} %`).join(", ")
        : highest
          ? `highest: ${highest[0]} at ${highest[1].percentOfLimit} % (${highest[1].cgroupPeakMb} of ${highest[1].limitMb} MiB)`
          : "no container measured",
    },
    {
      goal: "every message reaches every member's /sync",
      met:
        result.syncWake.delivered >= result.syncWake.expected &&
        result.federatedWake.delivered >= result.federatedWake.expected,
      detail: `local ${result.syncWake.delivered}/${result.syncWake.expected}, federated ${result.federatedWake.delivered}/${result.federatedWake.expected}`,
    },
  ];
}

/** What made the run unable to measure (not a missed goal): no sends answered, no sync woken. */
export function capacityProblems(result: CapacityResult): string[] {
  const problems: string[] = [];
  if (result.sends.ok === 0) problems.push(`no send answered: ${JSON.stringify(result.sends.failures)}`);
  if (result.syncWake.delivered === 0)
    problems.push(`no /sync returned a message: ${JSON.stringify(result.syncFailures)}`);
  return problems;
}

export function formatCapacity(report: CapacityReport): string {
  const w = report.workload;
  const lines = [
    "",
    `=== firmground capacity run (${report.instanceType} sizing) ===`,
    `Machine: ${report.machine.cpus} CPUs (${report.machine.cpuModel}), calibration ${report.calibration.before?.seconds ?? "-"} s before, ${report.calibration.after?.seconds ?? "-"} s after`,
    `Workload: ${w.minutes} min, ${w.users} users with /sync open in ${w.rooms} rooms sending ${w.sendPerSecond} msg/s; ${w.sharedMembers} of them in the remote big room, into which the remote sends ${w.federatedPerSecond} msg/s`,
  ];
  if (report.setup)
    lines.push(
      `Setup: users in ${report.setup.usersSeconds} s; the admin joined the big room in ${(report.setup.sharedJoin.adminJoinMs / 1000).toFixed(1)} s, full membership (${report.setup.sharedJoin.members}) after ${(report.setup.sharedJoin.fullStateMs / 1000).toFixed(1)} s`,
    );
  const r = report.result;
  if (r) {
    const l = (x: { p50: number; p99: number; max: number }) => `p50 ${x.p50} ms, p99 ${x.p99} ms, max ${x.max} ms`;
    lines.push(
      `Sends: ${r.sends.ok}/${r.sends.sent} ok (${r.sends.achievedPerSecond} msg/s), ${l(r.sends.latencyMs)}${Object.keys(r.sends.failures).length ? `; failed: ${JSON.stringify(r.sends.failures)}` : ""}`,
      `Sync wake-up (local): ${r.syncWake.delivered}/${r.syncWake.expected} deliveries, ${l(r.syncWake.latencyMs)}`,
      `Sync wake-up (federated): ${r.federatedWake.delivered}/${r.federatedWake.expected} deliveries, ${l(r.federatedWake.latencyMs)}`,
      `First /sync of every user: ${r.initialSyncSeconds} s; ${r.syncRequests} /sync requests, failures ${JSON.stringify(r.syncFailures)}`,
    );
  }
  lines.push("Containers (cgroup peak / limit, process peak, CPU):");
  for (const [name, c] of Object.entries(report.containers))
    lines.push(
      `  ${name.padEnd(9)} ${String(c.cgroupPeakMb).padStart(7)} / ${String(c.limitMb).padEnd(5)} MiB (${c.percentOfLimit} %), process ${c.processPeakMb} MiB, ${c.cpuPercent} % of a core, limit hits ${c.limitHits}`,
    );
  if (report.sharingTheCpus)
    lines.push(
      `Sharing the CPUs: the remote homeserver ${report.sharingTheCpus.remoteHomeserver} % of a core, the load generator ${report.sharingTheCpus.loadGenerator} %`,
    );
  if (report.postgres)
    lines.push(
      `PostgreSQL database: ${report.postgres.databaseMbBefore} → ${report.postgres.databaseMbAfter} MiB (+${report.postgres.growthMb})`,
    );
  lines.push("Goals:", ...report.goals.map((g) => `  ${g.met ? "MET    " : "NOT MET"} ${g.goal}: ${g.detail}`));
  if (report.error) lines.push(`Error: ${report.error.split("\n")[0]}`);
  lines.push(report.ok ? "MEASURED" : "FAILED TO MEASURE");
  return lines.join("\n");
}
