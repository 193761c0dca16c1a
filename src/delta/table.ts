/**
 * The table-level API the DeltaSink layers wrap: open a table (replay its log), append one batch as one commit
 * (creating the table on first write, evolving its schema when the batch adds nullable fields), and write a log
 * checkpoint when one is due. Protocol code only; storage comes in through `DeltaStorage`.
 */
import type * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import {
  type AppendRequest,
  type CommitResult,
  ConcurrentStreamError,
  ConcurrentTableChangeError,
  SchemaMismatchError
} from "../services/DeltaSink.ts"
import type { Action, Metadata, Protocol } from "./actions.ts"
import { checkpointIntervalOf, cleanupExpiredLogs, defaultCheckpointInterval, isCheckpointDue, writeCheckpoint } from "./checkpoint.ts"
import { commitWithRetries, ownCommitIn } from "./commit.ts"
import { faultPoint } from "./fault-injection.ts"
import { readCommit, readSnapshot, refreshSnapshot } from "./log.ts"
import { type Compression, defaultTargetFileSize } from "./parquet.ts"
import { mergeSchema, validateSchema } from "./schema-merge.ts"
import { arrowSchemaOf, deltaSchemaOf, type DeltaStructType, schemaStringOf, UnsupportedTypeError, usesTimestampNtz } from "./schema.ts"
import { applyActions, type Snapshot, snapshotOf, stateOf } from "./snapshot.ts"
import type { DeltaStorage } from "./storage.ts"
import { writeDataFiles } from "./write-files.ts"

/** How this writer writes. */
export interface WriterOptions {
  /** Target bytes per data file (default 128 MiB). */
  readonly targetFileSize?: number
  /** Parquet codec (default snappy, as Spark writes; zstd is about a third smaller and slower to write). */
  readonly compression?: Compression
  /** Log checkpoint interval when the table does not set `delta.checkpointInterval` (default 10). */
  readonly checkpointInterval?: number
  /** Commit attempts before giving up on concurrent writers (default 16: 15 retries, as delta-rs). */
  readonly maxCommitAttempts?: number
  /** Written to `commitInfo.engineInfo`. */
  readonly engineInfo?: string
  /** The clock, in ms (tests move it). */
  readonly now?: () => number
}

/** The append inputs (a DeltaSink AppendRequest without the table reference). */
export type AppendInput = Omit<AppendRequest, "table">

/** The protocol this writer gives a table with this schema: (1,2), or (3,7)+timestampNtz when needed. */
export const protocolFor = (schema: DeltaStructType, current?: Protocol): Protocol | undefined => {
  if (!usesTimestampNtz(schema)) return current === undefined ? { minReaderVersion: 1, minWriterVersion: 2 } : undefined
  if (current !== undefined && (current.readerFeatures ?? []).includes("timestampNtz") &&
    (current.writerFeatures ?? []).includes("timestampNtz")) return undefined
  const legacy = current === undefined || current.minWriterVersion < 7 ? ["appendOnly", "invariants"] : []
  return {
    minReaderVersion: 3,
    minWriterVersion: 7,
    readerFeatures: [...new Set([...(current?.readerFeatures ?? []), "timestampNtz"])],
    writerFeatures: [...new Set([...(current === undefined ? [] : legacy), ...(current?.writerFeatures ?? []), "timestampNtz"])]
  }
}

/** Opens a table: its latest snapshot, or none when it does not exist yet. */
export const openTable = (storage: DeltaStorage) => readSnapshot(storage)

/** The Arrow schema of a snapshot's table. */
export const tableArrowSchema = (snapshot: Snapshot): Arrow.Schema => arrowSchemaOf(snapshot.schema)

const mismatch = (storage: DeltaStorage, problems: ReadonlyArray<string>) =>
  new SchemaMismatchError({ table: storage.table, problems: [...problems] })

/** The schema, metadata and protocol actions a batch needs against a table (undefined: the table is new). */
const planTable = (
  storage: DeltaStorage,
  snapshot: Snapshot | undefined,
  incoming: DeltaStructType,
  request: AppendInput,
  now: number
) =>
  Effect.gen(function*() {
    if (snapshot === undefined) {
      const problems = [...validateSchema(incoming)]
      for (const column of request.partitionBy) {
        const field = incoming.fields.find((f) => f.name === column)
        if (field === undefined) problems.push(`${column}: partition column is not in the schema`)
        else if (typeof field.type !== "string" || field.type === "binary") {
          problems.push(`${column}: partition columns must be of a primitive type, not ${JSON.stringify(field.type)}`)
        }
      }
      if (problems.length > 0) return yield* mismatch(storage, problems)
      const metadata: Metadata = {
        id: crypto.randomUUID(),
        format: { provider: "parquet", options: {} },
        schemaString: schemaStringOf(incoming),
        partitionColumns: [...request.partitionBy],
        configuration: {},
        createdTime: now
      }
      return { schema: incoming, metadata, metadataChanged: true, protocol: protocolFor(incoming) }
    }
    const current = snapshot.metadata.partitionColumns
    if (request.partitionBy.length > 0 && request.partitionBy.join("\u0000") !== current.join("\u0000")) {
      return yield* mismatch(storage, [
        `partition columns [${request.partitionBy.join(", ")}] differ from the table's [${current.join(", ")}]`
      ])
    }
    const merged = mergeSchema(snapshot.schema, incoming, request.mergeSchema ?? true)
    if (merged._tag === "Problems") return yield* mismatch(storage, merged.problems)
    const metadata = merged.changed ? { ...snapshot.metadata, schemaString: schemaStringOf(merged.schema) } : snapshot.metadata
    return { schema: merged.schema, metadata, metadataChanged: merged.changed, protocol: protocolFor(merged.schema, snapshot.protocol) }
  })

/** Fails with ConcurrentStreamError when the table's txn versions are not what this writer expects. */
const checkTxns = (storage: DeltaStorage, snapshot: Snapshot | undefined, request: AppendInput) => {
  for (const txn of request.txns) {
    const found = snapshot?.txns.get(txn.appId)?.version
    if (found !== txn.expected) {
      return Effect.fail(
        new ConcurrentStreamError({
          table: storage.table,
          appId: txn.appId,
          ...(txn.expected === undefined ? {} : { expected: txn.expected }),
          ...(found === undefined ? {} : { found })
        })
      )
    }
  }
  return Effect.void
}

/**
 * Fails with ConcurrentTableChangeError when a winning writer replaced the table (a new `metaData.id`) or changed
 * its partition columns: the batch's files are laid out for the old table, and Delta's conflict rules forbid
 * committing them on a changed one (a re-plan would add them with partition values that do not match their place).
 */
const checkLayout = (storage: DeltaStorage, planned: Snapshot | undefined, laidOut: Metadata, base: Snapshot) => {
  const change = planned !== undefined && base.metadata.id !== planned.metadata.id
    ? `metaData.id ${planned.metadata.id} -> ${base.metadata.id}: the table was replaced`
    : base.metadata.partitionColumns.join("\u0000") !== laidOut.partitionColumns.join("\u0000")
    ? `partition columns [${laidOut.partitionColumns.join(", ")}] -> [${base.metadata.partitionColumns.join(", ")}]`
    : undefined
  return change === undefined
    ? Effect.void
    : Effect.fail(new ConcurrentTableChangeError({ table: storage.table, version: base.version, change }))
}

/** How far back `findLanded` looks for an earlier attempt's commit (more than a commit's attempts can span). */
const landedWindow = 64

/**
 * The commit an earlier attempt of this append (same `txnId`) already made, when its outcome was unknown (it
 * failed after the log entry became visible): the table then holds exactly the txn versions this append would
 * write, and one of the newest commits carries our `commitInfo.txnId`. Undefined otherwise.
 */
const findLanded = (storage: DeltaStorage, snapshot: Snapshot | undefined, request: AppendInput, txnId: string) =>
  Effect.gen(function*() {
    // an append that moves no position cannot be told from the table holding it already
    if (snapshot === undefined || request.txns.every((txn) => txn.version === txn.expected)) return undefined
    if (!request.txns.every((txn) => snapshot.txns.get(txn.appId)?.version === txn.version)) return undefined
    for (let version = snapshot.version; version >= 0 && version > snapshot.version - landedWindow; version--) {
      const actions = yield* readCommit(storage, version)
      if (Option.isNone(actions)) break
      if (!ownCommitIn(actions.value, txnId)) continue
      const info = actions.value.find((action) => "commitInfo" in action)
      const metrics = (info !== undefined && "commitInfo" in info ? info.commitInfo["operationMetrics"] : undefined) as
        | Record<string, string>
        | undefined
      const result: CommitResult = {
        version,
        rows: Number(metrics?.["numOutputRows"] ?? 0),
        files: actions.value.filter((action) => "add" in action).length,
        bytes: Number(metrics?.["numOutputBytes"] ?? 0),
        schemaChanged: version > 0 && actions.value.some((action) => "metaData" in action),
        // the earlier attempt's lost races are not known here
        conflicts: 0
      }
      return { result, snapshot }
    }
    return undefined
  })

/**
 * Appends one batch as one commit. `known` is a snapshot from an earlier call (it is caught up, not re-read).
 * `txnId` (written to `commitInfo.txnId`) is reused by a retry of an append whose outcome was unknown, so the
 * retry recognises the commit the first attempt made. Returns what was committed and the snapshot after it.
 */
export const appendBatch = Effect.fnUntraced(function*(
  storage: DeltaStorage,
  request: AppendInput,
  options: WriterOptions = {},
  known?: Snapshot,
  txnId: string = crypto.randomUUID()
) {
  const now = options.now ?? Date.now
  const snapshot = known === undefined
    ? Option.getOrUndefined(yield* readSnapshot(storage))
    : (yield* refreshSnapshot(storage, known)).snapshot
  const landed = yield* findLanded(storage, snapshot, request, txnId)
  if (landed !== undefined) return landed
  const incoming = yield* Effect.try({
    try: () => deltaSchemaOf(request.schema),
    catch: (error) => mismatch(storage, [error instanceof UnsupportedTypeError ? error.message : String(error)])
  })
  const first = yield* planTable(storage, snapshot, incoming, request, now())
  yield* checkTxns(storage, snapshot, request)

  faultPoint("before-parquet")
  const files = yield* writeDataFiles(storage, request.data, {
    schema: first.schema,
    partitionColumns: first.metadata.partitionColumns,
    configuration: first.metadata.configuration,
    compression: options.compression ?? "snappy",
    targetFileSize: options.targetFileSize ?? defaultTargetFileSize
  })
  faultPoint("after-parquet")

  let schemaChanged = first.metadataChanged && snapshot !== undefined
  const plan = (base: Snapshot | undefined) =>
    Effect.gen(function*() {
      if (base !== snapshot && base !== undefined) yield* checkLayout(storage, snapshot, first.metadata, base)
      const table = base === snapshot ? first : yield* planTable(storage, base, incoming, request, now())
      if (base !== snapshot) {
        // Files were written with the first plan's column types; a concurrent change must not alter them.
        const again = mergeSchema(table.schema, first.schema, false)
        if (again._tag === "Problems") return yield* mismatch(storage, again.problems)
        schemaChanged = table.metadataChanged && base !== undefined
      }
      const timestamp = now()
      const actions: Array<Action> = [{
        commitInfo: {
          timestamp,
          operation: "STREAMING UPDATE",
          operationParameters: { outputMode: "Append", ...request.operationParameters },
          isolationLevel: "Serializable",
          isBlindAppend: true,
          operationMetrics: {
            numFiles: String(files.adds.length),
            numOutputRows: String(files.rows),
            numOutputBytes: String(files.bytes)
          },
          engineInfo: options.engineInfo ?? "kafka-delta/0.1.0",
          txnId
        }
      }]
      if (table.protocol !== undefined) actions.push({ protocol: table.protocol })
      if (table.metadataChanged) actions.push({ metaData: table.metadata })
      for (const txn of request.txns) actions.push({ txn: { appId: txn.appId, version: txn.version, lastUpdated: timestamp } })
      for (const add of files.adds) actions.push({ add })
      return actions
    })
  const committed = yield* commitWithRetries(storage, snapshot, request.txns, plan, {
    maxAttempts: options.maxCommitAttempts ?? 16,
    txnId
  })
  faultPoint("after-commit")

  const state = committed.base === undefined ? undefined : stateOf(committed.base)
  const next = state ?? { version: -1, protocol: undefined, metadata: undefined, txns: new Map(), files: new Map(), tombstones: new Map() }
  applyActions(next, committed.actions)
  next.version = committed.version
  const after = snapshotOf(next) as Snapshot

  const interval = checkpointIntervalOf(after, options.checkpointInterval ?? defaultCheckpointInterval)
  if (isCheckpointDue(after.version, interval)) {
    yield* writeCheckpoint(storage, after, now()).pipe(
      Effect.andThen(cleanupExpiredLogs(storage, after, now())),
      Effect.catch((error) => Effect.logWarning(`log checkpoint of ${storage.table} at ${after.version} failed`, error))
    )
  }
  const result: CommitResult = {
    version: committed.version,
    rows: files.rows,
    files: files.adds.length,
    bytes: files.bytes,
    schemaChanged,
    conflicts: committed.conflicts
  }
  return { result, snapshot: after }
})
