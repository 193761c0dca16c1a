/**
 * VACUUM, dry run: the files under a table that its snapshot does not reference (left by batches that crashed
 * before their commit, or by files removed long ago), and the temp files a crash left behind mid-write (a log
 * entry, a log checkpoint or a data file, named `.<name>.<uuid>.tmp`, in `_delta_log` or a data directory). Other
 * hidden paths (anything else starting with `_` or `.`) are never candidates. Files an optimize (or any commit)
 * removed stay referenced by their tombstone until it is older than `delta.deletedFileRetentionDuration` (default
 * 7 days, as Delta), so readers of a version within that time still find them; then they are candidates too.
 * Nothing is deleted.
 */
import { Effect, Option } from "effect"
import { parseInterval } from "./checkpoint.ts"
import { readSnapshot } from "./log.ts"
import { decodeAddPath } from "./partition.ts"
import type { DeltaStorage, FileInfo } from "./storage.ts"

const hidden = (part: string) => part.startsWith("_") || part.startsWith(".")

/** The name `writeFlushedTemp` gives the temp file of `<name>`: `.<name>.<uuid>.tmp`. */
const tempName = /^\..+\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/

/** Whether `path` is a temp file of this writer's, in `_delta_log` or a data directory. */
export const isLeftoverTemp = (path: string): boolean => {
  const parts = path.split("/")
  const directories = parts.slice(0, -1)
  return tempName.test(parts[parts.length - 1]!) &&
    directories.every((part, i) => !hidden(part) || (i === 0 && part === "_delta_log" && directories.length === 1))
}

/** Spark's default `delta.deletedFileRetentionDuration`. */
export const defaultDeletedFileRetention = 7 * 86_400_000

/**
 * Files no snapshot file or unexpired tombstone references, and leftover temp files, older than `olderThan` (ms
 * since epoch; default now). A tombstone expires `delta.deletedFileRetentionDuration` after its deletion, by `now`.
 */
export const vacuumDryRun = Effect.fnUntraced(function*(
  storage: DeltaStorage,
  olderThan: number = Date.now(),
  now: number = Date.now()
) {
  const snapshot = yield* readSnapshot(storage)
  const referenced = new Set<string>()
  if (Option.isSome(snapshot)) {
    const retention = parseInterval(snapshot.value.metadata.configuration["delta.deletedFileRetentionDuration"]) ??
      defaultDeletedFileRetention
    for (const path of snapshot.value.files.keys()) referenced.add(decodeAddPath(path))
    for (const [path, remove] of snapshot.value.tombstones) {
      if ((remove.deletionTimestamp ?? now) > now - retention) referenced.add(decodeAddPath(path))
    }
  }
  const files = yield* storage.list("", { recursive: true })
  return files.filter((file: FileInfo) =>
    file.modificationTime <= olderThan &&
    (isLeftoverTemp(file.path) || (!file.path.split("/").some(hidden) && !referenced.has(file.path)))
  )
})
