/**
 * The parts of `npm run test:deploy` that can be checked without root or a Docker engine: the Docker
 * stand-in provider's Go durations and one-file tar (read back by GNU tar), the stand-in images'
 * Dockerfiles against their contracts, Docker's argv rule, and the stand-ins' scripts (shellcheck,
 * python3). The run itself (real CLI, real dockerd) is `npm run test:deploy`.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_IMAGES } from "../components/services/registry";
import { goDuration, oneFileTar } from "./deploy/providers/docker";
import { dockerfile, STAND_INS } from "./deploy/images";
import { pinnedPulumiVersion, wrapperPulumiVersion } from "./deploy/pulumiCli";
import { contractOf, dockerArgv } from "./support/imageContracts";
import { haveTool, run } from "./support/tools";

test("Go durations as time.ParseDuration reads them", () => {
  expect(goDuration("30s")).toBe(30e9);
  expect(goDuration("1m30s")).toBe(90e9);
  expect(goDuration("250ms")).toBe(250e6);
  expect(() => goDuration("30")).toThrow(/not a Go duration/);
  expect(() => goDuration("")).toThrow(/not a Go duration/);
});

test("an upload's one-file tar holds the path, content, mode and owner GNU tar reads back", () => {
  haveTool("tar");
  const dir = mkdtempSync(join(tmpdir(), "firmground-tar-"));
  try {
    const tar = join(dir, "upload.tar");
    writeFileSync(tar, oneFileTar("/secrets/signing.key", Buffer.from("ed25519 a_x y\n"), 0o600, 991, 991));
    const listing = run("tar", ["--numeric-owner", "-tvf", tar]).output;
    expect(listing).toMatch(/^-rw------- 991\/991 +14 .* secrets\/signing\.key$/m);
    spawnSync("tar", ["-xf", tar, "-C", dir]);
    expect(readFileSync(join(dir, "secrets/signing.key"), "utf8")).toBe("ed25519 a_x y\n");
    const long = `/${"d".repeat(90)}/${"f".repeat(40)}.conf`;
    writeFileSync(tar, oneFileTar(long, Buffer.from("x"), 0o644, 0, 0));
    expect(run("tar", ["-tf", tar]).output.trim()).toBe(long.slice(1));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("each stand-in image's Dockerfile carries its upstream contract", () => {
  for (const [service, reference] of Object.entries(DEFAULT_IMAGES)) {
    const contract = contractOf(reference);
    const text = dockerfile("base", STAND_INS[service as keyof typeof STAND_INS], contract);
    expect(text).toContain(`ENTRYPOINT ${JSON.stringify(contract.entrypoint)}\n`);
    expect(text).toContain(`CMD ${JSON.stringify(contract.cmd)}\n`);
    expect(text).toContain(`STOPSIGNAL ${contract.stopSignal}\n`);
    const setsUser = contract.runsAs.uid !== 0 && !contract.dropsPrivileges;
    expect({ reference, user: /^USER (\d+)/m.exec(text)?.[1] }).toEqual({
      reference,
      user: setsUser ? String(contract.runsAs.uid) : undefined,
    });
  }
});

test("Docker's argv: the request's entrypoint replaces the image's and drops its CMD", () => {
  const synapse = contractOf(DEFAULT_IMAGES.synapse);
  expect(dockerArgv(synapse, undefined, ["python3", "-c", "x"])).toEqual(["/start.py", "python3", "-c", "x"]);
  expect(dockerArgv(synapse, ["python3", "-c", "x"], [])).toEqual(["python3", "-c", "x"]);
  const haproxy = contractOf(DEFAULT_IMAGES.haproxy);
  expect(dockerArgv(haproxy, undefined, undefined)).toEqual([
    "docker-entrypoint.sh",
    "haproxy",
    "-f",
    "/usr/local/etc/haproxy/haproxy.cfg",
  ]);
  expect(dockerArgv(haproxy, [], ["haproxy", "-v"])).toEqual(["haproxy", "-v"]);
});

test("the CLI is built at the version package-lock.json pins", () => {
  expect(wrapperPulumiVersion()).toBe(pinnedPulumiVersion());
});

const IMAGES = join(__dirname, "deploy", "images");
const BIN = join(__dirname, "deploy", "bin");
const scripts = [
  ...readdirSync(IMAGES).flatMap((dir) => readdirSync(join(IMAGES, dir)).map((f) => join(IMAGES, dir, f))),
  ...readdirSync(BIN).map((f) => join(BIN, f)),
].filter((file) => statSync(file).mode & 0o111);

test.each(scripts.filter((f) => readFileSync(f, "utf8").startsWith("#!/bin/")))("shellcheck %s", (file) => {
  haveTool("shellcheck");
  const result = run("shellcheck", ["--severity=warning", file]);
  expect(result.output).toBe("");
  expect(result.status).toBe(0);
});

test("the Synapse stand-in's /start.py is valid Python", () => {
  haveTool("python3");
  const source = readFileSync(join(IMAGES, "synapse", "start.py"), "utf8");
  const result = run("python3", ["-c", "import ast, sys; ast.parse(sys.stdin.read())"], source);
  expect(result.output).toBe("");
  expect(result.status).toBe(0);
});
