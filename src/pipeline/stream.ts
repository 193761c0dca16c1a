/**
 * The supervised stream: one run of a job from the positions the table records to a stop (a signal, or, with
 * the `available-now` trigger, the offsets that existed at start). Partitions are decoded by independent fibers
 * (one actor per partition, each with a bounded mailbox: route.ts, decode.ts) into the current batch
 * (micro-batch.ts); a sealer takes each full batch and a committer commits the sealed batches one at a time, in
 * order (commit.ts). This module only wires those stages. When a batch is full and the committer is
 * still one batch behind, the actors wait, and the router waits for the actors, so fetching pauses and memory
 * stays bounded. Transient failures restart the session from the table's positions on the retry schedule; fatal ones
 * stop the run.
 */
import { Effect, FiberSet, Queue, Semaphore, Stream } from "effect"
import { CheckpointStore } from "../services/CheckpointStore.ts"
import { Config, type JobConfig } from "../services/Config.ts"
import type { SchemaMismatchError } from "../services/DeltaSink.ts"
import { KafkaSource, type KafkaSourceError } from "../services/KafkaSource.ts"
import type { RegistryError, SchemaNotFoundError } from "../services/SchemaRegistry.ts"
import { startAutoCompact } from "./auto-compact.ts"
import { avroCodec } from "./avro-codec.ts"
import { BatchSchema } from "./batch-schema.ts"
import { runCommitter, RunTotals } from "./commit.ts"
import { applyEvent, type Decoder } from "./decode.ts"
import { isGroupMode, makeOffsetMirror, notOwned, type OffsetMirror, runAsMember } from "./group.ts"
import { type Codec, makeSchemaCache, type UnsupportedSchemaError } from "./decoding.ts"
import type { BadRecordError, DataLossError, LogTruncated } from "./errors.ts"
import { makeSealer, MicroBatch, type SealedForCommit } from "./micro-batch.ts"
import { committedLag, committedLagByPartition, type ProgressReporter, silentReporter } from "./progress.ts"
import { retryPerOutage } from "./retry.ts"
import { makeRouter } from "./route.ts"
import { type RunState, startSession } from "./start.ts"

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

/** What an actor, the router or the sealer can fail with. */
type SessionFailure =
  | KafkaSourceError
  | DataLossError
  | BadRecordError
  | UnsupportedSchemaError
  | SchemaNotFoundError
  | RegistryError
  | SchemaMismatchError
  | LogTruncated

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
    const totals = new RunTotals()
    const runState: RunState = {}
    const summarize = (stoppedBy: RunSummary["stoppedBy"]) => {
      const summary: RunSummary = { stoppedBy, ...totals, durationMs: Date.now() - startedAt }
      return Effect.as(reporter.summary(summary), summary)
    }
    // a signal stop is the usual end of a continuous run: it gets its summary too
    // the mirror outlives sessions, so positions it could not mirror yet are not lost with a session
    const mirror = yield* makeOffsetMirror(job)
    // a truncated log (tolerated) ends a session so that the next one reads the partition from the log's end
    type Session = ReturnType<typeof session>
    const tolerant = (owned?: ReadonlySet<number>): Effect.Effect<"drained", Exclude<Effect.Error<Session>, LogTruncated>, Effect.Services<Session>> =>
      session(job, options, reporter, totals, runState, mirror, owned).pipe(
        Effect.catchTag("LogTruncated", (truncated) =>
          Effect.suspend(() => {
            totals.lostOffsets += truncated.lostOffsets
            return tolerant(owned)
          }))
      )
    // group mode: a session per assignment of the partitions this member owns (group.ts)
    const sessions = isGroupMode(job) ? runAsMember(job, (owned) => tolerant(owned)) : tolerant()
    const stoppedBy = yield* retryPerOutage("stream session", job.stream.retry, () => totals.batches, sessions, reporter).pipe(
      Effect.onInterrupt(() => Effect.andThen(reporter.stopping, summarize("interrupted")))
    )
    return yield* summarize(stoppedBy)
  }))

/**
 * One session: the stages wired from the start the table records. The router hands events to the partition
 * actors (decode), which fill the micro-batch; the sealer seals it when full, done or due, and the committer
 * commits the sealed batches in order. Sealing and committing are two fibers, so a full batch is sealed (and
 * the decoders go on with the next) while the previous batch still commits. `sealedAhead` bounds the batches
 * sealed but not yet committed: with 1, at most three batches exist (one committing, one sealed and waiting,
 * one filling).
 */
const session = (
  job: JobConfig,
  options: RunOptions,
  reporter: ProgressReporter,
  totals: RunTotals,
  run: RunState,
  mirror: OffsetMirror,
  owned?: ReadonlySet<number>
) =>
  Effect.scoped(Effect.gen(function*() {
    const source = yield* KafkaSource
    const codec = options.codec ?? avroCodec
    const schemas = yield* makeSchemaCache(codec)
    const start = yield* startSession(job, reporter, run, owned)
    totals.lostOffsets += start.lostOffsets
    const { committed, targets } = start

    const schema = new BatchSchema(codec, job.table.name, start.tableSchema)
    const batch = new MicroBatch({
      maxBatchRecords: job.stream.maxBatchRecords,
      maxBatchBytes: job.stream.maxBatchBytes,
      drains: targets !== undefined,
      nextBatchId: start.nextBatchId,
      codec,
      schema,
      recorded: committed.table
    })
    // every partition has its batch from the start (for the lag and the drain); its actor starts with its first fetch
    for (const [partition, position] of start.plan.positions) {
      const partitionBatch = batch.addPartition(partition, position, start.partitions.find((range) => range.partition === partition)?.latest ?? 0)
      partitionBatch.done = targets !== undefined && position >= (targets.get(partition) ?? 0)
    }
    if (batch.allDone()) return "drained" as const

    const sealer = yield* makeSealer
    const fibers = yield* FiberSet.make<void, SessionFailure>()
    const decoder: Decoder = { job, codec, schemas, batch, schema, gate: sealer.gate, reporter, targets, rewound: run.rewound ?? new Map() }
    const router = makeRouter({
      fibers,
      batch,
      mailboxSize: options.mailboxSize ?? 1,
      apply: (partitionBatch, event) => applyEvent(decoder, partitionBatch, event),
      // available-now: partitions added after the start are read by the next run
      accepts: (partition) => (owned === undefined || owned.has(partition)) && (targets === undefined || targets.has(partition))
    })
    const others = owned === undefined ? [] : notOwned(yield* source.offsets(job.kafkaTopic), owned)
    const drained = targets === undefined ? [] : [...batch.partitions()].filter((p) => p.done).map((p) => p.partition)
    const exclude = others.length + drained.length === 0 ? {} : { exclude: new Set([...others, ...drained]) }
    const events = source.consume({ topic: job.kafkaTopic, start: start.plan.positions, otherwise: "earliest", ...exclude, ...(targets === undefined ? {} : { drain: true }) })
    // a group member that owns nothing (more members than partitions) reads nothing until the next rebalance
    if (owned === undefined || owned.size > 0) yield* FiberSet.run(fibers, Stream.runForEach(events, router.route))

    const sealedAhead = options.sealedAhead ?? 1
    const slots = yield* Semaphore.make(1 + sealedAhead)
    const sealed = yield* Queue.bounded<SealedForCommit>(Math.max(1, sealedAhead))
    yield* FiberSet.run(fibers, sealer.run(batch, job.stream.maxBatchInterval, slots, sealed))
    const versions = yield* startAutoCompact(job)
    const committer = runCommitter({
      job,
      reporter,
      sealed,
      slots,
      committed,
      totals,
      versions,
      committedBatch: mirror.offer,
      lag: () => committedLag(batch.partitions(), committed.table),
      partitionLag: () => committedLagByPartition(batch.partitions(), committed.table)
    })

    // the first actor, router or sealer failure ends the session; the committer ends it when drained
    const failure: Effect.Effect<never, SessionFailure> = FiberSet.join(fibers).pipe(Effect.andThen(Effect.never))
    return yield* Effect.raceFirst(committer, failure)
  }))
