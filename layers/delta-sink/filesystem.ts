/**
 * The live DeltaSink: Delta tables on a local (POSIX) filesystem, written by the protocol code in `src/delta`.
 * Commits are put-if-absent by hard link (write a temp file, fsync, `link` it to the version name, which fails
 * with EEXIST when another writer won), so several processes can append to one table safely. Snapshots are
 * cached per table and caught up incrementally before each append.
 */
import * as fsSync from "node:fs"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { Config, Effect, Layer, Option } from "effect"
import { syncDirectory, writeFlushedTemp } from "../local-files.ts"
import { appendBatch, openTable, tableArrowSchema, type WriterOptions } from "../../src/delta/table.ts"
import type { Snapshot } from "../../src/delta/snapshot.ts"
import type { DeltaStorage, FileInfo } from "../../src/delta/storage.ts"
import type { Compression } from "../../src/delta/parquet.ts"
import { refreshSnapshot } from "../../src/delta/log.ts"
import { compactSmallFiles } from "../../src/delta/optimize.ts"
import { DeltaSink, DeltaStorageError, type TableRef } from "../../src/services/DeltaSink.ts"

/** Options of the filesystem DeltaSink. */
export interface FilesystemDeltaSinkOptions {
  /** Target bytes per data file (default 128 MiB). */
  readonly targetFileSize?: number
  /** Parquet codec (default snappy, as Spark writes; zstd is about a third smaller and slower to write). */
  readonly compression?: Compression
  /** Log checkpoint interval for tables that do not set `delta.checkpointInterval` (default 10). */
  readonly checkpointInterval?: number
}

const transientCodes = new Set(["EAGAIN", "EBUSY", "EMFILE", "ENFILE", "EINTR", "ETIMEDOUT"])

/** Storage over a directory of the local filesystem. */
export const localStorage = (location: string, table: string = location): DeltaStorage => {
  const full = (path: string) => nodePath.join(location, path)
  const fail = (path: string, error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code ?? ""
    return new DeltaStorageError({
      table,
      path: full(path),
      reason: `${code} ${(error as Error).message ?? String(error)}`.trim(),
      transient: transientCodes.has(code)
    })
  }
  const io = <A>(path: string, run: () => Promise<A>) => Effect.tryPromise({ try: run, catch: (error) => fail(path, error) })
  const syncIo = <A>(path: string, run: () => A) => Effect.try({ try: run, catch: (error) => fail(path, error) })
  const infoOf = async (path: string): Promise<FileInfo> => {
    const stat = await fs.stat(full(path))
    return { path, size: stat.size, modificationTime: Math.floor(stat.mtimeMs) }
  }
  const walk = async (directory: string, recursive: boolean, out: Array<FileInfo>) => {
    let entries: Array<import("node:fs").Dirent>
    try {
      entries = await fs.readdir(full(directory), { withFileTypes: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return
      throw error
    }
    for (const entry of entries) {
      const path = directory === "" ? entry.name : `${directory}/${entry.name}`
      if (entry.isDirectory()) {
        if (recursive) await walk(path, recursive, out)
      } else if (entry.isFile()) {
        try {
          out.push(await infoOf(path))
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
        }
      }
    }
  }
  return {
    table,
    location,
    // synchronous, as the writes below: every append first reads the next log entry (usually absent) to catch up
    // with other writers, and as an asynchronous read it waited for the decoding fibers' turn (30-100 ms on the
    // benchmark) before the batch's Parquet encoding could even start
    read: (path) =>
      syncIo(path, () => {
        try {
          return Option.some(new Uint8Array(fsSync.readFileSync(full(path))))
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") return Option.none()
          throw error
        }
      }),
    list: (directory, options) =>
      io(directory, async () => {
        const out: Array<FileInfo> = []
        await walk(directory.replace(/\/$/, ""), options?.recursive === true, out)
        return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      }),
    // Commits and data files are written with synchronous calls. Each asynchronous step waited for the decoding
    // fibers' turn on the main thread (the event loop runs I/O callbacks only between their fetches), so the ten
    // or so steps of a commit cost far more than the writes, and the next batch, full, waited for that commit.
    // A log entry is a few KiB; a data file is written and flushed at disk speed (~35 ms for a 16 MiB batch's
    // file on local disk), which now holds up decoding for that long. On a 2,000,000-record run the time the
    // decoding fibers spent waiting for a commit fell from ~26 s to ~7.5 s (summed over 6 partitions; with the
    // checkpoint store's writes made synchronous too), the run took 0.94-0.96x the time. Writing data files from
    // the Parquet worker instead measured 0.98-1.00x here (the two cores are busy either way), so they stay here;
    // storage much slower than a local disk might want it.
    // A new name is only durable once its directory is flushed too: the log entry after its link, a data file
    // after its rename, or a power loss could lose a commit, or keep a commit whose data file is gone.
    putIfAbsent: (path, data, options) =>
      syncIo(path, () => {
        const temp = writeFlushedTemp(full(path), data)
        try {
          options?.beforePublish?.()
          fsSync.linkSync(temp, full(path))
          syncDirectory(nodePath.dirname(full(path)))
          return true
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "EEXIST") return false
          throw error
        } finally {
          try {
            fsSync.unlinkSync(temp)
          } catch {
            // the temp file stays for vacuum; the commit's outcome is what matters here
          }
        }
      }),
    write: (path, data) =>
      syncIo(path, () => {
        const temp = writeFlushedTemp(full(path), data)
        fsSync.renameSync(temp, full(path))
        syncDirectory(nodePath.dirname(full(path)))
        const stat = fsSync.statSync(full(path))
        return { path, size: stat.size, modificationTime: Math.floor(stat.mtimeMs) }
      }),
    delete: (path) =>
      io(path, async () => {
        await fs.rm(full(path), { force: true })
      }),
    stat: (path) =>
      io(path, async () => {
        try {
          return Option.some(await infoOf(path))
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") return Option.none()
          throw error
        }
      })
  }
}

/**
 * A DeltaSink over tables whose storage `storageFor` gives (shared by the filesystem, memory and by-location
 * variants); an effectful `storageFor` (an object store, probed on first use) runs once per table location.
 */
export const makeWith = (
  storageFor: (table: TableRef) => DeltaStorage | Effect.Effect<DeltaStorage, DeltaStorageError>,
  options: WriterOptions = {}
) =>
  Effect.sync(() => {
    const snapshots = new Map<string, Snapshot>()
    const storages = new Map<string, DeltaStorage>()
    /** Per table, the txns and txnId of the last append whose outcome is unknown (it failed on storage). */
    const unsettled = new Map<string, { readonly key: string; readonly txnId: string }>()
    const storageOf = (table: TableRef): Effect.Effect<DeltaStorage, DeltaStorageError> =>
      Effect.suspend(() => {
        const known = storages.get(table.location)
        if (known !== undefined) return Effect.succeed(known)
        const made = storageFor(table)
        return Effect.tap(Effect.isEffect(made) ? made : Effect.succeed(made), (storage) => Effect.sync(() => storages.set(table.location, storage)))
      })
    const current = Effect.fnUntraced(function*(table: TableRef) {
      const storage = yield* storageOf(table)
      const cached = snapshots.get(table.location)
      const snapshot = cached === undefined
        ? Option.getOrUndefined(yield* openTable(storage))
        : (yield* refreshSnapshot(storage, cached)).snapshot
      if (snapshot !== undefined) snapshots.set(table.location, snapshot)
      return snapshot
    })
    return DeltaSink.of({
      version: (table) => current(table).pipe(Effect.map((s) => Option.fromUndefinedOr(s?.version))),
      schema: (table) => current(table).pipe(Effect.map((s) => Option.map(Option.fromUndefinedOr(s), tableArrowSchema))),
      txnVersions: (table, prefix) =>
        current(table).pipe(Effect.map((snapshot) => {
          const out = new Map<string, number>()
          for (const [appId, txn] of snapshot?.txns ?? []) if (appId.startsWith(prefix)) out.set(appId, txn.version)
          return out as ReadonlyMap<string, number>
        })),
      append: (request) =>
        Effect.gen(function*() {
          const location = request.table.location
          const storage = yield* storageOf(request.table)
          // A retry of an append that failed with a storage error (it may have committed) reuses its txnId, so it
          // can recognise that commit as its own rather than as another writer's.
          const key = JSON.stringify(request.txns)
          const earlier = unsettled.get(location)
          const txnId = earlier !== undefined && earlier.key === key ? earlier.txnId : crypto.randomUUID()
          const { result, snapshot } = yield* appendBatch(storage, request, options, snapshots.get(location), txnId).pipe(
            Effect.tapError((error) =>
              Effect.sync(() => error._tag === "DeltaStorageError" ? unsettled.set(location, { key, txnId }) : unsettled.delete(location))
            )
          )
          unsettled.delete(location)
          snapshots.set(location, snapshot)
          return result
        }).pipe(Effect.uninterruptible),
      compact: (table, compaction) =>
        Effect.flatMap(storageOf(table), (storage) =>
          compactSmallFiles(storage, {
            ...compaction,
            ...(options.targetFileSize === undefined ? {} : { targetFileSize: options.targetFileSize }),
            ...(options.compression === undefined ? {} : { compression: options.compression }),
            ...(options.checkpointInterval === undefined ? {} : { checkpointInterval: options.checkpointInterval })
          }))
    })
  })

/** The filesystem DeltaSink service. */
export const make = (options: FilesystemDeltaSinkOptions = {}) =>
  makeWith((table) => localStorage(table.location, table.name), options)

/** The filesystem DeltaSink as a layer. */
export const layer = (options: FilesystemDeltaSinkOptions = {}) => Layer.effect(DeltaSink, make(options))

/** The filesystem DeltaSink with options read from configuration (`targetFileSize`, `compression`, ...). */
export const layerConfig = (config: Config.Wrap<FilesystemDeltaSinkOptions>) =>
  Layer.effect(DeltaSink, Effect.flatMap(Config.unwrap(config), make))
