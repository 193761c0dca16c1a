/**
 * The live CheckpointStore: one directory per job, laid out like Spark's checkpoint directory
 * (`offsets/<batchId>`, `commits/<batchId>`, plus a `lock` file holding the lease of the process that runs the
 * stream, see file-lease.ts).
 * Every file is written atomically (temp file, fsync, rename, fsync of the directory), so after any crash each
 * file is either absent or complete; a file that is nevertheless unreadable is a typed error naming it.
 */
import { Effect, Layer, Option, Result } from "effect"
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as NodePath from "node:path"
import { syncDirectory, writeFlushedTemp } from "../local-files.ts"
import { holdLease } from "./file-lease.ts"
import type { LeaseHandle, LeaseOptions } from "./lease-holder.ts"
import { batchIdOfFileName, decodeCommit, decodePlan, encodeCommit, encodePlan } from "../../src/checkpoint/files.ts"
import { Config } from "../../src/services/Config.ts"
import {
  CheckpointCorruptError,
  CheckpointIoError,
  CheckpointStore
} from "../../src/services/CheckpointStore.ts"

/** How many plan and commit files to keep; older ones are deleted after each commit. */
export const retainedBatches = 100

const reasonOf = (error: unknown): string => {
  const e = error as NodeJS.ErrnoException
  return e.code !== undefined ? `${e.code}: ${e.message}` : String(error)
}

const io = <A>(path: string, run: () => Promise<A>): Effect.Effect<A, CheckpointIoError> =>
  Effect.tryPromise({ try: run, catch: (error) => new CheckpointIoError({ path, reason: reasonOf(error) }) })

/**
 * Writes `text` to `file` so that readers see either the old file or the whole new one. Synchronous on purpose:
 * the file is a few hundred bytes, and the calls take well under a millisecond together, while each of the
 * eight awaits of the asynchronous version waited for the decoding fibers' turn on the main thread (tens of
 * milliseconds per batch in which the commit, and so the next batch, stood still).
 */
export const writeAtomically = (file: string, text: string): Effect.Effect<void, CheckpointIoError> =>
  Effect.try({
    try: () => {
      FsSync.renameSync(writeFlushedTemp(file, text), file)
      syncDirectory(NodePath.dirname(file))
    },
    catch: (error) => new CheckpointIoError({ path: file, reason: reasonOf(error) })
  })

const batchFiles = (directory: string): Effect.Effect<ReadonlyArray<number>, CheckpointIoError> =>
  io(directory, async () => {
    try {
      return await Fs.readdir(directory)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return []
      throw error
    }
  }).pipe(Effect.map((names) => names.flatMap((name) => Option.toArray(batchIdOfFileName(name))).sort((a, b) => a - b)))

const readLatest = <A>(
  directory: string,
  decode: (text: string) => Result.Result<A, string>
): Effect.Effect<Option.Option<A>, CheckpointIoError | CheckpointCorruptError> =>
  Effect.gen(function*() {
    const ids = yield* batchFiles(directory)
    const latest = ids[ids.length - 1]
    if (latest === undefined) return Option.none()
    const file = NodePath.join(directory, String(latest))
    const text = yield* io(file, () => Fs.readFile(file, "utf8"))
    const decoded = decode(text)
    if (Result.isFailure(decoded)) return yield* new CheckpointCorruptError({ file, reason: decoded.failure })
    return Option.some(decoded.success)
  })

/** The lock's lease durations (see LeaseOptions for the defaults). */
export type Options = LeaseOptions

/** A CheckpointStore in `location`; `options` tune the lock's lease. */
export const make = (location: string, options: Options = {}): CheckpointStore["Service"] => {
  const offsets = NodePath.join(location, "offsets")
  const commits = NodePath.join(location, "commits")
  // synchronous, like writeAtomically: two quick calls instead of two waits for the main thread
  const ensureDirectories = Effect.try({
    try: () => {
      FsSync.mkdirSync(offsets, { recursive: true })
      FsSync.mkdirSync(commits, { recursive: true })
    },
    catch: (error) => new CheckpointIoError({ path: location, reason: reasonOf(error) })
  })
  // synchronous too: a listing of at most ~100 names and usually one deletion
  const prune = (directory: string, keepFrom: number) =>
    Effect.try({
      try: () => {
        let names: Array<string>
        try {
          names = FsSync.readdirSync(directory)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") return
          throw error
        }
        for (const name of names) {
          const id = Option.getOrUndefined(batchIdOfFileName(name))
          if (id !== undefined && id < keepFrom) FsSync.rmSync(NodePath.join(directory, name), { force: true })
        }
      },
      catch: (error) => new CheckpointIoError({ path: directory, reason: reasonOf(error) })
    })
  // the lease of the current acquire, if any: every read and write first checks that it is still ours, so a
  // process that lost the lock stops before it writes beside the new holder
  let held: LeaseHandle | undefined
  const checkLease = Effect.suspend(() => held?.check ?? Effect.void)
  return CheckpointStore.of({
    location,
    acquire: Effect.gen(function*() {
      yield* ensureDirectories
      const handle = yield* holdLease(location, options)
      held = handle
      yield* Effect.addFinalizer(() => Effect.sync(() => { if (held === handle) held = undefined }))
    }),
    read: Effect.gen(function*() {
      yield* checkLease
      const lastPlan = yield* readLatest(offsets, decodePlan)
      const lastCommit = yield* readLatest(commits, decodeCommit)
      return { lastPlan, lastCommit }
    }),
    plan: (plan) =>
      checkLease.pipe(
        Effect.andThen(ensureDirectories),
        Effect.andThen(writeAtomically(NodePath.join(offsets, String(plan.batchId)), encodePlan(plan)))
      ),
    commit: (commit) =>
      Effect.gen(function*() {
        yield* checkLease
        yield* ensureDirectories
        yield* writeAtomically(NodePath.join(commits, String(commit.batchId)), encodeCommit(commit))
        const keepFrom = commit.batchId - retainedBatches + 1
        if (keepFrom > 0) {
          yield* prune(offsets, keepFrom)
          yield* prune(commits, keepFrom)
        }
      })
  })
}

/** The CheckpointStore layer for a directory; `options` tune the lock's lease. */
export const layer = (location: string, options: Options = {}): Layer.Layer<CheckpointStore> =>
  Layer.succeed(CheckpointStore, make(location, options))

/** The CheckpointStore layer at the job's `checkpointLocation`. */
export const layerConfig: Layer.Layer<CheckpointStore, never, Config> = Layer.effect(
  CheckpointStore,
  Effect.map(Config, (job) => make(job.checkpointLocation))
)
