/**
 * Log checkpoints: a classic V1 Parquet checkpoint of a snapshot (Spark's schema and column order, with stats as
 * JSON and/or as structs as `delta.checkpoint.writeStatsAsJson` / `writeStatsAsStruct` ask), the
 * `_last_checkpoint` pointer, and cleanup of expired JSON commits per `delta.logRetentionDuration`, so replay
 * cost stays flat however long the stream runs.
 */
import { Effect } from "effect"
import { checkpointPath, checkpointNameOf, commitVersionOf } from "./actions.ts"
import { tableOf } from "./arrow-values.ts"
import * as Arrow from "apache-arrow"
import { checkpointSchema } from "./checkpoint-schema.ts"
import { encodeParquet } from "./parquet.ts"
import type { Snapshot } from "./snapshot.ts"
import { partitionValuesParsedOf, partitionValuesParsedType, statsParsedOf, statsParsedType } from "./stats-parsed.ts"
import type { DeltaStorage } from "./storage.ts"

/** Spark's default `delta.checkpointInterval`. */
export const defaultCheckpointInterval = 10

const day = 86_400_000
const units: Record<string, number> = {
  millisecond: 1,
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day,
  week: 7 * day
}

/** Milliseconds of a Delta interval setting such as `interval 30 days`, or undefined when unreadable. */
export const parseInterval = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const match = /^\s*(?:interval\s+)?(\d+)\s*([a-z]+?)s?\s*$/i.exec(text)
  if (match === null) return undefined
  const unit = units[match[2]!.toLowerCase()]
  return unit === undefined ? undefined : Number(match[1]) * unit
}

/** The checkpoint interval of a table (`delta.checkpointInterval`), else `fallback`. */
export const checkpointIntervalOf = (snapshot: Snapshot, fallback = defaultCheckpointInterval): number => {
  const value = Number(snapshot.metadata.configuration["delta.checkpointInterval"])
  return Number.isInteger(value) && value > 0 ? value : fallback
}

/** Whether Spark would checkpoint after committing `version`. */
export const isCheckpointDue = (version: number, interval: number): boolean => version > 0 && version % interval === 0

const mapOf = (record: Readonly<Record<string, unknown>> | null | undefined) =>
  record === null || record === undefined ? null : new Map(Object.entries(record))

/**
 * The struct columns a table asks its checkpoints to carry in `add` (`delta.checkpoint.writeStatsAsStruct`):
 * `partitionValues_parsed` when partitioned, and `stats_parsed`.
 */
export const checkpointAddExtras = (snapshot: Snapshot): Array<Arrow.Field<Arrow.Struct>> => {
  if (snapshot.metadata.configuration["delta.checkpoint.writeStatsAsStruct"] !== "true") return []
  const partitionColumns = snapshot.metadata.partitionColumns
  const dataSchema = { type: "struct" as const, fields: snapshot.schema.fields.filter((f) => !partitionColumns.includes(f.name)) }
  return [
    ...(partitionColumns.length === 0 ? [] : [
      new Arrow.Field("partitionValues_parsed", partitionValuesParsedType(snapshot.schema, partitionColumns), true)
    ]),
    new Arrow.Field("stats_parsed", statsParsedType(dataSchema), true)
  ]
}

/** The checkpoint rows of a snapshot: protocol, metadata, txns, live files and unexpired tombstones. */
export const checkpointRows = (
  snapshot: Snapshot,
  now: number,
  addExtras: ReadonlyArray<Arrow.Field<Arrow.Struct>> = checkpointAddExtras(snapshot)
): Array<Record<string, unknown>> => {
  const statsAsJson = snapshot.metadata.configuration["delta.checkpoint.writeStatsAsJson"] !== "false"
  const retention = parseInterval(snapshot.metadata.configuration["delta.deletedFileRetentionDuration"]) ?? 7 * day
  const { protocol, metadata } = snapshot
  const rows: Array<Record<string, unknown>> = [
    {
      protocol: {
        minReaderVersion: protocol.minReaderVersion,
        minWriterVersion: protocol.minWriterVersion,
        readerFeatures: protocol.minReaderVersion >= 3 ? protocol.readerFeatures ?? [] : null,
        writerFeatures: protocol.minWriterVersion >= 7 ? protocol.writerFeatures ?? [] : null
      }
    },
    {
      metaData: {
        id: metadata.id,
        name: metadata.name ?? null,
        description: metadata.description ?? null,
        format: { provider: metadata.format.provider, options: mapOf(metadata.format.options) },
        schemaString: metadata.schemaString,
        partitionColumns: metadata.partitionColumns,
        configuration: mapOf(metadata.configuration),
        createdTime: metadata.createdTime ?? null
      }
    }
  ]
  for (const txn of snapshot.txns.values()) {
    rows.push({ txn: { appId: txn.appId, version: BigInt(txn.version), lastUpdated: txn.lastUpdated ?? null } })
  }
  for (const add of snapshot.files.values()) {
    rows.push({
      add: {
        path: add.path,
        partitionValues: mapOf(add.partitionValues),
        size: add.size,
        modificationTime: add.modificationTime,
        dataChange: add.dataChange,
        tags: mapOf(add.tags),
        stats: statsAsJson ? add.stats ?? null : null,
        ...Object.fromEntries(addExtras.map((field) => [
          field.name,
          field.name === "stats_parsed" ? statsParsedOf(add, field.type) : partitionValuesParsedOf(add, field.type)
        ]))
      }
    })
  }
  for (const remove of snapshot.tombstones.values()) {
    if ((remove.deletionTimestamp ?? 0) < now - retention) continue
    rows.push({
      remove: {
        path: remove.path,
        deletionTimestamp: remove.deletionTimestamp ?? null,
        dataChange: remove.dataChange,
        extendedFileMetadata: remove.extendedFileMetadata ?? null,
        partitionValues: mapOf(remove.partitionValues),
        size: remove.size ?? null
      }
    })
  }
  return rows
}

/** Writes the checkpoint of `snapshot` and points `_last_checkpoint` at it. */
export const writeCheckpoint = Effect.fnUntraced(function*(storage: DeltaStorage, snapshot: Snapshot, now: number) {
  const extras = checkpointAddExtras(snapshot)
  const rows = checkpointRows(snapshot, now, extras)
  const bytes = encodeParquet(tableOf(checkpointSchema(extras), rows), "snappy", 1024 * 1024)
  const written = yield* storage.write(checkpointPath(snapshot.version), bytes)
  const last = {
    version: snapshot.version,
    size: rows.length,
    sizeInBytes: written.size,
    numOfAddFiles: snapshot.files.size
  }
  yield* storage.write("_delta_log/_last_checkpoint", new TextEncoder().encode(JSON.stringify(last)))
  return last
})

/**
 * Deletes commits and checkpoints older than the newest checkpoint at or before the retention cutoff
 * (`delta.logRetentionDuration`, default 30 days; off when `delta.enableExpiredLogCleanup` is false).
 */
export const cleanupExpiredLogs = Effect.fnUntraced(function*(storage: DeltaStorage, snapshot: Snapshot, now: number) {
  if (snapshot.metadata.configuration["delta.enableExpiredLogCleanup"] === "false") return 0
  const retention = parseInterval(snapshot.metadata.configuration["delta.logRetentionDuration"]) ?? 30 * day
  const cutoff = now - retention
  const files = yield* storage.list("_delta_log")
  const named = files.map((file) => {
    const name = file.path.slice(file.path.lastIndexOf("/") + 1)
    return { file, commit: commitVersionOf(name), checkpoint: checkpointNameOf(name) }
  })
  const expiredCheckpoints = named
    .filter((entry) => entry.checkpoint !== undefined && entry.file.modificationTime <= cutoff)
    .map((entry) => entry.checkpoint!.version)
  if (expiredCheckpoints.length === 0) return 0
  const keepFrom = Math.max(...expiredCheckpoints)
  let deleted = 0
  for (const entry of named) {
    const version = entry.commit ?? entry.checkpoint?.version
    if (version === undefined || version >= keepFrom || entry.file.modificationTime > cutoff) continue
    yield* storage.delete(entry.file.path)
    deleted++
  }
  return deleted
})
