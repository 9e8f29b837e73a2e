/**
 * User management without a server: the Docker API client against the harness's Docker API stand-in
 * on a unix socket (real HTTP, canned job output; it joins Entrypoint and Cmd as Docker does and keeps
 * the Synapse image's /start.py rules), the job's answers turned into results or clear errors, the
 * CLI's exit codes, the MatrixUser diff, the job script's syntax (real python3), and the provider as
 * the engine runs it: serialized, then loaded from that text in a plain Node.js process.
 * Which inputs reach Docker is all these show; the same code against a real Synapse runs in
 * `npm run test:stack`, and against the real engine and Docker in `npm run test:deploy`.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { renderUserJobScript, USER_JOB_ENV, USER_JOB_EXIT } from "../config-templates/userJob";
import { main } from "../components/users/cli";
import { HelpRequested } from "../components/commandLine";
import { demultiplex, runOneShot } from "../components/dockerApi";
import { diffUser, ensureJob, matrixUserProvider, type MatrixUserInputs } from "../components/users/matrixUser";
import { runUserJob, USER_JOB_MEMORY_MB } from "../components/users/userJobs";
import { DockerShim, type ShimContainer, type ShimRun } from "./stack/dockerShim";
import { serializedProvider, type SerializedProvider } from "./support/dynamicProvider";
import { haveTool } from "./support/tools";

const IMAGE = "matrixdotorg/synapse:v1.160.0";
let dir: string;
let socket: string;
let shim: DockerShim;
let answer: (spec: ShimContainer) => ShimRun;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "firmground-docker-"));
  socket = join(dir, "docker.sock");
  shim = new DockerShim([IMAGE], ["firmground"], (spec) => Promise.resolve(answer(spec)));
  await shim.listen(socket);
});
afterAll(async () => {
  await shim.close();
  rmSync(dir, { recursive: true, force: true });
});

const connection = () => ({ host: `unix://${socket}` });
const target = () => ({ connection: connection(), image: IMAGE, network: "firmground" });
const reply = (code: number, fields: Record<string, unknown>): ShimRun => ({
  exitCode: code,
  stdout: `some log line\n${JSON.stringify({ ok: code === 0, code, ...fields })}\n`,
  stderr: "",
});
const jobOf = (spec: ShimContainer) =>
  JSON.parse(spec.env.find((e) => e.startsWith(`${USER_JOB_ENV}=`))!.slice(USER_JOB_ENV.length + 1)) as Record<
    string,
    unknown
  >;

const BASE_INPUTS: MatrixUserInputs = {
  connection: { host: "unix:///nowhere" },
  image: IMAGE,
  network: "firmground",
  serverName: "example.org",
  sharedSecret: "s3cret",
  adminUser: "admin",
  adminPassword: "admin-password-1",
  username: "carol",
  password: "carol-password-1",
  admin: false,
  waitSeconds: 5,
};

describe("Docker API client", () => {
  test("runs a one-shot container: create, start, wait, logs (demultiplexed), remove", async () => {
    answer = () => ({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
    const result = await runOneShot(connection(), {
      image: IMAGE,
      network: "firmground",
      entrypoint: ["true"],
      cmd: ["x"],
      env: ["A=1"],
      memoryMb: 64,
      timeoutSeconds: 5,
    });
    expect(result).toEqual({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
    expect(shim.created.at(-1)).toEqual({
      image: IMAGE,
      network: "firmground",
      argv: ["true", "x"],
      env: ["A=1"],
      memoryBytes: 64 * 1024 * 1024,
    });
  });

  test("without an entrypoint of its own, a command goes to the image's: /start.py takes python3 for a mode", async () => {
    answer = () => reply(0, { result: "never reached" });
    const result = await runOneShot(connection(), {
      image: IMAGE,
      network: "firmground",
      cmd: ["python3", "-c", "print(1)"],
      env: [],
      memoryMb: 64,
      timeoutSeconds: 5,
    });
    expect(result).toEqual({ exitCode: 2, stdout: "", stderr: "Unknown execution mode 'python3'\n" });
  });

  test("an unknown image is a clear error", async () => {
    await expect(
      runOneShot(connection(), {
        image: "nope:1",
        network: "firmground",
        entrypoint: [],
        cmd: [],
        env: [],
        memoryMb: 64,
        timeoutSeconds: 5,
      }),
    ).rejects.toThrow(/create failed \(404\).*No such image: nope:1/);
  });

  test("an unreachable daemon is a clear error", async () => {
    await expect(
      runOneShot(
        { host: `unix://${dir}/absent.sock` },
        { image: IMAGE, network: "x", entrypoint: [], cmd: [], env: [], memoryMb: 64, timeoutSeconds: 5 },
      ),
    ).rejects.toThrow(/Docker API at unix:\/\/.*absent\.sock/);
  });

  test("demultiplex splits stdout and stderr frames", () => {
    const frame = (stream: number, text: string) => {
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(Buffer.byteLength(text), 4);
      return Buffer.concat([header, Buffer.from(text)]);
    };
    expect(demultiplex(Buffer.concat([frame(1, "a"), frame(2, "b"), frame(1, "c")]))).toEqual({
      stdout: "ac",
      stderr: "b",
    });
  });
});

describe("user jobs", () => {
  test("the job runs the rendered script as its entrypoint, from the Synapse image on the internal network, memory-limited", async () => {
    answer = () => reply(0, { result: "created" });
    await runUserJob(target(), ensureJob(BASE_INPUTS, BASE_INPUTS.adminPassword));
    const spec = shim.created.at(-1)!;
    expect(spec.argv).toEqual(["python3", "-c", renderUserJobScript()]);
    expect(spec.memoryBytes).toBe(USER_JOB_MEMORY_MB * 1024 * 1024);
    expect(jobOf(spec)).toMatchObject({ action: "ensure", username: "carol", admin: false, returnToken: false });
  });

  test("a refusal becomes an error with the job's message and code", async () => {
    answer = () =>
      reply(USER_JOB_EXIT.badSecret, { error: "Synapse refused the registration shared secret (HMAC incorrect)" });
    const failure = runUserJob(target(), ensureJob(BASE_INPUTS, "x"));
    await expect(failure).rejects.toMatchObject({
      name: "UserJobError",
      code: USER_JOB_EXIT.badSecret,
      message: expect.stringMatching(/HMAC incorrect/),
    });
  });

  test("a job that dies without an answer says so, with its output, and is not taken for a wrong secret", async () => {
    answer = () => ({ exitCode: 2, stdout: "", stderr: "Traceback: boom" });
    const failure = runUserJob(target(), ensureJob(BASE_INPUTS, "x"));
    await expect(failure).rejects.toThrow(/exited 2 without its answer; .* Its output: Traceback: boom/);
    await expect(failure).rejects.toMatchObject({ code: USER_JOB_EXIT.noAnswer });
  });

  test("the job script passes pyflakes, and its exit codes are USER_JOB_EXIT's", () => {
    haveTool("pyflakes3");
    const result = spawnSync("pyflakes3", [join(__dirname, "..", "config-templates", "userJob.py")], {
      encoding: "utf8",
    });
    expect(`${result.stdout}${result.stderr}`).toBe("");
    expect(result.status).toBe(0);
    const declared = Object.fromEntries(
      [...renderUserJobScript().matchAll(/^EXIT_([A-Z_]+) = (\d+)$/gm)].map(([, name, code]) => [
        name.toLowerCase().replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()),
        Number(code),
      ]),
    );
    expect(declared).toEqual(USER_JOB_EXIT);
    expect(renderUserJobScript()).toContain(`os.environ["${USER_JOB_ENV}"]`);
  });

  test("the job is told where Synapse answers", async () => {
    answer = () => reply(0, { result: "created" });
    await runUserJob(target(), ensureJob(BASE_INPUTS, BASE_INPUTS.adminPassword));
    expect(jobOf(shim.created.at(-1)!)).toMatchObject({ synapseUrl: "http://synapse:8008" });
  });
});

describe("MatrixUser", () => {
  test("the same inputs change nothing; a password or flag is an update; a new name a replacement", () => {
    expect(diffUser(BASE_INPUTS, { ...BASE_INPUTS }).changes).toBe(false);
    // A new Docker address (say, a re-created host) alone does not re-run the job.
    expect(diffUser(BASE_INPUTS, { ...BASE_INPUTS, connection: { host: "tcp://1.2.3.4:2376" } }).changes).toBe(false);
    expect(diffUser(BASE_INPUTS, { ...BASE_INPUTS, password: "another-password" })).toEqual({
      changes: true,
      replaces: [],
      deleteBeforeReplace: false,
    });
    expect(diffUser(BASE_INPUTS, { ...BASE_INPUTS, admin: true }).changes).toBe(true);
    expect(diffUser(BASE_INPUTS, { ...BASE_INPUTS, username: "caroline" }).replaces).toEqual(["username"]);
  });

  test("the admin's own job asks for a token to keep; rotating it logs in with the old password or token", async () => {
    const admin = {
      ...BASE_INPUTS,
      username: "admin",
      password: "admin-password-1",
      admin: true,
      connection: connection(),
    };
    answer = () => reply(0, { result: "created", accessToken: "tok-1" });
    const created = await matrixUserProvider.create(admin);
    expect(jobOf(shim.created.at(-1)!)).toMatchObject({ returnToken: true, adminPassword: "admin-password-1" });
    expect(created.outs).toMatchObject({ accessToken: "tok-1" });

    answer = () => reply(0, { result: "updated" });
    const rotated = { ...admin, password: "admin-password-2", adminPassword: "admin-password-2" };
    const updated = await matrixUserProvider.update!("@admin:example.org", created.outs, rotated);
    expect(jobOf(shim.created.at(-1)!)).toMatchObject({
      adminPassword: "admin-password-1",
      adminToken: "tok-1",
      password: "admin-password-2",
    });
    expect(updated.outs).toMatchObject({ accessToken: "tok-1", password: "admin-password-2" });
  });

  test("deactivated: true is an update that deactivates; delete leaves the account and runs nothing", async () => {
    const user = { ...BASE_INPUTS, connection: connection() };
    expect(diffUser(user, { ...user, deactivated: true })).toEqual({
      changes: true,
      replaces: [],
      deleteBeforeReplace: false,
    });
    answer = () => reply(0, { result: "deactivated" });
    await matrixUserProvider.update!("@carol:example.org", user, { ...user, deactivated: true });
    expect(jobOf(shim.created.at(-1)!)).toMatchObject({ action: "ensure", username: "carol", deactivated: true });
    const jobs = shim.created.length;
    await expect(matrixUserProvider.delete!("@carol:example.org", user)).resolves.toBeUndefined();
    expect(shim.created.length).toBe(jobs);
  });
});

describe("the MatrixUser provider as the engine runs it", () => {
  const PLANTED = "PLANTED-CONFIG-VALUE-7f3a";
  let provider: SerializedProvider;

  beforeAll(async () => {
    // A stack config value, secret and plain, in Pulumi's config store when the provider is serialized.
    pulumi.runtime.setConfig("firmground:adminPassword", `${PLANTED}-secret`);
    pulumi.runtime.setConfig("firmground:serverName", `${PLANTED}.example.org`);
    provider = await serializedProvider(matrixUserProvider);
  });

  test("carries no stack config value, secret or not, nothing secret, and no path of this project", () => {
    expect(provider.text).not.toContain(PLANTED);
    expect(provider.containsSecrets).toBe(false);
    expect(provider.text).not.toMatch(/require\(["']\.{1,2}\//);
  });

  test("create, update (a rotation, a deactivation) and delete run from the text alone against the Docker API", async () => {
    const admin = { ...BASE_INPUTS, username: "admin", admin: true, connection: connection() };
    answer = () => reply(0, { result: "created", accessToken: "tok-1" });
    const created = await provider.call("create", admin);
    expect(created).toMatchObject({ id: "@admin:example.org", outs: { accessToken: "tok-1" } });
    expect(shim.created.at(-1)!.argv.slice(0, 2)).toEqual(["python3", "-c"]);

    answer = () => reply(0, { result: "updated" });
    const updated = await provider.call("update", "@admin:example.org", created.outs, {
      ...admin,
      password: "rotated-password-1",
    });
    expect(updated).toMatchObject({ outs: { accessToken: "tok-1", password: "rotated-password-1" } });
    expect(jobOf(shim.created.at(-1)!)).toMatchObject({ adminToken: "tok-1", password: "rotated-password-1" });

    answer = () => reply(0, { result: "deactivated" });
    const carol = { ...BASE_INPUTS, connection: connection() };
    await provider.call("update", "@carol:example.org", carol, { ...carol, deactivated: true });
    expect(jobOf(shim.created.at(-1)!)).toMatchObject({ action: "ensure", username: "carol", deactivated: true });
    const jobs = shim.created.length;
    expect(await provider.call("delete", "@carol:example.org", carol)).toBe(null);
    expect(shim.created.length).toBe(jobs);
  });

  test("its errors keep their name, message and code across the process boundary", async () => {
    answer = () => reply(USER_JOB_EXIT.badSecret, { error: "Synapse refused the registration shared secret" });
    expect((await provider.callRaw("create", { ...BASE_INPUTS, connection: connection() })).error).toEqual({
      name: "UserJobError",
      message: "Synapse refused the registration shared secret",
      code: USER_JOB_EXIT.badSecret,
    });
    const unreachable = await provider.callRaw("create", {
      ...BASE_INPUTS,
      connection: { host: `unix://${dir}/gone.sock` },
    });
    expect(unreachable.error).toMatchObject({ name: "DockerApiError", code: "docker-api" });
  });
});

describe("npm run user", () => {
  const env = () => ({
    FIRMGROUND_USER_ADMIN: JSON.stringify({
      ...target(),
      serverName: "example.org",
      sharedSecret: "s3cret",
      adminUser: "admin",
      adminPassword: "pw-123456789012",
    }),
  });
  const run = async (args: string[], extra: Record<string, string> = {}) => {
    const lines: string[] = [];
    const code = await main(args, { ...env(), ...extra }, (line) => lines.push(line));
    return { code, output: lines.join("\n") };
  };

  test("add prints the new user and a generated password once", async () => {
    answer = () => reply(0, { result: "created" });
    const { code, output } = await run(["add", "erin", "--admin", "--display-name", "Erin"]);
    expect(code).toBe(0);
    expect(output).toMatch(/^@erin:example\.org: created\npassword: \S{24} {2}\(shown once\)$/);
    expect(jobOf(shim.created.at(-1)!)).toMatchObject({
      action: "add",
      username: "erin",
      admin: true,
      displayName: "Erin",
    });
  });

  test("a given password is used and not printed", async () => {
    answer = () => reply(0, { result: "password reset" });
    const { output } = await run(["reset-password", "erin"], { FIRMGROUND_USER_PASSWORD: "a-new-password-1" });
    expect(output).not.toContain("a-new-password-1");
    expect(jobOf(shim.created.at(-1)!)).toMatchObject({ action: "reset-password", password: "a-new-password-1" });
  });

  test.each([
    [
      USER_JOB_EXIT.exists,
      "@erin:example.org already exists; use reset-password to change its password",
      /reset-password/,
    ],
    [USER_JOB_EXIT.unknownUser, "@nobody:example.org does not exist", /list shows the users/],
    [
      USER_JOB_EXIT.badSecret,
      "Synapse refused the registration shared secret (HMAC incorrect)",
      /must be this stack's/,
    ],
  ])("job exit %i becomes the same exit code with a hint", async (exit, error, hint) => {
    answer = () => reply(exit, { error });
    const { code, output } = await run(["add", "erin"]);
    expect(code).toBe(exit);
    expect(output).toContain(error);
    expect(output).toMatch(hint);
  });

  test("an unreachable Docker daemon is reported as such", async () => {
    const lines: string[] = [];
    const settings = { ...JSON.parse(env().FIRMGROUND_USER_ADMIN), connection: { host: `unix://${dir}/absent.sock` } };
    const code = await main(["list"], { FIRMGROUND_USER_ADMIN: JSON.stringify(settings) }, (l) => lines.push(l));
    expect(code).toBe(USER_JOB_EXIT.unreachable);
    expect(lines.join("\n")).toMatch(/cannot run the user job: Docker API at unix:/);
  });

  test("bad usage is refused before anything runs", async () => {
    const before = shim.created.length;
    await expect(run(["add"])).rejects.toThrow(/add needs a user name\nusage: npm run user -- <command>/);
    await expect(run(["frobnicate"])).rejects.toThrow(/unknown or missing command "frobnicate"\nusage: npm run user/);
    await expect(run(["list", "--frobnicate"])).rejects.toThrow(/Unknown option '--frobnicate'[^]*usage: npm run user/);
    await expect(run(["--help"])).rejects.toThrow(HelpRequested);
    await expect(run(["add", "x"], { FIRMGROUND_USER_PASSWORD: "short" })).rejects.toThrow(/at least 12 characters/);
    expect(shim.created.length).toBe(before);
  });
});
