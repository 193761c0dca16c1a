/**
 * The commit stage: sealed batches committed one at a time, in order, and the run's totals. Each batch is
 * committed in the order that makes every crash recoverable without loss or duplicates:
 * 1. plan (offset ranges) to the checkpoint; 2. dead letters, with their own txn versions, to the dead-letter
 * table; 3. the rows and one txn per source partition to the table, in one Delta commit; 4. the commit mark to the
 * checkpoint. A restart resumes from the table's txn versions, so a crash anywhere redoes at most this batch, and
 * the txn versions make the redo skip what had already landed.
 * Each append attempt is uninterruptible (a stop lets it finish); the waits between retried attempts are not, so
 * a stop is not held up past the grace period by a retry schedule: the batch is then redone by the next run.
 */
import { Effect, Option, Queue, type Semaphore } from "effect"
import { CheckpointStore } from "../services/CheckpointStore.ts"
import type { JobConfig } from "../services/Config.ts"
import { type CommitResult, DeltaSink, type TxnUpdate } from "../services/DeltaSink.ts"
import type { SealedBatch, SealedForCommit, SealedPartition } from "./micro-batch.ts"
import { appIdOf } from "./positions.ts"
import type { Rewind } from "./errors.ts"
import type { ProgressReporter } from "./progress.ts"
import { retryTransient, type RetryListener } from "./retry.ts"

/** What a run did, over all its sessions; only the committer (and a session's start, for data loss) adds to it. */
export class RunTotals {
  batches = 0
  records = 0
  bytes = 0
  skipped = 0
  deadLettered = 0
  lostOffsets = 0
  lastVersion: number | undefined = undefined
}

/** What the committer of a session works with. */
export interface CommitterOptions {
  readonly job: JobConfig
  readonly reporter: ProgressReporter
  /** Sealed batches, in order. */
  readonly sealed: Queue.Dequeue<SealedForCommit>
  /** Released once per batch taken: bounds the batches sealed but not yet committed. */
  readonly slots: Semaphore.Semaphore
  readonly committed: CommittedPositions
  readonly totals: RunTotals
  /** Records not yet committed over all partitions, for the commit line. */
  readonly lag: () => number
  /** The same per partition. */
  readonly partitionLag: () => ReadonlyMap<number, number>
  /** Hears each version of the main table this committer commits (auto-compaction); its offer never waits. */
  readonly versions?: Queue.Enqueue<number> | undefined
  /** Hears each batch committed to the table (the consumer group's mirror of the positions); never waits. */
  readonly committedBatch?: ((batch: SealedBatch) => Effect.Effect<void>) | undefined
}

/** Commits the sealed batches in order; returns once the last batch of an available-now run is committed. */
export const runCommitter = (options: CommitterOptions) =>
  Effect.gen(function*() {
    const { job, reporter, totals } = options
    while (true) {
      const { batch, done, began } = yield* Queue.take(options.sealed)
      totals.skipped += batch.skipped
      totals.lostOffsets += batch.lostOffsets
      if (batch.partitions.some((p) => p.until > p.from)) {
        // a stop (or a rebalance) that interrupts the committer after the Delta commit landed still counts and
        // reports it: the table holds the batch whatever happens to the session
        const landing: Landing = {}
        const outcome = yield* commitBatch(job, batch, options.committed, reporter, landing).pipe(
          Effect.onInterrupt(() =>
            landing.commit === undefined
              ? Effect.void
              : settle(options, batch, began, { commit: landing.commit, deadLetterRows: landing.deadLetterRows ?? 0, conflicts: landing.commit.conflicts })
          )
        )
        yield* settle(options, batch, began, outcome)
      }
      yield* options.slots.release(1)
      if (done) return "drained" as const
    }
  })

/** Counts a committed batch in the run's totals, hands it on (auto-compaction, the group's mirror) and reports it. */
const settle = (options: CommitterOptions, batch: SealedBatch, began: number, outcome: BatchOutcome) =>
  Effect.gen(function*() {
    const { reporter, totals } = options
    if (outcome.commit !== undefined) {
      totals.batches++
      totals.lastVersion = outcome.commit.version
      if (options.versions !== undefined) yield* Queue.offer(options.versions, outcome.commit.version)
      if (options.committedBatch !== undefined) yield* options.committedBatch(batch)
    }
    const records = batch.partitions.reduce((n, p) => n + p.rows, 0)
    const bytes = batch.partitions.reduce((n, p) => n + p.bytes, 0)
    totals.records += records
    totals.bytes += bytes
    totals.deadLettered += outcome.deadLetterRows
    yield* reporter.committed({
      batchId: batch.batchId,
      version: outcome.commit?.version,
      records,
      bytes,
      lag: options.lag(),
      latencyMs: Date.now() - began,
      deadLetters: outcome.deadLetterRows,
      conflicts: outcome.conflicts,
      partitions: batch.partitions.filter((p) => p.until > p.from),
      partitionLag: options.partitionLag(),
      startedAt: batch.startedAt,
      durationMs: { decode: Math.round(batch.decodeMs), ...outcome.durationMs }
    })
  })

/** Positions the tables hold, updated by each commit. */
export interface CommittedPositions {
  readonly table: Map<number, number>
  readonly deadLetterTable: Map<number, number>
  /** Partitions whose dead-letter version a topic reset left beyond the end: dead letters from here on are new. */
  readonly deadLetterRewound: Map<number, number>
  /** The run's truncated partitions (see `Rewind`): a commit from the rewound position on ends the rewind. */
  readonly rewound: Map<number, Rewind>
}

/** What of a batch's commit has landed so far (read when the commit is interrupted after the Delta commit). */
interface Landing {
  commit?: CommitResult
  deadLetterRows?: number
}

/** The outcome of committing a batch. */
export interface BatchOutcome {
  readonly commit: CommitResult | undefined
  readonly deadLetterRows: number
  /** Races lost to other writers by the batch's Delta commits (table and dead-letter table), retried past. */
  readonly conflicts: number
  /**
   * Milliseconds by stage, named as Spark's progress names them: `write` the appends to the tables (data files
   * and Delta commits, which DeltaSink does in one call), `commit` the plan and the commit mark in the checkpoint.
   */
  readonly durationMs?: { readonly write: number; readonly commit: number }
}

/** Commits `batch`; updates `committed` when it lands; tells `reporter` of each retry. */
export const commitBatch = (
  job: JobConfig,
  batch: SealedBatch,
  committed: CommittedPositions,
  reporter: RetryListener,
  landing: Landing = {}
) =>
  Effect.gen(function*() {
    const checkpoint = yield* CheckpointStore
    const sink = yield* DeltaSink
    const moved = batch.partitions.filter((p) => p.until > p.from)
    if (moved.length === 0) return { commit: undefined, deadLetterRows: 0, conflicts: 0 } satisfies BatchOutcome
    const began = performance.now()
    // A partition the table has no txn for is planned, and gets a txn, at its position even if it did not move:
    // a position resolved from startingOffsets ("latest") is then durable, and a restart does not resolve it
    // again past records that arrived in between.
    const recorded = batch.partitions.filter((p) => p.until > p.from || !committed.table.has(p.partition))
    yield* checkpoint.plan({
      batchId: batch.batchId,
      topic: job.kafkaTopic,
      ranges: recorded.map(({ partition, from, until }) => ({ partition, from, until })),
      plannedAt: Date.now()
    })
    const planned = performance.now()

    const deadLetters = yield* commitDeadLetters(job, batch, moved, committed, reporter)
    const deadLetterRows = deadLetters.rows
    landing.deadLetterRows = deadLetterRows
    if (batch.schema === undefined) {
      yield* Effect.logWarning(
        `batch ${batch.batchId} has no rows and table ${job.table.name} does not exist yet: its offsets are not recorded and will be read again next run`
      )
      return { commit: undefined, deadLetterRows, conflicts: deadLetters.conflicts } satisfies BatchOutcome
    }
    const commit = yield* retryTransient(
      `commit of batch ${batch.batchId}`,
      job.stream.retry,
      Effect.uninterruptible(sink.append({
        table: job.table,
        schema: batch.schema,
        data: batch.segments,
        partitionBy: job.partitionBy,
        txns: recorded.map((p) => ({
          appId: appIdOf(job.streamId, p.partition),
          version: p.until,
          expected: committed.table.get(p.partition)
        })),
        operationParameters: { streamId: job.streamId, batchId: String(batch.batchId), outputMode: "Append" }
      }).pipe(Effect.tap((result) =>
        // in the same uninterruptible step as the append: once the commit has landed, the positions say so
        Effect.sync(() => {
          landing.commit = result
          for (const p of recorded) {
            committed.table.set(p.partition, p.until)
            const rewind = committed.rewound.get(p.partition)
            // a batch sealed before the truncation (from above the log's end) leaves the rewind to the next session
            if (rewind !== undefined && p.from <= rewind.to) committed.rewound.delete(p.partition)
          }
        })
      ))),
      reporter
    )
    const written = performance.now()
    yield* checkpoint.commit({ batchId: batch.batchId, deltaVersion: commit.version, committedAt: Date.now() })
    const durationMs = { write: Math.round(written - planned), commit: Math.round(planned - began + performance.now() - written) }
    return { commit, deadLetterRows, conflicts: deadLetters.conflicts + commit.conflicts, durationMs } satisfies BatchOutcome
  })

/**
 * Writes the batch's dead letters not yet in the dead-letter table, with its txn versions; after a topic reset
 * also writes the versions moved back when the batch has no dead letter, so the next run does not filter new
 * dead letters by the old topic's offsets. Returns the rows written.
 */
const commitDeadLetters = (
  job: JobConfig,
  batch: SealedBatch,
  moved: ReadonlyArray<SealedPartition>,
  committed: CommittedPositions,
  reporter: RetryListener
) =>
  Effect.gen(function*() {
    const sink = yield* DeltaSink
    const rewound = committed.deadLetterRewound
    const none = { rows: 0, conflicts: 0 }
    if (batch.deadLetters === undefined && ![...rewound.keys()].some((partition) => moved.some((p) => p.partition === partition))) return none
    const since = new Map([...committed.deadLetterTable, ...rewound])
    const built = batch.deadLetters?.build(since)
    const txns: Array<{ readonly partition: number; readonly txn: TxnUpdate }> = []
    for (const p of moved) {
      const known = committed.deadLetterTable.get(p.partition)
      const floor = rewound.get(p.partition) ?? known
      if (floor === undefined || p.until > floor) {
        txns.push({ partition: p.partition, txn: { appId: appIdOf(job.streamId, p.partition), version: p.until, expected: known } })
      }
    }
    const rewinding = txns.some(({ partition }) => rewound.has(partition))
    if (txns.length === 0 || (built === undefined && !rewinding)) return none
    const schema = built?.table.schema ?? Option.getOrUndefined(yield* sink.schema(job.deadLetterTable))
    if (schema === undefined) return none
    const result = yield* retryTransient(
      `dead-letter commit of batch ${batch.batchId}`,
      job.stream.retry,
      Effect.uninterruptible(sink.append({
        table: job.deadLetterTable,
        schema,
        data: built === undefined ? [] : [built.table],
        partitionBy: [],
        txns: txns.map(({ txn }) => txn),
        operationParameters: { streamId: job.streamId, batchId: String(batch.batchId), outputMode: "Append" }
      })),
      reporter
    )
    for (const { partition, txn } of txns) {
      committed.deadLetterTable.set(partition, txn.version)
      rewound.delete(partition)
    }
    return { rows: built?.rows ?? 0, conflicts: result.conflicts }
  })
