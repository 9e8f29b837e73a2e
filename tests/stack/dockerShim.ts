/**
 * A stand-in for the Docker daemon's API, on a unix socket: the calls a one-shot container makes
 * (create, start, wait, logs, remove), and for the harness's running containers, inspect, stop, start,
 * exec (what `npm run restore` and the backup guards use) and stats (what `npm run doctor` reads).
 * Answers keep Docker Engine API v1.41's shapes (ContainerInspect: Image, RestartCount, State.Running,
 * State.Health.Status, Config.Image, HostConfig.Memory; ImageInspect: Id, RepoTags; ContainerStats with stream=false:
 * memory_stats.usage, .limit and .stats, the cgroup v1 memory.stat counters dockerd passes through);
 * test:deploy reads the same fields from a real dockerd. "Running a container" means running its argv from the
 * rootfs in a namespace on the test Docker bridge, so the user jobs of `pulumi up` and `npm run user`
 * reach the real Synapse exactly as they would on the host.
 *
 * It is no more lenient than Docker: the argv is the request's Entrypoint and Cmd joined with the
 * image's ENTRYPOINT and CMD as Docker joins them (tests/support/imageContracts.ts), and an argv that
 * starts with the Synapse image's /start.py meets that script's rules (an unknown mode exits 2).
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { contractOf, dockerArgv, synapseStartPy } from "../support/imageContracts";

export interface ShimContainer {
  image: string;
  network: string;
  /** What the container runs: Entrypoint + Cmd as Docker joins them with the image's. */
  argv: string[];
  env: string[];
  /** HostConfig.Memory in bytes (0: no limit). */
  memoryBytes: number;
}

export interface ShimRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The harness's running containers, by name, as the shim's inspect, stop, start and exec see them. */
export interface ShimServices {
  inspect(
    name: string,
  ): { running: boolean; health?: string; image: string; restartCount: number; memoryLimitBytes: number } | undefined;
  /** The images the harness's containers run (the daemon has them, as after pulumi up). */
  images(): string[];
  /** The container's memory cgroup, as dockerd reads it for stats (cgroup v1 files). */
  memory(name: string): { usage: number; limit: number; stats: Record<string, number> } | undefined;
  stop(name: string): Promise<void>;
  start(name: string): Promise<void>;
  /** `docker exec`: argv run in the container, as its user, with its environment. */
  exec(name: string, argv: string[]): Promise<ShimRun>;
}

interface Entry {
  spec: ShimContainer;
  run?: Promise<ShimRun>;
}

/** Docker's log framing: stream (1 stdout, 2 stderr), three zero bytes, big-endian length, payload. */
function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

export class DockerShim {
  private readonly containers = new Map<string, Entry>();
  private server?: Server;
  /** Every container created, for the checks (a job must use the Synapse image on the internal network). */
  readonly created: ShimContainer[] = [];
  /** Every run's result, in order. */
  readonly runs: ShimRun[] = [];

  private readonly execs = new Map<string, { container: string; argv: string[]; run?: ShimRun }>();
  /** Every exec, in order (container and argv). */
  readonly execLog: { container: string; argv: string[] }[] = [];

  constructor(
    private readonly images: string[],
    private readonly networks: string[],
    private readonly execute: (spec: ShimContainer) => Promise<ShimRun>,
    private readonly services?: ShimServices,
  ) {}

  listen(socketPath: string): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => send(res, 500, { message: String(error) }));
    });
    return new Promise((resolve) => this.server!.listen(socketPath, resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The image's entrypoint decides first; only a command it would run reaches `execute`. */
  private run(spec: ShimContainer): Promise<ShimRun> {
    if (spec.argv[0] === "/start.py") {
      const decided = synapseStartPy(spec.argv.slice(1));
      if ("exitCode" in decided)
        return Promise.resolve({ exitCode: decided.exitCode, stdout: "", stderr: decided.stderr });
      return Promise.resolve({
        exitCode: 1,
        stdout: "",
        stderr: `stand-in: /start.py ${decided.mode} would start Synapse itself; one-shot containers here run commands only\n`,
      });
    }
    return this.execute(spec);
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://docker");
    const path = url.pathname.replace(/^\/v[\d.]+/, "");
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, any>) : {};

    if (req.method === "POST" && path === "/containers/create") {
      if (!this.images.includes(body.Image)) return send(res, 404, { message: `No such image: ${body.Image}` });
      const spec: ShimContainer = {
        image: body.Image,
        network: body.HostConfig?.NetworkMode,
        argv: dockerArgv(contractOf(body.Image), body.Entrypoint, body.Cmd),
        env: body.Env ?? [],
        memoryBytes: Number(body.HostConfig?.Memory ?? 0),
      };
      if (!this.networks.includes(spec.network))
        return send(res, 404, { message: `network ${spec.network} not found` });
      const id = randomBytes(16).toString("hex");
      this.containers.set(id, { spec });
      this.created.push(spec);
      return send(res, 201, { Id: id, Warnings: [] });
    }
    if (this.services && (await this.serviceCall(req.method ?? "GET", path, body, res))) return;
    const match = /^\/containers\/([0-9a-f]+)(?:\/(start|wait|logs))?$/.exec(path);
    const entry = match ? this.containers.get(match[1]) : undefined;
    if (!match || !entry) return send(res, 404, { message: `no such container or route: ${req.method} ${path}` });
    const [, id, verb] = match;
    if (req.method === "POST" && verb === "start") {
      entry.run ??= this.run(entry.spec).then((run) => {
        this.runs.push(run);
        return run;
      });
      res.writeHead(204).end();
    } else if (req.method === "POST" && verb === "wait") {
      if (!entry.run) return send(res, 409, { message: "container not started" });
      send(res, 200, { StatusCode: (await entry.run).exitCode });
    } else if (req.method === "GET" && verb === "logs") {
      const run = entry.run ? await entry.run : { stdout: "", stderr: "", exitCode: 0 };
      res.writeHead(200, { "content-type": "application/vnd.docker.raw-stream" });
      res.end(Buffer.concat([frame(1, run.stdout), frame(2, run.stderr)]));
    } else if (req.method === "DELETE" && !verb) {
      if (entry.run) await entry.run;
      this.containers.delete(id);
      res.writeHead(204).end();
    } else {
      send(res, 404, { message: `unsupported: ${req.method} ${path}` });
    }
  }

  /** Inspect, stop, start and exec on the harness's named containers; false when `path` is not one of those. */
  private async serviceCall(method: string, path: string, body: Record<string, any>, res: ServerResponse) {
    const services = this.services!;
    const execMatch = /^\/exec\/([0-9a-f]+)\/(start|json)$/.exec(path);
    if (execMatch) {
      const exec = this.execs.get(execMatch[1]);
      if (!exec) return answered(res, 404, { message: "no such exec" });
      if (method === "POST" && execMatch[2] === "start") {
        if (body.Detach || body.Tty)
          return answered(res, 400, { message: "the shim runs attached execs without a TTY only" });
        exec.run = await services.exec(exec.container, exec.argv);
        res.writeHead(200, { "content-type": "application/vnd.docker.multiplexed-stream" });
        res.end(Buffer.concat([frame(1, exec.run.stdout), frame(2, exec.run.stderr)]));
      } else {
        send(res, 200, { Running: false, ExitCode: exec.run ? exec.run.exitCode : null });
      }
      return true;
    }
    const image = /^\/images\/(.+)\/json$/.exec(path);
    if (image && method === "GET") {
      const name = decodeURIComponent(image[1]);
      if (![...this.images, ...services.images()].includes(name))
        return answered(res, 404, { message: `No such image: ${name}` });
      return answered(res, 200, { Id: imageIdFor(name), RepoTags: [name] });
    }
    const match = /^\/containers\/([a-z][\w.-]*)\/(json|stop|start|exec|stats)$/.exec(path);
    if (!match || /^[0-9a-f]{32}$/.test(match[1])) return false;
    const [, name, verb] = match;
    const state = services.inspect(name);
    if (!state) return answered(res, 404, { message: `No such container: ${name}` });
    if (method === "GET" && verb === "json") {
      send(res, 200, {
        Name: `/${name}`,
        // Pulumi's provider creates containers from the image's id: Config.Image holds it, as Image does.
        Image: imageIdFor(state.image),
        RestartCount: state.restartCount,
        State: { Running: state.running, ...(state.health ? { Health: { Status: state.health } } : {}) },
        Config: { Image: imageIdFor(state.image) },
        HostConfig: { Memory: state.memoryLimitBytes },
      });
    } else if (method === "GET" && verb === "stats") {
      // Docker answers a stopped container's stats with zeros; a running one's from its cgroup.
      const memory = state.running ? services.memory(name) : undefined;
      send(res, 200, {
        name: `/${name}`,
        memory_stats: memory ? { usage: memory.usage, limit: memory.limit, stats: memory.stats } : {},
      });
    } else if (method === "POST" && verb === "stop") {
      if (!state.running) return answered(res, 304);
      await services.stop(name);
      res.writeHead(204).end();
    } else if (method === "POST" && verb === "start") {
      if (state.running) return answered(res, 304);
      await services.start(name);
      res.writeHead(204).end();
    } else if (method === "POST" && verb === "exec") {
      if (!state.running) return answered(res, 409, { message: `Container ${name} is not running` });
      if (!Array.isArray(body.Cmd) || !body.AttachStdout || !body.AttachStderr)
        return answered(res, 400, { message: "the shim runs execs with Cmd, AttachStdout and AttachStderr only" });
      const id = randomBytes(32).toString("hex");
      this.execs.set(id, { container: name, argv: body.Cmd as string[] });
      this.execLog.push({ container: name, argv: body.Cmd as string[] });
      send(res, 201, { Id: id });
    } else {
      send(res, 404, { message: `unsupported: ${method} ${path}` });
    }
    return true;
  }
}

/** The stand-in's image id for an image name (a real daemon's is the digest of the image's config). */
export const imageIdFor = (name: string) => `sha256:${createHash("sha256").update(name).digest("hex")}`;

/** Sends the answer and says the call was handled. */
function answered(res: ServerResponse, status: number, body?: unknown): true {
  if (body === undefined) res.writeHead(status).end();
  else send(res, status, body);
  return true;
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
