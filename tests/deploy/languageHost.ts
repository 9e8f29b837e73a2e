/**
 * A stand-in for Pulumi's Node.js language host plugin (`pulumi-language-nodejs`, Go module
 * github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 at v3.248.0), for `npm run test:deploy`,
 * which runs the real Pulumi CLI v3.248.0 on this project's real index.ts. The real host cannot be had from the
 * Go module proxy; this one keeps its contract as far as this project uses it, and runs the real @pulumi/pulumi
 * entry points (cmd/run, cmd/run-policy-pack, cmd/run-plugin) as the real one does. bin/pulumi-language-nodejs
 * starts it. The CLI takes `pulumi-language-nodejs` from PATH first (unless PULUMI_IGNORE_AMBIENT_PLUGINS is set),
 * else from beside the `pulumi` binary, and when both exist and differ it warns "using pulumi-language-nodejs from
 * $PATH at ... expected ..." (sdk/go/common/workspace/plugins.go getPluginInfoAndPath); the same holds for the
 * dynamic-provider plugin bin/pulumi-resource-pulumi-nodejs. So put bin/ first on PATH.
 *
 * Every fact below was read from sdk/nodejs/cmd/pulumi-language-nodejs/main.go (and proxy.go) at tag v3.248.0,
 * or from the v3.248.0 Go SDK (sdk/v3: policy_proxy.go, go/common/util/rpcutil, nodejs/npm) that it calls.
 *
 * STARTING (main.go: main)
 * - argv: Go `flag` parsing (`-x`, `--x`, `-x=v`, `-x v`; a `--` or the first non-flag ends the flags): -tracing,
 *   -runtime (default nodejs), -version (prints v3.248.0 and exits 0), and glog's flags the CLI may pass through
 *   (-v=N, -logtostderr, -alsologtostderr, -vmodule, -log_dir, ...). An unknown flag: message and exit 2. The
 *   first argument left is the engine address (the CLI passes it: buildArgsForNewPlugin in
 *   sdk/go/common/resource/plugin/langruntime_plugin.go, after --logtostderr -v=N --tracing X when set).
 * - With an engine address, the engine's grpc.health.v1 Health/Check is called every 5 minutes; an error other
 *   than UNIMPLEMENTED stops the server (rpcutil.Healthcheck). SIGINT stops it too (graceful: running calls
 *   finish, then exit 0); a second SIGINT ends it at once.
 * - Serves pulumirpc.LanguageRuntime on 127.0.0.1, a port the kernel chooses, receive limit 400 MiB
 *   (rpcutil.ServeWithOptions), and prints the port and a newline on stdout: the engine reads it, then streams
 *   everything else the host writes on stdout/stderr to the user as info/info-error diagnostics.
 *
 * WHAT THE ENGINE CALLS (pkg/v3 engine and cmd, sdk/v3 langruntime_plugin.go): preview/up: GetPluginInfo,
 *   GetRequiredPackages (plugins to install/load), Run (dry run, then the update), About (from a second host
 *   process, for the update's metadata; its failure is only logged); destroy: GetRequiredPackages; --policy-pack:
 *   RunPlugin kind "analyzer" for each Node.js pack; `pulumi install`: InstallDependencies; `pulumi about`: About,
 *   GetProgramDependencies. Nothing in the v3.248.0 CLI calls Cancel on a language host (only pkg/v3's deploytest);
 *   it stops a host with SIGINT to the host's process group (so the running program gets it too), then SIGKILL
 *   after 5 s (plugin.go Plugin.Close). A host the CLI starts itself gets no Handshake (the engine address comes
 *   from argv); Handshake is for a host attached through PULUMI_DEBUG_LANGUAGES.
 * PROGRAM AND OPTIONS: every request carries ProgramInfo: rootDirectory (where Pulumi.yaml is), programDirectory
 *   and entryPoint (from Pulumi.yaml main; "." when none), and options = Pulumi.yaml runtime.options verbatim
 *   (typescript, tsconfig, nodeargs, packagemanager). node_modules is never located by the host itself: Node's
 *   own resolution, run from the program directory upward, finds @pulumi/pulumi (a symlinked node_modules works).
 *
 * Handshake (main.go: Handshake): records the engine address; empty response. (The real one also starts a health
 *   check whose failure cancels nothing; the stand-in starts none.)
 * GetPluginInfo (GetPluginInfo): version v3.248.0 (version.Version, set by the release build's ldflags).
 * GetRequiredPlugins (GetRequiredPlugins): UNIMPLEMENTED "method GetRequiredPlugins not implemented".
 * GetRequiredPackages (GetRequiredPackages, getPackagesFromDir, getPackageInfo, getPluginName, getPluginVersion):
 *   walks every directory under the program directory in name order (symlinks resolved, each real directory once,
 *   directories holding PulumiPolicy.json/.yaml/.yml skipped); inside node_modules every package.json is read as
 *   Go's encoding/json would (a type mismatch skips it); one with "pulumi": {"resource": true} is a resource
 *   package: name = pulumi.name, else the @pulumi/ package's bare name (other scopes need pulumi.name), version =
 *   pulumi.version or the package's, prefixed "v"; server = pulumi.server; parameterization passed on. Errors only
 *   log. Two @pulumi/pulumi versions of different major (0.x: minor) print "Found incompatible versions ..." on
 *   stderr (only when the walk had no error).
 * Run (Run, execRuntime, constructArguments, constructConfig, constructConfigSecretKeys; proxy.go monitorProxy):
 *   - no engine address yet: gRPC error "when debugging or running explicitly, must call Handshake before Run".
 *   - serves a ResourceMonitor proxy on 127.0.0.1 that forwards every call to the engine's monitor (RegisterResource
 *     with metadata pulumi-runtime: nodejs) and makes a temporary directory "pulumi-node-pipes*" for --sync.
 *   - node is looked up on PATH (`could not find node on the $PATH: ...`); the run script is
 *     $PULUMI_LANGUAGE_NODEJS_RUN_PATH or @pulumi/pulumi/cmd/run, resolved by `node -e require.resolve(...)` run in
 *     the program directory (a failure's stderr is the RunResponse error, e.g. "It looks like the Pulumi SDK has
 *     not been installed. Have you run pulumi install?").
 *   - argv: [nodeargs from Pulumi.yaml runtime.options.nodeargs, split like a shell (google/shlex)] <run script>
 *     --monitor <proxy> --engine <engine> --sync <dir> [--organization o] [--project p] [--root-directory r]
 *     [--stack s] [--pwd <program dir>] [--dry-run] --parallel <n> [--tracing <url>] <entry point> <args...>
 *     (each [--x v] only when v is not empty). There is no --query-mode in v3.248.0.
 *   - env: the host's own environment plus PULUMI_CONFIG (the config as a JSON object whose keys are rewritten
 *     from "ns:key" to "ns:config:key", keys sorted, Go's escaping), PULUMI_CONFIG_SECRET_KEYS (JSON array, "[]"
 *     when none), PULUMI_NODEJS_TYPESCRIPT=true unless runtime option typescript is false (it defaults to true),
 *     PULUMI_NODEJS_TSCONFIG_PATH=<runtime option tsconfig> when set. Options are validated as the real host does
 *     (typescript boolean, tsconfig/nodeargs strings, packagemanager one of auto/npm/yarn/pnpm/bun). The child's
 *     working directory is the host's own (the SDK changes to --pwd), stdin is /dev/null.
 *   - the child's stdout is copied to the host's stdout, its stderr to the host's stderr (and scanned for V8's
 *     out-of-memory report).
 *   - exit 0: empty error; exit 32 (the SDK already showed an actionable message): bail=true, no error; any other
 *     exit: "Program exited with non-zero exit code: N" (-1 when killed by a signal), plus the nodeargs
 *     --max-old-space-size hint when an OOM report was seen; not started: "Problem executing program (could not
 *     run language executor): ...".
 *   - the engine ending the call, or Cancel, interrupts the child (SIGINT), and kills it 5 s later if still
 *     running (exec.CommandContext with Cancel = Interrupt, WaitDelay 5 s); a child that exits but leaves its
 *     output pipes open (a grandchild holding them) is waited for at most 5 s.
 * Cancel (Cancel): interrupts the running program as above, and every later Run fails at once with "Problem
 *   executing program (could not run language executor): context canceled" (the real host's cancel context is
 *   never renewed). Plugins started by RunPlugin are not affected.
 * InstallDependencies: NOT the real behaviour (the real one runs npm/yarn/pnpm/bun install in the workspace root):
 *   writes one stdout message saying dependencies are installed by `npm ci`, and succeeds.
 * RunPlugin (RunPlugin; sdk/v3 policy_proxy.go): needs the engine address like Run; node on PATH; the script is
 *   @pulumi/pulumi/cmd/run-policy-pack for kind "analyzer", else $PULUMI_LANGUAGE_NODEJS_RUN_PATH or
 *   @pulumi/pulumi/cmd/run-plugin, resolved from the plugin's directory ("... Have you run npm install in <dir>?").
 *   argv: <script> [nodeargs] then, for an analyzer, <request args...> <plugin dir>, else <plugin dir> <request
 *   args...> (the CLI sends its own flags and the engine address as args). env: exactly the request's env list
 *   (the CLI sends its whole environment) plus PULUMI_NODEJS_TYPESCRIPT/PULUMI_NODEJS_TSCONFIG_PATH as for Run;
 *   working directory: the plugin directory for an analyzer, else the request's pwd. stdout/stderr are streamed
 *   back as RunPluginResponse stdout/stderr chunks (no exitcode message: the stream ends OK on exit 0, else with
 *   the error "Program exited with non-zero exit code: N"); the engine ending the stream kills the child.
 *   For an analyzer (policy pack), the host first serves an Analyzer proxy and writes its port as the plugin's
 *   first stdout line; it answers Handshake itself, keeps the first ConfigureStack, and only then starts node
 *   with PULUMI_NODEJS_ORGANIZATION/_PROJECT/_STACK (when not empty), PULUMI_NODEJS_DRY_RUN (true/false) and
 *   PULUMI_CONFIG (the stack config as sent, keys not rewritten; no secret-keys variable); it reads the pack's
 *   port from the pack's first stdout line, forwards the kept ConfigureStack (UNIMPLEMENTED is fine), and then
 *   forwards every other Analyzer call; a call that comes before ConfigureStack starts the pack without config.
 * About (About): executable = node found in the working directory, $GOPATH/bin or PATH; version = `node --version`;
 *   metadata packagemanager (resolved as npm.ResolvePackageManager does: option, package.yaml -> pnpm,
 *   PULUMI_PREFER_YARN or yarn.lock -> yarn, pnpm-lock.yaml -> pnpm, bun.lock(b) -> bun, else npm) and
 *   packagemanagerVersion (`<pm> --version`, "" when that fails).
 * GetProgramDependencies (GetProgramDependencies; npm.listPackagesFromLockFile): with npm, the packages of the
 *   nearest package-lock.json above the program directory, filtered to package.json's dependencies and
 *   devDependencies unless transitive.
 *
 * WHERE THIS STAND-IN DIFFERS (on purpose; none of it is used by this project's preview/up/destroy/policy runs)
 * - No tracing: -tracing is accepted and passed on as --tracing as the real host does, but the host itself
 *   emits no spans, no OTel (no TRACEPARENT to children), and no log files; -v/-logtostderr only make it print
 *   plain-text debug lines on stderr (the real host writes JSON log records).
 * - No debugger: a Run/RunPlugin with attachDebugger fails with an error saying so (the real host adds
 *   --inspect-brk and calls the engine's StartDebugging).
 * - --sync is passed (a fresh empty directory, removed after the run) but synchronous invokes are not served:
 *   nothing in @pulumi/pulumi 3.248.0 or this project's node_modules opens those pipes (runtime/settings.js
 *   getSyncInvokes has no caller); a program that did would fail on a missing file instead of hanging.
 * - Only -runtime nodejs (the real binary also serves bun with -runtime bun). A bad flag prints the error and a
 *   one-line usage (Go prints every flag), exit 2 as Go's.
 * - InstallDependencies installs nothing (see above). GetProgramDependencies reads package-lock.json only (yarn,
 *   pnpm and bun lock files are an error here), by JSON rather than the real line scanner (same result for
 *   npm-written lock files).
 * - UNIMPLEMENTED: GenerateProgram, GenerateProject, GeneratePackage, Pack, Link (codegen/packaging), and
 *   Template and RuntimeOptionsPrompts (the real host answers Template with an empty response and
 *   RuntimeOptionsPrompts with a packagemanager prompt; only `pulumi new` calls them).
 * - The host serves no grpc health or reflection service (rpcutil registers both; the CLI calls neither on a
 *   language host).
 * - Where two @pulumi/pulumi versions conflict, "first" in the warning is the first found, not Go's random map
 *   order.
 */
import * as grpc from "@grpc/grpc-js";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
/* eslint-disable @typescript-eslint/no-require-imports -- the SDK's generated gRPC stubs are CommonJS without types */
const langproto = require("@pulumi/pulumi/proto/language_pb");
const langrpc = require("@pulumi/pulumi/proto/language_grpc_pb");
const plugproto = require("@pulumi/pulumi/proto/plugin_pb");
const resrpc = require("@pulumi/pulumi/proto/resource_grpc_pb");
const analyzerrpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzerproto = require("@pulumi/pulumi/proto/analyzer_pb");
const emptyproto = require("google-protobuf/google/protobuf/empty_pb");
/* eslint-enable @typescript-eslint/no-require-imports */

/** The version the real host reports: the CLI release's (`-X .../version.Version=v3.248.0`). */
const VERSION = "v3.248.0";
/** rpcutil's maxRPCMessageSize: 400 MiB for what servers and clients receive. */
const MAX_MESSAGE = 400 * 1024 * 1024;
const CHANNEL_OPTIONS = { "grpc.max_receive_message_length": MAX_MESSAGE };
/** The SDK exits with this after it has shown the user an actionable message: the engine should just stop. */
const EXITED_AFTER_USER_ACTIONABLE_MESSAGE = 32;
/** exec.Cmd.WaitDelay in execRuntime. */
const WAIT_DELAY_MS = 5_000;
const HEALTHCHECK_INTERVAL_MS = 5 * 60_000;

type Callback = (error: any, response?: any) => void;
type Env = Record<string, string | undefined>;

// ---------------------------------------------------------------------------------------------- small Go-isms

/** An error sent to the caller as a gRPC status (Go: a plain error returned from a handler is UNKNOWN). */
class RpcError extends Error {
  constructor(
    message: string,
    readonly code: grpc.status = grpc.status.UNKNOWN,
  ) {
    super(message);
  }
}

const toStatus = (error: unknown) =>
  error instanceof RpcError
    ? { code: error.code, details: error.message }
    : { code: grpc.status.UNKNOWN, details: error instanceof Error ? error.message : String(error) };

/** Go's status error text: `rpc error: code = Unknown desc = ...`. */
const goRpcErrorText = (error: grpc.ServiceError) => {
  const names: Record<number, string> = {
    1: "Canceled",
    2: "Unknown",
    3: "InvalidArgument",
    4: "DeadlineExceeded",
    5: "NotFound",
    6: "AlreadyExists",
    7: "PermissionDenied",
    8: "ResourceExhausted",
    9: "FailedPrecondition",
    10: "Aborted",
    11: "OutOfRange",
    12: "Unimplemented",
    13: "Internal",
    14: "Unavailable",
    15: "DataLoss",
    16: "Unauthenticated",
  };
  return `rpc error: code = ${names[error.code] ?? `Code(${error.code})`} desc = ${error.details}`;
};

/** encoding/json's Marshal: map keys sorted, and <, >, &, U+2028, U+2029 escaped. */
function goJson(value: unknown): string {
  const sortKeys = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sortKeys)
      : v !== null && typeof v === "object"
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sortKeys(value)).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Semantic versions as github.com/blang/semver's strict Parse accepts them. */
interface SemVer {
  major: number;
  minor: number;
  text: string;
}
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-(0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
function parseSemver(text: string): SemVer {
  const match = SEMVER.exec(text);
  if (!match) throw new Error(`No Major.Minor.Patch elements found in ${JSON.stringify(text)}`);
  return { major: Number(match[1]), minor: Number(match[2]), text };
}

/** exec.LookPath: the first executable file of that name on PATH (a relative hit is refused, as Go does). */
function lookPath(name: string): { path: string } | { error: string } {
  const isExecutable = (file: string) => {
    try {
      if (fs.statSync(file).isDirectory()) return false;
      fs.accessSync(file, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (name.includes("/")) {
    return isExecutable(name) ? { path: name } : { error: `exec: "${name}": permission denied or not found` };
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir === "" ? "." : dir, name);
    if (isExecutable(candidate)) {
      if (!path.isAbsolute(candidate)) {
        return { error: `exec: "${name}": cannot run executable found relative to current directory` };
      }
      return { path: candidate };
    }
  }
  return { error: `exec: "${name}": executable file not found in $PATH` };
}

/** fsutil.Searchup: the nearest `name` in dir or above it. */
function searchUp(dir: string, name: string): string | undefined {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const candidate = path.join(current, name);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(current) === current) return undefined;
  }
}

/** google/shlex.Split, as the real host splits the nodeargs option. */
function shlexSplit(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  const isSpace = (c: string) => c === " " || c === "\t" || c === "\r" || c === "\n";
  while (i < text.length) {
    const c = text[i];
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    let word = "";
    let state: "word" | "escape" | "double" | "doubleEscape" | "single" = "word";
    for (; i < text.length; i++) {
      const d = text[i];
      if (state === "word") {
        if (isSpace(d)) break;
        if (d === '"') state = "double";
        else if (d === "'") state = "single";
        else if (d === "\\") state = "escape";
        else word += d;
      } else if (state === "escape") {
        word += d;
        state = "word";
      } else if (state === "double") {
        if (d === '"') state = "word";
        else if (d === "\\") state = "doubleEscape";
        else word += d;
      } else if (state === "doubleEscape") {
        word += d;
        state = "double";
      } else if (d === "'") state = "word";
      else word += d;
    }
    if (state === "escape" || state === "doubleEscape") throw new Error("EOF found after escape character");
    if (state === "double" || state === "single") throw new Error("EOF found when expecting closing quote");
    words.push(word);
  }
  return words;
}

// ------------------------------------------------------------------------------------------- logging (plain)

let logToStderr = false;
let verbosity = 0;
const debugLog = (level: number, message: string) => {
  if (logToStderr && verbosity >= level) process.stderr.write(`pulumi-language-nodejs: ${message}\n`);
};

// --------------------------------------------------------------------------------------------- runtime options

interface NodeOptions {
  typescript: boolean;
  tsconfigpath: string;
  nodeargs: string;
  packagemanager: "auto" | "npm" | "yarn" | "pnpm" | "bun";
}

/** main.go parseOptions, for runtime nodejs. */
function parseOptions(info: any): NodeOptions {
  const options: Record<string, unknown> = info?.getOptions()?.toJavaScript() ?? {};
  const result: NodeOptions = { typescript: true, tsconfigpath: "", nodeargs: "", packagemanager: "auto" };
  if ("typescript" in options) {
    if (typeof options.typescript !== "boolean") throw new Error("typescript option must be a boolean");
    result.typescript = options.typescript;
  }
  if ("tsconfig" in options) {
    if (typeof options.tsconfig !== "string") throw new Error("tsconfigpath option must be a string");
    result.tsconfigpath = options.tsconfig;
  }
  if ("nodeargs" in options) {
    if (typeof options.nodeargs !== "string") throw new Error("nodeargs option must be a string");
    result.nodeargs = options.nodeargs;
  }
  if ("packagemanager" in options) {
    const pm = options.packagemanager;
    if (typeof pm !== "string") throw new Error("packagemanager option must be a string");
    if (!["auto", "npm", "yarn", "pnpm", "bun"].includes(pm)) {
      throw new Error(`packagemanager option must be one of auto, npm, yarn, pnpm or bun, got ${JSON.stringify(pm)}`);
    }
    result.packagemanager = pm as NodeOptions["packagemanager"];
  }
  return result;
}

// ------------------------------------------------------------------------------------------ package managers

interface PackageManager {
  name: "npm" | "yarn" | "pnpm" | "bun";
  executable: string;
}

function packageManager(name: PackageManager["name"]): PackageManager {
  const found = lookPath(name);
  if ("error" in found) {
    throw new Error(`Could not find \`${name}\` executable.\nInstall ${name} and make sure it is in your PATH.`);
  }
  return { name, executable: found.path };
}

/** nodejs/npm ResolvePackageManager. */
function resolvePackageManager(option: NodeOptions["packagemanager"], pwd: string): PackageManager {
  let manifest: string | undefined;
  for (let dir = path.resolve(pwd); !manifest; dir = path.dirname(dir)) {
    manifest = ["package.json", "package.yaml"].map((name) => path.join(dir, name)).find((f) => fs.existsSync(f));
    if (path.dirname(dir) === dir) break;
  }
  const requiresPnpm = manifest !== undefined && path.basename(manifest) === "package.yaml";
  if (option !== "auto") {
    if (requiresPnpm && option !== "pnpm") {
      throw new Error(
        "the project's manifest is package.yaml, which is only supported by pnpm, but the runtime package " +
          `manager is set to ${JSON.stringify(option)}. Use pnpm, or convert package.yaml to package.json`,
      );
    }
    return packageManager(option);
  }
  const tryManager = (name: PackageManager["name"]) => {
    try {
      return packageManager(name);
    } catch {
      return undefined;
    }
  };
  if (requiresPnpm) {
    const pnpm = tryManager("pnpm");
    if (!pnpm) {
      throw new Error("the project's manifest is package.yaml, which requires pnpm, but pnpm could not be found");
    }
    return pnpm;
  }
  const preferYarn = /^(1|true)$/i.test(process.env.PULUMI_PREFER_YARN ?? "");
  const yarn = (preferYarn || searchUp(pwd, "yarn.lock")) && tryManager("yarn");
  if (yarn) return yarn;
  const pnpm = searchUp(pwd, "pnpm-lock.yaml") && tryManager("pnpm");
  if (pnpm) return pnpm;
  const bun = (searchUp(pwd, "bun.lock") || searchUp(pwd, "bun.lockb")) && tryManager("bun");
  if (bun) return bun;
  try {
    return packageManager("npm");
  } catch (error) {
    throw new Error(
      "could not find npm on the $PATH; npm is installed with Node.js available at https://nodejs.org/: " +
        (error as Error).message,
    );
  }
}

/** The name of a lock-file entry's package, as git-pkgs/manifests extractPackageName derives it. */
function lockEntryName(entryPath: string): string {
  let rest = entryPath.replace(/^node_modules\//, "");
  const nested = rest.lastIndexOf("node_modules/");
  if (nested >= 0) rest = rest.slice(nested + "node_modules/".length);
  if (rest.startsWith("@")) {
    const parts = rest.split("/");
    if (parts.length >= 2) return `${parts[0]}/${parts[1]}`;
  }
  return rest.split("/")[0];
}

/** npm's ListPackages: package-lock.json (npm.listPackagesFromLockFile). */
function listNpmPackages(dir: string, transitive: boolean): { name: string; version: string }[] {
  const lockFile = searchUp(dir, "package-lock.json");
  if (!lockFile) throw new Error(`no package-lock.json found (searching upwards from ${dir})`);
  const content = fs.readFileSync(lockFile, "utf8").replace(/\r\n/g, "\n");
  let deps: { name: string; version: string }[] = [];
  try {
    const lock = JSON.parse(content);
    const v3 =
      content.slice(0, 200).includes('"lockfileVersion": 3') ||
      (content.slice(0, 200).includes('"lockfileVersion": 2') && content.slice(0, 600).includes('"packages"'));
    if (v3) {
      for (const [entryPath, entry] of Object.entries<any>(lock.packages ?? {})) {
        const name = lockEntryName(entryPath);
        if (name && (entry?.version || entry?.link)) deps.push({ name, version: entry.version ?? "" });
      }
    } else {
      const walk = (tree: Record<string, any>) => {
        for (const [name, entry] of Object.entries(tree ?? {})) {
          deps.push({ name, version: entry?.version ?? "" });
          if (entry?.dependencies) walk(entry.dependencies);
        }
      };
      walk(lock.dependencies);
    }
  } catch (error) {
    throw new Error(`could not parse ${lockFile}: ${(error as Error).message}`);
  }
  if (transitive) return deps;
  const manifest = path.join(path.dirname(lockFile), "package.json");
  if (!fs.existsSync(manifest))
    throw new Error(`could not find package.json or package.yaml in ${path.dirname(lockFile)}`);
  const pkg = JSON.parse(fs.readFileSync(manifest, "utf8"));
  const direct = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]);
  deps = deps.filter((dep) => direct.delete(dep.name));
  return deps;
}

// ------------------------------------------------------------------------------------ GetRequiredPackages

/** What encoding/json would refuse when unmarshalling a package.json into main.go's packageJSON. */
function goTypeError(json: unknown): string | undefined {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === "object" && !Array.isArray(v);
  const kind = (v: unknown) => (Array.isArray(v) ? "array" : v === null ? "null" : typeof v);
  const field = (object: Record<string, unknown>, name: string) => {
    // Go matches keys to fields case-insensitively; the last matching key wins.
    let value: unknown;
    for (const key of Object.keys(object)) if (key.toLowerCase() === name.toLowerCase()) value = object[key];
    return value;
  };
  const expect = (value: unknown, type: "string" | "boolean", where: string) =>
    value === undefined || value === null || typeof value === type
      ? undefined
      : `json: cannot unmarshal ${kind(value)} into Go struct field ${where} of type ${type === "boolean" ? "bool" : "string"}`;
  if (!isObject(json)) return `json: cannot unmarshal ${kind(json)} into Go value of type main.packageJSON`;
  for (const name of ["name", "version", "main"]) {
    const problem = expect(field(json, name), "string", `packageJSON.${name}`);
    if (problem) return problem;
  }
  for (const name of ["dependencies", "devDependencies"]) {
    const map = field(json, name);
    if (map === undefined || map === null) continue;
    if (!isObject(map)) return `json: cannot unmarshal ${kind(map)} into Go struct field packageJSON.${name}`;
    for (const value of Object.values(map)) {
      const problem = expect(value, "string", `packageJSON.${name}`);
      if (problem) return problem;
    }
  }
  const pulumi = field(json, "pulumi");
  if (pulumi === undefined || pulumi === null) return undefined;
  if (!isObject(pulumi)) return `json: cannot unmarshal ${kind(pulumi)} into Go struct field packageJSON.pulumi`;
  const resource = expect(field(pulumi, "resource"), "boolean", "packageJSON.pulumi.resource");
  if (resource) return resource;
  for (const name of ["name", "version", "server"]) {
    const problem = expect(field(pulumi, name), "string", `packageJSON.pulumi.${name}`);
    if (problem) return problem;
  }
  for (const name of ["parameterization", "extensionParameterization"]) {
    const p = field(pulumi, name);
    if (p === undefined || p === null) continue;
    if (!isObject(p)) return `json: cannot unmarshal ${kind(p)} into Go struct field packageJSON.pulumi.${name}`;
    for (const key of ["name", "version", "value"]) {
      const problem = expect(field(p, key), "string", `packageJSON.pulumi.${name}.${key}`);
      if (problem) return problem;
    }
    const value = field(p, "value");
    if (typeof value === "string" && !/^[A-Za-z0-9+/]*={0,2}$/.test(value.replace(/[\r\n]/g, ""))) {
      return "illegal base64 data";
    }
  }
  return undefined;
}

/** workspace.DetectPolicyPackPathAt. */
function policyPackAt(dir: string): string {
  for (const ext of [".json", ".yaml", ".yml"]) {
    const candidate = path.join(dir, `PulumiPolicy${ext}`);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(candidate);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw error;
    }
    return stat.isDirectory() ? "" : candidate;
  }
  return "";
}

interface Walk {
  versions: Map<string, SemVer>;
  visited: Set<string>;
  errors: string[];
}

/** main.go getPackagesFromDir. */
function packagesFromDir(start: string, inNodeModules: boolean, walk: Walk): any[] {
  const dir = path.resolve(start);
  if (walk.visited.has(dir)) return [];
  walk.visited.add(dir);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    walk.errors.push(`reading plugin dir ${dir}: ${(error as Error).message}`);
    return [];
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const packages: any[] = [];
  for (const entry of entries) {
    let current = path.join(dir, entry.name);
    let isDir = entry.isDirectory();
    if (entry.isSymbolicLink()) {
      try {
        current = fs.realpathSync(current);
        isDir = fs.statSync(current).isDirectory();
      } catch (error) {
        walk.errors.push(`resolving link in plugin dir ${current}: ${(error as Error).message}`);
        continue;
      }
    }
    if (isDir) {
      let policyPack: string;
      try {
        policyPack = policyPackAt(current);
      } catch (error) {
        walk.errors.push((error as Error).message);
        continue;
      }
      if (policyPack) continue; // a nested policy pack's plugins are not the program's
      packages.push(...packagesFromDir(current, inNodeModules || path.basename(dir) === "node_modules", walk));
    } else if (inNodeModules && entry.name === "package.json") {
      const dependency = packageDependency(current, walk);
      if (dependency) packages.push(dependency);
    }
  }
  return packages;
}

function packageDependency(file: string, walk: Walk): any {
  let info: any;
  try {
    info = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    walk.errors.push(`unmarshaling package.json ${file}: ${(error as Error).message}`);
    return undefined;
  }
  const typeError = goTypeError(info);
  if (typeError) {
    walk.errors.push(`unmarshaling package.json ${file}: ${typeError}`);
    return undefined;
  }
  // Field lookup as Go's decoder does it (case-insensitive, last key wins).
  const get = (object: any, name: string): any => {
    let value: any;
    if (object && typeof object === "object") {
      for (const key of Object.keys(object)) if (key.toLowerCase() === name.toLowerCase()) value = object[key];
    }
    return value ?? undefined;
  };
  const name: string = get(info, "name") ?? "";
  const version: string = get(info, "version") ?? "";
  if (name === "@pulumi/pulumi") {
    try {
      walk.versions.set(file, parseSemver(version));
    } catch (error) {
      walk.errors.push(`Could not understand version ${version} in '${file}': ${(error as Error).message}`);
      return undefined;
    }
  }
  const pulumi = get(info, "pulumi");
  if (!get(pulumi, "resource")) return undefined;
  let pluginName: string = get(pulumi, "name") ?? "";
  if (!pluginName) {
    if (!name) {
      walk.errors.push(`unmarshaling package.json ${file}: missing expected "name" property`);
      return undefined;
    }
    if (!name.startsWith("@pulumi/")) {
      walk.errors.push(
        `unmarshaling package.json ${file}: Missing property "name" for the third-party plugin '${name}' ` +
          `inside package.json under the "pulumi" section.`,
      );
      return undefined;
    }
    pluginName = name.slice(name.indexOf("/") + 1);
  }
  let pluginVersion: string = get(pulumi, "version") ?? "";
  if (!pluginVersion) {
    pluginVersion = version;
    if (!pluginVersion) {
      walk.errors.push(`unmarshaling package.json ${file}: Missing expected "version" property`);
      return undefined;
    }
  }
  if (!pluginVersion.startsWith("v")) pluginVersion = `v${pluginVersion}`;
  const dependency = new plugproto.PackageDependency()
    .setName(pluginName)
    .setKind("resource")
    .setVersion(pluginVersion)
    .setServer(get(pulumi, "server") ?? "");
  const parameterization = get(pulumi, "parameterization");
  if (parameterization) {
    dependency.setParameterization(
      new plugproto.PackageParameterization()
        .setName(get(parameterization, "name") ?? "")
        .setVersion(get(parameterization, "version") ?? "")
        .setValue(new Uint8Array(Buffer.from(get(parameterization, "value") ?? "", "base64"))),
    );
  }
  return dependency;
}

/** main.go compatibleVersions. */
function incompatibility(a: SemVer, b: SemVer): string | undefined {
  if (a.major === 0 && b.major === 0) {
    return a.minor === b.minor ? undefined : "Differing major or minor versions are not supported.";
  }
  if (a.major >= 1 && a.major <= 2 && b.major >= 1 && b.major <= 2) return undefined;
  if (a.major > 2 || b.major > 2)
    return a.major === b.major ? undefined : "Differing major versions are not supported.";
  if ((a.major === 1 && b.major === 0 && b.minor === 17) || (b.major === 1 && a.major === 0 && a.minor === 17)) {
    return undefined;
  }
  return "Differing major or minor versions are not supported.";
}

// --------------------------------------------------------------------------------------------- node helpers

/** main.go locateModule: `require.resolve` run by node in the program's directory; the error is its stderr. */
async function locateModule(module: string, programDirectory: string, node: string, isPlugin: boolean) {
  const installCommand = isPlugin ? `npm install in ${programDirectory}` : "pulumi install";
  const script =
    `try { console.log(require.resolve(${JSON.stringify(module)})); } catch (error) {` +
    ` if (error.code === 'MODULE_NOT_FOUND') {` +
    ` console.error(${JSON.stringify(`It looks like the Pulumi SDK has not been installed. Have you run ${installCommand}?`)});` +
    ` } else { console.error(error.message); } process.exit(1); }`;
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }>(
    (resolve) => {
      const child = spawn(node, ["-e", script], {
        cwd: programDirectory || undefined,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", (error) => resolve({ code: null, stdout, stderr, error }));
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    },
  );
  if (result.error) throw new Error(result.error.message);
  if (result.code !== 0) throw new Error(result.stderr);
  return result.stdout.trim();
}

/** A Go-like text for a failed spawn (`fork/exec <bin>: no such file or directory`). */
const spawnErrorText = (bin: string, error: NodeJS.ErrnoException) => {
  const texts: Record<string, string> = {
    ENOENT: "no such file or directory",
    EACCES: "permission denied",
    ENOTDIR: "not a directory",
    ENOEXEC: "exec format error",
  };
  return `fork/exec ${bin}: ${texts[error.code ?? ""] ?? error.message}`;
};

/** The OOM sniffer of execRuntime: V8's out-of-memory report on the program's stderr. */
class OomSniffer {
  detected = false;
  private pending = "";
  feed(chunk: Buffer) {
    const lines = (this.pending + chunk.toString()).split("\n");
    this.pending = lines.pop() ?? "";
    for (const line of lines) this.check(line);
  }
  end() {
    this.check(this.pending);
  }
  private check(line: string) {
    if (
      line.includes("<--- Last few GCs --->") ||
      line.includes("Check failed: needs_context && current_scope_ == closure_scope_")
    ) {
      this.detected = true;
    }
  }
  static readonly message =
    "Detected a possible out of memory error. Consider increasing the memory available to the nodejs process " +
    "by setting the `nodeargs` runtime option in Pulumi.yaml to `nodeargs: --max-old-space-size=<size>` where " +
    "`<size>` is the maximum memory in megabytes that can be allocated to nodejs. " +
    "See https://www.pulumi.com/docs/concepts/projects/project-file/#runtime-options";
}

// ------------------------------------------------------------------------------------------ raw gRPC proxies

const identity = (b: Buffer) => b;

/** A service definition whose messages pass through as bytes (the proxies never need to decode them). */
function rawService(service: Record<string, any>): grpc.ServiceDefinition {
  const raw: Record<string, any> = {};
  for (const [name, method] of Object.entries(service)) {
    if (method.requestStream || method.responseStream) throw new Error(`${method.path} is not unary`);
    raw[name] = {
      ...method,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
  }
  return raw as grpc.ServiceDefinition;
}

/** Forwards one unary call to `client`, with its deadline and cancellation, answering with what it answers. */
function forward(client: grpc.Client, method: string, call: any, callback: Callback, metadata = new grpc.Metadata()) {
  const deadline = call.getDeadline();
  const options: grpc.CallOptions = deadline === Infinity ? {} : { deadline };
  const outgoing = client.makeUnaryRequest<Buffer, Buffer>(
    method,
    identity,
    identity,
    call.request as Buffer,
    metadata,
    options,
    (error, response) =>
      error
        ? callback({ code: error.code, details: error.details, metadata: error.metadata })
        : callback(null, response),
  );
  call.on("cancelled", () => outgoing.cancel());
}

async function listen(server: grpc.Server): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
}

/** proxy.go monitorProxy: the ResourceMonitor the program talks to, forwarding to the engine's. */
async function serveMonitorProxy(target: grpc.Client) {
  const definition = rawService(resrpc.ResourceMonitorService);
  const implementation: Record<string, any> = {};
  for (const [name, method] of Object.entries<any>(definition)) {
    implementation[name] = (call: any, callback: Callback) => {
      const metadata = new grpc.Metadata();
      // So the engine knows the request comes from the Node.js SDK (older SDKs' alias specs need fixing up).
      if (name === "registerResource") metadata.set("pulumi-runtime", "nodejs");
      forward(target, method.path, call, callback, metadata);
    };
  }
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(definition, implementation);
  return { server, port: await listen(server) };
}

/** A value some later call waits for (Go's promise.CompletionSource: the first settlement wins). */
class Completion<T> {
  settled = false;
  value: T | undefined;
  readonly promise: Promise<T>;
  private resolveFn!: (value: T) => void;
  private rejectFn!: (error: Error) => void;
  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    this.promise.catch(() => undefined);
  }
  fulfill(value: T) {
    if (this.settled) return;
    this.settled = true;
    this.value = value;
    this.resolveFn(value);
  }
  reject(error: Error) {
    if (this.settled) return;
    this.settled = true;
    this.rejectFn(error);
  }
}

/** A promise that rejects with "context canceled" when the call is cancelled first. */
function orCancelled<T>(promise: Promise<T>, call: any): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      if (call.cancelled) reject(new Error("context canceled"));
      call.on("cancelled", () => reject(new Error("context canceled")));
    }),
  ]);
}

/** sdk/v3 policy_proxy.go PolicyProxy: the Analyzer the engine talks to until the real policy pack is up. */
class PolicyProxy {
  /** The engine's first ConfigureStack request (raw bytes), or null when a call came before any. */
  readonly stackConfiguration = new Completion<Buffer | null>();
  readonly client = new Completion<grpc.Client>();
  private server = new grpc.Server(CHANNEL_OPTIONS);
  port = 0;

  async start() {
    const definition = rawService(analyzerrpc.AnalyzerService);
    const implementation: Record<string, any> = {};
    for (const [name, method] of Object.entries<any>(definition)) {
      implementation[name] = (call: any, callback: Callback) => {
        if (name === "handshake") return callback(null, Buffer.alloc(0)); // AnalyzerHandshakeResponse{}
        if (name === "configureStack") {
          this.stackConfiguration.fulfill(call.request as Buffer);
          return callback(null, Buffer.alloc(0)); // AnalyzerStackConfigureResponse{}
        }
        // awaitClient: a call before ConfigureStack (e.g. `pulumi policy publish`) starts the pack unconfigured.
        this.stackConfiguration.fulfill(null);
        orCancelled(this.client.promise, call).then(
          (client) => forward(client, method.path, call, callback),
          (error: Error) =>
            callback({ code: grpc.status.UNKNOWN, details: `policy pack not started: ${error.message}` }),
        );
      };
    }
    this.server.addService(definition, implementation);
    this.port = await listen(this.server);
  }

  stop() {
    this.server.tryShutdown(() => undefined);
  }

  /** Attach: read the pack's port from its first stdout line, forward the kept configuration, then proxy to it. */
  async attach(firstLine: Promise<string | undefined>): Promise<void> {
    let port: number;
    try {
      // Go's Fscanf on the pipe Attach closes when the pack exits: no complete line is a closed-pipe read.
      const line = await firstLine;
      if (line === undefined) throw new Error("io: read/write on closed pipe");
      const match = /^[ \t]*([+-]?\d+)[ \t]*$/.exec(line);
      if (!match) throw new Error("expected integer");
      port = Number(match[1]);
    } catch (error) {
      const failure = new Error(`could not read policy pack port: ${(error as Error).message}`);
      this.client.reject(failure);
      throw failure;
    }
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    if (this.stackConfiguration.settled) {
      const request = this.stackConfiguration.value ?? Buffer.alloc(0);
      const error = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.makeUnaryRequest<Buffer, Buffer>(
          "/pulumirpc.Analyzer/ConfigureStack",
          identity,
          identity,
          request,
          (e) => resolve(e),
        ),
      );
      if (error && error.code !== grpc.status.UNIMPLEMENTED) {
        const failure = new Error(`policy pack configuration failed: ${goRpcErrorText(error)}`);
        this.client.reject(failure);
        throw failure;
      }
    }
    this.client.fulfill(client);
  }
}

// --------------------------------------------------------------------------------------------- the host

class LanguageHost {
  private cancelled = false;
  private readonly onCancel = new Set<() => void>();
  /** Handlers still at work: a call the engine cancelled is over for grpc-js, but its child is still exiting. */
  private readonly working = new Set<Promise<unknown>>();

  /** Resolves when every handler has returned (Go's GracefulStop waits for them, so their cleanup runs). */
  async idle(): Promise<void> {
    while (this.working.size > 0) await Promise.allSettled([...this.working]);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.working.add(work);
    const done = () => this.working.delete(work);
    work.then(done, done);
    return work;
  }

  constructor(
    private engineAddress: string,
    private readonly tracing: string,
  ) {}

  /** The LanguageRuntime service implementation for grpc-js. */
  service(): Record<string, any> {
    const unary =
      (work: (request: any, call: any) => any) =>
      (call: any, callback: Callback): void => {
        Promise.resolve()
          .then(() => work(call.request, call))
          .then(
            (response) => callback(null, response),
            (error) => callback(toStatus(error)),
          );
      };
    const unimplemented = (name: string) => (_call: unknown, callback: Callback) =>
      callback({ code: grpc.status.UNIMPLEMENTED, details: `method ${name} not implemented` });
    return {
      handshake: unary((request) => {
        this.engineAddress = request.getEngineAddress();
        return new langproto.LanguageHandshakeResponse();
      }),
      getPluginInfo: unary(() => new plugproto.PluginInfo().setVersion(VERSION)),
      getRequiredPlugins: unimplemented("GetRequiredPlugins"),
      getRequiredPackages: unary((request) => this.getRequiredPackages(request)),
      run: unary((request, call) => this.track(this.run(request, call))),
      installDependencies: (call: any) => {
        call.write(
          new langproto.InstallDependenciesResponse().setStdout(
            Buffer.from(
              "The stand-in Node.js language host installs no dependencies: `npm ci` in the project installed them.\n",
            ),
          ),
        );
        call.end();
      },
      runPlugin: (call: any) => {
        this.track(this.runPlugin(call)).then(
          () => call.end(),
          (error) => call.emit("error", toStatus(error)),
        );
      },
      about: unary((request) => this.about(request)),
      getProgramDependencies: unary((request) => this.getProgramDependencies(request)),
      cancel: unary(() => {
        this.cancelled = true;
        for (const cancel of this.onCancel) cancel();
        return new emptyproto.Empty();
      }),
      runtimeOptionsPrompts: unimplemented("RuntimeOptionsPrompts"),
      template: unimplemented("Template"),
      generateProgram: unimplemented("GenerateProgram"),
      generateProject: unimplemented("GenerateProject"),
      generatePackage: unimplemented("GeneratePackage"),
      pack: unimplemented("Pack"),
      link: unimplemented("Link"),
    };
  }

  private getRequiredPackages(request: any) {
    const walk: Walk = { versions: new Map(), visited: new Set(), errors: [] };
    const packages = packagesFromDir(request.getInfo()?.getProgramDirectory() ?? "", false, walk);
    if (walk.errors.length === 0) {
      const [first, ...rest] = [...walk.versions.entries()];
      for (const [file, version] of first ? rest : []) {
        const problem = incompatibility(version, first[1]);
        if (problem) {
          process.stderr.write(
            `Found incompatible versions of @pulumi/pulumi. ${problem}\n` +
              `  Version ${first[1].text} referenced at ${first[0]}\n` +
              `  Version ${version.text} referenced at ${file}\n`,
          );
          break;
        }
      }
    } else {
      debugLog(3, `one or more errors while discovering plugins: ${walk.errors.join("; ")}`);
    }
    return new langproto.GetRequiredPackagesResponse().setPackagesList(packages);
  }

  private async run(request: any, call: any) {
    if (!this.engineAddress) {
      throw new RpcError("when debugging or running explicitly, must call Handshake before Run");
    }
    const response = (error: string, bail = false) => new langproto.RunResponse().setError(error).setBail(bail);
    const info = request.getInfo();
    const programDirectory: string = info?.getProgramDirectory() ?? "";
    const monitor = new grpc.Client(request.getMonitorAddress(), grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const proxy = await serveMonitorProxy(monitor);
    const pipes = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-node-pipes"));
    try {
      const node = lookPath("node");
      if ("error" in node) return response(`could not find node on the $PATH: ${node.error}`);
      let runPath: string;
      try {
        runPath = await locateModule(
          process.env.PULUMI_LANGUAGE_NODEJS_RUN_PATH || "@pulumi/pulumi/cmd/run",
          programDirectory,
          node.path,
          false,
        );
      } catch (error) {
        return response((error as Error).message);
      }
      const result = await this.execRuntime(request, call, node.path, runPath, `127.0.0.1:${proxy.port}`, pipes);
      return response(result.error, result.bail);
    } finally {
      proxy.server.tryShutdown(() => monitor.close());
      fs.rmSync(pipes, { recursive: true, force: true });
    }
  }

  /** main.go constructArguments. */
  private constructArguments(request: any, runPath: string, address: string, pipes: string): string[] {
    const info = request.getInfo();
    const args = [runPath];
    const maybeAppend = (key: string, value: string | undefined) => {
      if (value) args.push(`--${key}`, value);
    };
    maybeAppend("monitor", address);
    maybeAppend("engine", this.engineAddress);
    maybeAppend("sync", pipes);
    maybeAppend("organization", request.getOrganization());
    maybeAppend("project", request.getProject());
    maybeAppend("root-directory", info?.getRootDirectory());
    maybeAppend("stack", request.getStack());
    maybeAppend("pwd", info?.getProgramDirectory());
    if (request.getDryrun()) args.push("--dry-run");
    maybeAppend("parallel", String(request.getParallel()));
    maybeAppend("tracing", this.tracing);
    args.push(info?.getEntryPoint() ?? "");
    args.push(...request.getArgsList());
    return args;
  }

  /** main.go constructConfig: keys "ns:name" become "ns:config:name" (the old form older SDKs expect). */
  private static constructConfig(request: any): string {
    const config: Record<string, string> = {};
    request.getConfigMap().forEach((value: string, key: string) => {
      const parts = key.split(":");
      let namespace: string;
      let name: string;
      if (parts.length === 2) [namespace, name] = parts;
      else if (parts.length === 3 && parts[1] === "config") [namespace, , name] = parts;
      else {
        throw new Error(
          `could not parse ${key} as a configuration key (configuration keys should be of the form \`<namespace>:<name>\`)`,
        );
      }
      config[`${namespace}:config:${name}`] = value;
    });
    return goJson(config);
  }

  private async execRuntime(
    request: any,
    call: any,
    node: string,
    runPath: string,
    address: string,
    pipes: string,
  ): Promise<{ error: string; bail: boolean }> {
    const fail = (error: string) => ({ error, bail: false });
    const args = this.constructArguments(request, runPath, address, pipes);
    let config: string;
    try {
      config = LanguageHost.constructConfig(request);
    } catch (error) {
      return fail(`failed to serialize configuration: ${(error as Error).message}`);
    }
    const env: Env = {
      ...process.env,
      PULUMI_CONFIG: config,
      PULUMI_CONFIG_SECRET_KEYS: goJson(request.getConfigsecretkeysList()),
    };
    let options: NodeOptions;
    let nodeArgs: string[];
    try {
      options = parseOptions(request.getInfo());
      if (options.typescript) env.PULUMI_NODEJS_TYPESCRIPT = "true";
      if (options.tsconfigpath) env.PULUMI_NODEJS_TSCONFIG_PATH = options.tsconfigpath;
      nodeArgs = shlexSplit(options.nodeargs);
    } catch (error) {
      return fail((error as Error).message);
    }
    if (request.getAttachDebugger()) {
      return fail("attaching a debugger is not supported by the stand-in Node.js language host (tests/deploy)");
    }
    const notStarted = (text: string) => fail(`Problem executing program (could not run language executor): ${text}`);
    if (this.cancelled) return notStarted("context canceled");
    debugLog(5, `Language host launching process: ${node} ${[...nodeArgs, ...args].join(" ")}`);

    return new Promise((resolve) => {
      const child = spawn(node, [...nodeArgs, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
      const sniffer = new OomSniffer();
      let interrupted = false;
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let delayTimer: NodeJS.Timeout | undefined;
      let waitDelayExpired = false;
      let done = false;
      const interrupt = () => {
        if (exit || interrupted) return;
        interrupted = true;
        child.kill("SIGINT");
        killTimer = setTimeout(() => child.kill("SIGKILL"), WAIT_DELAY_MS);
      };
      const finish = (result: { error: string; bail: boolean }) => {
        if (done) return;
        done = true;
        clearTimeout(killTimer);
        clearTimeout(delayTimer);
        this.onCancel.delete(interrupt);
        resolve(result);
      };
      this.onCancel.add(interrupt);
      call.on("cancelled", interrupt);
      child.stdout.on("data", (chunk: Buffer) => process.stdout.write(chunk));
      child.stderr.on("data", (chunk: Buffer) => {
        process.stderr.write(chunk);
        sniffer.feed(chunk);
      });
      child.on("error", (error: NodeJS.ErrnoException) => {
        if (!exit) finish(notStarted(spawnErrorText(node, error)));
      });
      child.on("exit", (code, signal) => {
        exit = { code, signal };
        // exec.Cmd.WaitDelay: output pipes a grandchild keeps open are given up on after 5 s.
        delayTimer = setTimeout(() => {
          waitDelayExpired = true;
          child.stdout.destroy();
          child.stderr.destroy();
          settle();
        }, WAIT_DELAY_MS);
      });
      const settle = () => {
        if (!exit) return;
        sniffer.end();
        const code = exit.code ?? -1; // killed by a signal: Go's ExitCode() is -1
        if (code === 0) {
          if (interrupted) return finish(notStarted("context canceled"));
          if (waitDelayExpired) return finish(notStarted("exec: WaitDelay expired before I/O complete"));
          return finish({ error: "", bail: false });
        }
        if (code === EXITED_AFTER_USER_ACTIONABLE_MESSAGE) return finish({ error: "", bail: true });
        const message = `Program exited with non-zero exit code: ${code}`;
        return finish(fail(sniffer.detected ? `${message}. ${OomSniffer.message}` : message));
      };
      child.on("close", settle);
    });
  }

  private async runPlugin(call: any): Promise<void> {
    const request = call.request;
    if (!this.engineAddress) {
      throw new RpcError("when debugging or running explicitly, must call Handshake before Run");
    }
    const send = (stream: "stdout" | "stderr", chunk: Buffer) => {
      const message = new langproto.RunPluginResponse();
      if (stream === "stdout") message.setStdout(new Uint8Array(chunk));
      else message.setStderr(new Uint8Array(chunk));
      call.write(message);
    };
    const info = request.getInfo();
    const programDirectory: string = info?.getProgramDirectory() ?? "";
    const isAnalyzer = request.getKind() === "analyzer";
    debugLog(5, `Attempting to run nodejs plugin in ${programDirectory}`);
    const node = lookPath("node");
    if ("error" in node) throw new Error(node.error);
    const options = parseOptions(info);
    const envList: string[] = [...request.getEnvList()];
    if (options.typescript) envList.push("PULUMI_NODEJS_TYPESCRIPT=true");
    if (options.tsconfigpath) envList.push(`PULUMI_NODEJS_TSCONFIG_PATH=${options.tsconfigpath}`);
    const runModule = isAnalyzer
      ? "@pulumi/pulumi/cmd/run-policy-pack"
      : process.env.PULUMI_LANGUAGE_NODEJS_RUN_PATH || "@pulumi/pulumi/cmd/run-plugin";
    const runPath = await locateModule(runModule, programDirectory, node.path, true);
    if (request.getAttachDebugger()) {
      throw new Error("attaching a debugger is not supported by the stand-in Node.js language host (tests/deploy)");
    }
    const args = [runPath, ...shlexSplit(options.nodeargs)];
    // A policy pack takes its directory last; every other plugin first.
    if (isAnalyzer) args.push(...request.getArgsList(), programDirectory);
    else args.push(programDirectory, ...request.getArgsList());

    let proxy: PolicyProxy | undefined;
    if (isAnalyzer) {
      proxy = new PolicyProxy();
      try {
        await proxy.start();
      } catch (error) {
        throw new Error(`could not start policy pack proxy: ${(error as Error).message}`);
      }
      call.on("cancelled", () => proxy?.stop());
      send("stdout", Buffer.from(`${proxy.port}\n`));
      let configuration: Buffer | null;
      try {
        configuration = await orCancelled(proxy.stackConfiguration.promise, call);
      } catch (error) {
        throw new Error(`could not get stack configuration: ${(error as Error).message}`);
      }
      if (configuration) {
        const config = analyzerproto.AnalyzerStackConfigureRequest.deserializeBinary(new Uint8Array(configuration));
        const maybeAppend = (key: string, value: string) => {
          if (value) envList.push(`${key}=${value}`);
        };
        maybeAppend("PULUMI_NODEJS_ORGANIZATION", config.getOrganization());
        maybeAppend("PULUMI_NODEJS_PROJECT", config.getProject());
        maybeAppend("PULUMI_NODEJS_STACK", config.getStack());
        maybeAppend("PULUMI_NODEJS_DRY_RUN", String(config.getDryRun()));
        const stackConfig: Record<string, string> = {};
        config.getConfigMap().forEach((value: string, key: string) => (stackConfig[key] = value));
        if (Object.keys(stackConfig).length > 0) maybeAppend("PULUMI_CONFIG", goJson(stackConfig));
      }
    }

    // Go's exec: an empty env list means the host's own environment; otherwise exactly the list (last wins).
    let env: Env = process.env;
    if (envList.length > 0) {
      env = {};
      for (const entry of envList) {
        const equals = entry.indexOf("=");
        if (equals > 0) env[entry.slice(0, equals)] = entry.slice(equals + 1);
      }
    }
    const cwd = (isAnalyzer ? programDirectory : request.getPwd()) || undefined;
    debugLog(5, `Constructed NodeJS command to run: ${node.path} ${args.join(" ")} (in ${cwd ?? process.cwd()})`);

    await new Promise<void>((resolve, reject) => {
      const child = spawn(node.path, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
      let exited = false;
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        proxy?.stop();
        // The real handler's context ends when it returns, and exec.CommandContext then kills the child.
        if (!exited) child.kill("SIGKILL");
        if (error) reject(error);
        else resolve();
      };
      const notStarted = (text: string) =>
        new Error(`Problem executing plugin program (could not run language executor): ${text}`);
      call.on("cancelled", () => {
        if (!exited) child.kill("SIGKILL"); // exec.CommandContext's default Cancel
      });
      child.stderr.on("data", (chunk: Buffer) => send("stderr", chunk));
      // Resolves true once a policy pack's proxy is attached; false when attaching failed (already settled).
      let attached: Promise<boolean> = Promise.resolve(true);
      if (proxy) {
        // The pack's first stdout line is its port, for the proxy; the rest is the plugin's output.
        let buffered = Buffer.alloc(0);
        let lineSeen = false;
        let firstLine!: (line: string | undefined) => void;
        const lineRead = new Promise<string | undefined>((resolveLine) => (firstLine = resolveLine));
        child.stdout.on("data", (chunk: Buffer) => {
          if (lineSeen) return send("stdout", chunk);
          buffered = Buffer.concat([buffered, chunk]);
          const newline = buffered.indexOf("\n");
          if (newline < 0) return;
          lineSeen = true;
          firstLine(buffered.subarray(0, newline).toString());
          if (buffered.length > newline + 1) send("stdout", buffered.subarray(newline + 1));
        });
        child.stdout.on("end", () => firstLine(undefined));
        attached = proxy.attach(lineRead).then(
          () => true,
          (error: Error) => {
            settle(notStarted(`could not attach policy pack proxy: ${error.message}`));
            return false;
          },
        );
      } else {
        child.stdout.on("data", (chunk: Buffer) => send("stdout", chunk));
      }
      child.on("error", (error: NodeJS.ErrnoException) => {
        if (!exited) settle(notStarted(spawnErrorText(node.path, error)));
      });
      child.on("exit", () => (exited = true));
      child.on("close", (code, signal) => {
        exited = true;
        // For a policy pack, Attach decides first: a pack that never printed its port is that error.
        void attached.then((ok) => {
          if (ok)
            settle(code === 0 ? undefined : new Error(`Program exited with non-zero exit code: ${signal ? -1 : code}`));
        });
      });
    });
  }

  private about(request: any) {
    const info = request.getInfo();
    let options: NodeOptions;
    try {
      options = parseOptions(info);
    } catch (error) {
      throw new Error(`failed to parse options: ${(error as Error).message}`);
    }
    let pm: PackageManager;
    try {
      pm = resolvePackageManager(options.packagemanager, info?.getProgramDirectory() ?? "");
    } catch (error) {
      throw new Error(`could not resolve packagemanager: ${(error as Error).message}`);
    }
    const executable = findExecutable("node");
    const version = (bin: string) => {
      const result = spawnSync(bin, ["--version"], { encoding: "utf8" });
      return result.status === 0 ? result.stdout.trim() : undefined;
    };
    const nodeVersion = version("node") ?? "";
    let pmVersion = "";
    try {
      pmVersion = parseSemver(version(pm.executable) ?? "").text;
    } catch {
      // as the real host: an unknown package manager version is reported empty
    }
    const response = new langproto.AboutResponse().setExecutable(executable).setVersion(nodeVersion);
    response.getMetadataMap().set("packagemanager", pm.name);
    response.getMetadataMap().set("packagemanagerVersion", pmVersion);
    return response;
  }

  private getProgramDependencies(request: any) {
    const info = request.getInfo();
    let options: NodeOptions;
    try {
      options = parseOptions(info);
    } catch (error) {
      throw new Error(`failed to parse options: ${(error as Error).message}`);
    }
    const directory: string = info?.getProgramDirectory() ?? "";
    let pm: PackageManager;
    try {
      pm = resolvePackageManager(options.packagemanager, directory);
    } catch (error) {
      throw new Error(`failed to determine package manager: ${(error as Error).message}`);
    }
    let packages: { name: string; version: string }[];
    try {
      if (pm.name !== "npm") {
        throw new Error(`the stand-in language host lists dependencies from package-lock.json only, not ${pm.name}'s`);
      }
      packages = listNpmPackages(directory, request.getTransitivedependencies());
    } catch (error) {
      throw new Error(`failed to get node dependencies: ${(error as Error).message}`);
    }
    return new langproto.GetProgramDependenciesResponse().setDependenciesList(
      packages.map((p) => new langproto.DependencyInfo().setName(p.name).setVersion(p.version)),
    );
  }
}

/** executable.FindExecutable: the working directory, then $GOPATH/bin, then PATH. */
function findExecutable(program: string): string {
  const candidates = [path.join(process.cwd(), program)];
  for (const goPath of (process.env.GOPATH ?? "").split(":").filter(Boolean)) {
    candidates.push(path.join(goPath, "bin", program));
  }
  for (const candidate of candidates) {
    try {
      if (!fs.statSync(candidate).isDirectory()) return candidate;
    } catch {
      // not there
    }
  }
  const found = lookPath(program);
  if ("error" in found)
    throw new Error(`could not find executable ${JSON.stringify(program)}: unable to find program: ${program}`);
  return found.path;
}

// -------------------------------------------------------------------------------------------------- main

interface Flags {
  tracing: string;
  runtime: string;
  version: boolean;
  args: string[];
}

/** Go's flag package over main.go's flags and glog's (which the CLI passes through when logging flows). */
function parseFlags(argv: string[]): Flags {
  const flags: Flags = { tracing: "", runtime: "nodejs", version: false, args: [] };
  const booleans = new Set(["version", "logtostderr", "alsologtostderr"]);
  const values = new Set([
    "tracing",
    "runtime",
    "v",
    "vmodule",
    "log_backtrace_at",
    "stderrthreshold",
    "log_dir",
    "log_link",
    "logbuflevel",
  ]);
  const usage = (problem: string): never => {
    process.stderr.write(`${problem}\nUsage of pulumi-language-nodejs:\n`);
    process.exit(2);
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.length < 2 || arg[0] !== "-") break;
    let dashes = 1;
    if (arg[1] === "-") {
      dashes = 2;
      if (arg.length === 2) {
        i++;
        break;
      }
    }
    let name = arg.slice(dashes);
    if (name.length === 0 || name[0] === "-" || name[0] === "=") usage(`bad flag syntax: ${arg}`);
    let value: string | undefined;
    const equals = name.indexOf("=");
    if (equals >= 0) {
      value = name.slice(equals + 1);
      name = name.slice(0, equals);
    }
    if (name === "help" || name === "h") {
      process.stderr.write("Usage of pulumi-language-nodejs:\n");
      process.exit(0);
    }
    if (booleans.has(name)) {
      let on = true;
      if (value !== undefined) {
        if (/^(1|t|T|TRUE|true|True)$/.test(value)) on = true;
        else if (/^(0|f|F|FALSE|false|False)$/.test(value)) on = false;
        else usage(`invalid boolean value ${JSON.stringify(value)} for -${name}: parse error`);
      }
      if (name === "version") flags.version = on;
      if (name === "logtostderr") logToStderr = on;
    } else if (values.has(name)) {
      if (value === undefined && i + 1 >= argv.length) usage(`flag needs an argument: -${name}`);
      const text = value ?? argv[++i];
      if ((name === "v" || name === "logbuflevel") && !/^[+-]?\d+$/.test(text)) {
        usage(`invalid value ${JSON.stringify(text)} for flag -${name}: parse error`);
      }
      if (name === "tracing") flags.tracing = text;
      if (name === "runtime") flags.runtime = text;
      if (name === "v") verbosity = Number(text);
    } else {
      usage(`flag provided but not defined: -${name}`);
    }
  }
  flags.args = argv.slice(i);
  return flags;
}

/** rpcutil.Healthcheck: the engine's Health/Check every interval; an error (not UNIMPLEMENTED) calls onFailure. */
function healthcheck(address: string, onFailure: () => void) {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const check = () =>
    client.makeUnaryRequest<Buffer, Buffer>(
      "/grpc.health.v1.Health/Check",
      identity,
      identity,
      Buffer.alloc(0), // HealthCheckRequest{service: ""}
      (error) => {
        if (error && error.code !== grpc.status.UNIMPLEMENTED) onFailure();
        else setTimeout(check, HEALTHCHECK_INTERVAL_MS).unref();
      },
    );
  setTimeout(check, HEALTHCHECK_INTERVAL_MS).unref();
}

function main() {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.version) {
    process.stdout.write(`${VERSION}\n`);
    process.exit(0);
  }
  if (flags.runtime !== "nodejs") {
    process.stderr.write(`error: unsupported runtime: ${flags.runtime} (this stand-in serves nodejs only)\n`);
    process.exit(1);
  }
  const engineAddress = flags.args[0] ?? "";
  const server = new grpc.Server(CHANNEL_OPTIONS);
  const host = new LanguageHost(engineAddress, flags.tracing);
  server.addService(langrpc.LanguageRuntimeService, host.service());
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.tryShutdown(() => void host.idle().then(() => process.exit(0)));
  };
  process.once("SIGINT", stop); // a second SIGINT ends the host at once, as Go's signal.NotifyContext allows
  if (engineAddress) healthcheck(engineAddress, stop);
  listen(server).then(
    (port) => process.stdout.write(`${port}\n`), // the engine reads the port from the first line
    (error: Error) => {
      process.stderr.write(`error: could not start language host RPC server: ${error.message}\n`);
      process.exit(1);
    },
  );
}

main();
