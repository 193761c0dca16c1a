/**
 * The state of one source partition within the current batch: its offset range, the segments decoded so far,
 * bad-record counts and dead letters. A partition actor mutates it one fetch at a time (each fetch is applied
 * synchronously, so a seal never sees half a fetch); the `MicroBatch` seals it into a `SealedPartition`.
 */
import type * as Arrow from "apache-arrow"
import type { KafkaRecord } from "../services/KafkaSource.ts"
import type { SegmentBuilder } from "./decoding.ts"

/** A record that went to the dead-letter table. */
export interface DeadLetterRow {
  readonly record: KafkaRecord
  readonly topic: string
  readonly partition: number
  readonly schemaId: number | undefined
  readonly error: string
}

/** One partition's share of the current batch. */
export class PartitionBatch {
  readonly partition: number
  /** Where the batch's range of this partition starts. */
  from: number
  /** The next offset to read. */
  until: number
  /** The partition's high watermark as last seen (from the start's offsets until its first fetch). */
  highWatermark = 0
  builder: SegmentBuilder | undefined = undefined
  segments: Array<Arrow.Table> = []
  segmentRows = 0
  segmentBytes = 0
  skipped = 0
  lostOffsets = 0
  deadLetters: Array<DeadLetterRow> = []
  /** Bytes the dead letters hold (they count toward `maxBatchBytes`, not toward the rows' bytes). */
  deadLetterBytes = 0
  /** Available-now: the partition reached the offset it drains to. */
  done = false

  constructor(partition: number, position: number) {
    this.partition = partition
    this.from = position
    this.until = position
  }

  /** Rows decoded in this batch. */
  get rows(): number {
    return this.segmentRows + (this.builder?.rowCount ?? 0)
  }

  /** Approximate bytes decoded in this batch. */
  get bytes(): number {
    return this.segmentBytes + (this.builder?.byteSize ?? 0)
  }

  /** Bytes held for the batch: rows and dead letters. */
  get pendingBytes(): number {
    return this.bytes + this.deadLetterBytes
  }

  /** Closes the open builder into a segment. */
  closeSegment(): void {
    if (this.builder === undefined) return
    if (this.builder.rowCount > 0) {
      this.segmentRows += this.builder.rowCount
      this.segmentBytes += this.builder.byteSize
      this.segments.push(this.builder.finish())
    }
    this.builder = undefined
  }

  /** Hands over everything decoded so far and starts the next batch where this one ends. */
  seal(): {
    readonly from: number
    readonly until: number
    readonly rows: number
    readonly bytes: number
    readonly segments: ReadonlyArray<Arrow.Table>
    readonly deadLetters: ReadonlyArray<DeadLetterRow>
    readonly skipped: number
    readonly lostOffsets: number
  } {
    this.closeSegment()
    const sealed = {
      from: this.from,
      until: this.until,
      rows: this.segmentRows,
      bytes: this.segmentBytes,
      segments: this.segments,
      deadLetters: this.deadLetters,
      skipped: this.skipped,
      lostOffsets: this.lostOffsets
    }
    this.from = this.until
    this.segments = []
    this.segmentRows = 0
    this.segmentBytes = 0
    this.deadLetters = []
    this.deadLetterBytes = 0
    this.skipped = 0
    this.lostOffsets = 0
    return sealed
  }
}
