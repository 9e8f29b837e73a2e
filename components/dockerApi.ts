/**
 * Just enough of the Docker Engine API to run a one-shot container and collect its output (create,
 * start, wait, logs, remove), to run a command in a running container (exec), and to stop, start and
 * inspect a container. It speaks to the same daemon Pulumi's Docker provider uses (TCP with
 * mutual TLS, or a unix socket), so it reaches the internal network without opening anything.
 *
 * It runs inside the MatrixUser and backup dynamic providers, which the engine serializes into the state and runs
 * from that text in a plain Node.js process: it may use Node's built-in modules only, and its errors
 * are plain Errors with a `name` and a `code` (no class of ours survives that trip).
 */
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";

export interface DockerConnection {
  /** `tcp://host:2376` (with `tls`) or `unix:///var/run/docker.sock`. */
  host: string;
  tls?: { ca: string; cert: string; key: string };
}

export interface OneShot {
  image: string;
  network: string;
  /** Replaces the image's ENTRYPOINT (the image's CMD is then not used, as Docker does); absent: the image's. */
  entrypoint?: string[];
  cmd: string[];
  env: string[];
  /** Hard memory limit, without swap beyond it. */
  memoryMb: number;
  /** Seconds to wait for the container to exit. */
  timeoutSeconds: number;
}

export interface OneShotResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export const DOCKER_API_ERROR = "DockerApiError";

/** A failure to talk to the Docker daemon (or one it reported). */
export function dockerApiError(message: string): Error & { code: string } {
  return Object.assign(new Error(message), { name: DOCKER_API_ERROR, code: "docker-api" });
}

export const isDockerApiError = (error: unknown): error is Error & { code: string } =>
  error instanceof Error && error.name === DOCKER_API_ERROR;

function call(connection: DockerConnection, method: string, path: string, body?: unknown, timeoutMs = 30_000) {
  const url = new URL(connection.host.replace(/^tcp:/, connection.tls ? "https:" : "http:"));
  const options: RequestOptions & { ca?: string; cert?: string; key?: string } =
    url.protocol === "unix:"
      ? { socketPath: url.pathname, path }
      : { host: url.hostname, port: url.port || 2376, path, ...(connection.tls ?? {}) };
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    const req = send(
      {
        ...options,
        method,
        timeout: timeoutMs,
        headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on("timeout", () =>
      req.destroy(dockerApiError(`Docker API ${method} ${path}: no answer in ${timeoutMs / 1000} s`)),
    );
    req.on("error", (error: Error) =>
      reject(isDockerApiError(error) ? error : dockerApiError(`Docker API at ${connection.host}: ${error.message}`)),
    );
    req.end(payload);
  });
}

async function expectStatus(
  connection: DockerConnection,
  what: string,
  method: string,
  path: string,
  ok: number[],
  body?: unknown,
  timeoutMs?: number,
) {
  const res = await call(connection, method, path, body, timeoutMs);
  if (!ok.includes(res.status)) {
    throw dockerApiError(`Docker API: ${what} failed (${res.status}): ${res.body.toString("utf8").trim()}`);
  }
  return res.body;
}

/** Splits Docker's multiplexed log stream (8-byte frame headers: stream, 0, 0, 0, length) by stream. */
export function demultiplex(stream: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  for (let at = 0; at + 8 <= stream.length;) {
    const length = stream.readUInt32BE(at + 4);
    (stream[at] === 2 ? err : out).push(stream.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  return { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}

/** Runs `spec` to completion in a new container on `spec.network`, then removes the container. */
export async function runOneShot(connection: DockerConnection, spec: OneShot): Promise<OneShotResult> {
  const created = await expectStatus(connection, "create", "POST", "/containers/create", [201], {
    Image: spec.image,
    Entrypoint: spec.entrypoint,
    Cmd: spec.cmd,
    Env: spec.env,
    Labels: { "org.firmground.one-shot": "true" },
    HostConfig: {
      NetworkMode: spec.network,
      AutoRemove: false,
      Memory: spec.memoryMb * 1024 * 1024,
      MemorySwap: spec.memoryMb * 1024 * 1024,
    },
  });
  const id = (JSON.parse(created.toString("utf8")) as { Id: string }).Id;
  try {
    await expectStatus(connection, "start", "POST", `/containers/${id}/start`, [204, 304]);
    const waited = await expectStatus(
      connection,
      "wait",
      "POST",
      `/containers/${id}/wait`,
      [200],
      undefined,
      spec.timeoutSeconds * 1000,
    );
    const exitCode = (JSON.parse(waited.toString("utf8")) as { StatusCode: number }).StatusCode;
    const logs = await expectStatus(connection, "logs", "GET", `/containers/${id}/logs?stdout=1&stderr=1`, [200]);
    return { exitCode, ...demultiplex(logs) };
  } finally {
    await call(connection, "DELETE", `/containers/${id}?force=1`).catch(() => undefined);
  }
}

/** A container's state, or undefined when there is no such container. */
/** What `GET /containers/{name}/json` says of a container (Docker Engine API, ContainerInspect). */
export interface ContainerState {
  running: boolean;
  /** Absent when the container has no healthcheck. */
  health?: string;
  /** Config.Image: what it was created from, as given (Pulumi's provider gives the image's id). */
  image: string;
  /** Image: the id of the image it runs. */
  imageId: string;
  /** Times Docker's restart policy restarted it since it was created. */
  restartCount: number;
  startedAt?: string;
  /** HostConfig.Memory: its hard limit in bytes (0: none). */
  memoryLimitBytes: number;
}

export async function inspectContainer(
  connection: DockerConnection,
  name: string,
): Promise<ContainerState | undefined> {
  const res = await call(connection, "GET", `/containers/${encodeURIComponent(name)}/json`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) {
    throw dockerApiError(`Docker API: inspect ${name} failed (${res.status}): ${res.body.toString("utf8").trim()}`);
  }
  const state = JSON.parse(res.body.toString("utf8")) as {
    State: { Running: boolean; Health?: { Status: string }; StartedAt?: string };
    Config: { Image: string };
    Image: string;
    RestartCount?: number;
    HostConfig?: { Memory?: number };
  };
  return {
    running: state.State.Running,
    ...(state.State.Health ? { health: state.State.Health.Status } : {}),
    image: state.Config.Image,
    imageId: state.Image,
    restartCount: state.RestartCount ?? 0,
    ...(state.State.StartedAt ? { startedAt: state.State.StartedAt } : {}),
    memoryLimitBytes: state.HostConfig?.Memory ?? 0,
  };
}

/** The id of the image `name` on the daemon (`GET /images/{name}/json`), or undefined when it has none. */
export async function imageIdOf(connection: DockerConnection, name: string): Promise<string | undefined> {
  const res = await call(connection, "GET", `/images/${encodeURIComponent(name)}/json`);
  if (res.status === 404) return undefined;
  if (res.status !== 200)
    throw dockerApiError(`Docker API: image ${name} (${res.status}): ${res.body.toString("utf8").trim()}`);
  return (JSON.parse(res.body.toString("utf8")) as { Id: string }).Id;
}

/**
 * A running container's memory use as `docker stats` shows it: the cgroup's usage less its inactive
 * file cache (reclaimable), from one `GET /containers/{name}/stats?stream=false` sample
 * (memory_stats.stats.total_inactive_file on cgroup v1, inactive_file on v2).
 */
export async function containerMemory(
  connection: DockerConnection,
  name: string,
): Promise<{ usageBytes: number; limitBytes: number }> {
  const body = await expectStatus(
    connection,
    `stats ${name}`,
    "GET",
    `/containers/${encodeURIComponent(name)}/stats?stream=false&one-shot=true`,
    [200],
  );
  const { memory_stats: memory } = JSON.parse(body.toString("utf8")) as {
    memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  };
  const usage = memory.usage ?? 0;
  const inactive = memory.stats?.total_inactive_file ?? memory.stats?.inactive_file ?? 0;
  return { usageBytes: inactive < usage ? usage - inactive : usage, limitBytes: memory.limit ?? 0 };
}

/** Stops a container (SIGTERM, then SIGKILL after `graceSeconds`); a stopped one is left as it is. */
export async function stopContainer(connection: DockerConnection, name: string, graceSeconds: number) {
  await expectStatus(
    connection,
    `stop ${name}`,
    "POST",
    `/containers/${encodeURIComponent(name)}/stop?t=${graceSeconds}`,
    [204, 304],
    undefined,
    (graceSeconds + 30) * 1000,
  );
}

export async function startContainer(connection: DockerConnection, name: string) {
  await expectStatus(connection, `start ${name}`, "POST", `/containers/${encodeURIComponent(name)}/start`, [204, 304]);
}

/**
 * Runs `cmd` in the running container `name` as its configured user and returns its exit code and
 * output. `timeoutSeconds` bounds the silence between two pieces of output, not the whole run.
 */
export async function execIn(
  connection: DockerConnection,
  name: string,
  cmd: string[],
  timeoutSeconds: number,
): Promise<OneShotResult> {
  const created = await expectStatus(
    connection,
    "exec",
    "POST",
    `/containers/${encodeURIComponent(name)}/exec`,
    [201],
    {
      AttachStdout: true,
      AttachStderr: true,
      Cmd: cmd,
    },
  );
  const id = (JSON.parse(created.toString("utf8")) as { Id: string }).Id;
  // Attached and without a TTY, the answer is the command's multiplexed output, to its end.
  const stream = await expectStatus(
    connection,
    "exec start",
    "POST",
    `/exec/${id}/start`,
    [200],
    { Detach: false, Tty: false },
    timeoutSeconds * 1000,
  );
  const inspected = await expectStatus(connection, "exec inspect", "GET", `/exec/${id}/json`, [200]);
  const { ExitCode, Running } = JSON.parse(inspected.toString("utf8")) as { ExitCode: number | null; Running: boolean };
  if (Running || ExitCode === null) throw dockerApiError(`Docker API: ${cmd.join(" ")} in ${name} did not finish`);
  return { exitCode: ExitCode, ...demultiplex(stream) };
}
