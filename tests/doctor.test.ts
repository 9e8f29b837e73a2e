/**
 * `npm run doctor`, in the unit tests: each check's verdict and fix on recorded answers (what a probe
 * saw, as plain data), the TURN client's wire format against RFC 5769's test vector, the signature check
 * against the Matrix spec's test vectors and a real Synapse's key document, the plan the program exports
 * (under Pulumi's mocks: which values it passes, not what a live server does — `npm run test:stack`'s
 * doctor scenario runs the command against the real daemons), and the commands' --help.
 */
import { spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey, sign } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { HelpRequested, UsageError } from "../components/commandLine";
import { parseSettings } from "../components/config";
import { exitCode, formatReport, type DoctorReport } from "../components/doctor/findings";
import {
  inCidrs,
  judgeAdminGate,
  judgeBackup,
  judgeClientVersions,
  judgeContainer,
  judgeDisk,
  judgeDns,
  judgeFederation,
  judgePorts,
  judgeRenewal,
  judgeSlidingSync,
  judgeTls,
  judgeTurn,
  judgeVersion,
  judgeWellKnown,
  taggedVersion,
  type FederationSeen,
  type TlsSeen,
} from "../components/doctor/judges";
import { canonicalJson, checkServerKeys, ed25519PublicKey } from "../components/doctor/matrixKeys";
import { doctorPlan, type DoctorPlan } from "../components/doctor/plan";
import { decode, encode } from "../components/doctor/turn";
import { main as doctorMain } from "../components/doctor/cli";
import { main as restoreMain } from "../components/backup/cli";
import { main as userMain } from "../components/users/cli";
import { BASE_CONFIG, IPV4, runProgram, valueOf } from "./support/mocks";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const DAY = 86_400_000;
const settings = parseSettings({ ...BASE_CONFIG, adminCidrs: JSON.stringify(["203.0.113.7/32"]) });
const plan: DoctorPlan = doctorPlan(
  settings,
  { ipv4: "51.15.20.30", ipv6: "2001:bc8::1" },
  "scaleway",
  "ed25519:a_AbCd",
);

describe("the plan the program exports (mocks: the values passed)", () => {
  test("doctorPlan: names, addresses, ports, containers and images from the settings, no secret", async () => {
    const run = await runProgram({ ...BASE_CONFIG, adminCidrs: JSON.stringify(["203.0.113.7/32"]) });
    const exported = (await valueOf(run.outputs!.doctorPlan)) as DoctorPlan;
    expect(await pulumi.isSecret(run.outputs!.doctorPlan)).toBe(false);
    expect(exported.addresses.ipv4).toBe(IPV4);
    expect(exported.hostnames).toEqual([
      "matrix.example.org",
      "element.example.org",
      "turn.example.org",
      "admin.example.org",
      "example.org",
    ]);
    expect(exported.publicTcpPorts).toEqual([3478, 5349, 80, 443, 8448]);
    expect(exported.adminTcpPorts).toEqual([22, 2376]);
    expect(exported.containers.map((c) => c.name)).toEqual([
      "synapse",
      "postgres",
      "coturn",
      "haproxy",
      "nginx",
      "element",
      "certbot",
      "synapse-admin",
      "backup",
    ]);
    // The backup container runs the PostgreSQL image (its pg_dump matches the server).
    expect(exported.containers.find((c) => c.name === "backup")!.image).toBe(settings.images.postgres);
    expect(exported.signingKeyId).toMatch(/^ed25519:a_/);
    const text = JSON.stringify(exported);
    const restore = JSON.stringify(await valueOf(run.outputs!.restoreSecrets));
    for (const secret of Object.values(JSON.parse(restore) as Record<string, string>))
      expect(text).not.toContain(secret);
  });

  test("the local target: the machine's resolver, 8080/8443, no admin ports", () => {
    const local = doctorPlan(
      parseSettings({ serverName: "firmground.localhost", target: "docker", acmeEmail: "a@b.c" }),
      { ipv4: "127.0.0.1" },
      "docker",
      "ed25519:a_x",
    );
    expect(local.resolver).toBe("system");
    expect(local.publicTcpPorts).toEqual([3478, 5349, 8080, 8443, 8448]);
    expect(local.adminTcpPorts).toEqual([]);
    expect(local.wellKnownServer).toEqual({ "m.server": "matrix.firmground.localhost:8443" });
  });

  test("nextSteps ends with npm run doctor", async () => {
    const run = await runProgram(BASE_CONFIG);
    expect(
      String(await valueOf(run.outputs!.nextSteps))
        .trim()
        .split("\n")
        .at(-1),
    ).toMatch(/run `npm run doctor`$/);
  });
});

describe("DNS", () => {
  const dns = (a: string[], aaaa: string[] = ["2001:bc8::1"]) =>
    judgeDns(plan, { name: "matrix.example.org", a, aaaa });
  test("A and AAAA on the host: PASS", () => expect(dns(["51.15.20.30"]).status).toBe("pass"));
  test("an A elsewhere: FAIL with the record to set", () => {
    const f = dns(["192.0.2.1"]);
    expect(f.status).toBe("fail");
    expect(f.fix).toMatch(/resolve to 51\.15\.20\.30 only/);
  });
  test("no AAAA for a host with IPv6: WARN; a stray AAAA: FAIL", () => {
    expect(dns(["51.15.20.30"], []).status).toBe("warn");
    expect(dns(["51.15.20.30"], ["2001:db8::9"]).status).toBe("fail");
  });
  test("a resolver error is reported as seen", () =>
    expect(judgeDns(plan, { name: "x", a: { error: "ESERVFAIL" }, aaaa: [] }).saw).toMatch(/ESERVFAIL/));
});

describe("TLS and renewal", () => {
  const seen = (overrides: Partial<TlsSeen> = {}): TlsSeen => ({
    host: "matrix.example.org",
    port: 443,
    authorized: true,
    protocol: "TLSv1.3",
    alpn: "h2",
    validFrom: new Date(NOW - 10 * DAY).toISOString(),
    validTo: new Date(NOW + 80 * DAY).toISOString(),
    subjectAltNames: ["matrix.example.org", "example.org"],
    ...overrides,
  });
  test("valid, TLS 1.3, h2, 80 days: PASS", () => expect(judgeTls(seen(), NOW, true).status).toBe("pass"));
  test("15 days left: WARN; 5 days: FAIL, both pointing at certbot", () => {
    expect(judgeTls(seen({ validTo: new Date(NOW + 15 * DAY).toISOString() }), NOW, true).status).toBe("warn");
    const f = judgeTls(seen({ validTo: new Date(NOW + 5 * DAY).toISOString() }), NOW, true);
    expect(f.status).toBe("fail");
    expect(f.fix).toMatch(/docker logs certbot/);
  });
  test("HAProxy's self-signed fallback: FAIL saying no certificate was issued", () => {
    const f = judgeTls(seen({ authorized: false, authorizationError: "DEPTH_ZERO_SELF_SIGNED_CERT" }), NOW, true);
    expect(f.status).toBe("fail");
    expect(f.fix).toMatch(/self-signed fallback/);
  });
  test("a name the certificate does not cover: FAIL", () => {
    const error =
      "Hostname/IP does not match certificate's altnames: Host: admin.example.org. is not in the cert's altnames";
    expect(judgeTls(seen({ authorized: false, authorizationError: error }), NOW, true).fix).toMatch(/does not cover/);
  });
  test("TLS 1.1: FAIL; no h2 on 443: WARN; nothing listening: FAIL", () => {
    expect(judgeTls(seen({ protocol: "TLSv1.1" }), NOW, true).status).toBe("fail");
    expect(judgeTls(seen({ alpn: "http/1.1" }), NOW, true).status).toBe("warn");
    expect(judgeTls(seen({ alpn: "http/1.1", port: 8448 }), NOW, false).status).toBe("pass");
    expect(judgeTls({ host: "h", port: 443, error: "connect ECONNREFUSED" }, NOW, true).fix).toMatch(/check HAProxy/);
    expect(judgeTls({ host: "t", port: 5349, error: "connect ECONNREFUSED" }, NOW, false).fix).toMatch(/check coturn/);
  });
  test("renewal: a 90-day certificate 70 days old was not renewed on time", () => {
    const old = seen({
      validFrom: new Date(NOW - 70 * DAY).toISOString(),
      validTo: new Date(NOW + 20 * DAY).toISOString(),
    });
    expect(judgeRenewal(old, NOW)!.status).toBe("warn");
    expect(judgeRenewal(seen(), NOW)!.status).toBe("pass");
  });
});

describe("well-known, client API, sliding sync", () => {
  const ok = (body: unknown, overrides = {}) => ({
    url: "https://example.org/.well-known/matrix/server",
    status: 200,
    contentType: "application/json",
    cors: "*",
    body: JSON.stringify(body),
    ...overrides,
  });
  test("the expected documents: PASS", () => {
    expect(judgeWellKnown(plan, "server", ok({ "m.server": "matrix.example.org:443" })).status).toBe("pass");
    expect(
      judgeWellKnown(plan, "client", ok({ "m.homeserver": { base_url: "https://matrix.example.org" } })).status,
    ).toBe("pass");
  });
  test("404, other content, text/plain, no CORS: FAIL each with the fix", () => {
    expect(judgeWellKnown(plan, "server", ok({}, { status: 404, body: "not found" })).fix).toMatch(/pulumi up/);
    expect(judgeWellKnown(plan, "server", ok({ "m.server": "elsewhere:443" })).fix).toMatch(/it must be/);
    expect(
      judgeWellKnown(plan, "server", ok({ "m.server": "matrix.example.org:443" }, { contentType: "text/plain" })).fix,
    ).toMatch(/application\/json/);
    expect(
      judgeWellKnown(
        plan,
        "client",
        ok({ "m.homeserver": { base_url: "https://matrix.example.org" } }, { cors: undefined }),
      ).fix,
    ).toMatch(/Access-Control-Allow-Origin/);
  });
  test("apex not managed: the fix says to serve the output elsewhere", () => {
    const unmanaged = { ...plan, hostnames: plan.hostnames.filter((h) => h !== plan.serverName) };
    expect(judgeWellKnown(unmanaged, "server", ok({}, { status: 404 })).fix).toMatch(/manageApexRecords is false/);
  });
  test("client versions and sliding sync", () => {
    expect(judgeClientVersions({ url: "u", status: 200, body: '{"versions":["v1.1","v1.12"]}' }).status).toBe("pass");
    expect(judgeClientVersions({ url: "u", status: 502, body: "bad gateway" }).status).toBe("fail");
    expect(judgeSlidingSync({ url: "https://m/_matrix/client/x", status: 200, body: "{}" }).status).toBe("pass");
    expect(judgeSlidingSync({ url: "https://m/_matrix/client/x", status: 404, body: "{}" }).fix).toMatch(/1\.114/);
  });
});

describe("federation", () => {
  const good: FederationSeen = {
    delegation: { via: "well-known", host: "matrix.example.org", port: 443 },
    tls: { host: "matrix.example.org", port: 443, authorized: true },
    keys: {
      serverName: "example.org",
      keyIds: ["ed25519:a_AbCd"],
      verified: ["ed25519:a_AbCd"],
      validUntil: NOW + DAY,
    },
    version: { name: "Synapse", version: "1.160.0" },
  };
  test("delegated, valid key, version: PASS and a one-line yes", () => {
    const { finding, line } = judgeFederation(plan, good, plan.signingKeyId, NOW);
    expect(finding.status).toBe("pass");
    expect(line).toMatch(/^yes — example\.org → matrix\.example\.org:443 \(well-known\)/);
  });
  test("no delegation but 8448 works: WARN; another signing key: FAIL", () => {
    expect(
      judgeFederation(
        plan,
        { ...good, delegation: { via: "default", host: "example.org", port: 8448 } },
        plan.signingKeyId,
        NOW,
      ).finding.status,
    ).toBe("warn");
    const other = judgeFederation(
      plan,
      { ...good, keys: { ...good.keys!, keyIds: ["ed25519:a_Zz"], verified: ["ed25519:a_Zz"] } },
      plan.signingKeyId,
      NOW,
    );
    expect(other.finding.status).toBe("fail");
    expect(other.finding.fix).toMatch(/restoreSecrets\.signingKey/);
    expect(other.line).toMatch(/^NO/);
  });
  test("a signature that does not verify, expired keys, bad TLS: FAIL", () => {
    for (const seen of [
      { ...good, keys: { ...good.keys!, verified: [] } },
      { ...good, keys: { ...good.keys!, validUntil: NOW - 1 } },
      { ...good, tls: { host: "m", port: 443, authorized: false, authorizationError: "CERT_HAS_EXPIRED" } },
    ])
      expect(judgeFederation(plan, seen, plan.signingKeyId, NOW).finding.status).toBe("fail");
  });
});

describe("Matrix signatures", () => {
  // The Matrix specification's cryptographic test vectors (appendices, "JSON signing").
  const seed = Buffer.from("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", "base64");
  const privateKey = createPrivateKey({
    key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
    format: "der",
    type: "pkcs8",
  });
  const publicRaw = createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32);

  test("canonical JSON and the spec's signature of {one, two}", () => {
    expect(canonicalJson({ two: "Two", one: 1 })).toBe('{"one":1,"two":"Two"}');
    const signature = sign(null, Buffer.from(canonicalJson({ two: "Two", one: 1 })), privateKey).toString("base64");
    expect(signature.replace(/=+$/, "")).toBe(
      "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw",
    );
    expect(ed25519PublicKey(publicRaw.toString("base64").replace(/=+$/, "")).asymmetricKeyType).toBe("ed25519");
  });

  test("a key document signed with the spec's key verifies; a changed one does not", () => {
    const key = publicRaw.toString("base64").replace(/=+$/, "");
    const doc = { server_name: "domain", valid_until_ts: NOW + DAY, verify_keys: { "ed25519:1": { key } } };
    const signature = sign(null, Buffer.from(canonicalJson(doc)), privateKey)
      .toString("base64")
      .replace(/=+$/, "");
    const signed = { ...doc, signatures: { domain: { "ed25519:1": signature } } };
    expect(checkServerKeys(signed).verified).toEqual(["ed25519:1"]);
    expect(checkServerKeys({ ...signed, valid_until_ts: NOW + 2 * DAY }).verified).toEqual([]);
  });

  const recorded = join(__dirname, "fixtures/synapse-server-keys.json");
  test("a real Synapse's /_matrix/key/v2/server (recorded by npm run test:stack) verifies", () => {
    expect(existsSync(recorded)).toBe(true);
    const doc = JSON.parse(readFileSync(recorded, "utf8")) as Parameters<typeof checkServerKeys>[0];
    const result = checkServerKeys(doc);
    expect(result.serverName).toBe("firmground.test");
    expect(result.verified).toEqual(result.keyIds);
    expect(result.verified).toHaveLength(1);
  });
});

describe("TURN", () => {
  // RFC 5769 section 2.4: a Binding request with long-term credentials, byte for byte.
  const RFC5769_LONG_TERM =
    "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b900000015001c662f2f3439396b39353464364f4c33346f4c394653547679363473410014000b6578616d706c652e6f72670000080014f67024656dd64a3e02b8e0712e85c9a28ca89666";
  test("the long-term-credential request of RFC 5769 2.4, byte for byte, and back", () => {
    const message = encode(0x0001, Buffer.from("78ad3433c6ad72c029da412e", "hex"), [], {
      username: "\u30de\u30c8\u30ea\u30c3\u30af\u30b9",
      password: "TheMatrIX",
      realm: "example.org",
      nonce: "f//499k954d6OL34oL9FSTvy64sA",
    });
    expect(message.toString("hex")).toBe(RFC5769_LONG_TERM);
    const decoded = decode(message)!;
    expect(decoded.length).toBe(116);
    expect(decoded.attributes.get(0x0014)!.toString()).toBe("example.org");
  });

  const probe = { relayed: { address: "51.15.20.30", port: 49_160 }, relayRoundTrip: true, ms: 40 };
  test("a relay on the host's address, in range, round trip: PASS", () =>
    expect(judgeTurn(plan, "udp", probe).status).toBe("pass"));
  test("a wrong external-ip, a port out of range, no round trip, no allocation: FAIL with the fix", () => {
    expect(judgeTurn(plan, "udp", { ...probe, relayed: { address: "203.0.113.77", port: 49_160 } }).fix).toMatch(
      /external-ip is wrong/,
    );
    expect(judgeTurn(plan, "udp", { ...probe, relayed: { address: "51.15.20.30", port: 3000 } }).fix).toMatch(
      /outside turnRelayPorts/,
    );
    expect(judgeTurn(plan, "tls", { ...probe, relayRoundTrip: false }).fix).toMatch(/relay range .* must be open/);
    expect(judgeTurn(plan, "udp", { error: "no answer within 5 s" }).fix).toMatch(/coturn does not allocate/);
    expect(judgeTurn(plan, "udp", { error: "no TURN credentials from /voip/turnServer (404)" }).fix).toMatch(
      /turn_uris/,
    );
  });
});

describe("exposure", () => {
  const refused = { url: "u", status: 403, body: "<html>403 Forbidden</html>" };
  const open = { url: "u", status: 200, body: '{"server_version":"1.160.0"}' };
  test("CIDR matching, IPv4 and IPv6", () => {
    expect(inCidrs("203.0.113.7", ["203.0.113.0/24"])).toBe(true);
    expect(inCidrs("203.0.114.7", ["203.0.113.0/24"])).toBe(false);
    expect(inCidrs("2001:db8::5", ["2001:db8::/64"])).toBe(true);
    expect(inCidrs("2001:db8:1::5", ["2001:db8::/64", "10.0.0.0/8"])).toBe(false);
  });
  test("the admin API refused from outside: PASS; answered by Synapse from outside: FAIL; from an admin source: PASS", () => {
    expect(judgeAdminGate(plan, { source: "198.51.100.9", api: refused })[0].status).toBe("pass");
    const f = judgeAdminGate(plan, { source: "198.51.100.9", api: open })[0];
    expect(f.status).toBe("fail");
    expect(f.fix).toMatch(/HAProxy must refuse/);
    expect(judgeAdminGate(plan, { source: "203.0.113.7", api: open })[0].status).toBe("pass");
  });
  test("ports: the planned ones PASS; PostgreSQL open FAILs; SSH open to a non-admin source FAILs", () => {
    expect(judgePorts(plan, [80, 443, 3478, 5349, 8448], "198.51.100.9").status).toBe("pass");
    expect(judgePorts(plan, [80, 443, 5432], "198.51.100.9").fix).toMatch(/close 5432/);
    expect(judgePorts(plan, [22, 443], "198.51.100.9").fix).toMatch(/adminCidrs only/);
    expect(judgePorts(plan, [22, 443, 2376], "203.0.113.7").status).toBe("pass");
  });
});

describe("inside: containers, memory, disk, backups, versions", () => {
  // As Docker answers when Pulumi's provider created the container from the image's id.
  const state = {
    running: true,
    health: "healthy",
    restartCount: 0,
    image: "sha256:5f1e",
    imageId: "sha256:5f1e",
    memoryLimitBytes: 1000 * 2 ** 20,
  };
  const container = (overrides = {}, usage = 300 * 2 ** 20) =>
    judgeContainer(plan, {
      name: "synapse",
      state: { ...state, ...overrides },
      plannedImageId: "sha256:5f1e",
      memoryUsageBytes: usage,
    });
  test("running, healthy, below 80 %: PASS twice", () =>
    expect(container().map((f) => f.status)).toEqual(["pass", "pass"]));
  test("stopped or unhealthy: FAIL; restarted or another image: WARN; missing: FAIL", () => {
    expect(container({ running: false })[0].status).toBe("fail");
    expect(container({ health: "unhealthy" })[0].fix).toMatch(/docker inspect synapse/);
    expect(container({ restartCount: 3 })[0].status).toBe("warn");
    expect(container()[0].saw).toMatch(/matrixdotorg\/synapse:v1\.160\.0$/);
    expect(container({ image: "sha256:0bad", imageId: "sha256:0bad" })[0].fix).toMatch(
      /pulumi up pulls it and replaces/,
    );
    expect(judgeContainer(plan, { name: "synapse" })[0].status).toBe("fail");
  });
  test("memory: 85 % WARN, 95 % FAIL, with the sizing key to raise", () => {
    expect(container({}, 850 * 2 ** 20)[1].status).toBe("warn");
    const f = container({}, 950 * 2 ** 20)[1];
    expect(f.status).toBe("fail");
    expect(f.fix).toMatch(/sizing\.memoryMb\.synapse/);
  });
  test("disk: 50 % PASS, 85 % WARN, 97 % FAIL", () => {
    const disk = (share: number) => judgeDisk({ usedBytes: share * 100 * 2 ** 30, sizeBytes: 100 * 2 ** 30 }).status;
    expect([disk(0.5), disk(0.85), disk(0.97)]).toEqual(["pass", "warn", "fail"]);
  });
  test("backups: on time PASS; late WARN; two intervals FAIL; none yet, early PASS and late FAIL", () => {
    const status = (lastSuccessAgo: number | null, result = "ok") => ({
      now: 1_000_000,
      intervalSeconds: 86_400,
      firstStart: 1_000_000 - 10 * 86_400,
      lastSuccess: lastSuccessAgo === null ? null : 1_000_000 - lastSuccessAgo,
      last: { result, time: "t", error: result === "failed" ? "repository unreachable" : "" },
    });
    expect(judgeBackup(plan, status(3600))!.status).toBe("pass");
    expect(judgeBackup(plan, status(30 * 3600))!.status).toBe("warn");
    expect(judgeBackup(plan, status(3600, "failed"))!.fix).toMatch(/repository unreachable/);
    expect(judgeBackup(plan, status(50 * 3600))!.status).toBe("fail");
    expect(judgeBackup(plan, status(null))!.status).toBe("fail");
    expect(judgeBackup(plan, { ...status(null), firstStart: 1_000_000 - 600 })!.status).toBe("pass");
    expect(judgeBackup({ ...plan, backup: undefined }, status(null))).toBeUndefined();
  });
  test("versions: the pinned tag's version PASS; another WARN", () => {
    expect(taggedVersion("matrixdotorg/synapse:v1.160.0")).toBe("1.160.0");
    expect(taggedVersion("postgres:17.6-alpine")).toBe("17.6");
    expect(judgeVersion("postgres", "postgres:17.6-alpine", "17.6").status).toBe("pass");
    expect(judgeVersion("synapse", "matrixdotorg/synapse:v1.160.0", "1.159.0").status).toBe("warn");
  });
});

describe("the report and the command lines", () => {
  const report: DoctorReport = {
    version: 1,
    serverName: "example.org",
    startedAt: "2026-12-01T12:00:00.000Z",
    seconds: 4.2,
    counts: { pass: 1, warn: 0, fail: 1 },
    federation: "yes — …",
    findings: [
      { id: "a", title: "A", status: "pass", saw: "fine" },
      { id: "b", title: "B", status: "fail", saw: "broken", fix: "do this" },
    ],
  };
  test("text: one line per check, the fix under each failure; exit 1 on a FAIL only", () => {
    const lines = formatReport(report);
    expect(lines).toContain("FAIL  B: broken");
    expect(lines).toContain("      fix: do this");
    expect(exitCode(report.findings)).toBe(1);
    expect(exitCode(report.findings.slice(0, 1))).toBe(0);
  });
  test("every command the README names answers --help (usage, exit 0) and refuses an unknown option (usage, 64)", async () => {
    for (const main of [doctorMain, restoreMain, userMain]) {
      await expect(main(["--help"], {}, () => undefined)).rejects.toThrow(HelpRequested);
      await expect(main(["--frobnicate"], {}, () => undefined)).rejects.toThrow(UsageError);
      await expect(main(["--frobnicate"], {}, () => undefined)).rejects.toThrow(/usage: npm run/);
    }
  });
  test.each([
    ["render", "components/render/cli.ts"],
    ["bench", "tests/stack/bench.ts"],
    ["doctor", "components/doctor/cli.ts"],
  ])("npm run %s -- --help exits 0 with the usage; an unknown option exits 64", (name, file) => {
    const run = (arg: string) =>
      spawnSync(process.execPath, ["--import", "tsx", join(__dirname, "..", file), arg], { encoding: "utf8" });
    const help = run("--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^usage: npm run ${name} `));
    const bad = run("--frobnicate");
    expect(bad.status).toBe(64);
    expect(bad.stderr).toMatch(/usage: npm run/);
  });
});
