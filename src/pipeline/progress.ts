/**
 * What a run tells a person while it works: a start line, one line per commit (records, bytes, lag, latency),
 * warnings for bad records and data loss, and a final summary. Reporters are plain values so the CLI, tests
 * and embedding applications can each choose theirs. Metrics are updated whatever the reporter.
 */
import { Effect, Metric } from "effect"
import type { JobConfig } from "../services/Config.ts"
import type { LostRange } from "./positions.ts"
import type { RunSummary } from "./stream.ts"

/** The start of a run. */
export interface StartEvent {
  readonly job: JobConfig
  readonly positions: ReadonlyMap<number, number>
  readonly origins: ReadonlyMap<number, "table" | "startingOffsets">
  /** Available-now: the offsets drained to. */
  readonly targets: ReadonlyMap<number, number> | undefined
}

/** A committed batch. */
export interface CommittedEvent {
  readonly batchId: number
  /** Undefined when the batch moved no rows into the table (nothing to commit). */
  readonly version: number | undefined
  readonly records: number
  readonly bytes: number
  /** Records between the committed position and the high watermark, over all partitions (fetched ones too). */
  readonly lag: number
  readonly latencyMs: number
  readonly deadLetters: number
}

/** A record that could not become a row and was skipped or dead-lettered. */
export interface BadRecordEvent {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly reason: string
  readonly action: "skipped" | "dead-lettered"
}

/** Data loss tolerated under `failOnDataLoss: false`. */
export type DataLossEvent = LostRange & { readonly topic: string }

/** Receives a run's progress. */
export interface ProgressReporter {
  readonly start: (event: StartEvent) => Effect.Effect<void>
  readonly committed: (event: CommittedEvent) => Effect.Effect<void>
  readonly badRecord: (event: BadRecordEvent) => Effect.Effect<void>
  readonly dataLoss: (event: DataLossEvent) => Effect.Effect<void>
  readonly stopping: Effect.Effect<void>
  readonly summary: (summary: RunSummary) => Effect.Effect<void>
}

/** Records written to the table. */
export const recordsWritten = Metric.counter("kafka_delta_records_written_total", { description: "rows committed to the table", incremental: true })
/** Batches committed. */
export const batchesCommitted = Metric.counter("kafka_delta_batches_committed_total", { description: "Delta commits of batches", incremental: true })
/** Bad records skipped or dead-lettered. */
export const badRecords = Metric.counter("kafka_delta_bad_records_total", { description: "records that could not become rows", incremental: true })
/** Offsets lost to retention while tolerated. */
export const lostOffsets = Metric.counter("kafka_delta_lost_offsets_total", { description: "offsets deleted before they were read", incremental: true })
/** Records between the committed position and the high watermark after the last commit. */
export const lag = Metric.gauge("kafka_delta_lag_records", { description: "records not yet committed after the last commit (high watermark minus committed position)" })

/**
 * Records not yet committed: per partition, its high watermark as last seen minus the position the table holds
 * (or where reading began, before the partition's first commit). Records fetched into a batch still count.
 */
export const committedLag = (
  partitions: Iterable<{ readonly partition: number; readonly highWatermark: number; readonly from: number }>,
  committed: ReadonlyMap<number, number>
): number => {
  let lag = 0
  for (const p of partitions) lag += Math.max(0, p.highWatermark - (committed.get(p.partition) ?? p.from))
  return lag
}

const megabytes = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`

const describePositions = (event: StartEvent): string =>
  [...event.positions].sort(([a], [b]) => a - b).map(([partition, offset]) => {
    const target = event.targets?.get(partition)
    return `${partition}:${offset}${target === undefined ? "" : `->${target}`}${event.origins.get(partition) === "table" ? "" : "*"}`
  }).join(" ")

/** Reports as log lines a person reads: info for progress, warnings for bad records and data loss. */
export const logReporter: ProgressReporter = {
  start: (event) =>
    Effect.logInfo(
      `starting ${event.job.environment} ${event.job.kafkaTopic} -> ${event.job.table.name} (${event.job.table.location}); checkpoint ${event.job.checkpointLocation}; trigger ${event.job.stream.trigger}; offsets ${describePositions(event) || "(no partitions)"}${[...event.origins.values()].includes("startingOffsets") ? ` (* = from startingOffsets ${JSON.stringify(event.job.stream.startingOffsets)})` : ""}`
    ),
  committed: (event) =>
    Effect.andThen(
      Effect.all([Metric.update(recordsWritten, event.records), Metric.update(batchesCommitted, 1), Metric.update(lag, event.lag)]),
      Effect.logInfo(
        `batch ${event.batchId}${event.version === undefined ? " (no commit)" : ` -> version ${event.version}`}: ${event.records} records, ${megabytes(event.bytes)}, lag ${event.lag}, ${event.latencyMs} ms${event.deadLetters > 0 ? `, ${event.deadLetters} dead letters` : ""}`
      )
    ),
  badRecord: (event) =>
    Effect.andThen(
      Metric.update(badRecords, 1),
      Effect.logWarning(`${event.action} bad record ${event.topic}/${event.partition}@${event.offset}: ${event.reason}`)
    ),
  dataLoss: (event) =>
    Effect.andThen(
      Metric.update(lostOffsets, event.lostOffsets),
      Effect.logWarning(
        `data loss on ${event.topic} partition ${event.partition}: expected offset ${event.expected}, partition holds ${event.available}; ${event.resumeAt === undefined ? "partition skipped" : `continuing from ${event.resumeAt}`} (failOnDataLoss=false, ${event.lostOffsets} offsets lost)`
      )
    ),
  stopping: Effect.logInfo("stopping: the in-flight commit (if any) finishes, uncommitted records are read again next run"),
  summary: (s) =>
    Effect.logInfo(
      `${s.stoppedBy === "drained" ? "drained" : "stopped"}: ${s.batches} commits, ${s.records} records, ${megabytes(s.bytes)} in ${(s.durationMs / 1000).toFixed(1)} s${s.skipped > 0 ? `, ${s.skipped} skipped` : ""}${s.deadLettered > 0 ? `, ${s.deadLettered} dead-lettered` : ""}${s.lostOffsets > 0 ? `, ${s.lostOffsets} offsets lost` : ""}${s.lastVersion === undefined ? "" : `; table version ${s.lastVersion}`}`
    )
}

/** Reports nothing but keeps the metrics (for embedding and tests). */
export const silentReporter: ProgressReporter = {
  start: () => Effect.void,
  committed: (event) => Effect.asVoid(Effect.all([Metric.update(recordsWritten, event.records), Metric.update(batchesCommitted, 1)])),
  badRecord: () => Metric.update(badRecords, 1),
  dataLoss: (event) => Metric.update(lostOffsets, event.lostOffsets),
  stopping: Effect.void,
  summary: () => Effect.void
}
