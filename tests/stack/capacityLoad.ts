/**
 * The capacity run's load (capacity.ts), run by load.ts inside the users' namespace:
 *
 * - `join-shared`: the server admin joins the remote homeserver's big room over federation (waiting
 *   for its full membership), then the first `sharedMembers` users join it locally: the large shared
 *   room into which the remote server sends.
 * - `capacity`: every user holds a `/sync` long-poll open (as an online client does); after every
 *   user's first sync, messages are sent at a fixed rate for `seconds` (each by a user into its own
 *   room, an open loop), while the remote homeserver's admin sends into the shared room at its own
 *   rate (inbound federation). Each message carries its scheduled time; each user's sync that returns
 *   it gives a wake-up latency.
 */
import { latencySummary, type PhaseResult } from "./benchReport";
import { Client, enc, inParallel, type BenchAdmin, type BenchUser, type LoadPlan } from "./loadClient";

export interface CapacityPlan extends LoadPlan {
  capacity: {
    seconds: number;
    /** Messages per second our users send in total, each into its own room. */
    sendPerSecond: number;
    /** How many of the users (the first ones) are members of the shared room. */
    sharedMembers: number;
    /** The remote homeserver's big room, the remote's client API and its admin's token. */
    shared: { roomId: string; remoteServer: string; remoteBaseUrl: string; remoteToken: string; perSecond: number };
    /** Members of the big room once our admin has joined (remote members + ours). */
    expectedMembers: number;
  };
}

export interface SharedJoin {
  adminJoinMs: number;
  fullStateMs: number;
  members: number;
  localJoinsSeconds: number;
}

export interface CapacityResult {
  seconds: number;
  /** Time for every user's first `/sync` (not measured as load: a client coming online). */
  initialSyncSeconds: number;
  sends: Omit<PhaseResult, "kind" | "concurrency" | "cpuSeconds">;
  /** Our users' messages, from the scheduled send to each other member's `/sync` returning it. */
  syncWake: { expected: number; delivered: number; latencyMs: PhaseResult["latencyMs"] };
  /** The remote server's messages into the shared room, from their creation there to each local member's `/sync`. */
  federatedWake: {
    sent: number;
    sendFailures: number;
    expected: number;
    delivered: number;
    latencyMs: PhaseResult["latencyMs"];
  };
  syncRequests: number;
  syncFailures: Record<string, { count: number; example: string }>;
  cpuSeconds: number;
}

/** A sync filter as a light client's: lazy-loaded members, a short timeline, no presence or account data. */
const SYNC_FILTER = JSON.stringify({
  room: { state: { lazy_load_members: true }, timeline: { limit: 10 }, ephemeral: { not_types: ["*"] } },
  presence: { not_types: ["*"] },
  account_data: { not_types: ["*"] },
});
const SYNC_TIMEOUT_MS = 30_000;

export async function joinShared(plan: CapacityPlan, admin: BenchAdmin, users: BenchUser[]): Promise<SharedJoin> {
  const client = new Client(plan.baseUrl, plan.sourceAddresses);
  const { shared, expectedMembers, sharedMembers } = plan.capacity;
  const started = performance.now();
  await client.must(
    "POST",
    `/_matrix/client/v3/join/${enc(shared.roomId)}?server_name=${shared.remoteServer}`,
    {},
    admin.token,
  );
  const adminJoinMs = Math.round(performance.now() - started);
  // Synapse joins with partial state and fetches the full membership in the background.
  let members = 0;
  while (members < expectedMembers - sharedMembers && performance.now() - started < 600_000) {
    const answer = await client.request(
      "GET",
      `/_matrix/client/v3/rooms/${enc(shared.roomId)}/joined_members`,
      undefined,
      admin.token,
    );
    if (answer.status === 200) members = Object.keys((JSON.parse(answer.body) as { joined: object }).joined).length;
    if (members < expectedMembers - sharedMembers) await new Promise((r) => setTimeout(r, 1000));
  }
  const fullStateMs = Math.round(performance.now() - started);
  const joinsStarted = performance.now();
  await inParallel(users.slice(0, sharedMembers), 4, (user, i) =>
    client.must("POST", `/_matrix/client/v3/join/${enc(shared.roomId)}`, {}, user.token).then(() => i),
  );
  const answer = await client.must(
    "GET",
    `/_matrix/client/v3/rooms/${enc(shared.roomId)}/joined_members`,
    undefined,
    admin.token,
  );
  client.close();
  return {
    adminJoinMs,
    fullStateMs,
    members: Object.keys(answer.joined as object).length,
    localJoinsSeconds: Math.round((performance.now() - joinsStarted) / 100) / 10,
  };
}

interface Marker {
  capacity: string;
  /** Scheduled send time, whole ms since the epoch (the same clock reads it back; Matrix JSON has no floats). */
  t: number;
}

export async function capacity(plan: CapacityPlan, users: BenchUser[]): Promise<CapacityResult> {
  const { seconds, sendPerSecond, sharedMembers, shared } = plan.capacity;
  const client = new Client(plan.baseUrl, plan.sourceAddresses);
  const remote = new Client(shared.remoteBaseUrl, []);
  const runId = Date.now().toString(36);
  const syncFailures: CapacityResult["syncFailures"] = {};
  const fail = (table: Record<string, { count: number; example: string }>, key: string, example: string) => {
    table[key] = { count: (table[key]?.count ?? 0) + 1, example: table[key]?.example ?? example };
  };
  const localWake: number[] = [];
  const federatedWake: number[] = [];
  let syncRequests = 0;
  let stopping = false;

  // Each user's sync loop; the first sync of each resolves `online`.
  const online: Promise<void>[] = [];
  const loops = users.map((user, i) => {
    let markOnline!: () => void;
    online.push(new Promise<void>((resolve) => (markOnline = resolve)));
    return (async () => {
      let since: string | undefined;
      while (!stopping) {
        const query = `filter=${enc(SYNC_FILTER)}&timeout=${since ? SYNC_TIMEOUT_MS : 0}${since ? `&since=${enc(since)}` : ""}`;
        syncRequests++;
        let answer;
        try {
          answer = await client.request("GET", `/_matrix/client/v3/sync?${query}`, undefined, user.token, i);
        } catch (error) {
          if (!stopping) fail(syncFailures, "error", error instanceof Error ? error.message : String(error));
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        const received = Date.now();
        if (answer.status !== 200) {
          fail(syncFailures, String(answer.status), answer.body.slice(0, 200));
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        const body = JSON.parse(answer.body) as {
          next_batch: string;
          rooms?: {
            join?: Record<
              string,
              { timeline?: { events?: { sender: string; origin_server_ts: number; content: Partial<Marker> }[] } }
            >;
          };
        };
        if (since) {
          for (const [roomId, room] of Object.entries(body.rooms?.join ?? {})) {
            for (const event of room.timeline?.events ?? []) {
              const marker = event.content;
              if (
                typeof marker.capacity !== "string" ||
                !marker.capacity.startsWith(runId) ||
                event.sender === user.userId
              )
                continue;
              // A remote message counts from its creation on the remote (origin_server_ts, same clock): the
              // remote homeserver's own queue is not this server's latency.
              if (roomId === shared.roomId) federatedWake.push(received - event.origin_server_ts);
              else localWake.push(received - Number(marker.t));
            }
          }
        }
        since = body.next_batch;
        markOnline();
      }
    })();
  });
  const syncStarted = performance.now();
  await Promise.all(online);
  const initialSyncSeconds = Math.round((performance.now() - syncStarted) / 100) / 10;

  const sendLatencies: number[] = [];
  const sendFailures: PhaseResult["failures"] = {};
  let federatedSent = 0;
  let federatedFailures = 0;
  const started = performance.now();
  const startedAt = Date.now();
  const cpuAtStart = process.cpuUsage();
  const inFlight: Promise<void>[] = [];

  const sendLocal = async (n: number, dueAt: number) => {
    // Spread over the users: a large odd stride visits every user before repeating one.
    const user = users[(n * 7919) % users.length];
    try {
      const answer = await client.request(
        "PUT",
        `/_matrix/client/v3/rooms/${enc(user.roomId)}/send/m.room.message/${runId}-${n}`,
        {
          msgtype: "m.text",
          body: `capacity ${n}`,
          capacity: `${runId}-${n}`,
          t: Math.round(startedAt + dueAt),
        } satisfies Record<string, unknown>,
        user.token,
        n,
      );
      if (answer.status === 200) sendLatencies.push(performance.now() - (started + dueAt));
      else fail(sendFailures, String(answer.status), answer.body.slice(0, 200));
    } catch (error) {
      fail(sendFailures, "error", error instanceof Error ? error.message : String(error));
    }
  };
  const sendRemote = async (n: number, dueAt: number) => {
    federatedSent++;
    try {
      const answer = await remote.request(
        "PUT",
        `/_matrix/client/v3/rooms/${enc(shared.roomId)}/send/m.room.message/${runId}-f${n}`,
        { msgtype: "m.text", body: `remote ${n}`, capacity: `${runId}-f${n}`, t: Math.round(startedAt + dueAt) },
        shared.remoteToken,
      );
      if (answer.status !== 200) federatedFailures++;
    } catch {
      federatedFailures++;
    }
  };
  const schedule = (perSecond: number, sendOne: (n: number, dueAt: number) => Promise<void>) =>
    (async () => {
      const total = Math.round(perSecond * seconds);
      for (let n = 0; n < total; n++) {
        const dueAt = (n * 1000) / perSecond;
        const wait = started + dueAt - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        inFlight.push(sendOne(n, dueAt));
      }
    })();
  await Promise.all([
    schedule(sendPerSecond, sendLocal),
    shared.perSecond > 0 ? schedule(shared.perSecond, sendRemote) : undefined,
  ]);
  await Promise.all(inFlight);
  // The last messages' syncs: a few seconds more, then every loop stops.
  await new Promise((r) => setTimeout(r, 10_000));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  stopping = true;
  client.close();
  remote.close();
  await Promise.allSettled(loops);

  const round = (x: number) => Math.round(x * 10) / 10;
  const sent = Math.round(sendPerSecond * seconds);
  // Every other member of the sender's room (users are spread round-robin over the rooms).
  const roomSize = (roomId: string) => users.filter((u) => u.roomId === roomId).length;
  const expectedLocal = Array.from(
    { length: sent },
    (_, n) => roomSize(users[(n * 7919) % users.length].roomId) - 1,
  ).reduce((a, b) => a + b, 0);
  return {
    seconds: round(elapsed),
    initialSyncSeconds,
    sends: {
      offeredPerSecond: sendPerSecond,
      seconds: round(seconds),
      sent,
      ok: sendLatencies.length,
      failures: sendFailures,
      achievedPerSecond: round(sendLatencies.length / seconds),
      latencyMs: latencySummary(sendLatencies),
    },
    syncWake: { expected: expectedLocal, delivered: localWake.length, latencyMs: latencySummary(localWake) },
    federatedWake: {
      sent: federatedSent,
      sendFailures: federatedFailures,
      expected: (federatedSent - federatedFailures) * sharedMembers,
      delivered: federatedWake.length,
      latencyMs: latencySummary(federatedWake),
    },
    syncRequests,
    syncFailures,
    cpuSeconds: round((cpu.user + cpu.system) / 1e6),
  };
}
