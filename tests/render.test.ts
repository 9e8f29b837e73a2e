/**
 * `npm run render`: every file the program would upload, per container, with secrets as labelled
 * placeholders, from a committed stack file, with no Pulumi CLI, cloud or Docker.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stackConfig } from "../components/render/cli";
import { PLACEHOLDERS } from "../components/render/offline";
import { renderStack, writeRendered } from "../components/render/render";

const ROOT = path.join(__dirname, "..");

test("secure stack values become labelled placeholders; lists and objects are passed as JSON", () => {
  const raw = stackConfig(
    "config:\n  firmground:adminPassword:\n    secure: AAEAAQ==\n  firmground:users:\n    - name: a\n  other:key: x\n",
  );
  expect(raw).toEqual({
    values: { adminPassword: "<secret:config:adminPassword>", users: '[{"name":"a"}]' },
    secretKeys: ["adminPassword"],
  });
});

test("renders every container's files with placeholders in place of secrets", async () => {
  const config = stackConfig(fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8"));
  const { containers } = await renderStack(config, PLACEHOLDERS);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "firmground-render-"));
  try {
    const files = writeRendered(out, containers).map((f) => path.relative(out, f));
    expect(Object.keys(containers).sort()).toEqual([
      "backup",
      "certbot",
      "coturn",
      "element",
      "firmground-backup-tools",
      "haproxy",
      "nginx",
      "postgres",
      "synapse",
      "synapse-admin",
    ]);
    for (const name of Object.keys(containers)) expect(files).toContain(`${name}/container.json`);
    expect(files).toEqual(
      expect.arrayContaining(["synapse/config/homeserver.yaml", "haproxy/usr/local/etc/haproxy/haproxy.cfg"]),
    );
    const read = (file: string) => fs.readFileSync(path.join(out, file), "utf8");
    expect(read("synapse/secrets/macaroon_secret_key")).toBe("<secret:secrets-macaroon>");
    expect(read("coturn/etc/coturn/turnserver.conf")).toContain("static-auth-secret=<secret:secrets-turn>");
    expect(read("synapse/config/homeserver.yaml")).toContain("server_name: example.org");
    expect(fs.statSync(path.join(out, "synapse/secrets/macaroon_secret_key")).mode & 0o777).toBe(0o600);
    const described = JSON.parse(read("haproxy/container.json")) as {
      publishedPorts: { host: number; container: number }[];
      uploads: { path: string; content?: string }[];
    };
    expect(described.publishedPorts.map((p) => `${p.host}->${p.container}`).sort()).toEqual([
      "443->443",
      "80->80",
      "8448->8448",
    ]);
    expect(described.uploads.every((u) => u.content === undefined)).toBe(true);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test("npm run render -- --stack staging writes the files (the command itself, as a user runs it)", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "firmground-render-cli-"));
  try {
    const result = spawnSync(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "components/render/cli.ts"), "--stack", "staging", "--out", out],
      {
        cwd: ROOT,
        encoding: "utf8",
      },
    );
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/Pulumi\.staging\.yaml → \d+ files for 10 containers/);
    expect(fs.readFileSync(path.join(out, "certbot/etc/firmground/renew.sh"), "utf8")).toContain(
      "-d 'matrix.staging.example.org'",
    );
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
