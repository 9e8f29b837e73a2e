/**
 * The benchmark's load generator, run by bench.ts inside a network namespace:
 *
 *   node --import tsx load.ts setup <plan.json> <users.json>   admin, N users, M rooms, everyone joined
 *   node --import tsx load.ts send  <plan.json> <users.json> <result.json>
 *   node --import tsx load.ts join-shared <plan.json> <users.json> <result.json>   (capacityLoad.ts)
 *   node --import tsx load.ts capacity    <plan.json> <users.json> <result.json>   (capacityLoad.ts)
 *
 * `send` runs one phase: an open loop at a fixed offered rate (each send fires at its scheduled time
 * whether or not earlier ones have answered, so a slow server shows as latency, not as a lower offered
 * rate), or a closed loop of `concurrency` senders as fast as the server answers (saturation). Latency
 * is from the scheduled time (open loop) or the request's start (closed loop) to the full response.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { registerWithSharedSecret } from "../../components/users/registration";
import { latencySummary, type PhaseResult } from "./benchReport";
import { capacity, joinShared, type CapacityPlan } from "./capacityLoad";
import { adminFileOf, Client, enc, inParallel, type BenchAdmin, type BenchUser, type LoadPlan } from "./loadClient";

/**
 * An admin (shared-secret registration), then N users created and logged in through the admin API
 * (no password hashing, so setup takes seconds), their per-user message limit lifted (the same on
 * every server measured: the phases measure the server, not Synapse's per-user limiter), M public
 * rooms, and user i in room i mod M.
 */
async function setup(plan: LoadPlan): Promise<{ admin: BenchAdmin; users: BenchUser[] }> {
  const admin = new Client(plan.setupUrl, []);
  const registered = await registerWithSharedSecret(plan.setupUrl, plan.registrationSecret, {
    username: "bench-admin",
    password: `bench-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`,
    admin: true,
  });
  const adminToken = registered.body.access_token;
  if (registered.status !== 200 || typeof adminToken !== "string")
    throw new Error(`registering the bench admin: ${registered.status} ${JSON.stringify(registered.body)}`);
  const ids = Array.from({ length: plan.users }, (_, i) => `@bench-${i}:${plan.serverName}`);
  const tokens = await inParallel(ids, 8, async (userId) => {
    await admin.must("PUT", `/_synapse/admin/v2/users/${enc(userId)}`, { displayname: userId.slice(1) }, adminToken);
    await admin.must(
      "POST",
      `/_synapse/admin/v1/users/${enc(userId)}/override_ratelimit`,
      { messages_per_second: 0, burst_count: 0 },
      adminToken,
    );
    const login = await admin.must("POST", `/_synapse/admin/v1/users/${enc(userId)}/login`, {}, adminToken);
    return String(login.access_token);
  });
  const roomIds = await inParallel(Array.from({ length: plan.rooms }), 4, async (_, r) => {
    const room = await admin.must(
      "POST",
      "/_matrix/client/v3/createRoom",
      { preset: "public_chat", name: `bench ${r}` },
      tokens[r],
    );
    return String(room.room_id);
  });
  const users = ids.map((userId, i) => ({ userId, token: tokens[i], roomId: roomIds[i % plan.rooms] }));
  await inParallel(users.slice(plan.rooms), 8, (user) =>
    admin.must("POST", `/_matrix/client/v3/join/${enc(user.roomId)}`, {}, user.token),
  );
  admin.close();
  return { admin: { userId: String(registered.body.user_id), token: adminToken }, users };
}

async function send(plan: LoadPlan, users: BenchUser[]): Promise<PhaseResult> {
  const phase = plan.phase;
  if (!phase) throw new Error("the plan has no phase");
  const client = new Client(plan.baseUrl, plan.sourceAddresses);
  const latencies: number[] = [];
  const failures: PhaseResult["failures"] = {};
  let sent = 0;
  const runId = Date.now().toString(36);

  const sendOne = async (n: number, startedAt: number) => {
    const user = users[n % users.length];
    sent++;
    const path = `/_matrix/client/v3/rooms/${enc(user.roomId)}/send/m.room.message/${runId}-${n}`;
    try {
      const answer = await client.request("PUT", path, { msgtype: "m.text", body: `bench ${n}` }, user.token, n);
      if (answer.status === 200) latencies.push(performance.now() - startedAt);
      else fail(String(answer.status), answer.body.slice(0, 200));
    } catch (error) {
      fail("error", error instanceof Error ? error.message : String(error));
    }
  };
  const fail = (key: string, example: string) => {
    failures[key] = { count: (failures[key]?.count ?? 0) + 1, example: failures[key]?.example ?? example };
  };

  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  if (phase.kind === "rate") {
    const total = Math.round(phase.perSecond * phase.seconds);
    const inFlight: Promise<void>[] = [];
    for (let n = 0; n < total; n++) {
      const due = started + (n * 1000) / phase.perSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inFlight.push(sendOne(n, due));
    }
    await Promise.all(inFlight);
  } else {
    const deadline = started + phase.seconds * 1000;
    let counter = 0;
    await Promise.all(
      Array.from({ length: phase.concurrency }, async () => {
        while (performance.now() < deadline) await sendOne(counter++, performance.now());
      }),
    );
  }
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  client.close();
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    kind: phase.kind,
    ...(phase.kind === "rate" ? { offeredPerSecond: phase.perSecond } : { concurrency: phase.concurrency }),
    seconds: round(elapsed),
    sent,
    ok: latencies.length,
    failures,
    achievedPerSecond: round(latencies.length / elapsed),
    latencyMs: latencySummary(latencies),
    cpuSeconds: round((cpu.user + cpu.system) / 1e6),
  };
}

async function main() {
  const [command, planFile, usersFile, resultFile] = process.argv.slice(2);
  const plan = JSON.parse(readFileSync(planFile, "utf8")) as LoadPlan;
  const users = () => JSON.parse(readFileSync(usersFile, "utf8")) as BenchUser[];
  if (command === "setup") {
    const made = await setup(plan);
    writeFileSync(usersFile, JSON.stringify(made.users), { mode: 0o600 });
    writeFileSync(adminFileOf(usersFile), JSON.stringify(made.admin), { mode: 0o600 });
  } else if (command === "send") {
    writeFileSync(resultFile, JSON.stringify(await send(plan, users())));
  } else if (command === "join-shared") {
    const admin = JSON.parse(readFileSync(adminFileOf(usersFile), "utf8")) as BenchAdmin;
    writeFileSync(resultFile, JSON.stringify(await joinShared(plan as CapacityPlan, admin, users())));
  } else if (command === "capacity") {
    writeFileSync(resultFile, JSON.stringify(await capacity(plan as CapacityPlan, users())));
  } else {
    throw new Error(`unknown command ${command}: setup, send, join-shared or capacity`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
