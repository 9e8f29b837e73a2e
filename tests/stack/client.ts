/**
 * The client side of the real-daemon run: one phase per invocation, run by the harness inside a
 * client network namespace (`ip netns exec … node --import tsx client.ts <phase> <result file>`).
 * Everything goes to the public address through HAProxy with TLS, as a user's client would. Each
 * phase writes its checks as JSON to the result file.
 */
import { canonicalJson } from "../../components/doctor/matrixKeys";
import { createHash, createPrivateKey, createPublicKey, randomBytes, verify, type X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { createConnection } from "node:net";
import { connect, type TLSSocket } from "node:tls";
import { registerWithSharedSecret } from "../../components/users/registration";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ClientContext {
  serverName: string;
  matrixHost: string;
  elementHost: string;
  registrationSecret: string;
  /** Synapse's signing key file, as uploaded. */
  signingKey: string;
  users: Record<"admin" | "bob", { username: string; password: string }>;
  adminHost: string;
  expected: { wellKnownServer: string; wellKnownClient: string; elementConfig: string; adminUiConfig: string };
  /** Carries state between phases (the room and message of the chat phase). */
  stateFile: string;
}

interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The body's bytes. */
  raw: Buffer;
  certificate?: X509Certificate;
}

/** One HTTP(S) request with an explicit Host header and SNI, no connection reuse. */
function call(
  url: string,
  options: {
    method?: string;
    host?: string;
    body?: string | Buffer;
    token?: string;
    insecure?: boolean;
    headers?: Record<string, string>;
    /** A keep-alive agent for many requests to one server (default: a new connection each time). */
    agent?: HttpsAgent;
    timeoutMs?: number;
  } = {},
): Promise<Response> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: options.method ?? "GET",
        headers: {
          host: options.host ?? target.host,
          ...(typeof options.body === "string" ? { "content-type": "application/json" } : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
        servername: target.hostname,
        rejectUnauthorized: !options.insecure,
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        // Read now: a keep-alive agent takes the socket back when the response ends.
        const socket = res.socket as TLSSocket | null;
        const certificate =
          typeof socket?.getPeerX509Certificate === "function" ? socket.getPeerX509Certificate() : undefined;
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            raw: Buffer.concat(chunks),
            certificate,
          });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout: ${url}`)));
    req.on("error", reject);
    req.end(options.body);
  });
}

const checks: Check[] = [];
function check(name: string, ok: boolean, detail: string) {
  checks.push({ name, ok, detail });
}

/** Runs `fn`, turning a throw into a failed check of that name. */
async function guarded(name: string, fn: () => Promise<void>) {
  try {
    await fn();
  } catch (error) {
    check(name, false, error instanceof Error ? error.message : String(error));
  }
}

// ---- phases ------------------------------------------------------------------------------------

/** The leaf certificate served on host:port (HAProxy or coturn), unverified: the harness compares it. */
async function certificatePhase(host: string, port: string) {
  const cert = await new Promise<X509Certificate>((resolve, reject) => {
    const socket = connect({ host, port: Number(port), servername: host, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()!);
      socket.end();
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error(`timeout: ${host}:${port}`)));
    socket.on("error", reject);
  });
  check(`certificate on ${host}:${port}`, true, `${cert.subject} / ${cert.issuer}`);
  writeFileSync(`${resultFile}.pem`, cert.toString());
}

async function wellKnownPhase(ctx: ClientContext) {
  for (const [doc, expected] of [
    ["server", ctx.expected.wellKnownServer],
    ["client", ctx.expected.wellKnownClient],
  ] as const) {
    await guarded(`well-known ${doc}`, async () => {
      const res = await call(`https://${ctx.serverName}/.well-known/matrix/${doc}`);
      const problems = [
        res.status !== 200 && `status ${res.status}`,
        res.headers["content-type"] !== "application/json" && `content-type ${String(res.headers["content-type"])}`,
        res.headers["access-control-allow-origin"] !== "*" &&
          `CORS ${String(res.headers["access-control-allow-origin"])}`,
        res.body !== expected && `body ${JSON.stringify(res.body)} is not the rendered file`,
      ].filter(Boolean);
      check(
        `well-known ${doc}`,
        problems.length === 0,
        problems.join("; ") || `200 application/json, CORS *, ${res.body.trim()}`,
      );
    });
  }
  await guarded("element config.json", async () => {
    const res = await call(`https://${ctx.elementHost}/config.json`);
    check(
      "element config.json",
      res.status === 200 && res.body === ctx.expected.elementConfig,
      `status ${res.status}, ${res.body === ctx.expected.elementConfig ? "the rendered file" : "NOT the rendered file"}`,
    );
  });
}

async function unknownHostPhase(ctx: ClientContext) {
  for (const scheme of ["https", "http"]) {
    await guarded(`unknown Host refused (${scheme})`, async () => {
      const res = await call(`${scheme}://${ctx.matrixHost}/_matrix/client/versions`, { host: "unknown.example" });
      check(`unknown Host refused (${scheme})`, res.status === 421, `Host: unknown.example → ${res.status}`);
    });
  }
}

const base = (ctx: ClientContext) => `https://${ctx.matrixHost}`;

/** A fetch that speaks to the homeserver through `call`, for the registration module. */
const fetchVia: typeof fetch = async (input, init) => {
  const res = await call(input instanceof Request ? input.url : input.toString(), {
    method: init?.method,
    body: init?.body as string | undefined,
  });
  return new globalThis.Response(res.body, { status: res.status });
};

async function registerPhase(ctx: ClientContext, expectRefused: boolean) {
  if (expectRefused) {
    await guarded("registration API refused from a non-admin source", async () => {
      const res = await call(`${base(ctx)}/_synapse/admin/v1/register`);
      check(
        "registration API refused from a non-admin source",
        res.status === 403,
        `GET /_synapse/admin/v1/register → ${res.status}`,
      );
    });
    return;
  }
  await guarded("wrong registration secret refused", async () => {
    const res = await registerWithSharedSecret(
      base(ctx),
      `${ctx.registrationSecret}x`,
      { username: "mallory", password: "not-allowed-1", admin: true },
      fetchVia,
    );
    check("wrong registration secret refused", res.status === 403, `${res.status} ${JSON.stringify(res.body)}`);
  });
  // The admin comes from the program (its MatrixUser resource); bob is registered here.
  for (const [key, admin] of [["bob", false]] as const) {
    await guarded(`register ${key} with the shared secret`, async () => {
      const user = ctx.users[key];
      const res = await registerWithSharedSecret(base(ctx), ctx.registrationSecret, { ...user, admin }, fetchVia);
      check(
        `register ${key} with the shared secret`,
        res.status === 200 && res.body.user_id === `@${user.username}:${ctx.serverName}`,
        `${res.status} ${typeof res.body.user_id === "string" ? res.body.user_id : JSON.stringify(res.body)}`,
      );
    });
  }
}

/** Password logins from a file of {username, password, expect}: "ok" (200) or "refused" (403). */
async function loginsPhase(ctx: ClientContext, file: string) {
  const logins = JSON.parse(readFileSync(file, "utf8")) as {
    label: string;
    username: string;
    password: string;
    expect: "ok" | "refused";
  }[];
  for (const login of logins) {
    await guarded(login.label, async () => {
      const res = await call(`${base(ctx)}/_matrix/client/v3/login`, {
        method: "POST",
        body: JSON.stringify({
          type: "m.login.password",
          identifier: { type: "m.id.user", user: login.username },
          password: login.password,
        }),
      });
      const ok = login.expect === "ok" ? res.status === 200 : res.status === 403;
      check(
        login.label,
        ok,
        `@${login.username}: ${res.status} ${res.status === 200 ? "logged in" : res.body.slice(0, 100)}`,
      );
    });
  }
}

async function adminUiPhase(ctx: ClientContext, expectAllowed: boolean) {
  const name = expectAllowed
    ? "admin UI served to an admin source, locked to this homeserver"
    : "admin UI refused to a non-admin source";
  await guarded(name, async () => {
    const res = await call(`https://${ctx.adminHost}/config.json`);
    if (!expectAllowed) return check(name, res.status === 403, `${res.status}`);
    const restricted =
      res.status === 200 && (JSON.parse(res.body) as { restrictBaseUrl?: string }).restrictBaseUrl === base(ctx);
    check(name, restricted && res.body === ctx.expected.adminUiConfig, `${res.status} ${res.body.trim()}`);
  });
}

interface RemoteState {
  host: { userId: string; token: string };
  big: string;
  small: string;
  /** The big room as the remote homeserver counts it once built. */
  bigRoom: { joinedMembers: number; stateEvents: number; buildSeconds: number };
}

/**
 * On the remote homeserver: its own admin, the big public room (`members` users joined through the
 * admin API, `fillers` other state events) and a small public room. The room's events are sent one at
 * a time: concurrent sends fork the room's graph and every later event then pays for a state
 * resolution (measured here: 20 ms per event in sequence, 40-70 ms and growing with three at once).
 */
async function remoteSetupPhase(stateFile: string, remote: string, secret: string, members: string, fillers: string) {
  const started = Date.now();
  const base = `https://${remote}:8448`;
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 8 });
  const password = `host-${Date.now()}-password`;
  const registered = await registerWithSharedSecret(
    base,
    secret,
    { username: "host", password, admin: true },
    fetchVia,
  );
  check("remote homeserver: its admin registered", registered.status === 200, `${registered.status}`);
  const token = String(registered.body.access_token);
  // Every request here may be repeated (a state key, a user, a join): a kept-alive connection the
  // server closed meanwhile ("socket hang up") is retried.
  const json = async (method: string, path: string, body?: unknown) => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const res = await call(`${base}${path}`, {
          method,
          body: body === undefined ? undefined : JSON.stringify(body),
          token,
          agent,
          timeoutMs: 60_000,
        });
        if (res.status !== 200 && res.status !== 201) throw new Error(`${method} ${path}: ${res.status} ${res.body}`);
        return JSON.parse(res.body) as Record<string, unknown>;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (attempt >= 3 || !(code === "ECONNRESET" || /socket hang up/.test(String(error)))) throw error;
      }
    }
  };
  const progress = (what: string, done: number, total: number) => {
    if (done % 1000 === 0 || done === total)
      console.log(`${what}: ${done}/${total} after ${Math.round((Date.now() - started) / 1000)} s`);
  };
  const big = String(
    (await json("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", name: "big" })).room_id,
  );
  const bigPath = `/_matrix/client/v3/rooms/${encodeURIComponent(big)}`;
  for (let i = 0; i < Number(fillers); i += 1) {
    await json("PUT", `${bigPath}/state/org.firmground.filler/${i}`, { i });
    progress("filler state events", i + 1, Number(fillers));
  }
  const userIds = Array.from({ length: Number(members) }, (_, i) => `@member-${i}:${remote}`);
  // Users are independent of the room: eight at a time.
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < userIds.length) {
        const userId = userIds[next++];
        await json("PUT", `/_synapse/admin/v2/users/${encodeURIComponent(userId)}`, {
          displayname: userId.slice(1, 12),
        });
      }
    }),
  );
  for (const [i, userId] of userIds.entries()) {
    await json("POST", `/_synapse/admin/v1/join/${encodeURIComponent(big)}`, { user_id: userId });
    progress("members joined", i + 1, userIds.length);
  }
  const small = String(
    (await json("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", name: "small" })).room_id,
  );
  const details = await json("GET", `/_synapse/admin/v1/rooms/${encodeURIComponent(big)}`);
  agent.destroy();
  const bigRoom = {
    joinedMembers: Number(details.joined_members),
    stateEvents: Number(details.state_events),
    buildSeconds: Math.round((Date.now() - started) / 1000),
  };
  check(
    "remote homeserver: a big and a small public room",
    bigRoom.joinedMembers === Number(members) + 1 && bigRoom.stateEvents >= Number(members) + Number(fillers),
    `${big}: ${bigRoom.joinedMembers} members, ${bigRoom.stateEvents} state events (built in ${bigRoom.buildSeconds} s); ${small}`,
  );
  writeFileSync(
    stateFile,
    JSON.stringify({
      host: { userId: String(registered.body.user_id), token },
      big,
      small,
      bigRoom,
    } satisfies RemoteState),
  );
}

/**
 * One of our users joins a remote room over federation. `refused`: Synapse must refuse it with
 * M_RESOURCE_LIMIT_EXCEEDED. `joined`: the join must succeed, and for the big room the room's full
 * membership must arrive (Synapse joins with partial state first and fetches the rest in the background:
 * waits for all of it); for the small room, a remote message must arrive. Writes `{ms, fullStateMs?,
 * members?}` to `<result>.join.json`.
 */
async function federatedJoinPhase(
  ctx: ClientContext,
  stateFile: string,
  who: "admin" | "bob",
  room: "big" | "small",
  expect: string,
) {
  const remote = JSON.parse(readFileSync(stateFile, "utf8")) as RemoteState;
  const server = remote.host.userId.split(":")[1];
  const session = await call(`${base(ctx)}/_matrix/client/v3/login`, {
    method: "POST",
    body: JSON.stringify({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: ctx.users[who].username },
      password: ctx.users[who].password,
    }),
  });
  const token = (JSON.parse(session.body) as { access_token: string }).access_token;
  const started = Date.now();
  const res = await call(
    `${base(ctx)}/_matrix/client/v3/join/${encodeURIComponent(remote[room])}?server_name=${server}`,
    { method: "POST", body: "{}", token, timeoutMs: 300_000 },
  );
  const ms = Date.now() - started;
  const body = JSON.parse(res.body || "{}") as { errcode?: string; error?: string };
  const name = `${who} joins the ${room} remote room: ${expect}`;
  const measured: { ms: number; fullStateMs?: number; members?: number } = { ms };
  if (expect === "refused") {
    check(
      name,
      res.status === 400 && body.errcode === "M_RESOURCE_LIMIT_EXCEEDED",
      `${res.status} ${body.errcode} "${body.error}" in ${ms} ms`,
    );
  } else {
    check(name, res.status === 200, `${res.status} ${body.errcode ?? ""} in ${ms} ms`);
  }
  if (room === "big" && res.status === 200) {
    const expected = remote.bigRoom.joinedMembers + 1;
    for (let waited = 0; waited < 600_000 && (measured.members ?? 0) < expected; waited = Date.now() - started) {
      const members = await call(
        `${base(ctx)}/_matrix/client/v3/rooms/${encodeURIComponent(remote.big)}/joined_members`,
        {
          token,
          timeoutMs: 120_000,
        },
      ).catch(() => undefined);
      if (members?.status === 200)
        measured.members = Object.keys((JSON.parse(members.body) as { joined: object }).joined).length;
      if ((measured.members ?? 0) < expected) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    measured.fullStateMs = Date.now() - started;
    check(
      `the big room's full membership arrives after the join (${expected} members)`,
      measured.members === expected,
      `${measured.members ?? "no"} members after ${(measured.fullStateMs / 1000).toFixed(1)} s`,
    );
  }
  writeFileSync(`${resultFile}.join.json`, JSON.stringify(measured));
  if (room !== "small" || res.status !== 200) return;
  // A message from the remote side must reach us.
  const text = `from ${server} ${Date.now()}`;
  const sent = await call(
    `https://${server}:8448/_matrix/client/v3/rooms/${encodeURIComponent(remote.small)}/send/m.room.message/${Date.now()}`,
    {
      method: "PUT",
      body: JSON.stringify({ msgtype: "m.text", body: text }),
      token: remote.host.token,
    },
  );
  let seen = false;
  for (let i = 0; i < 40 && !seen && sent.status === 200; i += 1) {
    const messages = await call(
      `${base(ctx)}/_matrix/client/v3/rooms/${encodeURIComponent(remote.small)}/messages?dir=b&limit=20`,
      { token },
    );
    seen = messages.body.includes(text);
    if (!seen) await new Promise((resolve) => setTimeout(resolve, 500));
  }
  check(
    "a message from the remote room arrives over federation",
    seen,
    seen ? text : `send ${sent.status}; not seen in 20 s`,
  );
}

async function sdk() {
  // The SDK logs to the console; results go to the result file, so that noise is harmless.
  return import("matrix-js-sdk");
}

async function login(ctx: ClientContext, who: "admin" | "bob") {
  const { createClient } = await sdk();
  const anonymous = createClient({ baseUrl: base(ctx) });
  const session = await anonymous.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: ctx.users[who].username },
    password: ctx.users[who].password,
  });
  return createClient({
    baseUrl: base(ctx),
    accessToken: session.access_token,
    userId: session.user_id,
    deviceId: session.device_id,
  });
}

async function chatPhase(ctx: ClientContext) {
  const { Preset, MsgType, RoomEvent, ClientEvent, SyncState } = await sdk();
  const alice = await login(ctx, "admin");
  const bob = await login(ctx, "bob");
  check("matrix-js-sdk login (both users)", true, `${alice.getUserId()} and ${bob.getUserId()}`);
  const { room_id: roomId } = await alice.createRoom({
    name: "firmground harness",
    preset: Preset.PrivateChat,
    invite: [bob.getUserId()!],
  });
  await bob.joinRoom(roomId);
  const body = `hello from the harness ${Date.now()}`;
  const { event_id: eventId } = await alice.sendMessage(roomId, { msgtype: MsgType.Text, body });
  check("create room, invite, join, send", true, `${roomId} ${eventId}`);

  // Bob reads it the way a client does: through /sync.
  const received = new Promise<string>((resolve) => {
    bob.on(RoomEvent.Timeline, (event) => {
      if (event.getId() === eventId) resolve(String(event.getContent().body));
    });
    bob.on(ClientEvent.Sync, (state) => {
      if (state !== SyncState.Prepared) return;
      const found = bob
        .getRoom(roomId)
        ?.getLiveTimeline()
        .getEvents()
        .find((e) => e.getId() === eventId);
      if (found) resolve(String(found.getContent().body));
    });
  });
  await bob.startClient({ initialSyncLimit: 20 });
  const text = await Promise.race([
    received,
    new Promise<string>((_, reject) =>
      setTimeout(() => reject(new Error("message not received by sync in 30 s")), 30_000),
    ),
  ]);
  bob.stopClient();
  alice.stopClient();
  check("second user reads the message by sync", text === body, text);
  writeFileSync(ctx.stateFile, JSON.stringify({ roomId, eventId, body }));
}

async function persistPhase(ctx: ClientContext) {
  const { Direction } = await sdk();
  const { roomId, eventId, body } = JSON.parse(readFileSync(ctx.stateFile, "utf8")) as Record<string, string>;
  const bob = await login(ctx, "bob");
  const messages = await bob.createMessagesRequest(roomId, null, 50, Direction.Backward);
  const found = messages.chunk.find((e) => e.event_id === eventId);
  check(
    "message survives restarting Synapse and PostgreSQL",
    found?.content?.body === body,
    found ? String(found.content.body) : "not found",
  );
}

async function adminApiPhase(ctx: ClientContext, expectAllowed: boolean) {
  const name = expectAllowed ? "admin API allowed from an admin source" : "admin API refused from a non-admin source";
  const path = `/_synapse/admin/v2/users/${encodeURIComponent(`@${ctx.users.admin.username}:${ctx.serverName}`)}`;
  await guarded(name, async () => {
    if (!expectAllowed) {
      // No token: without HAProxy's rule Synapse would answer 401, so a 403 is HAProxy's refusal.
      const res = await call(`${base(ctx)}${path}`);
      return check(name, res.status === 403, `${res.status} ${res.body.slice(0, 80)}`);
    }
    const admin = await login(ctx, "admin");
    const res = await call(`${base(ctx)}${path}`, { token: admin.getAccessToken()! });
    const isAdmin = res.status === 200 && (JSON.parse(res.body) as { admin?: boolean }).admin === true;
    check(name, isAdmin, `${res.status}, admin: ${isAdmin}`);
  });
}

async function turnPhase(ctx: ClientContext) {
  const bob = await login(ctx, "bob");
  const turn = await bob.turnServer();
  const ok = !!turn.username && !!turn.password && turn.uris.length > 0;
  check("/voip/turnServer returns credentials", ok, `${turn.uris.join(" ")} ttl ${turn.ttl}`);
  writeFileSync(`${resultFile}.turn.json`, JSON.stringify(turn));
}

async function federationPhase(ctx: ClientContext) {
  const fed = `https://${ctx.matrixHost}:8448`;
  await guarded("federation version (port 8448)", async () => {
    const res = await call(`${fed}/_matrix/federation/v1/version`);
    const server = (JSON.parse(res.body) as { server?: { name?: string; version?: string } }).server;
    check(
      "federation version (port 8448)",
      res.status === 200 && server?.name === "Synapse",
      `${res.status} ${server?.name} ${server?.version}`,
    );
  });
  await guarded("server key is the program's signing key", async () => {
    const [, keyId, seed] = ctx.signingKey.trim().split(" ");
    const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(seed, "base64")]);
    const publicKey = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" }));
    const expected = publicKey
      .export({ format: "der", type: "spki" })
      .subarray(-32)
      .toString("base64")
      .replace(/=+$/, "");
    const res = await call(`${fed}/_matrix/key/v2/server`);
    const doc = JSON.parse(res.body) as {
      server_name: string;
      verify_keys: Record<string, { key: string }>;
      signatures: Record<string, Record<string, string>>;
    };
    const served = doc.verify_keys[`ed25519:${keyId}`]?.key;
    const { signatures, ...signed } = doc;
    const signature = signatures?.[ctx.serverName]?.[`ed25519:${keyId}`];
    const valid =
      !!signature && verify(null, Buffer.from(canonicalJson(signed)), publicKey, Buffer.from(signature, "base64"));
    check(
      "server key is the program's signing key",
      doc.server_name === ctx.serverName && served === expected && valid,
      `ed25519:${keyId} served ${served}, derived ${expected}, self-signature ${valid ? "valid" : "INVALID"}`,
    );
  });
}

/** A password login over plain HTTPS, with extra request headers; the access token. */
async function tokenFor(ctx: ClientContext, who: "admin" | "bob", headers: Record<string, string> = {}) {
  const res = await call(`${base(ctx)}/_matrix/client/v3/login`, {
    method: "POST",
    headers,
    body: JSON.stringify({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: ctx.users[who].username },
      password: ctx.users[who].password,
    }),
  });
  if (res.status !== 200) throw new Error(`login as ${who}: ${res.status} ${res.body.slice(0, 100)}`);
  return (JSON.parse(res.body) as { access_token: string }).access_token;
}

/** bob logs in and calls the API claiming, by X-Forwarded-For, to be somewhere else. */
async function spoofPhase(ctx: ClientContext) {
  await guarded("requests with a forged X-Forwarded-For", async () => {
    const spoof = { "x-forwarded-for": "6.6.6.6, 7.7.7.7" };
    const token = await tokenFor(ctx, "bob", spoof);
    const res = await call(`${base(ctx)}/_matrix/client/v3/account/whoami`, { token, headers: spoof });
    check("requests with a forged X-Forwarded-For", res.status === 200, `login and whoami: ${res.status}`);
  });
}

/** From an admin source: the addresses Synapse has recorded for bob (admin whois API). */
async function whoisPhase(ctx: ClientContext, expectedSource: string) {
  const name = "Synapse records the real source, not the forged X-Forwarded-For";
  await guarded(name, async () => {
    const token = await tokenFor(ctx, "admin");
    const user = encodeURIComponent(`@${ctx.users.bob.username}:${ctx.serverName}`);
    // Synapse writes client addresses in batches; the whois API reads the pending batch too.
    const res = await call(`${base(ctx)}/_synapse/admin/v1/whois/${user}`, { token });
    const whois = JSON.parse(res.body) as {
      devices?: Record<string, { sessions: { connections: { ip: string }[] }[] }>;
    };
    const ips = [
      ...new Set(
        Object.values(whois.devices ?? {}).flatMap((d) => d.sessions.flatMap((s) => s.connections.map((c) => c.ip))),
      ),
    ];
    check(
      name,
      res.status === 200 && ips.includes(expectedSource) && !ips.some((ip) => ["6.6.6.6", "7.7.7.7"].includes(ip)),
      `${res.status}; addresses recorded for bob: ${ips.join(", ") || "none"}`,
    );
  });
}

/**
 * One source tries to hold `count` idle TCP connections to 443 (no TLS hello) for up to `holdSeconds`:
 * HAProxy refuses those beyond the per-source limit at once, and closes the rest when the handshake
 * timeout passes. `readyFile` is written once the connections are up, for another source to try then.
 */
async function holdPhase(ctx: ClientContext, countText: string, holdSeconds: string, readyFile: string) {
  const count = Number(countText);
  const started = Date.now();
  const sockets = Array.from({ length: count }, () => {
    const socket = createConnection({ host: ctx.matrixHost, port: 443 });
    const state = { connected: false, closedAfterMs: -1 };
    socket.on("connect", () => (state.connected = true));
    socket.on("error", () => undefined);
    socket.on("close", () => (state.closedAfterMs = Date.now() - started));
    return { socket, state };
  });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const refused = sockets.filter((s) => s.state.closedAfterMs >= 0).length;
  writeFileSync(readyFile, String(count - refused));
  await new Promise((resolve) => setTimeout(resolve, Number(holdSeconds) * 1000));
  const held = sockets.filter((s) => s.state.connected && (s.state.closedAfterMs < 0 || s.state.closedAfterMs > 1000));
  const closedBy = held.map((s) => s.state.closedAfterMs).filter((ms) => ms >= 0);
  for (const { socket } of sockets) socket.destroy();
  writeFileSync(
    `${resultFile}.hold.json`,
    JSON.stringify({ attempted: count, refusedAtOnce: refused, held: held.length, closedByServerMs: closedBy }),
  );
}

/** `count` requests at once from one source, each on its own new TLS connection. */
async function parallelPhase(ctx: ClientContext, countText: string) {
  const name = `${countText} parallel connections from one source all served`;
  await guarded(name, async () => {
    const results = await Promise.all(
      Array.from({ length: Number(countText) }, () =>
        call(`https://${ctx.serverName}/.well-known/matrix/server`).then(
          (r) => r.status,
          (e: Error) => e.message,
        ),
      ),
    );
    const ok = results.filter((r) => r === 200).length;
    check(name, ok === results.length, `${ok}/${results.length} answered 200 (${[...new Set(results)].join(", ")})`);
  });
}

/** Whether a TLS handshake with these settings completes against HAProxy on 443; the negotiated suite. */
function handshake(ctx: ClientContext, options: { maxVersion?: "TLSv1.2" | "TLSv1.3"; ciphers?: string }) {
  return new Promise<string>((resolve) => {
    const socket = connect(
      { host: ctx.matrixHost, port: 443, servername: ctx.matrixHost, rejectUnauthorized: false, ...options },
      () => {
        resolve(`${socket.getProtocol()} ${socket.getCipher().standardName}`);
        socket.end();
      },
    );
    socket.setTimeout(10_000, () => socket.destroy(new Error("timeout")));
    socket.on("error", (error) => resolve(`refused (${error.message.split("\n")[0]})`));
  });
}

/** TLS 1.2 only with ECDHE and AEAD; a CBC suite is refused; TLS 1.3 works. */
async function tlsPhase(ctx: ClientContext) {
  await guarded("TLS 1.2 with CBC suites refused; ECDHE with GCM, and TLS 1.3, accepted", async () => {
    const cbc = await handshake(ctx, {
      maxVersion: "TLSv1.2",
      ciphers: "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384",
    });
    const gcm = await handshake(ctx, {
      maxVersion: "TLSv1.2",
      ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
    });
    const tls13 = await handshake(ctx, {});
    check(
      "TLS 1.2 with CBC suites refused; ECDHE with GCM, and TLS 1.3, accepted",
      cbc.startsWith("refused") && gcm.startsWith("TLSv1.2 TLS_ECDHE_") && tls13.startsWith("TLSv1.3"),
      `CBC: ${cbc}; GCM: ${gcm}; default: ${tls13}`,
    );
  });
}

/** One plain request (the other source, while the first holds its connections). */
async function reachablePhase(ctx: ClientContext) {
  const started = Date.now();
  await guarded("another source is served while one holds its connections", async () => {
    const res = await call(`https://${ctx.serverName}/.well-known/matrix/server`);
    check(
      "another source is served while one holds its connections",
      res.status === 200,
      `${res.status} in ${Date.now() - started} ms`,
    );
  });
}

/** HSTS on HAProxy's own refusals too; 8448 answers nothing but the federation and key APIs. */
async function edgeHeadersPhase(ctx: ClientContext) {
  await guarded("HSTS on HAProxy's own refusals (421, 403, 404)", async () => {
    const unknownHost = await call(`https://${ctx.matrixHost}/_matrix/client/versions`, { host: "other.example" });
    const admin = await call(`${base(ctx)}/_synapse/admin/v1/server_version`);
    const missing = await call(`https://${ctx.matrixHost}:8448/_matrix/client/versions`);
    const statuses = [unknownHost, admin, missing].map(
      (r) => `${r.status} ${r.headers["strict-transport-security"] ? "HSTS" : "no HSTS"}`,
    );
    check(
      "HSTS on HAProxy's own refusals (421, 403, 404)",
      unknownHost.status === 421 &&
        admin.status === 403 &&
        missing.status === 404 &&
        [unknownHost, admin, missing].every((r) => !!r.headers["strict-transport-security"]),
      statuses.join("; "),
    );
  });
  await guarded("port 8448 serves the federation and key APIs only", async () => {
    const fed = `https://${ctx.matrixHost}:8448`;
    const version = await call(`${fed}/_matrix/federation/v1/version`);
    const keys = await call(`${fed}/_matrix/key/v2/server`);
    const client = await call(`${fed}/_matrix/client/versions`);
    const admin = await call(`${fed}/_synapse/admin/v1/server_version`);
    check(
      "port 8448 serves the federation and key APIs only",
      version.status === 200 && keys.status === 200 && client.status === 404 && admin.status === 404,
      `federation ${version.status}, key ${keys.status}, client API ${client.status}, admin API ${admin.status}`,
    );
  });
}

async function floodPhase(ctx: ClientContext) {
  const total = 600;
  const statuses: Record<number, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next += 1;
      const res = await call(`https://${ctx.serverName}/.well-known/matrix/server`).catch(() => ({ status: 0 }));
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: 20 }, worker));
  const seconds = (Date.now() - started) / 1000;
  check(
    "a flood from one source trips the rate limit",
    (statuses[429] ?? 0) > 0 && (statuses[200] ?? 0) > 0,
    `${total} requests in ${seconds.toFixed(1)} s: ${JSON.stringify(statuses)}`,
  );
}

// ---- main --------------------------------------------------------------------------------------

// ---- backups: what a restore must bring back --------------------------------------------------------

/** The restore scenario's room: its messages, an image, and the one-time keys a device uploaded. */
interface BackupState {
  roomId: string;
  messages: number;
  bodiesSha256: string;
  mxc: string;
  imageSha256: string;
  signingKeyId: string;
}

const BACKUP_MESSAGES = 200;
const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

async function api(ctx: ClientContext, token: string, method: string, path: string, body?: unknown) {
  const res = await call(`${base(ctx)}${path}`, {
    method,
    token,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${res.body.slice(0, 200)}`);
  return JSON.parse(res.body) as Record<string, any>;
}

/** Run from an admin source: lifts both users' message rate limit through the admin API, then seeds. */
async function backupSeedPhase(ctx: ClientContext, stateFile: string) {
  const admin = await tokenFor(ctx, "admin");
  const bob = await tokenFor(ctx, "bob");
  const userId = (who: "admin" | "bob") => `@${ctx.users[who].username}:${ctx.serverName}`;
  for (const who of ["admin", "bob"] as const) {
    const path = `/_synapse/admin/v1/users/${encodeURIComponent(userId(who))}/override_ratelimit`;
    await api(ctx, admin, "POST", path, { messages_per_second: 0, burst_count: 0 });
  }
  const { room_id: roomId } = await api(ctx, admin, "POST", "/_matrix/client/v3/createRoom", {
    name: "firmground backup",
    preset: "private_chat",
    invite: [userId("bob")],
  });
  await api(ctx, bob, "POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId as string)}/join`, {});
  const bodies: string[] = [];
  for (let i = 0; i < BACKUP_MESSAGES; i++) {
    const body = `backup message ${i} ${randomBytes(6).toString("hex")}`;
    bodies.push(body);
    await api(
      ctx,
      i % 2 ? bob : admin,
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId as string)}/send/m.room.message/seed${i}`,
      { msgtype: "m.text", body },
    );
  }
  const image = randomBytes(64 * 1024);
  const uploaded = await call(`${base(ctx)}/_matrix/media/v3/upload?filename=backup.png`, {
    method: "POST",
    token: admin,
    body: image,
    headers: { "content-type": "image/png" },
  });
  if (uploaded.status !== 200) throw new Error(`upload: ${uploaded.status} ${uploaded.body.slice(0, 200)}`);
  const mxc = (JSON.parse(uploaded.body) as { content_uri: string }).content_uri;
  await api(
    ctx,
    admin,
    "PUT",
    `/_matrix/client/v3/rooms/${encodeURIComponent(roomId as string)}/send/m.room.message/image`,
    {
      msgtype: "m.image",
      body: "backup.png",
      url: mxc,
    },
  );
  // One-time keys of bob's device: the backup leaves them out, a restore must leave the table empty.
  const keys = Object.fromEntries(
    Array.from({ length: 5 }, (_, i) => [
      `curve25519:AAAAA${i}`,
      randomBytes(32).toString("base64").replace(/=+$/, ""),
    ]),
  );
  const counted = await api(ctx, bob, "POST", "/_matrix/client/v3/keys/upload", { one_time_keys: keys });
  const state: BackupState = {
    roomId: roomId as string,
    messages: bodies.length,
    bodiesSha256: sha256(bodies.join("\n")),
    mxc,
    imageSha256: sha256(image),
    signingKeyId: `ed25519:${ctx.signingKey.split(" ")[1]}`,
  };
  writeFileSync(stateFile, JSON.stringify(state));
  check(
    "seed: a room of two, 200 messages, an image, one-time keys",
    true,
    `${roomId as string}, ${mxc}, ${JSON.stringify(counted.one_time_key_counts)}`,
  );
}

/** What a client sees of the seeded room now; writes the findings to `reportFile` for the harness. */
async function backupVerifyPhase(ctx: ClientContext, stateFile: string, reportFile: string, label: string) {
  const state = JSON.parse(readFileSync(stateFile, "utf8")) as BackupState;
  const report: Record<string, unknown> = {};
  writeFileSync(reportFile, JSON.stringify(report));
  const admin = await tokenFor(ctx, "admin");
  const bob = await tokenFor(ctx, "bob");
  report.logins = true;
  const room = encodeURIComponent(state.roomId);
  const bodies: string[] = [];
  let image = "";
  let from: string | undefined;
  for (let page = 0; page < 20; page++) {
    const chunk = await api(
      ctx,
      bob,
      "GET",
      `/_matrix/client/v3/rooms/${room}/messages?dir=b&limit=100${from ? `&from=${encodeURIComponent(from)}` : ""}`,
    );
    for (const event of chunk.chunk as { type: string; content: { msgtype?: string; body?: string; url?: string } }[]) {
      if (event.type !== "m.room.message") continue;
      if (event.content.msgtype === "m.text" && event.content.body?.startsWith("backup message "))
        bodies.push(event.content.body);
      if (event.content.msgtype === "m.image") image = event.content.url ?? "";
    }
    if (!chunk.end) break;
    from = chunk.end as string;
  }
  bodies.reverse();
  report.messages = bodies.length;
  report.bodiesIdentical = sha256(bodies.join("\n")) === state.bodiesSha256;
  const [serverName, mediaId] = state.mxc.slice("mxc://".length).split("/");
  const media = await call(`${base(ctx)}/_matrix/client/v1/media/download/${serverName}/${mediaId}`, { token: admin });
  report.mediaIdentical = media.status === 200 && image === state.mxc && sha256(media.raw) === state.imageSha256;
  report.mediaStatus = media.status;
  const members = await api(ctx, admin, "GET", `/_matrix/client/v3/rooms/${room}/joined_members`);
  report.members = Object.keys(members.joined as object).sort();
  const keys = await call(`${base(ctx)}/_matrix/key/v2/server`);
  const verifyKeys = Object.keys((JSON.parse(keys.body) as { verify_keys?: object }).verify_keys ?? {});
  report.signingKeyIds = verifyKeys;
  report.signingKeyIdSame = verifyKeys.length === 1 && verifyKeys[0] === state.signingKeyId;
  writeFileSync(reportFile, JSON.stringify(report));
  check(
    `${label}: every message, the image byte for byte, both members, the signing key`,
    bodies.length === state.messages &&
      report.bodiesIdentical === true &&
      report.mediaIdentical === true &&
      (report.members as string[]).length === 2 &&
      report.signingKeyIdSame === true,
    JSON.stringify(report),
  );
}

const [phase, resultFile, ...rest] = process.argv.slice(2);

async function main() {
  // Read when a phase needs it: the remote homeserver's setup runs before (or without) a context.
  const ctx = () => JSON.parse(readFileSync(process.env.STACK_CONTEXT!, "utf8")) as ClientContext;
  const phases: Record<string, () => Promise<void>> = {
    certificate: () => certificatePhase(rest[0], rest[1]),
    "well-known": () => wellKnownPhase(ctx()),
    "unknown-host": () => unknownHostPhase(ctx()),
    register: () => registerPhase(ctx(), false),
    "register-refused": () => registerPhase(ctx(), true),
    chat: () => chatPhase(ctx()),
    persist: () => persistPhase(ctx()),
    "admin-allowed": () => adminApiPhase(ctx(), true),
    "admin-refused": () => adminApiPhase(ctx(), false),
    turn: () => turnPhase(ctx()),
    federation: () => federationPhase(ctx()),
    flood: () => floodPhase(ctx()),
    spoof: () => spoofPhase(ctx()),
    whois: () => whoisPhase(ctx(), rest[0]),
    hold: () => holdPhase(ctx(), rest[0], rest[1], rest[2]),
    parallel: () => parallelPhase(ctx(), rest[0]),
    reachable: () => reachablePhase(ctx()),
    "edge-headers": () => edgeHeadersPhase(ctx()),
    tls: () => tlsPhase(ctx()),
    logins: () => loginsPhase(ctx(), rest[0]),
    "remote-setup": () => remoteSetupPhase(rest[0], rest[1], rest[2], rest[3], rest[4]),
    "federated-join": () =>
      federatedJoinPhase(ctx(), rest[0], rest[1] as "admin" | "bob", rest[2] as "big" | "small", rest[3]),
    "admin-ui-allowed": () => adminUiPhase(ctx(), true),
    "admin-ui-refused": () => adminUiPhase(ctx(), false),
    "backup-seed": () => backupSeedPhase(ctx(), rest[0]),
    "backup-verify": () => backupVerifyPhase(ctx(), rest[0], rest[1], rest[2]),
  };
  const run = phases[phase];
  if (!run) throw new Error(`unknown phase ${phase}; known: ${Object.keys(phases).join(", ")}`);
  await guarded(phase, run);
}

main()
  .catch((error: unknown) => check(phase, false, String(error)))
  .finally(() => {
    writeFileSync(resultFile, JSON.stringify(checks));
    process.exit(0);
  });
