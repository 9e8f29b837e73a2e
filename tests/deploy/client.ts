/**
 * The users' side of `npm run test:deploy`: matrix-js-sdk against the deployed stack, through HAProxy's
 * published port with the stack's local CA (NODE_EXTRA_CA_CERTS), from the client namespace's own
 * address. One phase per run; its checks go to the result file as JSON.
 *
 *   client.ts chat <result file> <context file>   log in as the admin and as bob, room, message, sync
 *   client.ts read <result file> <context file>   the admin reads the earlier message from the history
 */
import { readFileSync, writeFileSync } from "node:fs";

export interface DeployClientContext {
  /** `https://matrix.<serverName>:<port>` */
  homeserverUrl: string;
  users: Record<"admin" | "bob", { username: string; password: string }>;
  /** Where chat leaves the room, event and text for read. */
  stateFile: string;
  /** What happened between chat and read, for the check's name. */
  since?: string;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const checks: Check[] = [];
const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

async function login(ctx: DeployClientContext, who: "admin" | "bob") {
  const { createClient } = await import("matrix-js-sdk");
  const session = await createClient({ baseUrl: ctx.homeserverUrl }).loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: ctx.users[who].username },
    password: ctx.users[who].password,
  });
  return createClient({
    baseUrl: ctx.homeserverUrl,
    accessToken: session.access_token,
    userId: session.user_id,
    deviceId: session.device_id,
  });
}

async function chat(ctx: DeployClientContext) {
  const { Preset, MsgType, RoomEvent, ClientEvent, SyncState } = await import("matrix-js-sdk");
  const admin = await login(ctx, "admin");
  const bob = await login(ctx, "bob");
  check(
    "matrix-js-sdk logs in as the admin (made by pulumi up) and bob (made by npm run user)",
    true,
    `${admin.getUserId()}, ${bob.getUserId()}`,
  );
  const { room_id: roomId } = await admin.createRoom({
    name: "firmground deploy test",
    preset: Preset.PrivateChat,
    invite: [bob.getUserId()!],
  });
  await bob.joinRoom(roomId);
  const body = `hello from test:deploy ${Date.now()}`;
  const { event_id: eventId } = await admin.sendMessage(roomId, { msgtype: MsgType.Text, body });
  const received = new Promise<string>((resolve) => {
    bob.on(RoomEvent.Timeline, (event) => {
      if (event.getId() === eventId) resolve(String(event.getContent()?.body));
    });
    bob.on(ClientEvent.Sync, (state) => {
      if (state !== SyncState.Prepared) return;
      const found = bob
        .getRoom(roomId)
        ?.getLiveTimeline()
        .getEvents()
        .find((e) => e.getId() === eventId);
      if (found) resolve(String(found.getContent()?.body));
    });
  });
  await bob.startClient({ initialSyncLimit: 20 });
  const text = await Promise.race([
    received,
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error("not received by sync in 30 s")), 30_000)),
  ]);
  bob.stopClient();
  check("a room, an invitation, a message bob reads by sync", text === body, `${roomId}: ${text}`);
  writeFileSync(ctx.stateFile, JSON.stringify({ roomId, eventId, body }));
}

async function read(ctx: DeployClientContext) {
  const { roomId, eventId, body } = JSON.parse(readFileSync(ctx.stateFile, "utf8")) as Record<string, string>;
  const admin = await login(ctx, "admin");
  const event = await admin.fetchRoomEvent(roomId, eventId);
  check(
    `the earlier message is read back ${ctx.since ?? "after destroy and up over the kept data"}`,
    (event.content as { body?: string }).body === body,
    `${roomId} ${eventId}: ${String((event.content as { body?: string }).body)}`,
  );
}

const [phase, resultFile, contextFile] = process.argv.slice(2);
const phases: Record<string, (ctx: DeployClientContext) => Promise<void>> = { chat, read };
(async () => {
  const ctx = JSON.parse(readFileSync(contextFile, "utf8")) as DeployClientContext;
  const run = phases[phase];
  if (!run) throw new Error(`unknown phase ${phase}`);
  await run(ctx);
})()
  .catch((error: unknown) => check(`client ${phase}`, false, error instanceof Error ? error.message : String(error)))
  .finally(() => {
    writeFileSync(resultFile, JSON.stringify(checks));
    process.exit(0);
  });
