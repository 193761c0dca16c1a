/**
 * VACUUM, dry run: the files under a table that its snapshot does not reference (left by batches that crashed
 * before their commit, or by files removed long ago). Hidden paths (`_delta_log`, `.tmp` files, anything
 * starting with `_` or `.`) are never candidates. Nothing is deleted.
 */
import { Effect, Option } from "effect"
import { readSnapshot } from "./log.ts"
import { decodeAddPath } from "./partition.ts"
import type { DeltaStorage, FileInfo } from "./storage.ts"

const hidden = (path: string) => path.split("/").some((part) => part.startsWith("_") || part.startsWith("."))

/** Files no snapshot file or unexpired tombstone references, older than `olderThan` (ms since epoch; default now). */
export const vacuumDryRun = Effect.fnUntraced(function*(storage: DeltaStorage, olderThan: number = Date.now()) {
  const snapshot = yield* readSnapshot(storage)
  const referenced = new Set<string>()
  if (Option.isSome(snapshot)) {
    for (const path of snapshot.value.files.keys()) referenced.add(decodeAddPath(path))
    for (const path of snapshot.value.tombstones.keys()) referenced.add(decodeAddPath(path))
  }
  const files = yield* storage.list("", { recursive: true })
  return files.filter((file: FileInfo) =>
    !hidden(file.path) && !referenced.has(file.path) && file.modificationTime <= olderThan
  )
})
