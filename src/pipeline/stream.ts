/**
 * The supervised stream: one run of a job from the positions the table records to a stop (a signal, or, with
 * the `available-now` trigger, the offsets that existed at start). Partitions are decoded by independent fibers
 * (one actor per partition, each with a bounded mailbox) into the current batch; a sealer takes each full batch
 * and a committer commits the sealed batches one at a time, in order. When a batch is full and the committer is
 * still one batch behind, the actors wait, and the router waits for the actors, so fetching pauses and memory
 * stays bounded. Transient failures restart the session from the table's positions on the retry schedule; fatal ones
 * stop the run.
 */
import { Effect, FiberSet, Option, Queue, Semaphore, Stream } from "effect"
import { CheckpointStore } from "../services/CheckpointStore.ts"
import { Config, type JobConfig } from "../services/Config.ts"
import { DeltaSink, SchemaMismatchError } from "../services/DeltaSink.ts"
import { KafkaSource, type KafkaSourceError, type OffsetOutOfRange, type RecordsFetched, type SourceEvent } from "../services/KafkaSource.ts"
import type { RegistryError, SchemaNotFoundError } from "../services/SchemaRegistry.ts"
import { type CommittedPositions, commitBatch } from "./commit.ts"
import { applyBadRecord } from "./bad-records.ts"
import { BatchSchema } from "./batch-schema.ts"
import { MicroBatch, makeSealer, type SealedForCommit } from "./micro-batch.ts"
import { avroCodec } from "./avro-codec.ts"
import { type Codec, makeSchemaCache, type UnsupportedSchemaError } from "./decoding.ts"
import { BadRecordError, DataLossError } from "./errors.ts"
import type { PartitionBatch } from "./partition.ts"
import { appIdPrefixOf, deadLetterPositions, nextBatchIdOf, plannedStarts, planStart, startRanges, streamIdentity } from "./positions.ts"
import { committedLag, type ProgressReporter, silentReporter } from "./progress.ts"
import { retryPerOutage } from "./retry.ts"

/** How a run ended and what it did. */
export interface RunSummary {
  readonly stoppedBy: "drained" | "interrupted"
  readonly batches: number
  readonly records: number
  readonly bytes: number
  readonly skipped: number
  readonly deadLettered: number
  readonly lostOffsets: number
  readonly lastVersion: number | undefined
  readonly durationMs: number
}

/** Tuning of a run that is not part of the job's configuration. */
export interface RunOptions {
  /** How record values are decoded (default: Confluent-framed Avro). */
  readonly codec?: Codec
  readonly reporter?: ProgressReporter
  /**
   * Fetches queued per partition actor (default 1): actors decode on the one main thread, so a deeper mailbox
   * only holds more fetched records (and their fetch buffers) in memory without decoding any sooner.
   */
  readonly mailboxSize?: number
  /**
   * Batches sealed ahead of the one committing (default 1): decoding goes on into the next batch while a sealed one
   * waits for the commit before it. Each costs a batch of memory (`maxBatchBytes` and its Arrow columns); 0 seals
   * a batch only once the previous one has committed.
   */
  readonly sealedAhead?: number
}

/** What outlives a retried session within one run. */
interface RunState {
  targets?: Map<number, number>
  resolved?: ReadonlyMap<number, number>
}

interface Totals {
  batches: number
  records: number
  bytes: number
  skipped: number
  deadLettered: number
  lostOffsets: number
  lastVersion: number | undefined
}

/** What an actor or the router can fail with. */
type SessionFailure =
  | KafkaSourceError
  | DataLossError
  | BadRecordError
  | UnsupportedSchemaError
  | SchemaNotFoundError
  | RegistryError
  | SchemaMismatchError

/** Runs the job in `Config` until drained (available-now) or interrupted. */
export const runStream = (options: RunOptions = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const sealedAhead = options.sealedAhead ?? 1
    if (!Number.isInteger(sealedAhead) || sealedAhead < 0) {
      return yield* Effect.die(new RangeError(`RunOptions.sealedAhead must be a whole number of batches, 0 or more; got ${sealedAhead}`))
    }
    const job = yield* Config
    const checkpoint = yield* CheckpointStore
    const reporter = options.reporter ?? silentReporter
    yield* checkpoint.acquire
    const startedAt = Date.now()
    const totals: Totals = { batches: 0, records: 0, bytes: 0, skipped: 0, deadLettered: 0, lostOffsets: 0, lastVersion: undefined }
    const runState: RunState = {}
    const summarize = (stoppedBy: RunSummary["stoppedBy"]) => {
      const summary: RunSummary = { stoppedBy, ...totals, durationMs: Date.now() - startedAt }
      return Effect.as(reporter.summary(summary), summary)
    }
    // a signal stop is the usual end of a continuous run: it gets its summary too
    const stoppedBy = yield* retryPerOutage("stream session", job.stream.retry, () => totals.batches, session(job, options, reporter, totals, runState)).pipe(
      Effect.onInterrupt(() => Effect.andThen(reporter.stopping, summarize("interrupted")))
    )
    return yield* summarize(stoppedBy)
  }))

const session = (job: JobConfig, options: RunOptions, reporter: ProgressReporter, totals: Totals, run: RunState) =>
  Effect.scoped(Effect.gen(function*() {
    const source = yield* KafkaSource
    const sink = yield* DeltaSink
    const checkpoint = yield* CheckpointStore
    const codec = options.codec ?? avroCodec
    const schemas = yield* makeSchemaCache(codec)
    const prefix = appIdPrefixOf(job.streamId)

    const state = yield* checkpoint.read
    const tableTxns = yield* sink.txnVersions(job.table, prefix)
    const adopted = yield* streamIdentity(job)
    const deadLetterTxns = yield* sink.txnVersions(job.deadLetterTable, prefix)
    const tableSchema = yield* sink.schema(job.table)
    const partitions = yield* source.offsets(job.kafkaTopic)
    const start = planStart({
      streamId: job.streamId,
      topics: [job.kafkaTopic, job.topic],
      txnVersions: tableTxns,
      partitions,
      startingOffsets: job.stream.startingOffsets,
      adopted,
      resolved: new Map([...plannedStarts(state, job.kafkaTopic, job.streamId, tableTxns), ...(run.resolved ?? [])])
    })
    run.resolved = start.resolved
    for (const lost of start.lost) {
      if (job.stream.failOnDataLoss) {
        return yield* new DataLossError({ topic: job.kafkaTopic, partition: lost.partition, expected: lost.expected, available: lost.available })
      }
      totals.lostOffsets += lost.lostOffsets
      yield* reporter.dataLoss({ topic: job.kafkaTopic, ...lost })
    }
    const deadLetters = deadLetterPositions(job.streamId, deadLetterTxns, partitions, start.positions)
    const committed: CommittedPositions = { table: new Map(start.committed), deadLetterTable: deadLetters.table, deadLetterRewound: deadLetters.rewound }
    const availableNow = job.stream.trigger === "available-now"
    // available-now drains to the offsets seen when the run started, also when a session is retried
    run.targets ??= new Map(partitions.map((range) => [range.partition, range.latest]))
    const targets = run.targets
    const nextBatchId = nextBatchIdOf(state, job.streamId, tableTxns)
    const unrecorded = startRanges(start, state)
    if (unrecorded !== undefined) yield* checkpoint.plan({ batchId: nextBatchId, topic: job.kafkaTopic, ranges: unrecorded, plannedAt: Date.now() })
    yield* reporter.start({ job, positions: start.positions, origins: start.origins, targets: availableNow ? targets : undefined })

    const batchSchema = new BatchSchema(codec, job.table.name, Option.getOrUndefined(tableSchema))
    const micro = new MicroBatch({
      maxBatchRecords: job.stream.maxBatchRecords,
      maxBatchBytes: job.stream.maxBatchBytes,
      drains: availableNow,
      nextBatchId,
      codec,
      schema: batchSchema,
      recorded: committed.table
    })
    // one PartitionBatch per partition; its actor (fiber + mailbox) starts when the partition's first fetch arrives
    const mailboxes = new Map<number, Queue.Queue<SourceEvent>>()
    for (const [partition, position] of start.positions) {
      const batch = micro.addPartition(partition, position, partitions.find((range) => range.partition === partition)?.latest ?? 0)
      batch.done = availableNow && position >= (targets.get(partition) ?? 0)
    }
    if (micro.allDone()) return "drained" as const

    const sealer = yield* makeSealer
    const gate = sealer.gate
    const fibers = yield* FiberSet.make<void, SessionFailure>()

    // Invariant at every suspension point (any `yield*`): each partition's `until` is the offset after the last
    // record applied to its batch, so a seal (by size or by the interval timer) never commits a row whose offset
    // is at or beyond the txn version written with it.
    const applyFetch = (batch: PartitionBatch, event: RecordsFetched) =>
      Effect.gen(function*() {
        if (batch.done) return
        const target = availableNow ? (targets.get(batch.partition) ?? Number.MAX_SAFE_INTEGER) : Number.MAX_SAFE_INTEGER
        const records = event.records
        batch.highWatermark = event.highWatermark // before any suspension: a seal mid-fetch reports the lag with it
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
            yield* gate.full
            yield* gate.await
          }
          const frame = codec.frame(record.value)
          let problem: { readonly schemaId: number | undefined; readonly reason: string } | undefined
          if ("reason" in frame) {
            problem = { schemaId: undefined, reason: frame.reason }
          } else {
            const writer = schemas.get(frame.schemaId)
            if (writer === undefined || "unknownId" in writer) {
              problem = { schemaId: frame.schemaId, reason: unknown.get(frame.schemaId) ?? `unknown schema id ${frame.schemaId}` }
            } else {
              const mismatch = batchSchema.admit(writer)
              if (mismatch !== undefined) return yield* mismatch
              if (batch.builder === undefined) {
                batch.builder = codec.builder(writer.arrowSchema)
              } else {
                const wider = batchSchema.segmentSchema(batch.builder.schema, writer)
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
      })

    const applyOutOfRange = (batch: PartitionBatch, event: OffsetOutOfRange) =>
      Effect.gen(function*() {
        if (job.stream.failOnDataLoss) {
          return yield* new DataLossError({
            topic: event.topic,
            partition: event.partition,
            expected: event.requested,
            available: `offsets from ${event.earliest}`
          })
        }
        const lostOffsets = Math.max(0, event.earliest - event.requested)
        batch.lostOffsets += lostOffsets
        batch.until = Math.max(batch.until, event.earliest)
        yield* reporter.dataLoss({
          topic: event.topic,
          partition: event.partition,
          expected: event.requested,
          available: `offsets from ${event.earliest}`,
          resumeAt: event.earliest,
          lostOffsets
        })
      })

    const actorLoop = (batch: PartitionBatch, mailbox: Queue.Queue<SourceEvent>) =>
      Effect.forever(Effect.gen(function*() {
        const event = yield* Queue.take(mailbox)
        yield* gate.await
        if (event._tag === "RecordsFetched") yield* applyFetch(batch, event)
        else yield* applyOutOfRange(batch, event)
        if (micro.isFull()) yield* gate.full
        else if (micro.allDone()) yield* gate.nudge
      }))

    const mailboxSize = options.mailboxSize ?? 1
    const mailboxFor = (partition: number, firstPosition: number) =>
      Effect.gen(function*() {
        const known = mailboxes.get(partition)
        if (known !== undefined) return known
        const batch = micro.addPartition(partition, firstPosition)
        const mailbox = yield* Queue.bounded<SourceEvent>(mailboxSize)
        mailboxes.set(partition, mailbox)
        yield* FiberSet.run(fibers, actorLoop(batch, mailbox))
        return mailbox
      })

    const exclude = new Set([...micro.partitions()].filter((batch) => batch.done).map((batch) => batch.partition))
    const router = source.consume({ topic: job.kafkaTopic, start: start.positions, otherwise: "earliest", ...(availableNow ? { exclude, drain: true } : {}) }).pipe(
      Stream.runForEach((event) =>
        Effect.gen(function*() {
          if (availableNow && !targets.has(event.partition)) return // partitions added after start: next run
          const firstPosition = event._tag === "RecordsFetched" ? (event.records[0]?.offset ?? event.nextOffset) : event.earliest
          const mailbox = yield* mailboxFor(event.partition, firstPosition)
          yield* Queue.offer(mailbox, event)
        })
      )
    )
    yield* FiberSet.run(fibers, router)

    // Sealing and committing are two fibers, so a full batch is sealed (and the decoders go on with the next)
    // while the previous batch still commits; commits stay one at a time, in order. `sealedAhead` bounds the
    // batches sealed but not yet committed: with 1, at most three batches exist (one committing, one sealed
    // and waiting, one filling). A batch's schema is taken as the table's from its seal on, so the next batch's
    // writer-schema checks and seal already see it.
    const sealedAhead = options.sealedAhead ?? 1
    const slots = yield* Semaphore.make(1 + sealedAhead)
    const sealedBatches = yield* Queue.bounded<SealedForCommit>(Math.max(1, sealedAhead))
    yield* FiberSet.run(fibers, sealer.run(micro, job.stream.maxBatchInterval, slots, sealedBatches))

    const committer = Effect.gen(function*() {
      while (true) {
        const { batch, done, began } = yield* Queue.take(sealedBatches)
        totals.skipped += batch.skipped
        totals.lostOffsets += batch.lostOffsets
        if (batch.partitions.some((p) => p.until > p.from)) {
          const outcome = yield* commitBatch(job, batch, committed)
          if (outcome.commit !== undefined) {
            totals.batches++
            totals.lastVersion = outcome.commit.version
          }
          const records = batch.partitions.reduce((n, p) => n + p.rows, 0)
          const bytes = batch.partitions.reduce((n, p) => n + p.bytes, 0)
          totals.records += records
          totals.bytes += bytes
          totals.deadLettered += outcome.deadLetterRows
          const lag = committedLag(micro.partitions(), committed.table)
          yield* reporter.committed({ batchId: batch.batchId, version: outcome.commit?.version, records, bytes, lag, latencyMs: Date.now() - began, deadLetters: outcome.deadLetterRows })
        }
        yield* slots.release(1)
        if (done) return "drained" as const
      }
    })

    // the first actor or router failure ends the session; the committer ends it when drained
    const failure: Effect.Effect<never, SessionFailure> = FiberSet.join(fibers).pipe(Effect.andThen(Effect.never))
    return yield* Effect.raceFirst(committer, failure)
  }))

