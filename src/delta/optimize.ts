/**
 * OPTIMIZE (bin-packing compaction): small files of each partition value rewritten as files near the target size,
 * committed as `remove` + `add` actions with `dataChange: false` and commitInfo operation `OPTIMIZE`, as Spark and
 * delta-rs write it. The commit goes through `commitWithRetries`: blind appends that land meanwhile only add files
 * and are let through (the commit moves to the next version), while a winner that removed a file this optimize
 * removes (another optimize, a delete) is a conflict, as in Delta's rules: the new files are deleted and the
 * optimize stops with OptimizeConflictError (run it again to re-plan). `compactSmallFiles` is the bounded form a
 * background fiber runs.
 */
import { Effect, Option, Schema } from "effect"
import { ConcurrentTableChangeError } from "../services/DeltaSink.ts"
import type { Action, AddFile, RemoveFile } from "./actions.ts"
import { checkpointIntervalOf, cleanupExpiredLogs, defaultCheckpointInterval, isCheckpointDue, writeCheckpoint } from "./checkpoint.ts"
import { commitWithRetries } from "./commit.ts"
import { readSnapshot } from "./log.ts"
import { type Bin, planBins, smallFiles, targetFileSizeOf } from "./optimize-plan.ts"
import type { Compression } from "./parquet.ts"
import { decodeAddPath } from "./partition.ts"
import { rewriteFiles } from "./rewrite.ts"
import type { DeltaStructType } from "./schema.ts"
import { applyActions, type Snapshot, snapshotOf, stateOf } from "./snapshot.ts"
import { parseStatsColumns } from "./stats.ts"
import type { DeltaStorage } from "./storage.ts"

/** Another writer removed files this optimize was replacing; nothing was committed. */
export class OptimizeConflictError extends Schema.TaggedError<OptimizeConflictError>()("OptimizeConflictError", {
  table: Schema.String,
  /** The winning commit's version. */
  version: Schema.Number,
  /** What the winner did: removed a file this optimize removes, or replaced the table. */
  reason: Schema.String
}) {
  override get message() {
    return `optimize of ${this.table} lost to version ${this.version}, which ${this.reason}; nothing was committed: run optimize again to re-plan`
  }
}

/** Options of `optimize`. */
export interface OptimizeOptions {
  /** Bytes per output file (default: `delta.targetFileSize`, else 128 MiB). */
  readonly targetFileSize?: number
  /** Only plan: list the bins, write nothing. */
  readonly dryRun?: boolean
  /** Stop planning after this many input bytes (auto-compaction's bound per run). */
  readonly maxInputBytes?: number
  readonly compression?: Compression
  readonly maxCommitAttempts?: number
  readonly checkpointInterval?: number
  readonly engineInfo?: string
  /** Whether this run was started by auto-compaction (commitInfo `auto`). */
  readonly auto?: boolean
  /** The clock, in ms (tests move it). */
  readonly now?: () => number
  /** Runs between the rewrite and the commit (tests race a writer here). */
  readonly beforeCommit?: Effect.Effect<void, never>
}

/** What an optimize did (or would do, when a dry run). */
export interface OptimizeResult {
  /** The committed version; undefined when nothing was committed. */
  readonly version: number | undefined
  readonly targetFileSize: number
  readonly bins: ReadonlyArray<Bin>
  readonly filesRemoved: number
  readonly filesAdded: number
  readonly bytesRemoved: number
  readonly bytesAdded: number
  readonly rows: number
}

const statsOptionsOf = (configuration: Readonly<Record<string, string>>) => {
  const indexed = Number(configuration["delta.dataSkippingNumIndexedCols"] ?? 32)
  const prefix = Number(configuration["delta.dataSkippingStringPrefixLength"] ?? 32)
  const columns = configuration["delta.dataSkippingStatsColumns"]
  return {
    indexedColumns: Number.isFinite(indexed) ? indexed : 32,
    stringPrefix: Number.isFinite(prefix) ? prefix : 32,
    ...(columns === undefined ? {} : { statsColumns: parseStatsColumns(columns) })
  }
}

/** Fails when a winning commit removed one of `removing`, or replaced the table. */
const judgeWinners = (storage: DeltaStorage, planned: Snapshot, removing: ReadonlySet<string>) =>
  (newer: ReadonlyArray<{ readonly version: number; readonly actions: ReadonlyArray<Action> }>) => {
    for (const commit of newer) {
      for (const action of commit.actions) {
        if ("remove" in action && removing.has(action.remove.path)) {
          return Effect.fail(new ConcurrentTableChangeError({ table: storage.table, version: commit.version, change: `already removed ${action.remove.path} (another optimize?)` }))
        }
        // the new files sit in the old layout: a replaced or repartitioned table cannot take them
        if (
          "metaData" in action &&
          (action.metaData.id !== planned.metadata.id ||
            action.metaData.partitionColumns.join("\u0000") !== planned.metadata.partitionColumns.join("\u0000"))
        ) {
          return Effect.fail(new ConcurrentTableChangeError({ table: storage.table, version: commit.version, change: "replaced or repartitioned the table" }))
        }
      }
    }
    return Effect.void
  }

const emptyResult = (targetFileSize: number, bins: ReadonlyArray<Bin> = []): OptimizeResult => ({
  version: undefined,
  targetFileSize,
  bins,
  filesRemoved: bins.reduce((sum, bin) => sum + bin.files.length, 0),
  filesAdded: bins.length,
  bytesRemoved: bins.reduce((sum, bin) => sum + bin.bytes, 0),
  bytesAdded: 0,
  rows: 0
})

/** Compacts the table's small files (see the module comment); a table that does not exist has nothing to do. */
export const optimize = Effect.fnUntraced(function*(storage: DeltaStorage, options: OptimizeOptions = {}) {
  const now = options.now ?? Date.now
  const opened = yield* readSnapshot(storage)
  if (Option.isNone(opened)) return emptyResult(options.targetFileSize ?? 0)
  const snapshot = opened.value
  const targetFileSize = options.targetFileSize ?? targetFileSizeOf(snapshot)
  const bins = planBins(snapshot, {
    targetFileSize,
    ...(options.maxInputBytes === undefined ? {} : { maxInputBytes: options.maxInputBytes })
  })
  if (options.dryRun === true || bins.length === 0) return emptyResult(targetFileSize, bins)

  const partitionColumns = snapshot.metadata.partitionColumns
  const dataSchema: DeltaStructType = {
    type: "struct",
    fields: snapshot.schema.fields.filter((field) => !partitionColumns.includes(field.name))
  }
  const plan = {
    dataSchema,
    stats: statsOptionsOf(snapshot.metadata.configuration),
    compression: options.compression ?? "snappy"
  }
  const adds: Array<AddFile> = []
  let rows = 0
  for (const bin of bins) {
    const written = yield* rewriteFiles(storage, bin.files, plan, now())
    adds.push(written.add)
    rows += written.rows
  }
  if (options.beforeCommit !== undefined) yield* options.beforeCommit

  const removing = new Set(bins.flatMap((bin) => bin.files.map((file) => file.path)))
  const timestamp = now()
  const removes: Array<RemoveFile> = bins.flatMap((bin) =>
    bin.files.map((file) => ({
      path: file.path,
      deletionTimestamp: timestamp,
      dataChange: false,
      extendedFileMetadata: true,
      partitionValues: file.partitionValues,
      size: file.size
    }))
  )
  const bytesAdded = adds.reduce((sum, add) => sum + add.size, 0)
  const actions: Array<Action> = [
    {
      commitInfo: {
        timestamp,
        operation: "OPTIMIZE",
        operationParameters: {
          predicate: "[]",
          zOrderBy: "[]",
          auto: String(options.auto === true),
          targetSize: String(targetFileSize)
        },
        readVersion: snapshot.version,
        isolationLevel: "SnapshotIsolation",
        isBlindAppend: false,
        operationMetrics: {
          numRemovedFiles: String(removes.length),
          numAddedFiles: String(adds.length),
          numRemovedBytes: String(removes.reduce((sum, remove) => sum + (remove.size ?? 0), 0)),
          numAddedBytes: String(bytesAdded),
          numOutputRows: String(rows)
        },
        engineInfo: options.engineInfo ?? "kafka-delta/0.1.0"
      }
    },
    ...removes.map((remove) => ({ remove })),
    ...adds.map((add) => ({ add }))
  ]
  const committed = yield* commitWithRetries(storage, snapshot, [], () => Effect.succeed(actions), {
    maxAttempts: options.maxCommitAttempts ?? 16,
    checkWinners: judgeWinners(storage, snapshot, removing)
  }).pipe(
    Effect.catchTag("ConcurrentTableChangeError", (conflict) =>
      // the files written for a plan that lost are referenced by nothing: delete them now rather than at vacuum
      Effect.forEach(adds, (add) => storage.delete(decodeAddPath(add.path)), { discard: true }).pipe(
        Effect.ignore,
        Effect.andThen(Effect.fail(new OptimizeConflictError({ table: storage.table, version: conflict.version, reason: conflict.change })))
      ))
  )

  const state = stateOf(committed.base ?? snapshot)
  applyActions(state, committed.actions)
  state.version = committed.version
  const after = snapshotOf(state) as Snapshot
  if (isCheckpointDue(after.version, checkpointIntervalOf(after, options.checkpointInterval ?? defaultCheckpointInterval))) {
    yield* writeCheckpoint(storage, after, now()).pipe(
      Effect.andThen(cleanupExpiredLogs(storage, after, now())),
      Effect.catch((error) => Effect.logWarning(`log checkpoint of ${storage.table} at ${after.version} failed`, error))
    )
  }
  return {
    version: committed.version,
    targetFileSize,
    bins,
    filesRemoved: removes.length,
    filesAdded: adds.length,
    bytesRemoved: removes.reduce((sum, remove) => sum + (remove.size ?? 0), 0),
    bytesAdded,
    rows
  } satisfies OptimizeResult
})

/** Options of `compactSmallFiles`. */
export interface CompactOptions extends Omit<OptimizeOptions, "dryRun" | "auto"> {
  /** Compact only when the table has at least this many small files. */
  readonly minSmallFiles: number
}

/**
 * Auto-compaction's unit of work: when the table has at least `minSmallFiles` files below the target size,
 * compacts the oldest of them (at most `maxInputBytes`); otherwise does nothing and returns undefined.
 */
export const compactSmallFiles = Effect.fnUntraced(function*(storage: DeltaStorage, options: CompactOptions) {
  const opened = yield* readSnapshot(storage)
  if (Option.isNone(opened)) return undefined
  const target = options.targetFileSize ?? targetFileSizeOf(opened.value)
  if (smallFiles(opened.value, target).length < options.minSmallFiles) return undefined
  return yield* optimize(storage, { ...options, targetFileSize: target, auto: true })
})
