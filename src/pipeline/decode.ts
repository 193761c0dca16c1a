/**
 * The decode stage: a source event applied to its partition's batch. A fetch is framed, its schema ids looked up
 * (all of them before any record is applied), each record checked against the batch's schema and decoded into
 * the partition's open segment, or handed to the bad-record policy; an offset out of range is data loss, fatal or
 * counted per `failOnDataLoss`. The per-record loop is a plain loop over the fetch: it allocates nothing per record
 * and suspends only when the batch is full (to wait for the seal) or a bad record is reported.
 */
import { Effect } from "effect"
import type { JobConfig } from "../services/Config.ts"
import { SchemaMismatchError } from "../services/DeltaSink.ts"
import type { OffsetOutOfRange, RecordsFetched, SourceEvent } from "../services/KafkaSource.ts"
import { applyBadRecord } from "./bad-records.ts"
import type { BatchSchema } from "./batch-schema.ts"
import type { Codec, makeSchemaCache } from "./decoding.ts"
import { BadRecordError, DataLossError, LogTruncated, type Rewind } from "./errors.ts"
import type { MicroBatch, SealGate } from "./micro-batch.ts"
import type { PartitionBatch } from "./partition.ts"
import type { ProgressReporter } from "./progress.ts"

/** Writer schemas by id, as `makeSchemaCache` gives them. */
export type SchemaCache = Effect.Success<ReturnType<typeof makeSchemaCache>>

/** What decoding a session's events needs: the job, the decoders and the batch the rows go to. */
export interface Decoder {
  readonly job: JobConfig
  readonly codec: Codec
  readonly schemas: SchemaCache
  readonly batch: MicroBatch
  readonly schema: BatchSchema
  readonly gate: SealGate
  readonly reporter: ProgressReporter
  /** Available-now: the offset each partition drains to (undefined for a continuous run). */
  readonly targets: ReadonlyMap<number, number> | undefined
  /** The run's truncated partitions, where the next session resumes them (owned by the run; the committer clears). */
  readonly rewound: Map<number, Rewind>
}

// Invariant at every suspension point (any `yield*`): each partition's `until` is the offset after the last
// record applied to its batch, so a seal (by size or by the interval timer) never commits a row whose offset
// is at or beyond the txn version written with it.
/** Applies the records of `event` to `batch`, up to the partition's target. */
export const applyFetch = (decoder: Decoder, batch: PartitionBatch, event: RecordsFetched) =>
  Effect.gen(function*() {
    if (batch.done) return
    const { job, codec, schemas, schema, gate, reporter } = decoder
    const micro = decoder.batch
    const target = decoder.targets?.get(batch.partition) ?? Number.MAX_SAFE_INTEGER
    const records = event.records
    batch.highWatermark = event.highWatermark // before any suspension: a seal mid-fetch reports the lag with it
    if (records.length > 0) micro.fillingSince ??= Date.now()
    // the decode time is taken per fetch (never per record); a wait for the seal is not decoding
    let since = performance.now()
    // look up every schema id of the fetch before any record is applied
    const ids = new Set<number>()
    let lastId = -1
    for (const record of records) {
      if (record.offset >= target) break
      const frame = codec.frame(record.value)
      // consecutive records mostly share an id: look at the cache only when it changes
      if ("schemaId" in frame && frame.schemaId !== lastId) {
        lastId = frame.schemaId
        if (schemas.get(lastId) === undefined) ids.add(lastId)
      }
    }
    const unknown = new Map<number, string>()
    for (const id of ids) {
      const found = yield* schemas.lookup(id)
      if ("unknownId" in found) unknown.set(id, found.reason)
    }
    let deadLettersFull = false
    for (const record of records) {
      if (record.offset >= target) break
      while (deadLettersFull || micro.rows >= job.stream.maxBatchRecords) {
        // the batch is full: hand it to the committer and wait for the seal before decoding the rest
        deadLettersFull = false
        micro.decodeMs += performance.now() - since
        yield* gate.full
        yield* gate.await
        since = performance.now()
        micro.fillingSince ??= Date.now()
      }
      const frame = codec.frame(record.value)
      let problem: { readonly schemaId: number | undefined; readonly reason: string } | undefined
      if ("reason" in frame) {
        problem = { schemaId: undefined, reason: frame.reason }
      } else {
        const writer = schemas.get(frame.schemaId)
        if (writer === undefined || "unknownId" in writer) {
          const reason = writer?.reason ?? unknown.get(frame.schemaId) ?? `unknown schema id ${frame.schemaId}`
          problem = { schemaId: frame.schemaId, reason }
        } else {
          const mismatch = schema.admit(writer)
          if (mismatch !== undefined) return yield* mismatch
          if (batch.builder === undefined) {
            batch.builder = codec.builder(writer.arrowSchema)
          } else {
            const wider = schema.segmentSchema(batch.builder.schema, writer)
            if (wider instanceof SchemaMismatchError) return yield* wider
            if (wider !== undefined) {
              batch.closeSegment()
              batch.builder = codec.builder(wider)
            }
          }
          const failure = batch.builder.append(writer, record, frame.bodyOffset, job.kafkaTopic, batch.partition)
          if (failure === undefined) micro.rows++
          else problem = { schemaId: frame.schemaId, reason: failure }
        }
      }
      if (problem === undefined) {
        batch.until = record.offset + 1
      } else {
        const outcome = applyBadRecord(job.stream.onBadRecord, batch, { topic: job.kafkaTopic, record, ...problem })
        if (outcome instanceof BadRecordError) return yield* outcome
        if (outcome.action === "dead-lettered") {
          micro.rows++ // a dead letter counts like a row, and its bytes too (rows are checked per fetch)
          deadLettersFull = micro.isFull()
        }
        yield* reporter.badRecord(outcome)
      }
    }
    batch.until = Math.min(Math.max(batch.until, event.nextOffset), target)
    if (batch.until >= target) batch.done = true
    micro.decodeMs += performance.now() - since
  })

/**
 * Applies an offset out of range: data loss, fatal under `failOnDataLoss`, else counted and skipped over. A log
 * truncated below our position (`logEnd`) lost the offsets from its end to our position: the table holds their
 * old records, and new records will take those offsets. Tolerated, reading resumes at the log's end, so the new
 * records are read (they are new data, not the ones the table holds); the source keeps its own position, so the
 * session ends and the next one starts the partition there.
 */
export const applyOutOfRange = (decoder: Decoder, batch: PartitionBatch, event: OffsetOutOfRange) =>
  Effect.gen(function*() {
    if (event.logEnd !== undefined && event.logEnd < event.requested) {
      const available = `a log that now ends at ${event.logEnd} (truncated)`
      if (decoder.job.stream.failOnDataLoss) {
        return yield* new DataLossError({
          topic: event.topic,
          partition: event.partition,
          expected: event.requested,
          available,
          logEnd: event.logEnd
        })
      }
      const lostOffsets = event.requested - event.logEnd
      yield* decoder.reporter.dataLoss({
        topic: event.topic,
        partition: event.partition,
        expected: event.requested,
        available,
        resumeAt: event.logEnd,
        lostOffsets
      })
      decoder.rewound.set(event.partition, { from: event.requested, to: event.logEnd })
      return yield* new LogTruncated({ partition: event.partition, lostOffsets })
    }
    if (decoder.job.stream.failOnDataLoss) {
      return yield* new DataLossError({
        topic: event.topic,
        partition: event.partition,
        expected: event.requested,
        available: `offsets from ${event.earliest}`
      })
    }
    const lostOffsets = Math.max(0, event.earliest - event.requested)
    decoder.batch.fillingSince ??= Date.now()
    batch.lostOffsets += lostOffsets
    batch.until = Math.max(batch.until, event.earliest)
    yield* decoder.reporter.dataLoss({
      topic: event.topic,
      partition: event.partition,
      expected: event.requested,
      available: `offsets from ${event.earliest}`,
      resumeAt: event.earliest,
      lostOffsets
    })
  })

/**
 * One step of a partition's actor: waits while a full batch waits for its seal, applies `event`, then asks for a
 * seal when the batch is full (or, available-now, when every partition is done).
 */
export const applyEvent = (decoder: Decoder, batch: PartitionBatch, event: SourceEvent) =>
  Effect.gen(function*() {
    yield* decoder.gate.await
    if (event._tag === "RecordsFetched") yield* applyFetch(decoder, batch, event)
    else yield* applyOutOfRange(decoder, batch, event)
    if (decoder.batch.isFull()) yield* decoder.gate.full
    else if (decoder.batch.allDone()) yield* decoder.gate.nudge
  })
