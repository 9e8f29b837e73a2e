/**
 * Stand-in for the pulumi-docker provider (the npm SDK @pulumi/docker 5.2.0 asks for plugin 5.2.0, which
 * the Go module proxy does not serve), driving the real Docker engine through its HTTP API.
 *
 * Contract, and where each point was read:
 * - Inputs: exactly each resource's Args in node_modules/@pulumi/docker/*.d.ts (5.2.0); anything else is
 *   refused at Check. What the program does not use is refused at Create with a clear error rather than
 *   silently ignored.
 * - Behaviour: kreuzwerker/terraform-provider-docker internal/provider/*.go at 96d331c9 (2026-09-16, the
 *   newest the Go module proxy serves; pulumi-docker bridges this provider):
 *   - Container attributes are ForceNew except rm, start, wait, waitTimeout, attach, logs, mustRun,
 *     restart, maxRetryCount, removeVolumes, tmpfs, destroyGraceSeconds, memory, memoryReservation,
 *     memorySwap, cpuShares, cpuSet, init, cpuPeriod, cpuQuota (resource_docker_container.go). Of those,
 *     restart, maxRetryCount, cpuShares, memory, memoryReservation, cpuSet, memorySwap are applied with
 *     `docker update`, and mustRun false→true starts it (resourceDockerContainerUpdate).
 *   - Create (resourceDockerContainerCreate): create (on the default bridge unless networkMode); with
 *     networksAdvanced, disconnect from "bridge" and connect to each with its aliases; each upload as a
 *     one-file tar (its full path as the entry name; mode from permissions, else 0744 if executable, else
 *     0644; uid/gid from owner/group, numeric or a name of this machine's) put at "/", with copyUIDGID when
 *     owner or group is set; start (start, default true); with wait, poll health every second until
 *     healthy, failing after waitTimeout (default 60) s, or at once when the container has no
 *     healthcheck; with attach, wait until it is not running. memory, memoryReservation and shmSize are
 *     MiB; memorySwap MiB when positive; healthcheck durations are Go durations.
 *   - Delete (resourceDockerContainerDelete): unless attach, `docker stop` with a timeout of
 *     destroyGraceSeconds — 0 when unset, so the container is killed at once — then remove (force,
 *     removeVolumes default true), then wait until not running.
 *   - RemoteImage (resource_docker_image_funcs.go findImage): a local image of that name is used as it
 *     is; otherwise it is pulled (here there is no registry: that fails, as it would offline). id is the
 *     image id followed by the name; imageId the image id. Delete removes it unless keepLocally.
 *   - Network, Volume: created and removed as given; every input ForceNew.
 * - Defaults filled at Check: those the schema declares (rm false, start true, wait false, waitTimeout
 *   60, attach false, logs false, mustRun true, restart "no", removeVolumes true, logDriver "json-file"
 *   for containers; keepLocally false for images; driver "bridge"/"local").
 * Differences: no registry auth, build, ssh or context support; Read reports the state as stored.
 */
import { userInfo } from "node:os";
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { spawnSync } from "node:child_process";
import { serve, type Properties, type ProviderContext, type StandInResource } from "./server";
import { sdkInputs, sdkVersion } from "./sdkInputs";

// ---- the Docker API -------------------------------------------------------------------------------

interface Answer {
  status: number;
  body: Buffer;
}

function dockerCall(
  context: ProviderContext,
  method: string,
  path: string,
  body?: unknown,
  options: { contentType?: string; timeoutMs?: number } = {},
): Promise<Answer> {
  const config = context.config;
  const host = String(config.host || process.env.DOCKER_HOST || "unix:///var/run/docker.sock");
  const url = new URL(host.replace(/^tcp:/, config.caMaterial ? "https:" : "http:"));
  const payload =
    body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body), "utf8");
  const base: RequestOptions & { ca?: string; cert?: string; key?: string } =
    url.protocol === "unix:"
      ? { socketPath: url.pathname }
      : {
          host: url.hostname,
          port: url.port || 2376,
          ...(config.caMaterial ? { ca: config.caMaterial, cert: config.certMaterial, key: config.keyMaterial } : {}),
        };
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        ...base,
        method,
        path,
        timeout: options.timeoutMs ?? 120_000,
        headers: payload
          ? { "content-type": options.contentType ?? "application/json", "content-length": payload.length }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`Docker API ${method} ${path}: no answer`)));
    req.on("error", (error) => reject(new Error(`Docker API at ${host}: ${error.message}`)));
    req.end(payload);
  });
}

async function expect(
  context: ProviderContext,
  ok: number[],
  method: string,
  path: string,
  body?: unknown,
  contentType?: string,
) {
  const answer = await dockerCall(context, method, path, body, { contentType });
  if (!ok.includes(answer.status)) {
    const message = answer.body.toString("utf8").trim();
    let detail = message;
    try {
      detail = (JSON.parse(message) as { message: string }).message;
    } catch {
      // not JSON
    }
    throw Object.assign(new Error(`Docker API ${method} ${path}: ${answer.status} ${detail}`), {
      status: answer.status,
    });
  }
  return answer.body.length ? (JSON.parse(answer.body.toString("utf8")) as Properties) : {};
}

const ignorable = (error: unknown, ...messages: string[]) =>
  error instanceof Error && messages.some((m) => error.message.includes(m));

// ---- helpers ----------------------------------------------------------------------------------------

/** A Go duration ("30s", "1m30s", "250ms") in nanoseconds, as time.ParseDuration reads it. */
export function goDuration(text: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  const pattern = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let consumed = "";
  for (const match of text.matchAll(pattern)) {
    total += Number(match[1]) * units[match[2]];
    consumed += match[0];
  }
  if (consumed !== text || text === "") throw new Error(`not a Go duration: ${JSON.stringify(text)}`);
  return Math.round(total);
}

/** An upload's owner or group: a number, or a name of this machine's database (as the real one does). */
function resolveId(value: string | undefined, kind: "owner" | "group"): number {
  if (!value) return 0;
  if (/^\d+$/.test(value)) return Number(value);
  const file = kind === "owner" ? "/etc/passwd" : "/etc/group";
  const result = spawnSync("getent", [kind === "owner" ? "passwd" : "group", value], { encoding: "utf8" });
  const id = result.stdout.split(":")[2];
  if (result.status !== 0 || !id) throw new Error(`upload ${kind} ${value} is not in this machine's ${file}`);
  return Number(id);
}

/** A POSIX tar holding one file (its full path as the name), as the real provider builds it. */
export function oneFileTar(path: string, content: Buffer, mode: number, uid: number, gid: number): Buffer {
  const header = Buffer.alloc(512);
  let name = path.replace(/^\//, "");
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf("/", 154);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  const field = (offset: number, length: number, value: string) => header.write(value, offset, length, "utf8");
  const octal = (offset: number, length: number, value: number) =>
    field(offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
  field(0, 100, name);
  octal(100, 8, mode);
  octal(108, 8, uid);
  octal(116, 8, gid);
  octal(124, 12, content.length);
  octal(136, 12, Math.floor(Date.now() / 1000));
  field(148, 8, "        ");
  field(156, 1, "0");
  field(257, 6, "ustar\0");
  field(263, 2, "00");
  field(265, 32, uid === process.getuid?.() ? userInfo().username : "");
  field(345, 155, prefix);
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

const has = (inputs: Properties, key: string) => inputs[key] !== undefined && inputs[key] !== null;

/** Inputs the program may set but this stand-in does not carry out: refused rather than ignored. */
function refuseUnsupported(type: string, inputs: Properties, supported: readonly string[]) {
  const unsupported = Object.keys(inputs).filter((k) => has(inputs, k) && !supported.includes(k));
  if (unsupported.length) {
    throw new Error(
      `stand-in docker provider: ${type} inputs ${unsupported.join(", ")} are not carried out here; implement them (keeping the real provider's behaviour) before relying on them`,
    );
  }
}

// ---- resources --------------------------------------------------------------------------------------

const CONTAINER_UPDATABLE = [
  "restart",
  "maxRetryCount",
  "cpuShares",
  "memory",
  "memoryReservation",
  "cpuSet",
  "memorySwap",
];
const CONTAINER_NOT_FORCE_NEW = [
  ...CONTAINER_UPDATABLE,
  "rm",
  "start",
  "wait",
  "waitTimeout",
  "attach",
  "logs",
  "mustRun",
  "removeVolumes",
  "tmpfs",
  "destroyGraceSeconds",
  "init",
  "cpuPeriod",
  "cpuQuota",
];
const CONTAINER_SUPPORTED = [
  ...CONTAINER_NOT_FORCE_NEW.filter(
    (k) => !["tmpfs", "cpuPeriod", "cpuQuota", "cpuSet", "memoryReservation"].includes(k),
  ),
  "name",
  "image",
  "command",
  "entrypoints",
  "envs",
  "user",
  "workingDir",
  "healthcheck",
  "stopSignal",
  "stopTimeout",
  "networkMode",
  "networksAdvanced",
  "ports",
  "volumes",
  "uploads",
  "sysctls",
  "shmSize",
  "logDriver",
  "logOpts",
  "labels",
];

const containerInputs = sdkInputs("@pulumi/docker", "container", "ContainerArgs");

const container: StandInResource = {
  inputs: containerInputs,
  replaceOnChange: containerInputs.filter((k) => !CONTAINER_NOT_FORCE_NEW.includes(k)),
  defaults: {
    rm: false,
    start: true,
    wait: false,
    waitTimeout: 60,
    attach: false,
    logs: false,
    mustRun: true,
    restart: "no",
    removeVolumes: true,
    logDriver: "json-file",
  },
  check: (inputs) => {
    const problems: { property: string; reason: string }[] = [];
    if (!["no", "on-failure", "always", "unless-stopped"].includes(inputs.restart)) {
      problems.push({ property: "restart", reason: "must be one of no, on-failure, always, unless-stopped" });
    }
    for (const [i, upload] of ((inputs.uploads ?? []) as Properties[]).entries()) {
      const sources = ["content", "contentBase64", "source"].filter((k) => has(upload, k) && upload[k] !== "");
      if (sources.length !== 1) {
        problems.push({ property: `uploads[${i}]`, reason: "exactly one of content, contentBase64, source" });
      }
    }
    return problems;
  },
  async create(inputs, context) {
    refuseUnsupported("Container", inputs, CONTAINER_SUPPORTED);
    const mib = (value: number | undefined) => (value ? value * 1024 * 1024 : undefined);
    const health = (inputs.healthcheck ?? undefined) as Properties | undefined;
    const binds = ((inputs.volumes ?? []) as Properties[]).map(
      (v) => `${v.hostPath ?? v.volumeName}:${v.containerPath}${v.readOnly ? ":ro" : ""}`,
    );
    const ports = (inputs.ports ?? []) as Properties[];
    const portKey = (p: Properties) => `${p.internal}/${p.protocol ?? "tcp"}`;
    const config = {
      Image: inputs.image,
      ...(inputs.command ? { Cmd: inputs.command } : {}),
      ...(inputs.entrypoints ? { Entrypoint: inputs.entrypoints } : {}),
      Env: inputs.envs ?? [],
      ...(inputs.user ? { User: inputs.user } : {}),
      ...(inputs.workingDir ? { WorkingDir: inputs.workingDir } : {}),
      ...(inputs.stopSignal ? { StopSignal: inputs.stopSignal } : {}),
      ...(inputs.stopTimeout !== undefined ? { StopTimeout: inputs.stopTimeout } : {}),
      Labels: Object.fromEntries(((inputs.labels ?? []) as Properties[]).map((l) => [l.label, l.value])),
      ExposedPorts: Object.fromEntries(ports.map((p) => [portKey(p), {}])),
      ...(health
        ? {
            Healthcheck: {
              Test: health.tests,
              ...(health.interval ? { Interval: goDuration(health.interval) } : {}),
              ...(health.timeout ? { Timeout: goDuration(health.timeout) } : {}),
              ...(health.startPeriod ? { StartPeriod: goDuration(health.startPeriod) } : {}),
              ...(health.retries !== undefined ? { Retries: health.retries } : {}),
            },
          }
        : {}),
      HostConfig: {
        RestartPolicy: { Name: inputs.restart, MaximumRetryCount: inputs.maxRetryCount ?? 0 },
        ...(inputs.memory ? { Memory: mib(inputs.memory) } : {}),
        ...(inputs.memorySwap
          ? { MemorySwap: inputs.memorySwap > 0 ? mib(inputs.memorySwap) : inputs.memorySwap }
          : {}),
        ...(inputs.cpuShares ? { CpuShares: inputs.cpuShares } : {}),
        ...(inputs.shmSize ? { ShmSize: mib(inputs.shmSize) } : {}),
        ...(inputs.init !== undefined ? { Init: inputs.init } : {}),
        ...(inputs.networkMode ? { NetworkMode: inputs.networkMode } : {}),
        ...(inputs.sysctls ? { Sysctls: inputs.sysctls } : {}),
        Binds: binds,
        PortBindings: Object.fromEntries(
          ports.map((p) => [portKey(p), [{ HostIp: p.ip ?? "0.0.0.0", HostPort: String(p.external ?? "") }]]),
        ),
        LogConfig: { Type: inputs.logDriver, Config: inputs.logOpts ?? {} },
        AutoRemove: inputs.rm,
      },
    };
    const created = await expect(
      context,
      [201],
      "POST",
      `/containers/create?name=${encodeURIComponent(inputs.name)}`,
      config,
    );
    const id = String(created.Id);
    const networks = (inputs.networksAdvanced ?? []) as Properties[];
    if (networks.length) {
      await expect(context, [200], "POST", "/networks/bridge/disconnect", { Container: id }).catch((e: unknown) => {
        if (!ignorable(e, "is not connected")) throw e;
      });
      for (const network of networks) {
        await expect(context, [200], "POST", `/networks/${encodeURIComponent(network.name)}/connect`, {
          Container: id,
          EndpointConfig: { Aliases: network.aliases ?? [] },
        });
      }
    }
    for (const upload of (inputs.uploads ?? []) as Properties[]) {
      const content =
        upload.content !== undefined && upload.content !== ""
          ? Buffer.from(String(upload.content), "utf8")
          : Buffer.from(String(upload.contentBase64 ?? ""), "base64");
      const mode = upload.permissions ? parseInt(upload.permissions, 8) : upload.executable ? 0o744 : 0o644;
      const tar = oneFileTar(
        upload.file,
        content,
        mode,
        resolveId(upload.owner, "owner"),
        resolveId(upload.group, "group"),
      );
      const copyIds = upload.owner || upload.group ? "&copyUIDGID=true" : "";
      await expect(context, [200], "PUT", `/containers/${id}/archive?path=/${copyIds}`, tar, "application/x-tar");
    }
    if (inputs.start) {
      await expect(context, [204, 304], "POST", `/containers/${id}/start`);
      if (inputs.wait) await waitHealthy(context, id, Number(inputs.waitTimeout));
    }
    if (inputs.attach) await expect(context, [200], "POST", `/containers/${id}/wait?condition=not-running`);
    const state = await expect(context, [200], "GET", `/containers/${id}/json`);
    return { id, outs: { ...inputs, exitCode: (state.State as Properties).ExitCode ?? 0 } };
  },
  async update(id, olds, news, context) {
    if (!olds.mustRun && news.mustRun && news.start) {
      await expect(context, [204, 304], "POST", `/containers/${id}/start`);
    }
    if (CONTAINER_UPDATABLE.some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]))) {
      await expect(context, [200], "POST", `/containers/${id}/update`, {
        RestartPolicy: { Name: news.restart, MaximumRetryCount: news.maxRetryCount ?? 0 },
        CpuShares: news.cpuShares ?? 0,
        Memory: (news.memory ?? 0) * 1024 * 1024,
        ...(news.memorySwap
          ? { MemorySwap: news.memorySwap > 0 ? news.memorySwap * 1024 * 1024 : news.memorySwap }
          : {}),
      });
    }
    return { ...news, exitCode: olds.exitCode ?? 0 };
  },
  async delete(id, props, context) {
    if (!props.attach) {
      const grace = Number(props.destroyGraceSeconds ?? 0);
      await expect(context, [204, 304], "POST", `/containers/${id}/stop?t=${grace}`).catch((e: unknown) => {
        if (!ignorable(e, "No such container")) throw e;
      });
    }
    await expect(
      context,
      [204],
      "DELETE",
      `/containers/${id}?force=true&v=${props.removeVolumes ? "true" : "false"}`,
    ).catch((e: unknown) => {
      if (!ignorable(e, "No such container", "is already in progress")) throw e;
    });
    await expect(context, [200], "POST", `/containers/${id}/wait?condition=not-running`).catch((e: unknown) => {
      if (!ignorable(e, "No such container")) throw e;
    });
  },
  async read(id, props, context) {
    const answer = await dockerCall(context, "GET", `/containers/${id}/json`);
    return answer.status === 404 ? undefined : props;
  },
};

async function waitHealthy(context: ProviderContext, id: string, timeoutSeconds: number) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const state = (await expect(context, [200], "GET", `/containers/${id}/json`)).State as Properties;
    if (!state.Health) {
      throw new Error(
        "you have supplied a 'wait' argument, but the container does not have a healthcheck defined. Please remove the 'wait' argument or add a 'healthcheck' attribute",
      );
    }
    if (state.Health.Status === "healthy") return;
    if (Date.now() > deadline) throw new Error("container failed to be in healthy state");
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const remoteImage: StandInResource = {
  inputs: sdkInputs("@pulumi/docker", "remoteImage", "RemoteImageArgs"),
  replaceOnChange: "all",
  defaults: { keepLocally: false },
  async create(inputs, context) {
    refuseUnsupported("RemoteImage", inputs, ["name", "keepLocally", "forceRemove"]);
    // As the docker CLI sends it: the reference in the path as it is (slashes and colon included).
    const name = encodeURI(String(inputs.name));
    let found = await dockerCall(context, "GET", `/images/${name}/json`);
    if (found.status === 404) {
      const [fromImage, tag] = String(inputs.name).split(/:(?=[^:/]+$)/);
      const pull = await dockerCall(
        context,
        "POST",
        `/images/create?fromImage=${encodeURIComponent(fromImage)}&tag=${encodeURIComponent(tag ?? "latest")}`,
        undefined,
        { timeoutMs: 600_000 },
      );
      if (pull.status !== 200 || pull.body.toString().includes('"error"')) {
        throw new Error(`unable to pull image ${inputs.name}: ${pull.body.toString().trim().slice(-300)}`);
      }
      found = await dockerCall(context, "GET", `/images/${name}/json`);
    }
    if (found.status !== 200) throw new Error(`unable to find or pull image ${inputs.name}`);
    const image = JSON.parse(found.body.toString("utf8")) as { Id: string; RepoDigests?: string[] };
    return {
      id: `${image.Id}${inputs.name}`,
      outs: { ...inputs, imageId: image.Id, repoDigest: image.RepoDigests?.[0] ?? "" },
    };
  },
  async delete(_id, props, context) {
    if (props.keepLocally) return;
    await expect(
      context,
      [200],
      "DELETE",
      `/images/${encodeURIComponent(props.imageId)}?force=${props.forceRemove ? "true" : "false"}`,
    ).catch((e: unknown) => {
      if (!ignorable(e, "No such image")) throw e;
    });
  },
};

const network: StandInResource = {
  inputs: sdkInputs("@pulumi/docker", "network", "NetworkArgs"),
  replaceOnChange: "all",
  defaults: { driver: "bridge" },
  async create(inputs, context) {
    refuseUnsupported("Network", inputs, [
      "name",
      "driver",
      "ipv6",
      "ipamConfigs",
      "internal",
      "attachable",
      "options",
      "labels",
    ]);
    const ipam = (inputs.ipamConfigs ?? []) as Properties[];
    const created = await expect(context, [201], "POST", "/networks/create", {
      Name: inputs.name,
      Driver: inputs.driver,
      CheckDuplicate: true,
      EnableIPv6: Boolean(inputs.ipv6),
      Internal: Boolean(inputs.internal),
      Attachable: Boolean(inputs.attachable),
      Options: inputs.options ?? {},
      Labels: Object.fromEntries(((inputs.labels ?? []) as Properties[]).map((l) => [l.label, l.value])),
      ...(ipam.length
        ? {
            IPAM: {
              Driver: "default",
              Config: ipam.map((c) => ({
                ...(c.subnet ? { Subnet: c.subnet } : {}),
                ...(c.gateway ? { Gateway: c.gateway } : {}),
                ...(c.ipRange ? { IPRange: c.ipRange } : {}),
              })),
            },
          }
        : {}),
    });
    return { id: String(created.Id), outs: { ...inputs } };
  },
  async delete(id, _props, context) {
    await expect(context, [204], "DELETE", `/networks/${id}`).catch((e: unknown) => {
      if (!ignorable(e, "No such network", "not found")) throw e;
    });
  },
};

const volume: StandInResource = {
  inputs: sdkInputs("@pulumi/docker", "volume", "VolumeArgs"),
  replaceOnChange: "all",
  defaults: { driver: "local" },
  async create(inputs, context) {
    refuseUnsupported("Volume", inputs, ["name", "driver", "driverOpts", "labels"]);
    const created = await expect(context, [201], "POST", "/volumes/create", {
      Name: inputs.name,
      Driver: inputs.driver,
      DriverOpts: inputs.driverOpts ?? {},
      Labels: Object.fromEntries(((inputs.labels ?? []) as Properties[]).map((l) => [l.label, l.value])),
    });
    return { id: String(created.Name), outs: { ...inputs, mountpoint: created.Mountpoint } };
  },
  async delete(id, _props, context) {
    // A volume a container is still being removed from answers "in use" for a moment.
    for (let attempt = 0; ; attempt++) {
      try {
        await expect(context, [204], "DELETE", `/volumes/${encodeURIComponent(id)}`);
        return;
      } catch (error) {
        if (ignorable(error, "no such volume")) return;
        if (!ignorable(error, "in use") || attempt >= 10) throw error;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  },
};

if (require.main === module)
  void serve({
    name: "docker",
    version: sdkVersion("@pulumi/docker"),
    configKeys: sdkInputs("@pulumi/docker", "provider", "ProviderArgs"),
    resources: {
      "docker:index/container:Container": container,
      "docker:index/remoteImage:RemoteImage": remoteImage,
      "docker:index/network:Network": network,
      "docker:index/volume:Volume": volume,
    },
  });
