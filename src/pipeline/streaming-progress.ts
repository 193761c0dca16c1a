/**
 * One object per committed batch shaped like Spark's `StreamingQueryProgress`, so dashboards and scripts that
 * read Spark's progress read ours: id, runId, batchId, row counts and rates, durations by stage, the source's
 * start and end offsets per partition, and the sink's table version. `progressReporter` hands each one to a
 * callback (the CLI prints it as a JSON line; an embedding application does what it likes).
 */
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import type { JobConfig } from "../services/Config.ts"
import type { CommittedEvent, ProgressReporter } from "./progress.ts"

/** Offsets per topic, per partition (as text), as Spark's Kafka source prints them. */
export type TopicOffsets = Readonly<Record<string, Readonly<Record<string, number>>>>

/** The source part of a progress object. */
export interface SourceProgress {
  readonly description: string
  readonly startOffset: TopicOffsets
  readonly endOffset: TopicOffsets
  /** The high watermarks last seen, when the stream gives them. */
  readonly latestOffset: TopicOffsets | null
  readonly numInputRows: number
  readonly inputRowsPerSecond: number
  readonly processedRowsPerSecond: number
}

/** A batch's progress, shaped like Spark's `StreamingQueryProgress`. */
export interface StreamingQueryProgress {
  /** The stream's id (stable across runs): `<Environment>_<topic>`. */
  readonly id: string
  /** This run's id (new for every run). */
  readonly runId: string
  readonly name: string
  /** When the batch was committed, ISO 8601. */
  readonly timestamp: string
  readonly batchId: number
  readonly numInputRows: number
  /** Rows per second since the previous batch's commit (since the start for the first). */
  readonly inputRowsPerSecond: number
  /** Rows per second of this batch's own time (from filling to commit). */
  readonly processedRowsPerSecond: number
  /** Milliseconds by stage; `triggerExecution` is the whole batch. */
  readonly durationMs: Readonly<Record<string, number>>
  readonly sources: ReadonlyArray<SourceProgress>
  readonly sink: {
    readonly description: string
    readonly numOutputRows: number
    /** The Delta version holding the batch (null when the batch committed nothing). */
    readonly tableVersion: number | null
    readonly deadLetters: number
    /** Races lost to other writers (members of a group, an optimize) that the commit retried past. */
    readonly commitConflicts: number
  }
}

const rate = (rows: number, millis: number): number => (millis <= 0 ? 0 : Math.round((rows * 1000 / millis) * 1000) / 1000)

/**
 * Builds the progress object of `event`. `previousAt` is when the previous batch (or the run) ended, for the
 * input rate; `positions` is where each partition stood before the batch, for the start offsets of partitions
 * the event does not list.
 */
export const toStreamingQueryProgress = (
  job: JobConfig,
  runId: string,
  event: CommittedEvent,
  previousAt: number,
  now: number
): StreamingQueryProgress => {
  const topic = job.kafkaTopic
  const startOffset: Record<string, number> = {}
  const endOffset: Record<string, number> = {}
  const latest: Record<string, number> = {}
  for (const p of event.partitions ?? []) {
    startOffset[String(p.partition)] = p.from
    endOffset[String(p.partition)] = p.until
    if (p.highWatermark !== undefined) latest[String(p.partition)] = p.highWatermark
  }
  const triggerExecution = event.startedAt === undefined ? event.latencyMs : Math.max(event.latencyMs, now - event.startedAt)
  const inputRowsPerSecond = rate(event.records, now - previousAt)
  const processedRowsPerSecond = rate(event.records, triggerExecution)
  return {
    id: job.streamId,
    runId,
    name: job.streamId,
    timestamp: new Date(now).toISOString(),
    batchId: event.batchId,
    numInputRows: event.records,
    inputRowsPerSecond,
    processedRowsPerSecond,
    durationMs: { ...event.durationMs, commit: event.durationMs?.commit ?? event.latencyMs, triggerExecution },
    sources: [{
      description: `KafkaV2[Subscribe[${topic}]]`,
      startOffset: { [topic]: startOffset },
      endOffset: { [topic]: endOffset },
      latestOffset: Object.keys(latest).length === 0 ? null : { [topic]: latest },
      numInputRows: event.records,
      inputRowsPerSecond,
      processedRowsPerSecond
    }],
    sink: {
      description: `DeltaSink[${job.table.location}]`,
      numOutputRows: event.records,
      tableVersion: event.version ?? null,
      deadLetters: event.deadLetters,
      commitConflicts: event.conflicts ?? 0
    }
  }
}

/** A reporter that hands a `StreamingQueryProgress` of every committed batch to `emit`. */
export const progressReporter = (job: JobConfig, emit: (progress: StreamingQueryProgress) => Effect.Effect<void>): ProgressReporter => {
  const runId = Crypto.randomUUID()
  let previousAt = Date.now()
  return {
    start: () =>
      Effect.sync(() => {
        previousAt = Date.now()
      }),
    committed: (event) =>
      Effect.suspend(() => {
        const now = Date.now()
        const progress = toStreamingQueryProgress(job, runId, event, previousAt, now)
        previousAt = now
        return emit(progress)
      }),
    badRecord: () => Effect.void,
    dataLoss: () => Effect.void,
    stopping: Effect.void,
    summary: () => Effect.void
  }
}
