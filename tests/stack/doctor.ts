/**
 * The `doctor` scenario of `npm run test:stack`: `npm run doctor` (its command line, from the TURN
 * peer's namespace: an outside source not in adminCidrs) against the real-daemon stack. All PASS on the
 * healthy stack; then one fault at a time, each undone before the next, must turn exactly the expected
 * checks to FAIL; and the stack is healthy again at the end.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DoctorReport } from "../../components/doctor/findings";
import type { DoctorPlan } from "../../components/doctor/plan";
import { BACKUP, COTURN, HAPROXY, NGINX } from "../../config-templates/paths";
import type { Harness } from "./harness";
import { log, REPO } from "./isolation";
import { ACME_CA_FILE, ACME_HOST, NET, TEST_DOMAIN } from "./overlay";
import { delay, inRoot } from "./sandbox";

export interface DoctorHarness extends Harness {
  shimSocket(): string;
  wakeSleep(name: string): void;
  /** The admin resource's kept token (the userAdmin output's adminToken). */
  adminToken?: string;
}

interface Fault {
  fault: string;
  /** The checks that must FAIL (and no other). */
  expected: (plan: DoctorPlan) => string[];
  inject: () => Promise<void> | void;
  undo: () => Promise<void> | void;
}

/**
 * The program's doctorPlan, less the host's IPv6: the test network is IPv4 only (the mocked address is
 * routed nowhere, and DNS answers no AAAA, or Pebble would validate over IPv6 as Let's Encrypt does).
 */
function testPlan(t: DoctorHarness): DoctorPlan {
  const plan = t.capture.outputs.doctorPlan as DoctorPlan;
  return { ...plan, addresses: { ipv4: plan.addresses.ipv4 } };
}

const failedIds = (report: DoctorReport) => report.findings.filter((f) => f.status === "fail").map((f) => f.id);

/** `npm run doctor -- --json` as an operator runs it, from `where` (an outside namespace). */
function runDoctor(t: DoctorHarness, where: keyof typeof NET.outside): Promise<DoctorReport & { wallSeconds: number }> {
  const started = Date.now();
  const outputs = t.capture.outputs;
  const env = {
    ...process.env,
    FIRMGROUND_DOCTOR_PLAN: JSON.stringify(testPlan(t)),
    FIRMGROUND_USER_ADMIN: JSON.stringify({
      connection: { host: `unix://${t.shimSocket()}` },
      adminUser: String(outputs.adminUser).slice(1).split(":")[0],
      adminPassword: String(outputs.adminPassword),
      ...(t.adminToken ? { adminToken: t.adminToken } : {}),
    }),
  };
  const argv = [
    "netns",
    "exec",
    t.ns(where),
    process.execPath,
    "--import",
    "tsx",
    join(REPO, "components/doctor/cli.ts"),
    "--json",
    "--ca-file",
    t.caBundle,
  ];
  return new Promise((resolve, reject) => {
    // Asynchronously: the Docker API shim it calls runs in this process.
    const child = spawn("ip", argv, { env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => {
      try {
        const report = JSON.parse(stdout) as DoctorReport;
        const exit = report.counts.fail > 0 ? 1 : 0;
        if (code !== exit) throw new Error(`exit ${code}, expected ${exit} for ${report.counts.fail} failures`);
        resolve({ ...report, wallSeconds: Math.round((Date.now() - started) / 100) / 10 });
      } catch (error) {
        reject(new Error(`npm run doctor: ${String(error)}\n${stderr.slice(-2000)}\n${stdout.slice(-2000)}`));
      }
    });
  });
}

const notPassed = (report: DoctorReport) =>
  report.findings
    .filter((f) => f.status !== "pass")
    .map((f) => `${f.status.toUpperCase()} ${f.id}: ${f.saw} → ${f.fix ?? ""}`)
    .join("; ");

export async function doctorScenario(t: DoctorHarness): Promise<Record<string, unknown>> {
  const plan = t.capture.outputs.doctorPlan as DoctorPlan;
  // A real Synapse's key document, kept for the unit tests of the signature check (tests/fixtures).
  const keys = t.tool("client", ["curl", "-fsSk", `https://${plan.matrixHost}:8448/_matrix/key/v2/server`]);
  mkdirSync(join(REPO, ".stack"), { recursive: true });
  writeFileSync(join(REPO, ".stack/recorded-server-keys.json"), keys.stdout);
  // A healthy stack: the last backup ran with the repository up (the restore scenario stopped it).
  t.execIn("backup", ["/bin/sh", BACKUP.script, "once", "doctor"]);
  const healthy = await runDoctor(t, "peer");
  t.check(
    `npm run doctor: all PASS on the healthy stack (${healthy.counts.pass} checks in ${healthy.seconds} s)`,
    healthy.counts.fail === 0 && healthy.counts.warn === 0 && healthy.counts.pass > 20,
    notPassed(healthy) || `${healthy.counts.pass} PASS; federation: ${healthy.federation}`,
  );
  t.check(
    "npm run doctor on the healthy stack takes under 20 s (the whole command, Node's start included)",
    healthy.wallSeconds < 20,
    `${healthy.wallSeconds} s (checks ${healthy.seconds} s)`,
  );

  // HAProxy's master reloads its configuration and certificates on SIGUSR2 (master-worker mode).
  const reloadHaproxy = async () => {
    process.kill(t.sandbox.daemons.get("haproxy")!.pid, "SIGUSR2");
    await delay(2000);
  };
  const undoAndReload = async () => {
    undoFile();
    await reloadHaproxy();
  };
  const edit = (name: string, path: string, change: (text: string) => string) => {
    const file = inRoot(t.rootOf(name), path);
    const before = readFileSync(file, "utf8");
    writeFileSync(file, change(before));
    return () => writeFileSync(file, before);
  };
  const restart = async (name: string) => {
    await t.sandbox.stop(name);
    await t.startContainer(name);
    await delay(1000);
  };
  const backupState = t.path("volume/backup/last-success");
  let undoFile: () => void = () => undefined;
  let stopHog: () => void = () => undefined;

  const allTls = (p: DoctorPlan) => [
    ...p.hostnames.filter((h) => h !== p.turnHost).map((h) => `tls.${h}:${p.httpsPort}`),
    `tls.${p.matrixHost}:${p.federationPort}`,
    `tls.${p.turnHost}:5349`,
  ];
  const faults: Fault[] = [
    {
      fault: "coturn stopped",
      expected: (p) => ["turn.udp", "turn.tls", `tls.${p.turnHost}:5349`, "container.coturn"],
      inject: () => t.sandbox.stop("coturn"),
      undo: async () => {
        await t.startContainer("coturn");
        await delay(1000);
      },
    },
    {
      fault: "coturn advertises a wrong external-ip",
      expected: () => ["turn.udp", "turn.tls"],
      inject: async () => {
        undoFile = edit("coturn", COTURN.configFile, (text) =>
          text.replace(/^external-ip=.*$/m, "external-ip=203.0.113.77"),
        );
        await restart("coturn");
      },
      undo: async () => {
        undoFile();
        await restart("coturn");
      },
    },
    {
      fault: "the apex /.well-known/matrix removed",
      expected: () => ["wellKnown.server", "wellKnown.client"],
      inject: () => {
        const dir = inRoot(t.rootOf("nginx"), `${NGINX.wellKnownDir}/.well-known/matrix`);
        const saved = ["server", "client"].map((f) => [join(dir, f), readFileSync(join(dir, f))] as const);
        for (const [file] of saved) rmSync(file);
        undoFile = () => {
          for (const [file, content] of saved) writeFileSync(file, content);
        };
      },
      undo: () => undoFile(),
    },
    {
      fault: "HAProxy serving a certificate with 3 days left (renewals stopped)",
      expected: (p) => allTls(p).filter((id) => !id.startsWith(`tls.${p.turnHost}:`)),
      inject: async () => {
        // Signed by Pebble's own intermediate (its key from the management interface), for the same names.
        const fetch = (path: string) =>
          t.tool("client", ["curl", "-fsS", "--cacert", ACME_CA_FILE, `https://${ACME_HOST}:15000/${path}`], true)
            .stdout;
        writeFileSync(t.path("acme/pebble-intermediate.pem"), fetch("intermediates/0"));
        writeFileSync(t.path("acme/pebble-intermediate.key"), fetch("intermediate-keys/0"));
        t.testCertificate(plan.matrixHost, "acme/near-expiry.key", "acme/near-expiry.pem", {
          names: plan.hostnames,
          ca: { cert: "acme/pebble-intermediate.pem", key: "acme/pebble-intermediate.key" },
          days: 3,
        });
        const served = t.path("volume/certs/haproxy/firmground.pem");
        const before = readFileSync(served, "utf8");
        writeFileSync(
          served,
          ["acme/near-expiry.pem", "acme/pebble-intermediate.pem", "acme/near-expiry.key"]
            .map((f) => readFileSync(t.path(f), "utf8").trim())
            .join("\n") + "\n",
        );
        undoFile = () => writeFileSync(served, before);
        await reloadHaproxy();
      },
      undo: undoAndReload,
    },
    {
      fault: "the admin paths opened to every source",
      expected: (p) => ["exposure.adminApi", ...(p.adminHost ? ["exposure.adminUi"] : [])],
      inject: async () => {
        undoFile = edit("haproxy", HAPROXY.configFile, (text) =>
          text.replace(/^(\s*acl admin_source src) .*$/m, "$1 0.0.0.0/0"),
        );
        await reloadHaproxy();
      },
      undo: undoAndReload,
    },
    {
      fault: "element at 93 % of its memory limit",
      expected: () => ["memory.element"],
      inject: async () => {
        // Anonymous memory charged to the container's cgroup (not reclaimable: no swap beyond the limit),
        // a mebibyte at a time until it holds 93 % of the limit as Docker counts it.
        const share = () => {
          const memory = t.sandbox.cgroupMemory("element")!;
          return (memory.usage - (memory.stats.total_inactive_file ?? 0)) / memory.limit;
        };
        const hog = spawn("python3", [
          "-c",
          "import sys\nheld = []\nfor line in sys.stdin:\n    held.append(b'x' * 1048576)\n    print(len(held), flush=True)",
        ]);
        t.sandbox.chargeTo("element", hog.pid!);
        stopHog = () => hog.kill("SIGKILL");
        for (let step = 0; step < 1024 && share() < 0.93; step++) {
          const grown = new Promise((resolve) => hog.stdout.once("data", resolve));
          hog.stdin.write("\n");
          await Promise.race([grown, delay(5000)]);
        }
        log(`element at ${Math.round(share() * 100)} % of its memory limit`);
      },
      undo: () => stopHog(),
    },
    {
      fault: "the last good backup older than twice the schedule",
      expected: () => ["backup.age", "container.backup"],
      inject: () => {
        const before = readFileSync(backupState, "utf8");
        const status = JSON.parse(t.execIn("backup", ["/bin/sh", BACKUP.script, "status"]).stdout.trim()) as {
          now: number;
          intervalSeconds: number;
        };
        writeFileSync(backupState, `${status.now - 3 * status.intervalSeconds}\n`);
        undoFile = () => writeFileSync(backupState, before);
      },
      undo: () => undoFile(),
    },
  ];

  const results: { fault: string; expected: string[]; detected: boolean; failed: string[]; fixes: string[] }[] = [];
  for (const fault of faults) {
    log(`doctor fault: ${fault.fault}`);
    await fault.inject();
    let report: DoctorReport | undefined;
    let error = "";
    try {
      report = await runDoctor(t, "peer");
    } catch (e) {
      error = String(e);
    }
    await fault.undo();
    const expected = fault.expected(plan).sort();
    const failed = report ? failedIds(report).sort() : [];
    const detected = !!report && JSON.stringify(failed) === JSON.stringify(expected);
    const fixes = report
      ? report.findings.filter((f) => f.status === "fail").map((f) => `${f.id}: ${f.fix ?? "(no fix)"}`)
      : [error];
    results.push({ fault: fault.fault, expected, detected, failed, fixes });
    t.check(
      `npm run doctor detects: ${fault.fault}`,
      detected && fixes.every((f) => !f.endsWith("(no fix)")),
      detected
        ? fixes.join("; ")
        : `expected FAIL ${expected.join(", ")}, got FAIL ${failed.join(", ") || "none"} ${error}`,
    );
  }

  const after = await runDoctor(t, "peer");
  t.check(
    "npm run doctor: all PASS again once every fault is undone",
    after.counts.fail === 0 && after.counts.warn === 0,
    notPassed(after) || `${after.counts.pass} PASS`,
  );
  return {
    healthy: {
      ...healthy.counts,
      seconds: healthy.seconds,
      wallSeconds: healthy.wallSeconds,
      federation: healthy.federation,
    },
    faults: results,
    after: { ...after.counts, seconds: after.seconds },
    source: NET.outside.peer,
    domain: TEST_DOMAIN,
  };
}
