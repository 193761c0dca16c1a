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
import { DeltaSink, type SchemaMismatchError } from "../services/DeltaSink.ts"
import { KafkaSource, type KafkaSourceError } from "../services/KafkaSource.ts"
import type { RegistryError, SchemaNotFoundError } from "../services/SchemaRegistry.ts"
import { type CommittedPositions, commitBatch } from "./commit.ts"
import { BatchSchema } from "./batch-schema.ts"
import { applyEvent, type Decoder } from "./decode.ts"
import { MicroBatch, makeSealer, type SealedForCommit } from "./micro-batch.ts"
import { avroCodec } from "./avro-codec.ts"
import { type Codec, makeSchemaCache, type UnsupportedSchemaError } from "./decoding.ts"
import { type BadRecordError, DataLossError } from "./errors.ts"
import { appIdPrefixOf, deadLetterPositions, nextBatchIdOf, plannedStarts, planStart, startRanges, streamIdentity } from "./positions.ts"
import { committedLag, type ProgressReporter, silentReporter } from "./progress.ts"
import { retryPerOutage } from "./retry.ts"
import { makeRouter } from "./route.ts"

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
    for (const [partition, position] of start.positions) {
      const batch = micro.addPartition(partition, position, partitions.find((range) => range.partition === partition)?.latest ?? 0)
      batch.done = availableNow && position >= (targets.get(partition) ?? 0)
    }
    if (micro.allDone()) return "drained" as const

    const sealer = yield* makeSealer
    const fibers = yield* FiberSet.make<void, SessionFailure>()

    const decoder: Decoder = {
      job,
      codec,
      schemas,
      batch: micro,
      schema: batchSchema,
      gate: sealer.gate,
      reporter,
      targets: availableNow ? targets : undefined
    }
    const router = makeRouter({
      fibers,
      batch: micro,
      mailboxSize: options.mailboxSize ?? 1,
      apply: (batch, event) => applyEvent(decoder, batch, event),
      // available-now: partitions added after the start are read by the next run
      accepts: (partition) => !availableNow || targets.has(partition)
    })

    const exclude = new Set([...micro.partitions()].filter((batch) => batch.done).map((batch) => batch.partition))
    const events = source.consume({ topic: job.kafkaTopic, start: start.positions, otherwise: "earliest", ...(availableNow ? { exclude, drain: true } : {}) })
    yield* FiberSet.run(fibers, Stream.runForEach(events, router.route))

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

