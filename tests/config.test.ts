import * as fs from "node:fs";
import * as path from "node:path";
import {
  BENCH_FIGURES,
  CAPACITY_FIGURES,
  renderBenchFigures,
  renderCapacityFigures,
  renderConfigTable,
  renderPulumiYaml,
  renderSizingTable,
  withGeneratedSections,
} from "../scripts/docs";
import type { BenchReport, CapacityReport } from "../scripts/docs";
import type { BenchReport as SavedBenchReport } from "./stack/benchReport";
import type { CapacityReport as SavedCapacityReport } from "./stack/capacityReport";
import { configProblems } from "./support/configProblems";
import { parseProject, projectProblems } from "../components/render/engineConfig";
import { DEFAULT_IMAGES } from "../components/services/registry";
import {
  CONFIG_KEYS,
  LETS_ENCRYPT_STAGING,
  checkServerType,
  cidrProblem,
  deepMerge,
  parsePortRange,
  parseSettings,
  recordName,
} from "../components/config";

const base = { serverName: "example.org", acmeEmail: "admin@example.org" };

/** Keys a stack sets with `--secret` in these tests, unless a test says otherwise. */
const ENCRYPTED = ["adminPassword", "restoreSecrets", "users"];

const problems = (raw: Record<string, string>, secretKeys: string[] = ENCRYPTED) => configProblems(raw, secretKeys);

describe("parseSettings defaults", () => {
  test("a server name and an e-mail address are enough", () => {
    const s = parseSettings(base);
    expect(s).toMatchObject({
      serverName: "example.org",
      dnsZone: "example.org",
      matrixHost: "matrix.example.org",
      elementHost: "element.example.org",
      turnHost: "turn.example.org",
      manageApexRecords: true,
      acmeServer: "https://acme-v02.api.letsencrypt.org/directory",
      instanceType: "BASIC2-A2C-4G",
      imageLabel: "ubuntu_noble",
      dataVolumeSizeGb: 20,
      retainDataOnDestroy: true,
      adminCidrs: [],
      sshPublicKeys: [],
      turnRelayPorts: { min: 49152, max: 49172 },
      federation: { enabled: true, directoryServers: ["example.org", "matrix.org"] },
      images: DEFAULT_IMAGES,
      synapseExtraConfig: {},
    });
    expect(s.federation.whitelist).toBeUndefined();
  });

  test("values are decoded by type: booleans, integers, lists and objects", () => {
    const s = parseSettings({
      ...base,
      dnsZone: "example.org",
      matrixHost: "m.chat.example.org",
      acmeServer: "staging",
      manageApexRecords: "false",
      retainDataOnDestroy: "false",
      dataVolumeSizeGb: "50",
      adminCidrs: JSON.stringify(["203.0.113.7/32", "2001:db8::/48"]),
      turnRelayPorts: "50000-50100",
      federation: JSON.stringify({ enabled: true, whitelist: ["matrix.org"], directoryServers: ["matrix.org"] }),
      images: JSON.stringify({ postgres: "postgres:17.7-alpine" }),
      synapseExtraConfig: JSON.stringify({ presence: { enabled: false } }),
    });
    expect(s.matrixHost).toBe("m.chat.example.org");
    expect(s.acmeServer).toBe(LETS_ENCRYPT_STAGING);
    expect(s.manageApexRecords).toBe(false);
    expect(s.retainDataOnDestroy).toBe(false);
    expect(s.dataVolumeSizeGb).toBe(50);
    expect(s.adminCidrs).toEqual(["203.0.113.7/32", "2001:db8::/48"]);
    expect(s.turnRelayPorts).toEqual({ min: 50000, max: 50100 });
    expect(s.federation).toEqual({ enabled: true, whitelist: ["matrix.org"], directoryServers: ["matrix.org"] });
    expect(s.images.postgres).toBe("postgres:17.7-alpine");
    expect(s.images.synapse).toBe(DEFAULT_IMAGES.synapse);
    expect(s.synapseExtraConfig).toEqual({ presence: { enabled: false } });
  });

  test("any https URL is taken as an ACME directory", () => {
    expect(parseSettings({ ...base, acmeServer: "https://acme.example.net/dir" }).acmeServer).toBe(
      "https://acme.example.net/dir",
    );
  });
});

describe("parseSettings refuses bad input, naming the key, the value and what is allowed", () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ["missing serverName", { acmeEmail: "a@example.org" }, /firmground:serverName = null: required/],
    ["missing acmeEmail", { serverName: "example.org" }, /firmground:acmeEmail = null: required/],
    [
      "malformed domain",
      { ...base, serverName: "Example..org" },
      /serverName = "Example\.\.org": expected a lowercase DNS name/,
    ],
    ["domain with a port", { ...base, serverName: "example.org:8448" }, /serverName = "example\.org:8448"/],
    [
      "host outside the zone",
      { ...base, matrixHost: "matrix.other.net" },
      /matrixHost = "matrix\.other\.net": must lie inside the DNS zone example\.org/,
    ],
    [
      "bad CIDR",
      { ...base, adminCidrs: '["300.1.2.3/32"]' },
      /adminCidrs\[0\] = "300\.1\.2\.3\/32": "300\.1\.2\.3" is not an IPv4 or IPv6 address/,
    ],
    [
      "CIDR without prefix",
      { ...base, adminCidrs: '["203.0.113.7"]' },
      /adminCidrs\[0\] = "203\.0\.113\.7": expected an address and a prefix length/,
    ],
    ["CIDR with host bits", { ...base, adminCidrs: '["203.0.113.7/24"]' }, /bits set beyond the prefix length/],
    [
      "inverted port range",
      { ...base, turnRelayPorts: "50000-40000" },
      /turnRelayPorts = "50000-40000": the range is inverted/,
    ],
    [
      "port range below 1024",
      { ...base, turnRelayPorts: "80-2000" },
      /turnRelayPorts = "80-2000": both ends must lie within 1024-65535/,
    ],
    ["port range above 65535", { ...base, turnRelayPorts: "60000-70000" }, /within 1024-65535/],
    [
      "unknown key in federation",
      { ...base, federation: '{"enabeld": false}' },
      /federation\.enabeld = false: unknown key in federation; allowed: enabled, whitelist, directoryServers/,
    ],
    [
      "unknown key in images",
      { ...base, images: '{"redis": "redis:7"}' },
      /images\.redis = "redis:7": unknown key in images; allowed: synapse, postgres/,
    ],
    [
      "zero size",
      { ...base, dataVolumeSizeGb: "0" },
      /dataVolumeSizeGb = 0: expected a whole number of GB from 1 to 10000/,
    ],
    ["negative size", { ...base, dataVolumeSizeGb: "-5" }, /dataVolumeSizeGb = -5: expected a whole number/],
    ["non-integer size", { ...base, dataVolumeSizeGb: "twenty" }, /dataVolumeSizeGb = "twenty": expected an integer/],
    [
      "image without a tag",
      { ...base, images: '{"synapse": "matrixdotorg/synapse"}' },
      /images\.synapse = "matrixdotorg\/synapse": needs a pinned tag or digest/,
    ],
    [
      "image tagged latest",
      { ...base, images: '{"nginx": "nginx:latest"}' },
      /images\.nginx = "nginx:latest": the "latest" tag is not pinned/,
    ],
    [
      "owned key in synapseExtraConfig",
      { ...base, synapseExtraConfig: '{"database": {"name": "sqlite3"}}' },
      /synapseExtraConfig\.database = \[not shown\]: owned by firmground and cannot be overridden/,
    ],
    [
      "secret in synapseExtraConfig",
      { ...base, synapseExtraConfig: '{"macaroon_secret_key": "x"}' },
      /synapseExtraConfig\.macaroon_secret_key = "\[secret\]": owned by firmground/,
    ],
    ["not a boolean", { ...base, manageApexRecords: "yes" }, /manageApexRecords = "yes": expected a boolean/],
    ["not JSON", { ...base, adminCidrs: "203.0.113.7/32" }, /adminCidrs = "203\.0\.113\.7\/32": expected an array/],
    [
      "bad ACME server",
      { ...base, acmeServer: "http://insecure.example/dir" },
      /acmeServer = "http:\/\/insecure\.example\/dir": "production", "staging", or the https:\/\/ URL/,
    ],
    ["bad e-mail", { ...base, acmeEmail: "admin" }, /acmeEmail = "admin": expected an e-mail address/],
    [
      "bad SSH key",
      { ...base, sshPublicKeys: '["not a key"]' },
      /sshPublicKeys\[0\] = "not a key": expected an OpenSSH public key line/,
    ],
    [
      "unknown top-level key",
      { ...base, servername: "x.org" },
      /firmground:servername = \[not shown\]: unknown key; the known keys are serverName/,
    ],
    [
      "bad whitelist entry",
      { ...base, federation: '{"whitelist": ["not a domain"]}' },
      /federation\.whitelist\[0\] = "not a domain": expected a server name/,
    ],
    ["same host twice", { ...base, elementHost: "matrix.example.org" }, /must be four different names/],
    ["admin user with upper case", { ...base, adminUser: "Admin" }, /adminUser = "Admin": expected a Matrix localpart/],
    [
      "short admin password",
      { ...base, adminPassword: "short" },
      /adminPassword = "\[secret\]": at least 12 characters/,
    ],
    ["users not a list", { ...base, users: '{"name": "x"}' }, /users = .*expected an array/],
    [
      "user with a bad name",
      { ...base, users: '[{"name": "Bob@x"}]' },
      /users\[0\]\.name = "Bob@x": expected a Matrix localpart/,
    ],
    [
      "user named like the admin",
      { ...base, users: '[{"name": "admin"}]' },
      /users\[0\]\.name = "admin": is adminUser/,
    ],
    ["user twice", { ...base, users: '[{"name": "bob"}, {"name": "bob"}]' }, /users\[1\]\.name = "bob": appears twice/],
    [
      "user with an unknown key",
      { ...base, users: '[{"name": "bob", "email": "b@x.org"}]' },
      /users\[0\]\.email = \[not shown\]: unknown key in users\[0\]/,
    ],
    [
      "user admin flag not boolean",
      { ...base, users: '[{"name": "bob", "admin": "yes"}]' },
      /users\[0\]\.admin = "yes": expected true or false/,
    ],
    [
      "bad volume id",
      { ...base, dataVolumeId: "6f0e2d3c" },
      /dataVolumeId = "6f0e2d3c": expected a Scaleway volume id <zone>\/<uuid>/,
    ],
    [
      "restoreSecrets not JSON",
      { ...base, restoreSecrets: "ed25519 a_x y" },
      /restoreSecrets = "\[secret\]": the JSON of the old stack's restoreSecrets output/,
    ],
    [
      "restoreSecrets with a bad key",
      { ...base, restoreSecrets: '{"signingKey": "rsa x"}' },
      /restoreSecrets\.signingKey = "\[secret\]": expected Synapse's signing key file/,
    ],
    [
      "restoreSecrets with an unknown field",
      { ...base, restoreSecrets: '{"macaroon": "x"}' },
      /restoreSecrets\.macaroon = "\[secret\]": unknown key/,
    ],
    [
      "user password too short",
      { ...base, users: '[{"name": "bob", "password": "pw"}]' },
      /users\[0\]\.password = "\[secret\]": at least 12/,
    ],
  ];

  test.each(cases)("%s", (_label, raw, message) => {
    const found = problems(raw);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  test.each([
    [
      "adminPassword",
      { ...base, adminPassword: "correct horse battery" },
      /adminPassword = "\[secret\]": must be stored encrypted: pulumi config set --secret firmground:adminPassword/,
    ],
    [
      "restoreSecrets",
      { ...base, restoreSecrets: '{"postgresPassword": "x"}' },
      /restoreSecrets = "\[secret\]": must be stored encrypted/,
    ],
    [
      "a user's password",
      { ...base, users: '[{"name": "bob", "password": "correct horse battery"}]' },
      /users\[0\]\.password = "\[secret\]": must be stored encrypted: pulumi config set --secret --path 'firmground:users\[0\]\.password'/,
    ],
  ])("%s in plain text is refused without repeating it", (_label, raw, message) => {
    const found = problems(raw, []);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
    expect(found[0]).not.toContain("correct horse");
    expect(found[0]).not.toContain("postgresPassword");
  });

  const SECRET = "hunter2-correct-horse";
  test.each([
    [
      "a misspelt user field",
      { ...base, users: JSON.stringify([{ name: "bob", pasword: SECRET }]) },
      /users\[0\]\.pasword = \[not shown\]: unknown key/,
    ],
    [
      "an owned secret in synapseExtraConfig",
      { ...base, synapseExtraConfig: JSON.stringify({ macaroon_secret_key: SECRET }) },
      /macaroon_secret_key = "\[secret\]": owned/,
    ],
    ["an unknown top-level key", { ...base, adminPasword: SECRET }, /adminPasword = \[not shown\]: unknown key/],
    [
      "synapseExtraConfig that is not an object",
      { ...base, synapseExtraConfig: `{smtp_pass: ${SECRET}` },
      /synapseExtraConfig = \[not shown\]: expected an object/,
    ],
    [
      "a user list that is not a list",
      { ...base, users: JSON.stringify({ name: "bob", password: SECRET }) },
      /users = \[not shown\]: expected an array/,
    ],
  ])("%s is refused without repeating its value", (_label, raw, message) => {
    const found = problems(raw);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
    expect(found[0]).not.toContain(SECRET);
  });

  test.each([
    ["email.smtp_pass", { email: { smtp_host: "mail.example.org", smtp_pass: SECRET } }],
    ["recaptcha_private_key", { recaptcha_private_key: SECRET }],
    ["oidc_providers.0.client_secret", { oidc_providers: [{ idp_id: "sso", client_secret: SECRET }] }],
    ["redis.password", { redis: { enabled: true, password: SECRET } }],
  ])("a secret Synapse setting (%s) in plain text is refused with the way to set it", (path, extra) => {
    const found = problems({ ...base, synapseExtraConfig: JSON.stringify(extra) });
    expect(found).toEqual([
      expect.stringContaining(
        `firmground:synapseExtraConfig.${path} = "[secret]": looks like a secret, and synapseExtraConfig is stored in plain text. ` +
          `Set it encrypted: pulumi config set --secret --path 'firmground:synapseExtraConfig.${path}' …`,
      ),
    ]);
    expect(found[0]).not.toContain(SECRET);
    // Set with --secret, it is accepted (and kept out of homeserver.yaml: see renderers and program tests).
    const settings = parseSettings({ ...base, synapseExtraConfig: JSON.stringify(extra) }, ["synapseExtraConfig"]);
    expect(settings.synapseExtraConfigSecret).toBe(true);
  });

  test.each([
    ["at the top", { "<<": { log_config: "/tmp/evil.yaml" } }, "synapseExtraConfig.<<"],
    ["nested", { email: { "<<": { pid_file: "/tmp/x" } } }, "synapseExtraConfig.email.<<"],
  ])("a YAML merge key (%s) cannot smuggle owned keys in, even set as a secret", (_label, extra, at) => {
    for (const secretKeys of [ENCRYPTED, [...ENCRYPTED, "synapseExtraConfig"]]) {
      const found = problems({ ...base, synapseExtraConfig: JSON.stringify(extra) }, secretKeys);
      expect(found).toEqual([expect.stringContaining(`firmground:${at} = [not shown]: a YAML merge key`)]);
    }
  });

  test.each([
    [["0.0.0.0/0"], "IPv4"],
    [["::/0"], "IPv6"],
    [["0.0.0.0/1", "128.0.0.0/1"], "IPv4"],
    [["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/3", "203.0.113.7/32"], "IPv4"],
    [["::/1", "8000::/1", "0.0.0.0/0"], "IPv4 and every IPv6"],
  ])("adminCidrs %j that cover every address are refused", (cidrs, family) => {
    const found = problems({ ...base, adminCidrs: JSON.stringify(cidrs) });
    expect(found).toEqual([expect.stringContaining(`covers every ${family} address`)]);
  });

  test("adminCidrs that leave a gap are accepted", () => {
    expect(problems({ ...base, adminCidrs: JSON.stringify(["0.0.0.0/1", "128.0.0.0/2", "2001:db8::/32"]) })).toEqual(
      [],
    );
  });

  test("adminHost may not be the server name (it would refuse everyone .well-known)", () => {
    expect(problems({ ...base, adminHost: "example.org" })).toEqual([
      expect.stringMatching(/adminHost = "example\.org": must not be serverName/),
    ]);
  });

  test.each([
    "/",
    "//",
    "/./",
    "/etc",
    "/etc/firmground",
    "/usr/local/x",
    "/var/lib/docker/volumes",
    "/var/",
    "/tmp",
    "/root",
    "/proc/1",
  ])("localDataDir %s (the root or a system directory) is refused", (dir) => {
    const found = problems({ ...base, target: "docker", localDataDir: dir });
    expect(found).toEqual([expect.stringMatching(/localDataDir = .*: is (the root directory|the system directory)/)]);
  });

  test.each(["/var/lib/firmground/", "/srv/firmground", "/home/me/firmground"])(
    "localDataDir %s is accepted",
    (dir) => {
      expect(problems({ ...base, target: "docker", localDataDir: dir })).toEqual([]);
    },
  );

  test("restoreSecrets passwords with a line break are refused without repeating them", () => {
    const found = problems({ ...base, restoreSecrets: JSON.stringify({ postgresPassword: `abc\n${SECRET}` }) });
    expect(found).toEqual([
      expect.stringContaining('restoreSecrets.postgresPassword = "[secret]": holds a line break'),
    ]);
    expect(found[0]).not.toContain(SECRET);
  });

  test("empty values mean unset, as the engine passes Pulumi.yaml's defaults", () => {
    const engineDefaults = Object.fromEntries(
      Object.entries(CONFIG_KEYS).map(([key, { default: value }]) => [
        key,
        typeof value === "string" ? value : JSON.stringify(value),
      ]),
    );
    expect(parseSettings({ ...engineDefaults, ...base })).toEqual(parseSettings(base));
    expect(problems(engineDefaults)).toEqual([
      expect.stringMatching(/^firmground:serverName = null: required/),
      expect.stringMatching(/^firmground:acmeEmail = null: required/),
    ]);
  });

  test("every problem is reported at once, in one error", () => {
    const found = problems({ serverName: "bad_name", dataVolumeSizeGb: "0", turnRelayPorts: "9-8" });
    expect(found.length).toBeGreaterThanOrEqual(4);
    expect(() => parseSettings({})).toThrow(/Invalid firmground configuration \(nothing was created or changed\)/);
  });
});

test("users: defaults and a valid list", () => {
  const settings = parseSettings({
    ...base,
    users: '[{"name": "carol", "displayName": "Carol"}, {"name": "dave", "admin": true}]',
  });
  expect(settings.adminUser).toBe("admin");
  expect(settings.adminHost).toBe("admin.example.org");
  expect(settings.adminUi).toBe(true);
  expect(settings.users).toEqual([
    { name: "carol", admin: false, deactivated: false, displayName: "Carol" },
    { name: "dave", admin: true, deactivated: false },
  ]);
});

test("a refused password is never echoed", () => {
  const found = problems({ ...base, adminPassword: "hunter2" });
  expect(found.join("\n")).not.toContain("hunter2");
});

describe("instance type check", () => {
  test("arm64 passes and returns the RAM", () => {
    expect(checkServerType("BASIC2-A2C-4G", { arch: "arm64", ram: 4294967296 })).toBe(4294967296);
  });
  test("a non-arm64 type is refused with the architecture Scaleway reported", () => {
    expect(() => checkServerType("DEV1-S", { arch: "x86_64", ram: 2147483648 })).toThrow(
      /instanceType = "DEV1-S": Scaleway reports arch "x86_64"; expected an arm64 type such as BASIC2-A2C-4G/,
    );
  });
  test("an end-of-service type (COPARM1) is refused", () => {
    expect(() => checkServerType("COPARM1-2C-8G", { arch: "arm64", ram: 1, endOfService: true })).toThrow(
      /end-of-service/,
    );
  });
});

describe("helpers", () => {
  test("cidrProblem", () => {
    expect(cidrProblem("0.0.0.0/0")).toBeUndefined();
    expect(cidrProblem("2001:db8::/32")).toBeUndefined();
    expect(cidrProblem("2001:db8::1/128")).toBeUndefined();
    expect(cidrProblem("2001:db8::1/64")).toMatch(/bits set/);
    expect(cidrProblem("10.0.0.0/33")).toMatch(/0\.\.32/);
  });
  test("parsePortRange", () => {
    expect(parsePortRange("1024-65535")).toEqual({ min: 1024, max: 65535 });
    expect(parsePortRange("5000")).toMatch(/expected/);
  });
  test("recordName", () => {
    expect(recordName("example.org", "example.org")).toBe("");
    expect(recordName("matrix.example.org", "example.org")).toBe("matrix");
    expect(recordName("a.b.example.org", "example.org")).toBe("a.b");
  });
  test("deepMerge merges objects and replaces everything else", () => {
    const merged = deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: null });
    expect(merged).toEqual({ a: { b: 1, c: [3] }, d: 1, e: null });
  });
});

test("the README's configuration reference, sizing table and benchmark figures are the ones generated (npm run docs)", () => {
  const root = path.join(__dirname, "..");
  const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8");
  // The saved report, as the benchmark writes it, is what the README generator reads.
  const saved = JSON.parse(read(BENCH_FIGURES)) as SavedBenchReport;
  const figures: BenchReport = saved;
  // Typed as the capacity run writes it, read as the README generator reads it.
  const capacity: CapacityReport[] = JSON.parse(read(CAPACITY_FIGURES)) as SavedCapacityReport[];
  const readme = read("README.md");
  expect(readme).toBe(withGeneratedSections(readme, figures, capacity));
});

test("the capacity figures come from complete runs, and an incomplete one is refused", () => {
  const runs = JSON.parse(fs.readFileSync(path.join(__dirname, "..", CAPACITY_FIGURES), "utf8")) as CapacityReport[];
  const text = renderCapacityFigures(runs);
  for (const run of runs) expect(text).toContain(`**${run.workload.sendPerSecond} msg/s.** Measured`);
  expect(text).toContain(`${runs[0].workload.users} users with a \`/sync\` long-poll open each`);
  expect(text).toMatch(/\| send \(scheduled → answered\) \| \d+\/\d+ \|/);
  expect(text).toMatch(/\| synapse \| [\d.]+ \/ 1638 \|/);
  expect(() => renderCapacityFigures([])).toThrow(`${CAPACITY_FIGURES} holds no capacity run`);
  expect(() => renderCapacityFigures([{ ...runs[0], ok: false }])).toThrow(
    `${CAPACITY_FIGURES} is not a complete capacity run`,
  );
  expect(() => renderCapacityFigures([{ ...runs[0], result: undefined }])).toThrow(/not a complete capacity run/);
});

test("the benchmark figures come from a complete run, and an incomplete one is refused", () => {
  const figures = JSON.parse(fs.readFileSync(path.join(__dirname, "..", BENCH_FIGURES), "utf8")) as BenchReport;
  const text = renderBenchFigures(figures);
  expect(text).toMatch(/\| saturation, msg\/s \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+–[\d.]+ \| [\d.]+ \|/);
  expect(text).toContain(`then ${figures.workload.ratePerSecond} msg/s offered`);
  expect(text).toMatch(/CPU calibration [\d.]+ s/);
  expect(() => renderBenchFigures({ ...figures, ok: false })).toThrow(
    `${BENCH_FIGURES} is not a complete alternated benchmark run`,
  );
  expect(() => renderBenchFigures({ ...figures, runs: figures.runs.slice(0, 1) })).toThrow(/not a complete/);
  expect(() => renderBenchFigures({ ...figures, oursOverStock: undefined })).toThrow(/not a complete alternated/);
});

test("the reference names every key, with derived defaults and required keys marked", () => {
  const table = renderConfigTable();
  for (const key of Object.keys(CONFIG_KEYS)) expect(table).toContain(`| \`${key}\` |`);
  expect(table).toMatch(/\| `serverName` \| string \| \(required\) \|/);
  expect(table).toMatch(/\| `matrixHost` \| string \| `matrix.<serverName>` \|/);
  expect(table).toMatch(/\| `adminCidrs` \| string\[\] \| `\[\]` \|/);
  expect(table).toMatch(/\| `adminPassword` \| string \(secret\) \| a generated one \|/);
});

test("the sizing table has one row per BASIC2-A type", () => {
  const rows = renderSizingTable().split("\n").slice(2);
  expect(rows.map((r) => r.split("|")[1].trim())).toEqual([
    "BASIC2-A2C-4G",
    "BASIC2-A2C-8G",
    "BASIC2-A4C-8G",
    "BASIC2-A4C-16G",
    "BASIC2-A8C-16G",
    "BASIC2-A8C-32G",
    "BASIC2-A16C-32G",
    "BASIC2-A16C-64G",
  ]);
});

describe("Pulumi.yaml", () => {
  const text = fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8");

  test("is the one generated from CONFIG_KEYS (npm run docs)", () => {
    expect(text).toBe(renderPulumiYaml());
  });

  test("passes the engine's project rules, and every key has a default, so no stack misses one", () => {
    const project = parseProject(text);
    expect(project.name).toBe("firmground");
    expect(projectProblems(project)).toEqual([]);
    const undeclared = Object.entries(project.config!).filter(([, key]) => key.default === undefined);
    expect(undeclared).toEqual([]);
  });

  test("keys that hold secrets are declared secret", () => {
    const secret = Object.entries(parseProject(text).config!)
      .filter(([, key]) => key.secret)
      .map(([name]) => name);
    expect(secret.sort()).toEqual(["adminPassword", "restoreSecrets"]);
  });
});
