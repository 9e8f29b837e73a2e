/**
 * `npm run capacity`: can the smallest instance type hold a steady, realistic load? firmground's
 * rendered stack for the default instance type (BASIC2-A2C-4G: its memory limits and tunings, nothing
 * lowered) on the real daemons (harness.ts), the remote test homeserver and its big room
 * (remoteRooms.ts), and the mix of capacityLoad.ts. A benchmark, not a test: it fails only when it
 * cannot measure; the goals are reported as met or not. Writes `.stack/capacity.json`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PORTS, POSTGRES, SYNAPSE } from "../../config-templates/paths";
import { cpuCalibration, machineFacts } from "./calibration";
import type { CapacityPlan, CapacityResult, SharedJoin } from "./capacityLoad";
import {
  capacityProblems,
  capacityWorkloadFromArgs,
  formatCapacity,
  judgeGoals,
  type CapacityReport,
  type CapacityWorkload,
  type ContainerPeak,
} from "./capacityReport";
import { FIXTURE_NICENESS, Harness } from "./harness";
import type { LoadPlan } from "./loadClient";
import { cgroupPrefix, log, REPO, runMeasuring, writeReport } from "./isolation";
import { FEDERATION_FIXTURES, loadSources, NET, REMOTE_SERVER, TEST_CONFIG, TEST_DOMAIN } from "./overlay";
import { packageVersions } from "./rootfs";
import { Sandbox } from "./sandbox";

const CAPACITY_FILE = process.env.CAPACITY_FILE ?? join(REPO, ".stack", "capacity.json");

/** The instance type whose sizing is held under load: the default, and the smallest offered. */
const INSTANCE_TYPE = "BASIC2-A2C-4G";

/** A user's stack config, plus what federating with the remote test homeserver needs. */
const CAPACITY_CONFIG: Record<string, string> = {
  serverName: TEST_CONFIG.serverName,
  acmeEmail: TEST_CONFIG.acmeEmail,
  acmeServer: TEST_CONFIG.acmeServer,
  adminCidrs: TEST_CONFIG.adminCidrs,
  instanceType: INSTANCE_TYPE,
  synapseExtraConfig: JSON.stringify(FEDERATION_FIXTURES),
};

/** The containers whose memory and CPU the report gives (the ones the load reaches). */
const WATCHED = ["synapse", "postgres", "haproxy"] as const;

/**
 * 500 long-polls over a few addresses would look like one office behind NAT; HAProxy limits each source
 * (connections and requests per 10 s), so the users are spread over 64.
 */
const SOURCES = loadSources(64);
const SYNAPSE_DIRECT = `http://${NET.containers.synapse}:${PORTS.synapse}`;

class Capacity extends Harness {
  setup?: CapacityReport["setup"];
  result?: CapacityResult;
  containers: Record<string, ContainerPeak> = {};
  postgres?: CapacityReport["postgres"];
  sharingTheCpus?: CapacityReport["sharingTheCpus"];

  constructor(
    sandbox: Sandbox,
    rootfs: string,
    runDir: string,
    readonly workload: CapacityWorkload,
  ) {
    super(sandbox, rootfs, runDir);
  }

  async run() {
    await this.bootForLoad(CAPACITY_CONFIG, SOURCES);
    await this.startRemote();
    const remote = JSON.parse(readFileSync(this.remoteRoomsFile, "utf8")) as {
      host: { token: string };
      big: string;
      bigRoom: { joinedMembers: number };
    };

    const { users, rooms, sharedMembers, sendPerSecond, federatedPerSecond, minutes } = this.workload;
    const plan: CapacityPlan = {
      serverName: TEST_DOMAIN,
      baseUrl: `https://matrix.${TEST_DOMAIN}`,
      sourceAddresses: SOURCES,
      setupUrl: SYNAPSE_DIRECT,
      registrationSecret: this.upload("synapse", SYNAPSE.registrationSharedSecret),
      users,
      rooms,
      capacity: {
        seconds: minutes * 60,
        sendPerSecond,
        sharedMembers,
        shared: {
          roomId: remote.big,
          remoteServer: REMOTE_SERVER,
          remoteBaseUrl: `https://${REMOTE_SERVER}:8448`,
          remoteToken: remote.host.token,
          perSecond: federatedPerSecond,
        },
        // The remote's members, our admin, then our users who join.
        expectedMembers: remote.bigRoom.joinedMembers + 1 + sharedMembers,
      },
    };
    const usersFile = this.path("users.json");
    log(`setting up ${users} users in ${rooms} rooms`);
    let started = Date.now();
    await this.load("jobs", ["setup", usersFile], plan, 900);
    const usersSeconds = Math.round((Date.now() - started) / 1000);
    log(`the admin joins the remote big room, then ${sharedMembers} users join it`);
    const joinFile = this.path("shared-join.json");
    await this.load("load", ["join-shared", usersFile, joinFile], plan, 1200);
    const sharedJoin = JSON.parse(readFileSync(joinFile, "utf8")) as SharedJoin;
    this.setup = { usersSeconds, sharedJoin };
    log(`shared room joined: ${JSON.stringify(sharedJoin)}`);

    // The steady phase: peaks and CPU from here on.
    const databaseMb = () =>
      Math.round(
        Number(this.psql(["-At", "-c", `SELECT pg_database_size('${POSTGRES.database}')`]).stdout.trim()) / 2 ** 20,
      );
    const databaseMbBefore = databaseMb();
    for (const name of WATCHED) this.sandbox.resetMemoryPeak(name);
    const processPeak = Object.fromEntries(WATCHED.map((n) => [n, 0])) as Record<(typeof WATCHED)[number], number>;
    const sample = () => {
      for (const name of WATCHED) {
        const m = this.sandbox.memory(name);
        processPeak[name] = Math.max(processPeak[name], name === "postgres" ? m.pssMb : m.rssMb);
      }
    };
    const cpuBefore = WATCHED.map((name) => this.sandbox.cpuSeconds(name));
    const remoteCpuBefore = this.sandbox.cpuSeconds("remote-synapse");
    // Every 5 s: reading every process's smaps each second took a fifth of a core from the server.
    const timer = setInterval(sample, 5000);
    started = Date.now();
    log(`steady load for ${minutes} min`);
    const resultFile = this.path("capacity-result.json");
    await this.load("load", ["capacity", usersFile, resultFile], plan, minutes * 60 + 900).finally(() =>
      clearInterval(timer),
    );
    sample();
    const seconds = (Date.now() - started) / 1000;
    this.result = JSON.parse(readFileSync(resultFile, "utf8")) as CapacityResult;
    for (const [i, name] of WATCHED.entries()) {
      const m = this.sandbox.memory(name);
      const limitMb = this.memory[name]?.limitMb ?? 0;
      const cgroupPeakMb = m.cgroupPeakMb ?? 0;
      this.containers[name] = {
        cgroupPeakMb,
        processPeakMb: processPeak[name],
        limitMb,
        percentOfLimit: limitMb ? Math.round((cgroupPeakMb / limitMb) * 1000) / 10 : 0,
        limitHits: m.cgroupLimitHits ?? 0,
        cpuPercent: Math.round(((this.sandbox.cpuSeconds(name) - cpuBefore[i]) / seconds) * 100),
      };
    }
    this.sharingTheCpus = {
      remoteHomeserver: Math.round(((this.sandbox.cpuSeconds("remote-synapse") - remoteCpuBefore) / seconds) * 100),
      loadGenerator: Math.round((this.result.cpuSeconds / this.result.seconds) * 100),
    };
    const databaseMbAfter = databaseMb();
    this.postgres = { databaseMbBefore, databaseMbAfter, growthMb: databaseMbAfter - databaseMbBefore };
  }

  private async load(ns: string, args: string[], plan: LoadPlan, limitSeconds: number) {
    const { code, output } = await this.runLoad(ns, args, plan, limitSeconds, FIXTURE_NICENESS);
    if (code !== 0) throw new Error(`load.ts ${args[0]} failed (exit ${code}):\n${output.slice(-2000)}`);
  }
}

async function inner(runDir: string, rootfs: string): Promise<number> {
  const started = Date.now();
  const workload = capacityWorkloadFromArgs(process.argv.slice(5));
  const sandbox = new Sandbox(runDir, rootfs, log, cgroupPrefix(runDir));
  const capacity = new Capacity(sandbox, rootfs, runDir, workload);
  const report: CapacityReport = {
    ok: false,
    startedAt: new Date(started).toISOString(),
    seconds: 0,
    machine: machineFacts(),
    calibration: { before: cpuCalibration() },
    versions: packageVersions(rootfs),
    instanceType: INSTANCE_TYPE,
    workload,
    notes: [
      `The stack is rendered for ${INSTANCE_TYPE} (its memory limits and tunings, nothing lowered); the load generator and the remote homeserver share this machine's CPUs with it.`,
      "Every user holds a /sync long-poll (30 s timeout, lazy-loaded members, 10-event timeline); the steady phase starts once every user's first sync has answered.",
      "Sends are an open loop at the fixed rate, each by a user into its own room; latency is from the scheduled time to the response. Wake-up latency is from the scheduled send to each other member's /sync returning the message.",
      "The shared room is the remote homeserver's big room (5,000 members, over 10,000 state events); our server admin joins it first (a user's join is refused by the remote-room limit), then the shared members join locally.",
      "Per-user message limits are lifted through the admin API (as in npm run bench); at 10 msg/s over 500 users no user comes near them.",
    ],
    containers: capacity.containers,
    goals: [],
  };
  try {
    await capacity.run();
    report.setup = capacity.setup;
    report.result = capacity.result;
    report.postgres = capacity.postgres;
    report.sharingTheCpus = capacity.sharingTheCpus;
    if (capacity.result) {
      report.goals = judgeGoals(capacity.result, capacity.containers);
      const problems = capacityProblems(capacity.result);
      if (problems.length) throw new Error(`the run did not measure the server:\n${problems.join("\n")}`);
    }
  } catch (error) {
    report.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`ERROR ${report.error}`);
  } finally {
    const left = await sandbox.teardown();
    if (left.length) report.error = `${report.error ?? ""}\nleft behind: ${left.join("; ")}`.trim();
  }
  report.calibration.after = cpuCalibration();
  report.seconds = Math.round((Date.now() - started) / 1000);
  report.ok = !report.error && report.result !== undefined;
  writeReport(CAPACITY_FILE, report, formatCapacity(report));
  return report.ok ? 0 : 1;
}

runMeasuring(__filename, "npm run capacity", capacityWorkloadFromArgs, inner);
