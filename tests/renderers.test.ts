import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { parseSettings } from "../components/config";
import { renderCloudInit, renderBootstrapScript } from "../config-templates/cloudInit";
import { renderDeployHook, renderRenewScript } from "../config-templates/certbot";
import { DENIED_PEER_RANGES, renderCoturnRunScript, renderTurnserverConf } from "../config-templates/coturn";
import { renderHaproxyCfg, type HaproxyInput } from "../config-templates/haproxy";
import { proxyRouting } from "../components/services/haproxy";
import { postgresMemory, renderPgHba, renderPostgresqlConf } from "../config-templates/postgres";
import {
  deriveSizing,
  JOIN_COST_KB_PER_MEMBER,
  memoryLimitsMb,
  MAX_RAM_FRACTION,
  sizingProblems,
  totalMb,
} from "../config-templates/sizing";
import { KNOWN_SERVER_TYPES } from "../components/render/offline";
import {
  homeserverDefaults,
  renderHomeserverYaml,
  renderPgpass,
  renderSigningKey,
  type HomeserverInput,
} from "../config-templates/synapse";
import { elementConfig, renderNginxConf, wellKnownClient, wellKnownServer } from "../config-templates/web";
import { haveTool, run } from "./support/tools";

const settings = parseSettings({ serverName: "example.org", acmeEmail: "admin@example.org" });
const homeserverInput: HomeserverInput = {
  serverName: "example.org",
  matrixHost: "matrix.example.org",
  turnHost: "turn.example.org",
  federation: settings.federation,
  maxUploadBytes: 50 * 1024 * 1024,
  tuning: deriveSizing(4 * 1024 ** 3).synapse,
  extra: {},
};
const proxyInput: HaproxyInput = {
  knownHosts: ["example.org", "matrix.example.org", "element.example.org", "turn.example.org"],
  ...proxyRouting(["synapse", "nginx", "element"], {
    elementHost: "element.example.org",
    adminHost: "admin.example.org",
  }),
  adminCidrs: ["203.0.113.0/24"],
  maxBodyBytes: 50 * 1024 * 1024,
  requestsPer10s: 400,
  ...deriveSizing(4 * 1024 ** 3).haproxy,
  ipv6: true,
};

describe("homeserver.yaml", () => {
  const parsed = YAML.parse(renderHomeserverYaml(homeserverInput));

  test("has the server name, the PostgreSQL database and one plain-HTTP listener behind the proxy", () => {
    expect(parsed.server_name).toBe("example.org");
    expect(parsed.public_baseurl).toBe("https://matrix.example.org/");
    expect(parsed.database).toEqual({
      name: "psycopg2",
      args: expect.objectContaining({
        host: "postgres",
        port: 5432,
        user: "synapse",
        dbname: "synapse",
        passfile: "/secrets/pgpass",
      }),
    });
    expect(parsed.listeners).toEqual([
      expect.objectContaining({
        port: 8008,
        type: "http",
        tls: false,
        x_forwarded: true,
        resources: [{ names: ["client", "federation"], compress: false }],
      }),
    ]);
  });

  test("references every secret by path and contains none", () => {
    for (const key of ["macaroon_secret_key", "registration_shared_secret", "form_secret", "turn_shared_secret"]) {
      expect(parsed[key]).toBeUndefined();
      expect(parsed[`${key}_path`]).toMatch(/^\/secrets\//);
    }
    expect(parsed.signing_key_path).toBe("/secrets/signing.key");
    expect(parsed.database.args.password).toBeUndefined();
  });

  test("safe defaults: no open registration, no stats, big remote rooms refused, TURN wired", () => {
    expect(parsed.enable_registration).toBe(false);
    expect(parsed.report_stats).toBe(false);
    expect(parsed.limit_remote_rooms).toMatchObject({
      enabled: true,
      complexity: homeserverInput.tuning.remoteRoomComplexity,
      admins_can_join: true,
    });
    expect(parsed.caches.cache_autotuning).toEqual({
      max_cache_memory_usage: "819M",
      target_cache_memory_usage: "573M",
      min_cache_ttl: "5m",
    });
    expect(parsed).toMatchObject({
      presence: { enabled: false },
      forget_rooms_on_leave: true,
      event_cache_size: "16K",
    });
    expect(parsed.turn_uris).toContain("turn:turn.example.org:3478?transport=udp");
    expect(parsed.turn_uris).toContain("turns:turn.example.org:5349?transport=tcp");
    expect(parsed.max_upload_size).toBe("50M");
    expect(parsed.federation_domain_whitelist).toBeUndefined();
  });

  test("federation off is an empty whitelist; a whitelist is passed through", () => {
    const off = homeserverDefaults({ ...homeserverInput, federation: { enabled: false, directoryServers: [] } });
    expect(off.federation_domain_whitelist).toEqual([]);
    const some = homeserverDefaults({
      ...homeserverInput,
      federation: { enabled: true, whitelist: ["matrix.org"], directoryServers: [] },
    });
    expect(some.federation_domain_whitelist).toEqual(["matrix.org"]);
  });

  test("synapseExtraConfig is deep-merged after the defaults", () => {
    const merged = YAML.parse(
      renderHomeserverYaml({
        ...homeserverInput,
        extra: { limit_remote_rooms: { complexity: 2.5 }, presence: { enabled: false } },
      }),
    );
    expect(merged.limit_remote_rooms).toMatchObject({ enabled: true, complexity: 2.5, admins_can_join: true });
    expect(merged.presence).toEqual({ enabled: false });
  });

  test("secret files: pgpass escapes separators; the signing key is unpadded", () => {
    expect(renderPgpass("a:b\\c")).toBe("postgres:5432:synapse:synapse:a\\:b\\\\c\n");
    expect(renderSigningKey("a_Ab1z", "AAECAw==")).toBe("ed25519 a_Ab1z AAECAw\n");
  });
});

describe("PostgreSQL", () => {
  test("memory follows the container limit and wal_buffers is not shared_buffers", () => {
    expect(postgresMemory(1024)).toMatchObject({ sharedBuffersMb: 256, maintenanceWorkMemMb: 64, walBuffersMb: 16 });
    const conf = renderPostgresqlConf({ memory: postgresMemory(819) });
    expect(conf).toContain("shared_buffers = '204MB'");
    expect(conf).toContain("hba_file = '/etc/postgresql/pg_hba.conf'");
    expect(conf).toContain("listen_addresses = '*'");
  });
  test("pg_hba allows only the synapse role, from the container subnet, with SCRAM, to its database and the maintenance one (restores)", () => {
    const rules = renderPgHba()
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(/\s+/));
    expect(rules).toEqual([
      ["local", "all", "all", "trust"],
      ["host", "synapse", "synapse", "samenet", "scram-sha-256"],
      ["host", "postgres", "synapse", "samenet", "scram-sha-256"],
    ]);
  });
});

describe("HAProxy (what is rendered; HAProxy 3.2 itself checks and runs it in npm run test:stack)", () => {
  const cfg = renderHaproxyCfg(proxyInput);
  const frontend = (name: string) => cfg.slice(cfg.indexOf(`frontend ${name}\n`)).split("\n\n")[0];
  test("TLS with ALPN on 443 and 8448 (IPv4 and IPv6), rate limit, body limit, redirect except ACME", () => {
    expect(cfg).toMatch(
      /bind :::443 v6only ssl crt \/usr\/local\/etc\/haproxy\/fallback\.pem crt \/certs\/ alpn h2,http\/1\.1/,
    );
    expect(cfg).toMatch(/bind :::8448 v6only ssl .* alpn h2,http\/1\.1/);
    expect(cfg).toContain("    bind :80\n    bind :::80 v6only\n");
    expect(cfg).toMatch(
      /bind :443 ssl crt \/usr\/local\/etc\/haproxy\/fallback\.pem crt \/certs\/ alpn h2,http\/1\.1\n/,
    );
    expect(renderHaproxyCfg({ ...proxyInput, ipv6: false })).toMatch(/bind :443 ssl .*\n    bind :8448 ssl/);
    expect(cfg).toContain("http-request deny deny_status 429 if { sc_http_req_rate(0) gt 400 }");
    expect(cfg).toContain("gt 52428800");
    expect(cfg).toContain("http-request redirect scheme https code 301 unless acme_challenge");
  });
  test("the client cannot choose the address Synapse sees: X-Forwarded-For is replaced, never appended to", () => {
    expect(cfg).not.toContain("option forwardfor");
    expect(frontend("https")).toContain("http-request set-header X-Forwarded-For %[src]");
  });
  test("one source (an address, an IPv6 /64) holds a bounded share of the connections, on 80 as on 443", () => {
    expect(proxyInput.maxConnections).toBe(2608);
    expect(proxyInput.connectionsPerSource).toBe(163);
    expect(cfg).toContain("    maxconn 2608\n");
    expect(cfg).toContain("stick-table type ipv6 size 100k expire 60s store conn_cur,http_req_rate(10s)");
    for (const name of ["http", "https"]) {
      expect(frontend(name)).toContain("tcp-request connection track-sc0 src,ipmask(32,64) table per_source");
      expect(frontend(name)).toContain("tcp-request connection reject if { sc0_conn_cur gt 163 }");
    }
  });
  test("slow clients are cut off: handshake, request headers and the start of a body", () => {
    expect(cfg).toContain("timeout client-hs 5s");
    expect(cfg).toContain("timeout http-request 10s");
    expect(cfg).toContain("option http-buffer-request");
    expect(cfg).not.toMatch(/timeout client 900s/);
  });
  test("modern TLS only: 1.2 with ECDHE and AEAD suites, or 1.3", () => {
    expect(cfg).toContain("ssl-min-ver TLSv1.2");
    const ciphers = /ssl-default-bind-ciphers (\S+)/.exec(cfg)![1].split(":");
    for (const cipher of ciphers) expect(cipher).toMatch(/^ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
  });
  test("HSTS on every response, HAProxy's own refusals included; 8448 serves federation and keys only", () => {
    expect(frontend("https")).toContain('http-after-response set-header Strict-Transport-Security "max-age=31536000"');
    expect(frontend("https")).toContain("http-request deny deny_status 404 if federation_port !federation_api");
    expect(frontend("https")).toContain("acl federation_api path_beg /_matrix/federation/ /_matrix/key/");
  });
  test("routes /_matrix and /_synapse/client to Synapse, .well-known and ACME to NGINX, element host to Element", () => {
    expect(cfg).toContain("acl matrix_path path_beg /_matrix /_synapse/client");
    expect(cfg).toContain("use_backend nginx if well_known");
    expect(cfg).toContain("use_backend nginx if acme_challenge");
    expect(cfg).toContain("acl element_host var(txn.host) -m str element.example.org");
    expect(cfg).toContain("server synapse synapse:8008");
  });
  test("/_synapse/admin only from adminCidrs, and not at all when there are none", () => {
    expect(cfg).toContain("acl admin_source src 203.0.113.0/24");
    expect(cfg).toContain("http-request deny deny_status 403 if admin_path !admin_source");
    const closed = renderHaproxyCfg({ ...proxyInput, adminCidrs: [] });
    expect(closed).toContain("http-request deny deny_status 403 if admin_path\n");
    expect(closed).not.toContain("admin_source");
  });
  test("unknown Host headers are refused", () => {
    expect(cfg).toContain(
      "deny_status 421 unless { var(txn.host) -m str example.org matrix.example.org element.example.org turn.example.org }",
    );
  });
});

describe("NGINX, well-known and Element", () => {
  test("well-known documents", () => {
    expect(wellKnownServer("matrix.example.org")).toEqual({ "m.server": "matrix.example.org:443" });
    expect(wellKnownClient("matrix.example.org")).toEqual({
      "m.homeserver": { base_url: "https://matrix.example.org" },
    });
  });
  test("NGINX serves them as JSON with CORS", () => {
    const conf = renderNginxConf();
    expect(conf).toMatch(
      /location \/\.well-known\/matrix\/ \{[^}]*default_type application\/json;[^}]*Access-Control-Allow-Origin \* always;/,
    );
  });
  test("Element points at the homeserver, lists the directory servers, no guests", () => {
    const config = elementConfig({
      serverName: "example.org",
      matrixHost: "matrix.example.org",
      directoryServers: ["example.org", "matrix.org"],
    });
    expect(config).toMatchObject({
      default_server_config: { "m.homeserver": { base_url: "https://matrix.example.org", server_name: "example.org" } },
      room_directory: { servers: ["example.org", "matrix.org"] },
      disable_guests: true,
    });
  });
});

describe("coturn", () => {
  const conf = renderTurnserverConf({
    realm: "turn.example.org",
    externalIp: "51.15.20.30",
    relayPorts: { min: 49152, max: 49172 },
    sharedSecret: "s3cret",
  });
  const lines = conf.split("\n");
  test("shared-secret auth, realm, external IP, relay range, TLS on 5349", () => {
    for (const line of [
      "use-auth-secret",
      "static-auth-secret=s3cret",
      "realm=turn.example.org",
      "external-ip=51.15.20.30",
      "min-port=49152",
      "max-port=49172",
      "tls-listening-port=5349",
      "no-tcp-relay",
    ]) {
      expect(lines).toContain(line);
    }
  });
  test("relaying to private, loopback and link-local peers is denied; loopback is never allowed", () => {
    for (const range of [
      "10.0.0.0-10.255.255.255",
      "127.0.0.0-127.255.255.255",
      "172.16.0.0-172.31.255.255",
      "192.168.0.0-192.168.255.255",
      "169.254.0.0-169.254.255.255",
      "::1",
    ]) {
      expect(lines).toContain(`denied-peer-ip=${range}`);
    }
    expect(DENIED_PEER_RANGES.length).toBeGreaterThan(15);
    expect(conf).not.toMatch(/allow-loopback-peers|allowed-peer-ip/);
  });
});

describe("sizing", () => {
  const GB = 1024 ** 3;
  test.each(Object.entries(KNOWN_SERVER_TYPES).filter(([name]) => name.startsWith("BASIC2-A")))(
    "%s: within 85 %% of RAM, consistent, and the seed's 40,000-member room refused",
    (_name, type) => {
      const sizing = deriveSizing(type.ram);
      expect(sizingProblems(sizing)).toEqual([]);
      expect(totalMb(sizing.memoryMb)).toBeLessThanOrEqual(sizing.ramMb * MAX_RAM_FRACTION);
      expect(sizing.postgres.walBuffersMb).not.toBe(sizing.postgres.sharedBuffersMb);
      expect(sizing.synapse.cacheTargetMb).toBeLessThan(sizing.synapse.cacheMaxMb);
      expect(sizing.synapse.cacheMaxMb).toBeLessThan(sizing.memoryMb.synapse);
      // 40,000 members ≈ complexity 80 (state events / 500): refused on every type.
      expect(sizing.synapse.remoteRoomComplexity).toBeLessThan(80);
      // A join at the limit fits a quarter of the smaller of the two limits.
      const members = sizing.synapse.remoteRoomComplexity * 500;
      expect((members * JOIN_COST_KB_PER_MEMBER) / 1024).toBeLessThanOrEqual(
        Math.min(sizing.memoryMb.synapse, sizing.memoryMb.postgres) * 0.25 + 1,
      );
      expect(sizing.synapse.presence).toBe(sizing.ramMb >= 8192);
    },
  );

  test("more RAM, more of everything", () => {
    const small = deriveSizing(4 * GB);
    const large = deriveSizing(16 * GB);
    expect(large.synapse.remoteRoomComplexity).toBeGreaterThan(small.synapse.remoteRoomComplexity);
    expect(large.synapse.cacheFactor).toBeGreaterThan(small.synapse.cacheFactor);
    expect(large.postgres.sharedBuffersMb).toBeGreaterThan(small.postgres.sharedBuffersMb);
  });

  test("overrides replace derived values and are checked against RAM", () => {
    const sizing = deriveSizing(4 * GB, {
      synapse: { remoteRoomComplexity: 2.5, presence: true },
      postgres: { maxConnections: 60 },
    });
    expect(sizing.synapse).toMatchObject({ remoteRoomComplexity: 2.5, presence: true });
    expect(sizing.postgres.maxConnections).toBe(60);
    expect(sizingProblems(sizing)).toEqual([]);
    expect(sizingProblems(deriveSizing(4 * GB, { memoryMb: { synapse: 3500 } }))[0]).toMatch(
      /firmground:sizing\.memoryMb = .*add up to .* at most 3481/,
    );
    expect(sizingProblems(deriveSizing(4 * GB, { postgres: { walBuffersMb: 300 } }))).toEqual([
      expect.stringMatching(/sizing\.postgres\.walBuffersMb = 300: below sharedBuffersMb/),
    ]);
    expect(sizingProblems(deriveSizing(4 * GB, { synapse: { cacheTargetMb: 900 } }))).toEqual([
      expect.stringMatching(/sizing\.synapse\.cacheTargetMb = 900: at most cacheMaxMb/),
    ]);
  });

  test.each([4, 8, 16])("limits for %i GB stay within the RAM budget", (gb) => {
    const limits = memoryLimitsMb(gb * 1024 ** 3);
    expect(totalMb(limits)).toBeLessThanOrEqual(gb * 1024 * MAX_RAM_FRACTION);
    expect(limits.synapse).toBeGreaterThan(limits.postgres);
  });
});

describe("cloud-init", () => {
  const input = {
    dataVolumeUuid: "6f0e2d3c-1111-4222-8333-944455566677",
    sshPublicKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample you@laptop"],
    dockerCaCert: "CA",
    dockerServerCert: "CERT",
    dockerServerKey: "KEY",
    dataDirs: [{ path: "synapse/media", owner: "991", mode: "0750" }],
  };
  const text = renderCloudInit(input);
  const doc = YAML.parse(text);
  test("is #cloud-config YAML that installs Docker with mTLS on 2376 after mounting the volume", () => {
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    expect(doc.ssh_pwauth).toBe(false);
    expect(doc.ssh_authorized_keys).toEqual(input.sshPublicKeys);
    const files = Object.fromEntries(doc.write_files.map((f: { path: string; content: string }) => [f.path, f]));
    expect(JSON.parse(files["/etc/docker/daemon.json"].content)).toMatchObject({ tls: true, tlsverify: true });
    expect(files["/etc/docker/tls/server-key.pem"].permissions).toBe("0600");
    expect(files["/etc/systemd/system/docker.service.d/firmground.conf"].content).toContain("-H tcp://0.0.0.0:2376");
    expect(files["/etc/systemd/system/docker.service.d/firmground.conf"].content).toContain(
      "RequiresMountsFor=/srv/firmground",
    );
  });
  test("the bootstrap formats only a blank volume, then mounts it before installing Docker", () => {
    const script = renderBootstrapScript(input);
    expect(script).toContain("/dev/disk/by-id/scsi-0SCW_sbs_volume-6f0e2d3c-1111-4222-8333-944455566677");
    expect(script).toMatch(/if ! blkid "\$device"[^\n]*\n\s+mkfs\.ext4/);
    expect(script.indexOf('mount "$mount"')).toBeLessThan(script.indexOf("apt-get install -y -q docker.io"));
    expect(script).toContain('install -d -o 991 -g 991 -m 0750 "$mount/synapse/media"');
  });
});

describe("rendered files pass their real tools' checks", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "firmground-render-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const scripts: Record<string, string> = {
    "bootstrap.sh": renderBootstrapScript({ dataVolumeUuid: "u", dataDirs: [{ path: "p", owner: "0", mode: "0700" }] }),
    "renew.sh": renderRenewScript({
      domains: ["matrix.example.org", "example.org"],
      email: "a@example.org",
      acmeServer: "https://acme.example/dir",
    }),
    "deploy-hook.sh": renderDeployHook(),
    "coturn-run.sh": renderCoturnRunScript(),
  };

  test.each(Object.keys(scripts))("shellcheck %s", (name) => {
    haveTool("shellcheck");
    const file = path.join(dir, name);
    fs.writeFileSync(file, scripts[name]);
    const result = run("shellcheck", ["--shell=sh", "--severity=warning", file]);
    expect(result.output).toBe("");
    expect(result.status).toBe(0);
  });

  test("nginx -t accepts the site config", () => {
    haveTool("nginx");
    const site = path.join(dir, "site.conf");
    fs.writeFileSync(site, renderNginxConf());
    const main = path.join(dir, "nginx.conf");
    fs.writeFileSync(
      main,
      `pid ${dir}/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  include ${site};\n}\n`,
    );
    const result = run("nginx", ["-t", "-c", main, "-p", dir]);
    expect(result.output).toMatch(/test is successful/);
  });
});
