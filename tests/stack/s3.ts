/**
 * The S3-compatible server the backups go to in the real-daemon run: rclone's `serve s3` (a real S3 API
 * server over a local directory, with access keys and TLS), built from Go modules through the Go module
 * proxy and cached by version. Debian packages rclone, but without `serve s3` (1.60 in bookworm; sid's
 * 1.75 lists no s3 among its serve commands), so it is built here.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";

export const RCLONE_MODULE = "github.com/rclone/rclone";
export const RCLONE_VERSION = "v1.76.0";
/** The environment variable the isolated run finds the binary by. */
export const RCLONE_ENV = "FIRMGROUND_RCLONE";

/** The cached rclone binary, built first when absent (cold: about 2 minutes on 2 cores). */
export function ensureRclone(cacheRoot: string, log: (line: string) => void): string {
  const dir = join(cacheRoot, `rclone-${RCLONE_VERSION}`);
  const binary = join(dir, "rclone");
  if (existsSync(binary)) return binary;
  mkdirSync(join(dir, "bin"), { recursive: true });
  const started = Date.now();
  log(`building rclone ${RCLONE_VERSION} from the Go module proxy (for its S3 server)`);
  const result = spawnSync("go", ["install", "-trimpath", `${RCLONE_MODULE}@${RCLONE_VERSION}`], {
    encoding: "utf8",
    env: {
      ...process.env,
      PATH: `${process.env.PATH}:/usr/local/go/bin`,
      CGO_ENABLED: "0",
      GOBIN: join(dir, "bin"),
      GOFLAGS: "-buildvcs=false",
      GOMODCACHE: join(cacheRoot, "gomod"),
      GOCACHE: join(cacheRoot, "gocache"),
    },
    maxBuffer: 64 << 20,
  });
  if (result.status !== 0) {
    throw new Error(`building rclone failed (${result.status ?? result.error?.message}):\n${result.stderr}`);
  }
  renameSync(join(dir, "bin", "rclone"), binary);
  log(`rclone ${RCLONE_VERSION} built in ${Math.round((Date.now() - started) / 1000)} s`);
  return binary;
}
