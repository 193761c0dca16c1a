/**
 * The run's metrics, on Effect's own `Metric` (so `PrometheusMetrics` and `OtlpMetrics` export them as they
 * are): every name starts with `kafka_delta_`, every series is labelled with the topic and the table, and the
 * partition where one partition is meant. `makeMetrics(job)` gives a reporter that turns the progress events
 * into updates, and `sample`, which refreshes what moves with time alone (seconds since the last commit, memory).
 */
import { Effect, Metric } from "effect"
import type { JobConfig } from "../services/Config.ts"
import type { ProgressReporter } from "./progress.ts"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

/** Rows committed to the table. */
export const recordsWritten = counter("kafka_delta_records_written_total", "rows committed to the table")
/** Bytes of the records committed (their Kafka value sizes). */
export const bytesWritten = counter("kafka_delta_bytes_written_total", "bytes of the Kafka records committed to the table")
/** Delta commits of batches. */
export const batchesCommitted = counter("kafka_delta_batches_committed_total", "Delta commits of batches")
/** Seconds from sealing a batch to its Delta commit. */
export const commitLatency = Metric.histogram("kafka_delta_commit_latency_seconds", {
  description: "seconds from sealing a batch to its Delta commit",
  boundaries: Metric.exponentialBoundaries({ start: 0.01, factor: 2, count: 14 })
})
/** Records per committed batch. */
export const batchSize = Metric.histogram("kafka_delta_batch_records", {
  description: "records per committed batch",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 4, count: 12 })
})
/** Records between the high watermark and the committed position, over the topic. */
export const lag = Metric.gauge("kafka_delta_lag_records", {
  description: "records not yet committed (high watermark minus committed position), over all partitions"
})
/** The same per partition. */
export const partitionLag = Metric.gauge("kafka_delta_partition_lag_records", {
  description: "records of one partition not yet committed (high watermark minus committed position)"
})
/** The committed position (txn version) per partition. */
export const committedOffset = Metric.gauge("kafka_delta_committed_offset", {
  description: "next offset to read per partition, as the table's txn version holds it"
})
/** Seconds since the last commit (since the start before the first). */
export const secondsSinceLastCommit = Metric.gauge("kafka_delta_seconds_since_last_commit", {
  description: "seconds since the last Delta commit of a batch (since the start before the first)"
})
/** The last commit's time, seconds since the epoch. */
export const lastCommitTimestamp = Metric.gauge("kafka_delta_last_commit_timestamp_seconds", {
  description: "time of the last Delta commit of a batch, seconds since the epoch"
})
/** Rows written to the dead-letter table. */
export const deadLetters = counter("kafka_delta_dead_letters_total", "records written to the dead-letter table")
/** Records skipped under `onBadRecord: skip`. */
export const skippedRecords = counter("kafka_delta_skipped_records_total", "bad records skipped under onBadRecord: skip")
/** Offsets lost to retention while tolerated. */
export const lostOffsets = counter("kafka_delta_lost_offsets_total", "offsets deleted before they were read (failOnDataLoss: false)")
/** Transient failures retried, by the error's tag. */
export const retries = counter("kafka_delta_retries_total", "transient failures retried, by cause")
/** Delta commits that lost the race to another writer and were retried. */
export const commitConflicts = counter("kafka_delta_commit_conflicts_total", "Delta commits retried after a conflicting commit")
/** The table's version after the last commit. */
export const tableVersion = Metric.gauge("kafka_delta_table_version", { description: "the table's Delta version after the last commit" })
/** Resident set size of the process. */
export const residentMemory = Metric.gauge("kafka_delta_process_resident_memory_bytes", { description: "resident set size of the process" })
/** V8 heap in use. */
export const heapUsed = Metric.gauge("kafka_delta_process_heap_used_bytes", { description: "V8 heap in use" })

/** The labels of every series of `job`. */
export const labelsOf = (job: JobConfig): Record<string, string> => ({ topic: job.kafkaTopic, table: job.table.name })

/** The metrics of one job: a reporter that updates them, and `sample` for the gauges that move with time. */
export interface JobMetrics {
  readonly reporter: ProgressReporter
  /** Refreshes seconds since the last commit and process memory (call before a scrape or an export). */
  readonly sample: Effect.Effect<void>
  /**
   * Sets the per-partition lag and positions from what the table holds (`positions`) and what the topic holds
   * (`ranges`) right now: a lag exporter's view, independent of the stream's own events.
   */
  readonly samplePositions: (
    positions: ReadonlyMap<number, number>,
    ranges: ReadonlyArray<{ readonly partition: number; readonly earliest: number; readonly latest: number }>
  ) => Effect.Effect<void>
}

/** The metrics of `job`'s series. */
export const makeMetrics = (job: JobConfig): JobMetrics => {
  const labels = labelsOf(job)
  const labelled = <I, S>(metric: Metric.Metric<I, S>, extra?: Record<string, string>) =>
    Metric.withAttributes(metric, extra === undefined ? labels : { ...labels, ...extra })
  let lastCommitAt: number | undefined
  const sample = Effect.suspend(() => {
    const memory = process.memoryUsage()
    return Effect.all([
      lastCommitAt === undefined ? Effect.void : Metric.update(labelled(secondsSinceLastCommit), (Date.now() - lastCommitAt) / 1000),
      Metric.update(residentMemory, memory.rss),
      Metric.update(heapUsed, memory.heapUsed)
    ], { discard: true })
  })
  const reporter: ProgressReporter = {
    start: (event) =>
      Effect.gen(function*() {
        lastCommitAt = Date.now()
        // counters appear at 0 from the start, so rate() and alerts see them before the first event
        for (const metric of [recordsWritten, bytesWritten, batchesCommitted, deadLetters, skippedRecords, lostOffsets, commitConflicts]) {
          yield* Metric.update(labelled(metric), 0)
        }
        for (const [partition, offset] of event.positions) {
          yield* Metric.update(labelled(committedOffset, { partition: String(partition) }), offset)
        }
        yield* sample
      }),
    committed: (event) =>
      Effect.gen(function*() {
        const now = Date.now()
        lastCommitAt = now
        yield* Metric.update(labelled(recordsWritten), event.records)
        yield* Metric.update(labelled(bytesWritten), event.bytes)
        yield* Metric.update(labelled(deadLetters), event.deadLetters)
        if (event.conflicts !== undefined && event.conflicts > 0) yield* Metric.update(labelled(commitConflicts), event.conflicts)
        yield* Metric.update(labelled(lag), event.lag)
        yield* Metric.update(labelled(commitLatency), event.latencyMs / 1000)
        yield* Metric.update(labelled(batchSize), event.records)
        if (event.version !== undefined) {
          yield* Metric.update(labelled(batchesCommitted), 1)
          yield* Metric.update(labelled(tableVersion), event.version)
        }
        yield* Metric.update(labelled(lastCommitTimestamp), now / 1000)
        yield* Metric.update(labelled(secondsSinceLastCommit), 0)
        for (const p of event.partitions ?? []) {
          yield* Metric.update(labelled(committedOffset, { partition: String(p.partition) }), p.until)
        }
        for (const [partition, records] of event.partitionLag ?? []) {
          yield* Metric.update(labelled(partitionLag, { partition: String(partition) }), records)
        }
      }),
    badRecord: (event) =>
      event.action === "skipped"
        ? Metric.update(labelled(skippedRecords, { partition: String(event.partition) }), 1)
        : Effect.void,
    dataLoss: (event) => Metric.update(labelled(lostOffsets, { partition: String(event.partition) }), event.lostOffsets),
    stopping: Effect.void,
    summary: () => Effect.void,
    // a lost commit race is retried inside the Delta commit, not here: the committed event counts those
    retrying: (event) => Metric.update(labelled(retries, { cause: event.cause }), 1)
  }
  const samplePositions = (
    positions: ReadonlyMap<number, number>,
    ranges: ReadonlyArray<{ readonly partition: number; readonly earliest: number; readonly latest: number }>
  ) =>
    Effect.forEach(ranges, (range) => {
      const partition = String(range.partition)
      const position = positions.get(range.partition)
      // without a position the stream has read nothing of the partition yet: all it holds is lag
      const lagged = range.latest - Math.max(position ?? range.earliest, range.earliest)
      return Effect.andThen(
        Metric.update(labelled(partitionLag, { partition }), Math.max(0, lagged)),
        position === undefined ? Effect.void : Metric.update(labelled(committedOffset, { partition }), position)
      )
    }, { discard: true })
  return { reporter, sample, samplePositions }
}

