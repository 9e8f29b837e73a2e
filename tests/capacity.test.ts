/**
 * `npm run capacity`'s flags, goals and report (tests/stack/capacityReport.ts): pure functions, no daemon.
 * What the stack does under the load is measured by `npm run capacity` itself on the real daemons.
 */
import type { CapacityResult } from "./stack/capacityLoad";
import {
  capacityProblems,
  capacityWorkloadFromArgs,
  formatCapacity,
  judgeGoals,
  type CapacityReport,
  type ContainerPeak,
} from "./stack/capacityReport";

describe("npm run capacity flags", () => {
  it("defaults to the issue's mix: 10 minutes, 500 users in 50 rooms, 10 msg/s, 100 in the shared room, 0.2 msg/s from the remote", () => {
    expect(capacityWorkloadFromArgs([])).toEqual({
      minutes: 10,
      users: 500,
      rooms: 50,
      sendPerSecond: 10,
      sharedMembers: 100,
      federatedPerSecond: 0.2,
    });
    expect(capacityWorkloadFromArgs(["--minutes", "1", "--federated-rate", "0", "--rate", "2.5"])).toMatchObject({
      minutes: 1,
      federatedPerSecond: 0,
      sendPerSecond: 2.5,
    });
  });

  it.each([
    [["--minutes", "0"], "--minutes 0: expected a whole number of at least 1"],
    [["--minutes", "1.5"], "--minutes 1.5: expected a whole number of at least 1"],
    [["--rate", "0"], "--rate 0: expected a number of at least 0.1"],
    [["--federated-rate=-1"], "--federated-rate -1: expected a number of at least 0"],
    [["--users", "10", "--rooms", "11"], "--rooms 11: at most --users (10)"],
    [["--users", "10", "--rooms", "5", "--shared-members", "11"], "--shared-members 11: at most --users (10)"],
  ])("refuses %j, naming the flag, the value and what is allowed", (args, message) => {
    expect(() => capacityWorkloadFromArgs(args)).toThrow(message);
  });

  it("refuses an unknown flag and answers --help with the usage", () => {
    expect(() => capacityWorkloadFromArgs(["--seconds", "5"])).toThrow(/--seconds/);
    expect(() => capacityWorkloadFromArgs(["--help"])).toThrow(/usage: npm run capacity/);
  });
});

const latency = (p99: number) => ({ p50: p99 / 4, p90: p99 / 2, p99, max: p99 * 2 });

function result(overrides: Partial<CapacityResult> = {}): CapacityResult {
  return {
    seconds: 610,
    initialSyncSeconds: 12,
    sends: {
      offeredPerSecond: 10,
      seconds: 600,
      sent: 6000,
      ok: 6000,
      failures: {},
      achievedPerSecond: 10,
      latencyMs: latency(400),
    },
    syncWake: { expected: 54000, delivered: 54000, latencyMs: latency(600) },
    federatedWake: { sent: 600, sendFailures: 0, expected: 60000, delivered: 60000, latencyMs: latency(900) },
    syncRequests: 120000,
    syncFailures: {},
    cpuSeconds: 300,
    ...overrides,
  };
}

const peak = (cgroupPeakMb: number, limitMb: number): ContainerPeak => ({
  cgroupPeakMb,
  processPeakMb: cgroupPeakMb - 10,
  limitMb,
  percentOfLimit: Math.round((cgroupPeakMb / limitMb) * 1000) / 10,
  limitHits: 0,
  cpuPercent: 50,
});

describe("capacity goals", () => {
  it("are met with p99 under a second, every container at or under 85 % and every message delivered", () => {
    const goals = judgeGoals(result(), { synapse: peak(800, 1638), postgres: peak(696, 819) });
    expect(goals.map((g) => g.met)).toEqual([true, true, true]);
    expect(goals[1].detail).toBe("highest: postgres at 85 % (696 of 819 MiB)");
  });

  it("name what is missed: a slow p99, the container over 85 %, undelivered messages", () => {
    const goals = judgeGoals(
      result({
        sends: { ...result().sends, latencyMs: latency(1000) },
        federatedWake: { ...result().federatedWake, delivered: 59990 },
      }),
      { synapse: peak(1400, 1638), postgres: peak(300, 819) },
    );
    expect(goals.map((g) => g.met)).toEqual([false, false, false]);
    expect(goals[0].detail).toBe("p99 1000 ms over 6000 sends");
    expect(goals[1].detail).toBe("synapse 85.5 %");
    expect(goals[2].detail).toBe("local 54000/54000, federated 59990/60000");
  });

  it("a run where nothing was answered did not measure (a failure, not a missed goal)", () => {
    expect(capacityProblems(result())).toEqual([]);
    const dead = result({
      sends: { ...result().sends, ok: 0, failures: { error: { count: 6000, example: "ECONNREFUSED" } } },
      syncWake: { expected: 54000, delivered: 0, latencyMs: latency(0) },
    });
    expect(capacityProblems(dead)).toHaveLength(2);
    expect(judgeGoals(dead, {})[1]).toMatchObject({ met: false, detail: "no container measured" });
  });

  it("the printed report carries the figures and the verdicts", () => {
    const report: CapacityReport = {
      ok: true,
      startedAt: "2026-12-01T00:00:00Z",
      seconds: 900,
      machine: { arch: "arm64", cpus: 2, memoryMb: 4096, cpuModel: "test" },
      calibration: {},
      versions: {},
      instanceType: "BASIC2-A2C-4G",
      workload: capacityWorkloadFromArgs([]),
      notes: [],
      result: result(),
      containers: { synapse: peak(800, 1638) },
      postgres: { databaseMbBefore: 40, databaseMbAfter: 52, growthMb: 12 },
      goals: judgeGoals(result(), { synapse: peak(800, 1638) }),
    };
    const text = formatCapacity(report);
    expect(text).toContain("Sends: 6000/6000 ok (10 msg/s), p50 100 ms, p99 400 ms, max 800 ms");
    expect(text).toContain("synapse       800 / 1638  MiB (48.8 %)");
    expect(text).toContain("PostgreSQL database: 40 → 52 MiB (+12)");
    expect(text).toContain("MET     p99 send < 1000 ms");
    expect(text).toMatch(/MEASURED$/);
    const failed = formatCapacity({
      ...report,
      result: result({
        sends: { ...result().sends, ok: 5400, failures: { "400": { count: 600, example: "M_BAD_JSON" } } },
      }),
    });
    expect(failed).toContain('p99 400 ms, max 800 ms; failed: {"400":{"count":600,"example":"M_BAD_JSON"}}');
  });
});
