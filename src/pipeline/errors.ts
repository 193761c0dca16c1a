/**
 * Errors raised by the pipeline itself (as opposed to a service): data loss, bad records under the `fail`
 * policy, and the classification of every error as transient (retried) or fatal (stops the stream).
 */
import { Data, Schema } from "effect"

/**
 * Unread records are gone (retention, or the partition vanished), or the partition's log was truncated below
 * our position (`logEnd`, as by an unclean leader election), and `failOnDataLoss` is true.
 */
export class DataLossError extends Schema.TaggedError<DataLossError>()("DataLossError", {
  topic: Schema.String,
  partition: Schema.Number,
  expected: Schema.Number,
  available: Schema.String,
  /** The end of a log truncated below `expected`. */
  logEnd: Schema.optional(Schema.Number)
}) {
  override get message() {
    if (this.logEnd !== undefined) {
      return `data loss on ${this.topic} partition ${this.partition}: next offset to read is ${this.expected} but the partition's log now ends at ${this.logEnd} (truncated, as by an unclean leader election): offsets ${this.logEnd}..${this.expected - 1} the table holds are gone from Kafka and will be reused by new records; set stream.failOnDataLoss=false to continue from ${this.logEnd}`
    }
    return `data loss on ${this.topic} partition ${this.partition}: next offset to read is ${this.expected} but the partition holds ${this.available}; set stream.failOnDataLoss=false to continue from the earliest available offset`
  }
}

/**
 * A partition's log was truncated below our position and `failOnDataLoss` is false: the session ends so the next
 * one reads the partition from the log's end (the source keeps its own position). Internal: never leaves the run.
 */
export class LogTruncated extends Data.TaggedError("LogTruncated")<{ readonly partition: number; readonly lostOffsets: number }> {}

/**
 * Where a truncated partition resumes: at `to` (the log's end then) while the table's position is above `to` and
 * at most `from` (our position then; a batch sealed before the truncation may still have committed up to it).
 */
export interface Rewind {
  readonly from: number
  readonly to: number
}

/** A record that cannot be decoded, under `onBadRecord: fail`. */
export class BadRecordError extends Schema.TaggedError<BadRecordError>()("BadRecordError", {
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `bad record at ${this.topic} partition ${this.partition} offset ${this.offset}: ${this.reason}; set stream.onBadRecord to "skip" or "dead-letter" to go on past such records`
  }
}

/** A Kafka message value that cannot become a row: framing, schema lookup or Avro decoding failed. */
export interface RecordProblem {
  readonly reason: string
}

/** Tags of errors that may pass and are retried on the stream's schedule. */
const transientTags = new Set(["KafkaUnavailableError", "RegistryUnavailableError"])

/** Whether `error` may pass on retry. */
export const isTransient = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null) return false
  const tagged = error as { _tag?: string; transient?: boolean }
  if (tagged._tag === "DeltaStorageError" || tagged._tag === "CheckpointIoError") return tagged.transient === true
  return tagged._tag !== undefined && transientTags.has(tagged._tag)
}
