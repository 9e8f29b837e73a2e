/**
 * The real Pulumi CLI, built from Go modules through the Go module proxy at the version package-lock.json
 * pins for @pulumi/pulumi, and cached by version. github.com/pulumi/pulumi/pkg/v3's go.mod has replace
 * directives, so it is built from a wrapper module (pulumi-cli/go.mod, go.sum pinning every module's
 * hash) that requires pkg/v3 and sdk/v3 at that version and repeats pkg's one non-local replace. Flags as
 * upstream's release builds (.goreleaser.yml): CGO off, -trimpath, tags osusergo,grpcnotrace, the version
 * stamped into sdk/v3/go/common/version.
 *
 * What cannot be built this way (the proxy answers 403 "not available" for each, checked 2026-12-01):
 * the Node.js language host (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3) and the
 * providers (github.com/pulumi/pulumi-docker/provider/v5, pulumi-random/provider/v4, pulumi-tls/provider/v5,
 * pulumiverse/pulumi-scaleway/provider). languageHost.ts and providers/ stand in for them.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";

const MODULE_DIR = join(__dirname, "pulumi-cli");
const REPO = join(__dirname, "..", "..");

/** The @pulumi/pulumi version package-lock.json pins: the CLI is built at the same. */
export function pinnedPulumiVersion(): string {
  const lock = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version: string }>;
  };
  return lock.packages["node_modules/@pulumi/pulumi"].version;
}

/** The pkg/v3 version the wrapper module requires. */
export function wrapperPulumiVersion(): string {
  const match = /github\.com\/pulumi\/pulumi\/pkg\/v3 v(\S+)/.exec(readFileSync(join(MODULE_DIR, "go.mod"), "utf8"));
  if (!match) throw new Error("pulumi-cli/go.mod requires no github.com/pulumi/pulumi/pkg/v3");
  return match[1];
}

/** The cached CLI for the pinned version, built first when absent; the seconds the build took, if it ran. */
export function ensurePulumiCli(
  cacheRoot: string,
  log: (line: string) => void,
): { path: string; builtSeconds?: number } {
  const version = pinnedPulumiVersion();
  if (wrapperPulumiVersion() !== version) {
    throw new Error(
      `tests/deploy/pulumi-cli/go.mod builds pulumi ${wrapperPulumiVersion()}, package-lock.json pins @pulumi/pulumi ${version}: ` +
        "update the go.mod's pkg/v3 and sdk/v3 requires to the same version and run `go mod tidy` there",
    );
  }
  const binary = join(cacheRoot, `cli-v${version}`, "pulumi");
  if (existsSync(binary)) return { path: binary };
  mkdirSync(join(cacheRoot, `cli-v${version}`), { recursive: true });
  const started = Date.now();
  log(`building the Pulumi CLI v${version} from the Go module proxy (cold: about 4 minutes on 2 cores)`);
  const result = spawnSync(
    "go",
    [
      "build",
      "-trimpath",
      "-tags",
      "osusergo,grpcnotrace",
      "-ldflags",
      `-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${version}`,
      "-o",
      `${binary}.building`,
      "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
    ],
    {
      cwd: MODULE_DIR,
      encoding: "utf8",
      env: {
        ...process.env,
        PATH: `${process.env.PATH}:/usr/local/go/bin`,
        CGO_ENABLED: "0",
        GOFLAGS: "-mod=readonly -buildvcs=false",
        GOMODCACHE: join(cacheRoot, "gomod"),
        GOCACHE: join(cacheRoot, "gocache"),
      },
      maxBuffer: 64 << 20,
    },
  );
  if (result.status !== 0) {
    throw new Error(`building the Pulumi CLI failed (${result.status ?? result.error?.message}):\n${result.stderr}`);
  }
  renameSync(`${binary}.building`, binary);
  const builtSeconds = Math.round((Date.now() - started) / 1000);
  log(`Pulumi CLI v${version} built in ${builtSeconds} s`);
  return { path: binary, builtSeconds };
}
