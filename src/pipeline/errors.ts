/**
 * Errors raised by the pipeline itself (as opposed to a service): data loss, bad records under the `fail`
 * policy, and the classification of every error as transient (retried) or fatal (stops the stream).
 */
import { Schema } from "effect"

/** Unread records are gone (retention, or the partition vanished) and `failOnDataLoss` is true. */
export class DataLossError extends Schema.TaggedError<DataLossError>()("DataLossError", {
  topic: Schema.String,
  partition: Schema.Number,
  expected: Schema.Number,
  available: Schema.String
}) {
  override get message() {
    return `data loss on ${this.topic} partition ${this.partition}: next offset to read is ${this.expected} but the partition holds ${this.available}; set stream.failOnDataLoss=false to continue from the earliest available offset`
  }
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
