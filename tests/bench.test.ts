import { CALIBRATION_WORKLOAD, cpuCalibration } from "./stack/calibration";
import {
  compare,
  formatReport,
  latencySummary,
  phaseProblems,
  workloadFromArgs,
  type BenchReport,
  type ServerRun,
} from "./stack/benchReport";

describe("npm run bench flags", () => {
  it("defaults to 200 users in 20 rooms, 32 senders, 60 s phases and a rate derived from saturation", () => {
    expect(workloadFromArgs([])).toEqual({
      users: 200,
      rooms: 20,
      ratePerSecond: undefined,
      concurrency: 32,
      phaseSeconds: 60,
    });
    expect(workloadFromArgs(["--rate", "12", "--seconds", "10"])).toMatchObject({
      ratePerSecond: 12,
      phaseSeconds: 10,
    });
  });

  it.each([
    [["--users", "0"], "--users 0: expected a whole number of at least 1"],
    [["--rate", "2.5"], "--rate 2.5: expected a whole number of at least 1"],
    [["--seconds", "3"], "--seconds 3: expected a whole number of at least 5"],
    [["--concurrency", "many"], "--concurrency many: expected a whole number of at least 1"],
    [["--users", "10", "--rooms", "11"], "--rooms 11: at most --users (10); each room's creator is a user"],
  ])("refuses %j, naming the flag, the value and what is allowed", (args, message) => {
    expect(() => workloadFromArgs(args)).toThrow(message);
  });

  it("refuses an unknown flag", () => {
    expect(() => workloadFromArgs(["--user", "5"])).toThrow(/--user/);
  });
});

describe("latency summary", () => {
  it("takes nearest-rank percentiles", () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
    expect(latencySummary(samples)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100 });
    expect(latencySummary([7.26])).toEqual({ p50: 7.3, p90: 7.3, p99: 7.3, max: 7.3 });
    expect(latencySummary([])).toEqual({ p50: 0, p90: 0, p99: 0, max: 0 });
  });
});

function run(server: string, synapseRss: number, saturation: number, ratePhases: Record<string, number>): ServerRun {
  const memory = { rssMb: synapseRss, pssMb: synapseRss - 5, processes: 1 };
  const phase = (kind: "rate" | "saturate", via: "haproxy-tls" | "direct", perSecond: number, p50: number) => ({
    kind,
    via,
    seconds: 60,
    sent: perSecond * 60,
    ok: perSecond * 60,
    failures: {},
    achievedPerSecond: perSecond,
    latencyMs: { p50, p90: p50 * 2, p99: p50 * 4, max: p50 * 5 },
    cpuSeconds: 6,
    cpuPercent: { synapse: 90, postgres: 50, haproxy: 3, loadGenerator: 10 },
  });
  const phases: ServerRun["phases"] = {};
  for (const [label, p50] of Object.entries(ratePhases)) {
    const [kind, ...via] = label.split("-") as ["rate" | "saturate", string];
    phases[label] = phase(kind, via.join("-") as "haproxy-tls" | "direct", kind === "rate" ? 15 : saturation, p50);
  }
  return {
    server,
    round: 1,
    setupSeconds: 20,
    idle: { synapse: memory, postgres: { ...memory, pssMb: 100 }, haproxy: memory },
    peak: { synapse: { rssMb: synapseRss * 2, pssMb: 0 }, postgres: { rssMb: 0, pssMb: 150 }, haproxy: memory },
    phases,
  };
}

describe("comparisons", () => {
  const ours = run("firmground", 150, 30, {
    "saturate-haproxy-tls": 1000,
    "rate-haproxy-tls": 40,
    "saturate-direct": 900,
    "rate-direct": 30,
  });
  const stock = run("stock", 200, 24, { "saturate-haproxy-tls": 1250, "rate-haproxy-tls": 80 });

  it("divides firmground's figures by stock's, and proxied by direct", () => {
    const { oursOverStock, proxiedOverDirect } = compare([ours, stock]);
    const byFigure = Object.fromEntries(oursOverStock.map((c) => [c.figure, c]));
    expect(byFigure["Synapse RSS idle, MiB"]).toEqual({
      figure: "Synapse RSS idle, MiB",
      a: 150,
      b: 200,
      ratio: 0.75,
      spread: [0.75, 0.75],
    });
    expect(byFigure["Synapse RSS peak, MiB"].ratio).toBe(0.75);
    expect(byFigure["saturation, msg/s"]).toMatchObject({ a: 30, b: 24, ratio: 1.25 });
    expect(byFigure["fixed rate p50, ms"]).toMatchObject({ a: 40, b: 80, ratio: 0.5 });
    expect(byFigure["fixed rate p99, ms"]).toMatchObject({ a: 160, b: 320, ratio: 0.5 });
    expect(proxiedOverDirect.map((c) => [c.figure, c.a, c.b, c.ratio])).toEqual([
      ["saturation, msg/s", 30, 30, 1],
      ["fixed rate p50, ms", 40, 30, 1.33],
      ["fixed rate p99, ms", 160, 120, 1.33],
    ]);
  });

  it("with A B B A runs: means, the spread pair by pair, and stock against itself as the noise floor", () => {
    const second = (r: ServerRun, saturation: number, rss: number): ServerRun => ({
      ...structuredClone(r),
      round: 2,
      idle: { ...r.idle, synapse: { ...r.idle.synapse, rssMb: rss } },
      phases: {
        ...r.phases,
        "saturate-haproxy-tls": { ...r.phases["saturate-haproxy-tls"], achievedPerSecond: saturation },
      },
    });
    const runs = [ours, stock, second(stock, 26, 220), second(ours, 36, 150)];
    const byFigure = Object.fromEntries(compare(runs).oursOverStock.map((c) => [c.figure, c]));
    // firmground 30 and 36, stock 24 and 26: means 33 / 25; pairs 30/24 = 1.25 and 36/26 = 1.38.
    expect(byFigure["saturation, msg/s"]).toEqual({
      figure: "saturation, msg/s",
      a: 33,
      b: 25,
      ratio: 1.32,
      spread: [1.25, 1.38],
      noise: 1.08,
    });
    expect(byFigure["Synapse RSS idle, MiB"]).toMatchObject({ a: 150, b: 210, noise: 1.1 });
    const direct = compare(runs).proxiedOverDirect[0];
    expect(direct).toMatchObject({ figure: "saturation, msg/s", a: 33, b: 30, noise: 1 });
  });

  it("compares nothing when a run is missing, and says which phase is missing", () => {
    expect(compare([ours])).toEqual({ oursOverStock: [], proxiedOverDirect: [] });
    const noDirect = run("firmground", 150, 30, { "saturate-haproxy-tls": 1000, "rate-haproxy-tls": 40 });
    expect(() => compare([noDirect, stock])).toThrow("the firmground#1 run has no saturate-direct phase");
  });

  it("prints every phase and both tables", () => {
    const report: BenchReport = {
      ok: true,
      startedAt: "2026-11-26T00:00:00Z",
      seconds: 500,
      machine: { arch: "x64", cpus: 2, memoryMb: 4096, cpuModel: "Test CPU", cpuMhz: 2400 },
      versions: { "matrix-synapse": "1.160.0-1" },
      workload: { users: 200, rooms: 20, ratePerSecond: 15, concurrency: 32, phaseSeconds: 60 },
      notes: [],
      stockChanges: [],
      runs: [ours, stock],
      ...compare([ours, stock]),
    };
    const text = formatReport(report);
    expect(text).toContain("Machine: 2 × Test CPU (x64), 4096 MiB");
    expect(text).toContain("200 users in 20 rooms; 15 msg/s offered");
    expect(text.match(/^ {2}(firmground|stock)#1 +(rate|saturate)-/gm)).toHaveLength(6);
    expect(text).toMatch(
      /firmground \/ stock[^\n]*\n[^\n]*\n {2}Synapse RSS idle, MiB +150 +200 +0.75 +0.75–0.75 +-\n/,
    );
    expect(text).toMatch(/saturation, msg\/s +30 +30 +1 +1–1 +-\n/);
    expect(text).not.toContain("CPU calibration");
    const calibrated = formatReport({
      ...report,
      calibration: { before: cpuCalibration(), after: { workload: CALIBRATION_WORKLOAD, seconds: 0.61 } },
    });
    expect(calibrated).toMatch(/CPU calibration: \d+\.\d+ s before, 0\.61 s after \(sha256 over/);
  });

  it("calibrates the CPU with a fixed workload that takes a measurable time", () => {
    const { seconds, workload } = cpuCalibration();
    expect(workload).toBe(CALIBRATION_WORKLOAD);
    expect(seconds).toBeGreaterThan(0.01);
    expect(seconds).toBeLessThan(60);
  });
});

describe("phase problems", () => {
  const sound = run("firmground", 150, 30, { "saturate-haproxy-tls": 1000, "rate-haproxy-tls": 40 });

  it("accepts phases whose sends succeeded", () => {
    expect(phaseProblems([sound])).toEqual([]);
  });

  it("fails a phase with no success, or with more than 1 % failed sends, quoting the first failure", () => {
    const broken = structuredClone(sound);
    broken.phases["rate-haproxy-tls"] = {
      ...broken.phases["rate-haproxy-tls"],
      sent: 100,
      ok: 98,
      failures: { "502": { count: 2, example: "<html>502 Bad Gateway</html>" } },
    };
    broken.phases["saturate-haproxy-tls"] = { ...broken.phases["saturate-haproxy-tls"], sent: 5, ok: 0, failures: {} };
    expect(phaseProblems([broken])).toEqual([
      "firmground#1 saturate-haproxy-tls: 5 of 5 sends failed",
      "firmground#1 rate-haproxy-tls: 2 of 100 sends failed (502: <html>502 Bad Gateway</html>)",
    ]);
    broken.phases["rate-haproxy-tls"].ok = 99;
    broken.phases["rate-haproxy-tls"].failures["502"].count = 1;
    expect(phaseProblems([broken])).toHaveLength(1);
  });
});
