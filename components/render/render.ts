/**
 * Everything the program would hand Docker, without Docker: each container's uploads (byte for byte),
 * command, entrypoint, environment, mounts, published ports and healthcheck, taken from the
 * docker.Container inputs the program registers offline. `npm run render` writes them out; the
 * real-daemon harness boots them.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access -- Pulumi's mocks hand over untyped resource inputs */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { OfflineMocks, runOffline, unwrapSecrets, type GeneratedValues } from "./offline";

export interface ContainerFile {
  path: string;
  content: string;
  /** Numeric owner as uploaded; root when absent. */
  uid: number;
  gid: number;
  mode: number;
}

export interface ContainerMount {
  /** A host directory (on the data volume) or a named Docker volume. */
  hostPath?: string;
  volumeName?: string;
  /** A named volume's local-driver options (`type`, `device`, `o`), when the program sets them. */
  volumeOptions?: Record<string, string>;
  containerPath: string;
  readOnly: boolean;
}

export interface ContainerSpec {
  /** The container's name, also its name on the network. */
  name: string;
  image: string;
  uploads: ContainerFile[];
  entrypoint?: string[];
  command?: string[];
  env: Record<string, string>;
  mounts: ContainerMount[];
  /** Ports published on the host, each to a container port. */
  publishedPorts: { host: number; container: number }[];
  hostNetwork: boolean;
  /** No network at all (networkMode "none"). */
  noNetwork: boolean;
  /** The user the container runs as when it sets one (over the image's), `uid:gid`. */
  user?: string;
  /** Runs once at creation and is not restarted (mustRun false): a one-shot job, not a service. */
  oneShot: boolean;
  /** Namespaced kernel settings the container asks for (nothing else is set). */
  sysctls: Record<string, string>;
  healthcheck: string[];
  shmSizeMb?: number;
  memoryMb: number;
}

/** A stack's own `firmground:*` values as the program receives them, and which were set with `--secret`. */
export interface StackValues {
  /** Text; JSON for lists and objects; each encrypted value a placeholder `<secret:config:<key>>` here. */
  values: Record<string, string>;
  secretKeys: string[];
}

export interface RenderedStack {
  containers: Record<string, ContainerSpec>;
  /** The program's stack outputs, secrets unwrapped. */
  outputs: Record<string, unknown>;
  /** Inputs of every dynamic resource (the MatrixUsers, the backup guards), by resource name, secrets unwrapped. */
  dynamic: Record<string, Record<string, unknown>>;
}

function toSpec(
  inputs: Record<string, any>,
  image: string,
  volumes: Map<string, Record<string, string> | undefined>,
): ContainerSpec {
  const env = Object.fromEntries(
    ((inputs.envs ?? []) as string[]).map((entry) => [
      entry.slice(0, entry.indexOf("=")),
      entry.slice(entry.indexOf("=") + 1),
    ]),
  );
  return {
    name: String(inputs.name),
    image,
    uploads: ((inputs.uploads ?? []) as Record<string, string>[]).map((u) => ({
      path: u.file,
      content: u.content,
      uid: Number(u.owner ?? 0),
      gid: Number(u.group ?? 0),
      mode: parseInt(u.permissions ?? "0644", 8),
    })),
    entrypoint: inputs.entrypoints as string[] | undefined,
    command: inputs.command as string[] | undefined,
    env,
    mounts: ((inputs.volumes ?? []) as Record<string, any>[]).map((v) => ({
      hostPath: v.hostPath as string | undefined,
      volumeName: v.volumeName as string | undefined,
      ...(v.volumeName && volumes.get(String(v.volumeName))
        ? { volumeOptions: volumes.get(String(v.volumeName)) }
        : {}),
      containerPath: String(v.containerPath),
      readOnly: Boolean(v.readOnly),
    })),
    publishedPorts: ((inputs.ports ?? []) as { internal: number; external: number }[]).map((p) => ({
      host: p.external,
      container: p.internal,
    })),
    hostNetwork: inputs.networkMode === "host",
    noNetwork: inputs.networkMode === "none",
    ...(inputs.user ? { user: String(inputs.user) } : {}),
    oneShot: inputs.mustRun === false,
    sysctls: (inputs.sysctls ?? {}) as Record<string, string>,
    healthcheck: inputs.healthcheck?.tests as string[],
    shmSizeMb: inputs.shmSize as number | undefined,
    memoryMb: Number(inputs.memory),
  };
}

/**
 * Runs the program offline with a stack's `config` (its `firmground:*` values, as Pulumi passes them) and returns
 * every container's spec. Throws the program's own error when it refuses the config.
 */
export async function renderStack(
  config: StackValues,
  values: GeneratedValues,
  network?: OfflineMocks["network"],
): Promise<RenderedStack> {
  const { mocks, outputs, error } = await runOffline(
    config.values,
    new OfflineMocks(values, network),
    config.secretKeys,
  );
  if (error) throw error instanceof Error ? error : new Error(JSON.stringify(error));
  const images = new Map(mocks.of("docker:index/remoteImage:RemoteImage").map((r) => [r.name, String(r.inputs.name)]));
  const volumes = new Map(
    mocks
      .of("docker:index/volume:Volume")
      .map((v) => [String(v.inputs.name), v.inputs.driverOpts as Record<string, string> | undefined]),
  );
  const containers: Record<string, ContainerSpec> = {};
  for (const container of mocks.of("docker:index/container:Container")) {
    const spec = toSpec(
      unwrapSecrets(container.inputs) as Record<string, any>,
      images.get(`${container.name}-image`) ?? "unknown",
      volumes,
    );
    containers[spec.name] = spec;
  }
  const plain: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(outputs ?? {})) {
    plain[key] = await new Promise((resolve) => pulumi.output(value).apply(resolve));
  }
  const dynamic: RenderedStack["dynamic"] = {};
  for (const resource of mocks.of("pulumi-nodejs:dynamic:Resource")) {
    const inputs = unwrapSecrets(resource.inputs) as Record<string, unknown>;
    delete inputs.__provider; // the serialized provider, not an input of the resource
    dynamic[resource.name] = inputs;
  }
  return { containers, outputs: plain, dynamic };
}

/**
 * Writes one folder per container: its uploads at their paths inside the container, with their modes,
 * and `container.json` with everything else Docker receives. Returns the files written.
 */
export function writeRendered(outDir: string, containers: Record<string, ContainerSpec>): string[] {
  const written: string[] = [];
  for (const spec of Object.values(containers)) {
    const { uploads, ...rest } = spec;
    const base = join(outDir, spec.name);
    for (const file of uploads) {
      const target = join(base, file.path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, file.content, { mode: file.mode });
      written.push(target);
    }
    const description = {
      ...rest,
      uploads: uploads.map(({ content: _content, ...u }) => ({ ...u, mode: `0${u.mode.toString(8)}` })),
    };
    mkdirSync(base, { recursive: true });
    writeFileSync(join(base, "container.json"), `${JSON.stringify(description, null, 2)}\n`);
    written.push(join(base, "container.json"));
  }
  return written;
}
