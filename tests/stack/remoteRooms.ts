/**
 * The big-room scenario's remote rooms, kept between runs. Building a 10,000-state-event room on the
 * remote homeserver takes minutes (each event is persisted in turn); its database, signing key and
 * room ids are copied into the cache after the first build and back into the remote's data directory
 * on later runs. The cache key covers what the rooms depend on: the rootfs (and so Synapse's version),
 * the remote's config (but its rate limits), the room's size and this file's build revision.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { BIG_ROOM } from "./overlay";

/** Bump when the way the rooms are built changes. */
const BUILD_REVISION = 1;

/** What a built remote leaves in its data directory that the next run needs. */
export const REMOTE_ROOM_FILES = { database: "homeserver.db", signingKey: "signing.key", rooms: "remote-rooms.json" };

export function remoteRoomCache(cacheRoot: string, rootfs: string, remoteConfig: Record<string, unknown>): string {
  // Rate limits shape how fast the rooms are built, not what is in them.
  const stored = Object.fromEntries(Object.entries(remoteConfig).filter(([key]) => !key.startsWith("rc_")));
  const key = createHash("sha256")
    .update(JSON.stringify({ rootfs: basename(rootfs), remoteConfig: stored, BIG_ROOM, BUILD_REVISION }))
    .digest("hex")
    .slice(0, 16);
  return join(cacheRoot, `remote-rooms-${key}`);
}

/** Copies the cached database, key and room ids into place; false when nothing is cached yet. */
export function restoreRemoteRooms(cacheDir: string, dataDir: string, roomsFile: string): boolean {
  if (!existsSync(join(cacheDir, REMOTE_ROOM_FILES.rooms))) return false;
  copyFileSync(join(cacheDir, REMOTE_ROOM_FILES.database), join(dataDir, REMOTE_ROOM_FILES.database));
  copyFileSync(join(cacheDir, REMOTE_ROOM_FILES.signingKey), join(dataDir, REMOTE_ROOM_FILES.signingKey));
  copyFileSync(join(cacheDir, REMOTE_ROOM_FILES.rooms), roomsFile);
  return true;
}

/**
 * Saves a built remote: `database` is a consistent copy the caller made (SQLite's online backup). The
 * directory appears by a rename, so an interrupted save is never taken for a complete one; older builds go.
 */
export function saveRemoteRooms(cacheDir: string, files: { database: string; signingKey: string; rooms: string }) {
  const partial = `${cacheDir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true, mode: 0o700 });
  copyFileSync(files.database, join(partial, REMOTE_ROOM_FILES.database));
  copyFileSync(files.signingKey, join(partial, REMOTE_ROOM_FILES.signingKey));
  copyFileSync(files.rooms, join(partial, REMOTE_ROOM_FILES.rooms));
  const parent = join(cacheDir, "..");
  for (const entry of readdirSync(parent)) {
    if (entry.startsWith("remote-rooms-") && join(parent, entry) !== partial)
      rmSync(join(parent, entry), { recursive: true, force: true });
  }
  renameSync(partial, cacheDir);
}
