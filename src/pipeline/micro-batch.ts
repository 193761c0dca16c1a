/**
 * The micro-batch stage: the current batch of every partition being read (one `PartitionBatch` each; partitions
 * may be added and removed while the stream runs), whether it is full, and its seal into a `SealedBatch` that the
 * committer commits. The batch ids are handed out here, at the seal. `MicroBatch` is plain synchronous state: the
 * partition actors apply one fetch at a time to it and the sealer seals it between two of their suspension
 * points, so a seal never sees half a record. The `SealGate` is how a full batch stops the actors until its seal.
 */
import type * as Arrow from "apache-arrow"
import { type Duration, Effect, Latch, Queue, type Semaphore } from "effect"
import type { BatchSchema } from "./batch-schema.ts"
import { buildDeadLetters, type DeadLetters } from "./dead-letters.ts"
import type { Codec } from "./decoding.ts"
import { type DeadLetterRow, PartitionBatch } from "./partition.ts"

/** What one partition contributes to a batch. */
export interface SealedPartition {
  readonly partition: number
  /** First offset of the range (the position the batch started at). */
  readonly from: number
  /** Next offset to read after the batch. */
  readonly until: number
  readonly rows: number
  readonly bytes: number
  /** The partition's high watermark as last seen at the seal. */
  readonly highWatermark: number
}

/** A batch ready to commit. */
export interface SealedBatch {
  readonly batchId: number
  readonly partitions: ReadonlyArray<SealedPartition>
  /** The union of the table schema and the segments' schemas; undefined when there are no rows and no table. */
  readonly schema: Arrow.Schema | undefined
  readonly segments: ReadonlyArray<Arrow.Table>
  /** Dead letters, built only when there are some; each row carries its `_kafka` partition and offset. */
  readonly deadLetters: DeadLetters | undefined
  /** Bad records skipped, and offsets lost to retention, within the batch's ranges. */
  readonly skipped: number
  readonly lostOffsets: number
  /** When the batch began filling (its first fetch applied, epoch ms); the seal's time when none was. */
  readonly startedAt: number
  /** Milliseconds the decode stage spent on the batch's fetches (schema lookups included, waits for a seal not). */
  readonly decodeMs: number
}

/** The limits and mode of a stream's batches. */
export interface MicroBatchOptions {
  readonly maxBatchRecords: number
  readonly maxBatchBytes: number
  /** Available-now: the stream ends once every partition is done. */
  readonly drains: boolean
  /** The id of the first batch sealed with offsets that moved. */
  readonly nextBatchId: number
  readonly codec: Codec
  readonly schema: BatchSchema
  /** The positions the table holds (owned by the committer): a partition without one is sealed even when it did not move. */
  readonly recorded: ReadonlyMap<number, number>
}

/** The current batch of every partition being read. */
export class MicroBatch {
  /** Rows decoded into the current batch, all partitions together (dead letters count as rows); reset by the seal. */
  rows = 0
  /** When the current batch got its first fetch (epoch ms); reset by the seal. */
  fillingSince: number | undefined = undefined
  /** Milliseconds spent decoding into the current batch; the decode stage adds to it, the seal resets it. */
  decodeMs = 0
  private readonly batches = new Map<number, PartitionBatch>()
  private readonly options: MicroBatchOptions
  private nextBatchId: number

  constructor(options: MicroBatchOptions) {
    this.options = options
    this.nextBatchId = options.nextBatchId
  }

  /** Starts reading `partition` at `position` (its batch begins there); returns the partition's batch. */
  addPartition(partition: number, position: number, highWatermark = 0): PartitionBatch {
    const known = this.batches.get(partition)
    if (known !== undefined) return known
    const batch = new PartitionBatch(partition, position)
    batch.highWatermark = highWatermark
    this.batches.set(partition, batch)
    return batch
  }

  /**
   * Stops reading `partition`: its share of the current batch (rows, dead letters, offset range) is dropped, so the
   * next seal neither commits its rows nor moves its txn; returns what was dropped.
   */
  removePartition(partition: number): PartitionBatch | undefined {
    const batch = this.batches.get(partition)
    if (batch === undefined) return undefined
    this.batches.delete(partition)
    this.rows -= batch.rows + batch.deadLetters.length
    return batch
  }

  /** The batch of `partition`, if it is read. */
  partition(partition: number): PartitionBatch | undefined {
    return this.batches.get(partition)
  }

  /** Every partition's batch. */
  partitions(): IterableIterator<PartitionBatch> {
    return this.batches.values()
  }

  /** Bytes held for the batch over all partitions: rows and dead letters. */
  pendingBytes(): number {
    let bytes = 0
    for (const batch of this.batches.values()) bytes += batch.pendingBytes
    return bytes
  }

  /** The batch reached `maxBatchRecords` or `maxBatchBytes`. */
  isFull(): boolean {
    return this.rows >= this.options.maxBatchRecords || this.pendingBytes() >= this.options.maxBatchBytes
  }

  /** Available-now: every partition reached the offset it drains to. */
  allDone(): boolean {
    if (!this.options.drains) return false
    for (const batch of this.batches.values()) if (!batch.done) return false
    return true
  }

  /** Hands over everything decoded so far as a `SealedBatch`; each partition's next batch starts where this one ends. */
  seal(): SealedBatch {
    this.rows = 0
    const sealedPartitions: Array<SealedPartition> = []
    const segments: Array<Arrow.Table> = []
    const deadLetterRows: Array<DeadLetterRow> = []
    let skipped = 0
    let lostOffsets = 0
    for (const batch of this.batches.values()) {
      const sealed = batch.seal()
      // a partition without a txn is committed at its position even if it did not move (see commitBatch)
      if (sealed.until === sealed.from && sealed.rows === 0 && this.options.recorded.has(batch.partition)) continue
      sealedPartitions.push({
        partition: batch.partition,
        from: sealed.from,
        until: sealed.until,
        rows: sealed.rows,
        bytes: sealed.bytes,
        highWatermark: batch.highWatermark
      })
      segments.push(...sealed.segments)
      deadLetterRows.push(...sealed.deadLetters)
      skipped += sealed.skipped
      lostOffsets += sealed.lostOffsets
    }
    const moved = sealedPartitions.some((p) => p.until > p.from)
    const startedAt = this.fillingSince ?? Date.now()
    const decodeMs = this.decodeMs
    this.fillingSince = undefined
    this.decodeMs = 0
    return {
      // a batch that moves no offset is never planned or committed, and leaves its id to the next
      batchId: moved ? this.nextBatchId++ : this.nextBatchId,
      partitions: sealedPartitions,
      schema: this.options.schema.seal(segments),
      segments,
      deadLetters: deadLetterRows.length === 0 ? undefined : buildDeadLetters(this.options.codec, deadLetterRows),
      skipped,
      lostOffsets,
      startedAt,
      decodeMs
    }
  }
}

/** How a full batch stops the partition actors until it is sealed, and how the sealer is woken. */
export interface SealGate {
  /** The batch is full: closes the gate and wakes the sealer. */
  readonly full: Effect.Effect<void>
  /** Wakes the sealer without closing the gate (available-now: every partition is done). */
  readonly nudge: Effect.Effect<void>
  /** Waits while a full batch waits for its seal. */
  readonly await: Effect.Effect<void>
}

/** A sealed batch on its way to the committer. */
export interface SealedForCommit {
  readonly batch: SealedBatch
  /** Available-now: the last batch of the run. */
  readonly done: boolean
  /** When the seal began (the commit line's latency counts from here). */
  readonly began: number
}

/** The gate and the sealer loop of one session. */
export const makeSealer = Effect.gen(function*() {
  const latch = yield* Latch.make(true)
  const wake = yield* Queue.sliding<void>(1)
  const gate: SealGate = {
    full: Effect.andThen(latch.close, Queue.offer(wake, undefined)),
    nudge: Effect.asVoid(Queue.offer(wake, undefined)),
    await: latch.await
  }
  /**
   * Seals `batch` when woken (full, or every partition done) or every `interval`, once a slot is free (`slots`
   * bounds the batches sealed but not yet committed), hands it to `sealed` and opens the gate; returns after the
   * last batch of an available-now run.
   */
  const run = (batch: MicroBatch, interval: Duration.Input, slots: Semaphore.Semaphore, sealed: Queue.Queue<SealedForCommit>) =>
    Effect.gen(function*() {
      while (true) {
        yield* Queue.take(wake).pipe(Effect.timeoutOption(interval))
        yield* slots.take(1)
        const done = batch.allDone()
        const began = Date.now()
        yield* Queue.offer(sealed, { batch: batch.seal(), done, began })
        yield* latch.open
        if (done) return
      }
    })
  return { gate, run }
})
