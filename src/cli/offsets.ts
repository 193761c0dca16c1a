/**
 * `kafka-delta offsets`: where a stream stands, per partition (the table's txn version, the topic's earliest
 * and latest offsets, the lag) with the table's version and last commit time; and `offsets set`, which moves
 * the positions the table holds (rewind or skip) with a Delta commit of txn actions only, whose commitInfo says
 * what moved from where to where. Setting takes the stream's checkpoint lock, so it refuses while a run holds it,
 * and each txn names the version it replaces, so a commit that slips in between makes it fail, not interleave.
 */
import { Effect, Option, Schema } from "effect"
import { readCommit, readSnapshot } from "../delta/log.ts"
import { appIdOf, appIdPrefixOf, partitionOfAppId } from "../pipeline/positions.ts"
import { CheckpointStore } from "../services/CheckpointStore.ts"
import { Config, type JobConfig } from "../services/Config.ts"
import { DeltaSink } from "../services/DeltaSink.ts"
import { KafkaSource } from "../services/KafkaSource.ts"
import { jobTableStorage } from "./storage.ts"

/** One partition's standing. */
export interface PartitionStanding {
  readonly partition: number
  /** The table's txn version: the next offset the stream reads (undefined: the stream never committed it). */
  readonly position: number | undefined
  readonly earliest: number
  readonly latest: number
  /** Records from the position (or the earliest offset, without one) to the latest offset. */
  readonly lag: number
}

/** A stream's standing: per partition, and the table's version and last commit time. */
export interface Standing {
  readonly topic: string
  readonly table: string
  readonly streamId: string
  readonly tableVersion: number | undefined
  /** The last commit's time, ISO 8601 (undefined when the table does not exist). */
  readonly lastCommitTime: string | undefined
  readonly partitions: ReadonlyArray<PartitionStanding>
}

/** The table's latest version and the time of its commit, from its log (a local or an object-store table). */
const tableVersionOf = (job: JobConfig) =>
  Effect.scoped(Effect.gen(function*() {
    const storage = yield* jobTableStorage(job)
    const snapshot = yield* readSnapshot(storage)
    if (Option.isNone(snapshot)) return { version: undefined, time: undefined }
    const version = snapshot.value.version
    const actions = yield* readCommit(storage, version)
    const info = Option.getOrUndefined(actions)?.flatMap((action) => ("commitInfo" in action ? [action.commitInfo] : []))[0]
    const timestamp = typeof info?.["timestamp"] === "number" ? info["timestamp"] : undefined
    return { version, time: timestamp === undefined ? undefined : new Date(timestamp).toISOString() }
  }))

/** Reads where the configured stream stands. */
export const readStanding = Effect.gen(function*() {
  const job = yield* Config
  const sink = yield* DeltaSink
  const source = yield* KafkaSource
  const ranges = yield* source.offsets(job.kafkaTopic)
  const txns = yield* sink.txnVersions(job.table, appIdPrefixOf(job.streamId))
  const positions = new Map<number, number>()
  for (const [appId, version] of txns) {
    const partition = partitionOfAppId(job.streamId, appId)
    if (partition !== undefined) positions.set(partition, version)
  }
  const table = yield* tableVersionOf(job)
  return {
    topic: job.kafkaTopic,
    table: job.table.name,
    streamId: job.streamId,
    tableVersion: table.version,
    lastCommitTime: table.time,
    partitions: ranges.map((range) => {
      const position = positions.get(range.partition)
      return {
        partition: range.partition,
        position,
        earliest: range.earliest,
        latest: range.latest,
        lag: Math.max(0, range.latest - Math.max(position ?? range.earliest, range.earliest))
      }
    })
  } satisfies Standing
})

/** The standing as a table a person reads. */
export const formatStanding = (standing: Standing): string => {
  const header = `${standing.topic} -> ${standing.table} (stream ${standing.streamId}): table version ${standing.tableVersion ?? "(no table)"}, last commit ${standing.lastCommitTime ?? "(none)"}`
  const rows = [["partition", "position", "earliest", "latest", "lag"], ...standing.partitions.map((p) => [
    String(p.partition),
    p.position === undefined ? "-" : String(p.position),
    String(p.earliest),
    String(p.latest),
    String(p.lag)
  ])]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  return [header, ...rows.map((row) => row.map((cell, i) => cell.padStart(widths[i]!)).join("  "))].join("\n")
}

/** Where to move positions: one partition to an offset, or every partition to earliest, latest or a time. */
export type OffsetTarget =
  | { readonly _tag: "Partition"; readonly partition: number; readonly offset: number }
  | { readonly _tag: "Earliest" }
  | { readonly _tag: "Latest" }
  | { readonly _tag: "Timestamp"; readonly timestamp: number; readonly text: string }

/** The request of `offsets set` does not make sense (no such partition, an offset out of range, a bad time). */
export class OffsetsUsageError extends Schema.TaggedError<OffsetsUsageError>()("UsageError", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** There is no table to move positions in yet. */
export class NoTableError extends Schema.TaggedError<NoTableError>()("NoTableError", {
  table: Schema.String,
  location: Schema.String
}) {
  override get message() {
    return `table ${this.table} does not exist at ${this.location} yet: run the stream first (startingOffsets decides where a new table starts)`
  }
}

/** Reads `--to` as earliest, latest or an ISO 8601 time. */
export const parseTarget = (to: string): OffsetTarget | undefined => {
  if (to === "earliest") return { _tag: "Earliest" }
  if (to === "latest") return { _tag: "Latest" }
  const timestamp = /^\d{4}-\d{2}-\d{2}/.test(to) ? Date.parse(to) : Number.NaN
  return Number.isNaN(timestamp) ? undefined : { _tag: "Timestamp", timestamp, text: to }
}

/** One position moved. */
export interface Move {
  readonly partition: number
  readonly from: number | undefined
  readonly to: number
}

/** The moves `target` asks for, checked against what the topic holds. */
export const planMoves = (standing: Standing, target: OffsetTarget, byTimestamp: ReadonlyMap<number, number>) =>
  Effect.gen(function*() {
    if (target._tag === "Partition") {
      const p = standing.partitions.find((p) => p.partition === target.partition)
      if (p === undefined) {
        return yield* new OffsetsUsageError({
          reason: `topic ${standing.topic} has no partition ${target.partition} (partitions 0..${standing.partitions.length - 1})`
        })
      }
      if (target.offset < p.earliest || target.offset > p.latest) {
        return yield* new OffsetsUsageError({
          reason: `offset ${target.offset} is outside partition ${target.partition}'s offsets ${p.earliest}..${p.latest}; give an offset in that range`
        })
      }
      return [{ partition: p.partition, from: p.position, to: target.offset }]
    }
    return standing.partitions.map((p) => ({
      partition: p.partition,
      from: p.position,
      to: target._tag === "Earliest" ? p.earliest : target._tag === "Latest" ? p.latest : byTimestamp.get(p.partition) ?? p.latest
    }))
  })

/** The plan as lines a person reads before saying `--yes`. */
export const formatMoves = (standing: Standing, moves: ReadonlyArray<Move>): string =>
  [
    `offsets of ${standing.streamId} in ${standing.table}:`,
    ...moves.map((m) =>
      `  partition ${m.partition}: ${m.from ?? "(none)"} -> ${m.to}${m.from === undefined || m.from === m.to ? "" : m.to < m.from ? ` (re-reads ${m.from - m.to} records)` : ` (skips ${m.to - m.from} records)`}`
    )
  ].join("\n")

/**
 * Writes `moves` as one Delta commit of txn actions only, under the checkpoint's lock (refused while a run holds
 * it). Returns the table version written.
 */
export const applyMoves = (moves: ReadonlyArray<Move>, target: string) =>
  Effect.gen(function*() {
    const job = yield* Config
    const sink = yield* DeltaSink
    const checkpoint = yield* CheckpointStore
    yield* checkpoint.acquire
    const schema = yield* sink.schema(job.table)
    if (Option.isNone(schema)) return yield* new NoTableError({ table: job.table.name, location: job.table.location })
    const result = yield* sink.append({
      table: job.table,
      schema: schema.value,
      data: [],
      partitionBy: job.partitionBy,
      txns: moves.map((m) => ({ appId: appIdOf(job.streamId, m.partition), version: m.to, expected: m.from })),
      operationParameters: {
        streamId: job.streamId,
        operation: "SET OFFSETS",
        target,
        moved: JSON.stringify(moves.map((m) => ({ partition: m.partition, from: m.from ?? null, to: m.to })))
      },
      mergeSchema: false
    })
    return result.version
  }).pipe(Effect.scoped)
