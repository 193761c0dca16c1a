/**
 * What a run tells a person while it works: a start line, one line per commit (records, bytes, lag, latency),
 * warnings for bad records and data loss, and a final summary. Reporters are plain values so the CLI, tests
 * and embedding applications can each choose theirs; `combineReporters` runs several (the CLI adds the metrics
 * reporter of metrics.ts and the health of health.ts beside the log lines).
 */
import { Effect } from "effect"
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
  /** Delta commit races lost to other writers and retried past, by the batch's commits (table and dead letters). */
  readonly conflicts?: number | undefined
  /** Per partition of the batch: its range, its rows and bytes, the high watermark last seen (when the stream gives them). */
  readonly partitions?: ReadonlyArray<CommittedPartition> | undefined
  /** Per partition of the topic: records between the high watermark and the committed position (when given). */
  readonly partitionLag?: ReadonlyMap<number, number> | undefined
  /** Milliseconds spent by stage (e.g. `fetch`, `decode`, `write`, `commit`), when the stream measures them. */
  readonly durationMs?: Readonly<Record<string, number>> | undefined
  /** When the batch began filling (epoch ms), when given; the default is commit time minus `latencyMs`. */
  readonly startedAt?: number | undefined
}

/** One partition's part in a committed batch. */
export interface CommittedPartition {
  readonly partition: number
  /** The position the batch started at. */
  readonly from: number
  /** The next offset to read after the batch (the txn version the table now holds). */
  readonly until: number
  /** Rows and bytes of the partition in the batch, when the stream gives them. */
  readonly rows?: number | undefined
  readonly bytes?: number | undefined
  /** The partition's high watermark as last seen, when known. */
  readonly highWatermark?: number | undefined
}

/** A transient failure about to be retried. */
export interface RetryEvent {
  /** What was retried, e.g. `commit of batch 3`. */
  readonly what: string
  /** The error's tag, e.g. `KafkaUnavailableError`, `DeltaCommitConflictError`. */
  readonly cause: string
  readonly attempt: number
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
  /** A transient failure retried (optional: the stream calls it where it retries). */
  readonly retrying?: ((event: RetryEvent) => Effect.Effect<void>) | undefined
  /** The run failed for good (optional: the CLI calls it before reporting the failure). */
  readonly failed?: ((reason: string) => Effect.Effect<void>) | undefined
}

/** A reporter that hands every event to each of `reporters`, in order. */
export const combineReporters = (...reporters: ReadonlyArray<ProgressReporter>): ProgressReporter => {
  const each = <A>(pick: (r: ProgressReporter) => ((a: A) => Effect.Effect<void>) | undefined) => (a: A) =>
    Effect.forEach(reporters, (r) => pick(r)?.(a) ?? Effect.void, { discard: true })
  return {
    start: each((r) => r.start),
    committed: each((r) => r.committed),
    badRecord: each((r) => r.badRecord),
    dataLoss: each((r) => r.dataLoss),
    stopping: Effect.forEach(reporters, (r) => r.stopping, { discard: true }),
    summary: each((r) => r.summary),
    retrying: each((r) => r.retrying),
    failed: each((r) => r.failed)
  }
}

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

/** `committedLag` per partition. */
export const committedLagByPartition = (
  partitions: Iterable<{ readonly partition: number; readonly highWatermark: number; readonly from: number }>,
  committed: ReadonlyMap<number, number>
): Map<number, number> => {
  const lag = new Map<number, number>()
  for (const p of partitions) lag.set(p.partition, Math.max(0, p.highWatermark - (committed.get(p.partition) ?? p.from)))
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
    Effect.logInfo(
      `batch ${event.batchId}${event.version === undefined ? " (no commit)" : ` -> version ${event.version}`}: ${event.records} records, ${megabytes(event.bytes)}, lag ${event.lag}, ${event.latencyMs} ms${event.deadLetters > 0 ? `, ${event.deadLetters} dead letters` : ""}${(event.conflicts ?? 0) > 0 ? `, ${event.conflicts} commit conflict(s) retried` : ""}`
    ).pipe(Effect.annotateLogs({
      ...(event.conflicts === undefined ? {} : { conflicts: event.conflicts }),
      batchId: event.batchId,
      ...(event.version === undefined ? {} : { version: event.version }),
      records: event.records,
      bytes: event.bytes,
      lag: event.lag,
      latencyMs: event.latencyMs
    })),
  badRecord: (event) =>
    Effect.logWarning(`${event.action} bad record ${event.topic}/${event.partition}@${event.offset}: ${event.reason}`).pipe(
      Effect.annotateLogs({ topic: event.topic, partition: event.partition, offset: event.offset, action: event.action })
    ),
  dataLoss: (event) =>
    Effect.logWarning(
      `data loss on ${event.topic} partition ${event.partition}: expected offset ${event.expected}, partition holds ${event.available}; ${event.resumeAt === undefined ? "partition skipped" : `continuing from ${event.resumeAt}`} (failOnDataLoss=false, ${event.lostOffsets} offsets lost)`
    ).pipe(Effect.annotateLogs({
      topic: event.topic,
      partition: event.partition,
      expected: event.expected,
      available: event.available,
      lostOffsets: event.lostOffsets
    })),
  stopping: Effect.logInfo("stopping: the in-flight commit (if any) finishes, uncommitted records are read again next run"),
  summary: (s) =>
    Effect.logInfo(
      `${s.stoppedBy === "drained" ? "drained" : "stopped"}: ${s.batches} commits, ${s.records} records, ${megabytes(s.bytes)} in ${(s.durationMs / 1000).toFixed(1)} s${s.skipped > 0 ? `, ${s.skipped} skipped` : ""}${s.deadLettered > 0 ? `, ${s.deadLettered} dead-lettered` : ""}${s.lostOffsets > 0 ? `, ${s.lostOffsets} offsets lost` : ""}${s.lastVersion === undefined ? "" : `; table version ${s.lastVersion}`}`
    )
}

/** Reports nothing (for embedding and tests; add `metricsReporter(job)` of metrics.ts for the metrics). */
export const silentReporter: ProgressReporter = {
  start: () => Effect.void,
  committed: () => Effect.void,
  badRecord: () => Effect.void,
  dataLoss: () => Effect.void,
  stopping: Effect.void,
  summary: () => Effect.void
}
