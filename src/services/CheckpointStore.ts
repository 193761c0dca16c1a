/**
 * The CheckpointStore service: the stream's progress, kept like Spark's checkpoint directory.
 * A batch is *planned* (its offset ranges written) before any data file is written, and *committed* (marked with
 * the Delta version that holds it) after the Delta commit. Together with the Delta txn actions this gives
 * exactly-once delivery across any crash.
 */
import { Context, Effect, Option, Schema } from "effect"

/** Offset range of one partition in a batch: `from` inclusive, `until` exclusive (the next offset to read). */
export interface PartitionRange {
  readonly partition: number
  readonly from: number
  readonly until: number
}

/** A planned batch. */
export interface BatchPlan {
  readonly batchId: number
  readonly topic: string
  readonly ranges: ReadonlyArray<PartitionRange>
  /** When the plan was written, ms since the epoch. */
  readonly plannedAt: number
}

/** The mark written after a batch's Delta commit. */
export interface BatchCommit {
  readonly batchId: number
  /** The Delta table version that holds the batch. */
  readonly deltaVersion: number
  readonly committedAt: number
}

/** What the store holds: the latest plan and the latest commit mark, each if any. */
export interface CheckpointState {
  readonly lastPlan: Option.Option<BatchPlan>
  readonly lastCommit: Option.Option<BatchCommit>
}

/** A checkpoint file that cannot be parsed. Fatal: never silently restart from zero. */
export class CheckpointCorruptError extends Schema.TaggedError<CheckpointCorruptError>()("CheckpointCorruptError", {
  file: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `checkpoint file ${this.file} is corrupt (${this.reason}); move it away to resume from the Delta table's txn versions`
  }
}

/** Reading or writing the checkpoint failed. */
export class CheckpointIoError extends Schema.TaggedError<CheckpointIoError>()("CheckpointIoError", {
  path: Schema.String,
  reason: Schema.String,
  /** Whether a retry may help (an object store that is unreachable or throttling); absent means no. */
  transient: Schema.optional(Schema.Boolean)
}) {
  override get message() {
    return `checkpoint I/O failed at ${this.path}: ${this.reason}`
  }
}

/** Another process holds this stream's checkpoint. Fatal for the second process. */
export class StreamAlreadyRunningError extends Schema.TaggedError<StreamAlreadyRunningError>()(
  "StreamAlreadyRunningError",
  { checkpoint: Schema.String, holder: Schema.String }
) {
  override get message() {
    return `stream already running: checkpoint ${this.checkpoint} is held by ${this.holder}; stop that process first`
  }
}

/**
 * This process no longer holds the checkpoint's lock (another process took it over, e.g. after this one stalled
 * past its lease). Fatal: the stream stops rather than write beside the new holder.
 */
export class CheckpointLeaseLostError extends Schema.TaggedError<CheckpointLeaseLostError>()("CheckpointLeaseLostError", {
  checkpoint: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `lost the lock of checkpoint ${this.checkpoint}: ${this.reason}; stopped so that only one process writes this stream`
  }
}

/** Errors of the checkpoint store. */
export type CheckpointError = CheckpointCorruptError | CheckpointIoError | CheckpointLeaseLostError

/** Stores one stream's progress. */
export class CheckpointStore extends Context.Service<CheckpointStore, {
  /** Where the checkpoint lives (a path, or a name for in-memory stores); used in messages. */
  readonly location: string
  /**
   * Takes exclusive ownership of the checkpoint for the lifetime of the scope. If ownership is lost meanwhile
   * (a store with a lease), `read`, `plan` and `commit` fail with CheckpointLeaseLostError.
   */
  readonly acquire: Effect.Effect<void, StreamAlreadyRunningError | CheckpointError, import("effect").Scope.Scope>
  /** The latest plan and commit mark. */
  readonly read: Effect.Effect<CheckpointState, CheckpointError>
  /** Durably records a plan before any of its data is written. */
  readonly plan: (plan: BatchPlan) => Effect.Effect<void, CheckpointError>
  /** Durably records that a planned batch is in the table. */
  readonly commit: (commit: BatchCommit) => Effect.Effect<void, CheckpointError>
}>()("kafka-delta/services/CheckpointStore") {}
