/**
 * The KafkaSource service: reads the records of one topic from explicit per-partition offsets.
 * Positions always come from the stream's own checkpoint and the Delta table, never from Kafka's committed
 * group offsets, so the source is told where to start and reports where each fetch ended. It can mirror positions
 * into a consumer group (`commitOffsets`), for Kafka's own lag tools.
 */
import { Context, Effect, Schema, Stream } from "effect"

/** One Kafka record as fetched. Offsets are plain numbers: they stay exact below 2^53. */
export interface KafkaRecord {
  readonly offset: number
  /** Record timestamp, milliseconds since the epoch. */
  readonly timestamp: number
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
}

/** The offsets a partition holds right now: `earliest` is the log start, `latest` the high watermark. */
export interface PartitionOffsets {
  readonly partition: number
  readonly earliest: number
  /** The offset the next produced record will get (no record exists at it yet). */
  readonly latest: number
}

/** A fetch from one partition. */
export interface RecordsFetched {
  readonly _tag: "RecordsFetched"
  readonly topic: string
  readonly partition: number
  /** In offset order; offsets may have gaps (compaction, transaction markers). */
  readonly records: ReadonlyArray<KafkaRecord>
  /** Where reading goes on after this fetch; at least the last record's offset + 1. */
  readonly nextOffset: number
  /** The partition's high watermark when fetched. */
  readonly highWatermark: number
}

/**
 * The requested position is below the partition's log start (retention deleted unread records), or the
 * partition vanished. The source moves on from `earliest`; the pipeline decides whether that is allowed.
 * With `logEnd` set, the position is instead beyond the log's end while reading (the log was truncated under
 * the reader, as by an unclean leader election): the source keeps its position and reads on from it once the log
 * reaches it, so records written at offsets below it after the truncation are never read.
 */
export interface OffsetOutOfRange {
  readonly _tag: "OffsetOutOfRange"
  readonly topic: string
  readonly partition: number
  readonly requested: number
  readonly earliest: number
  /** The log's end offset, when the requested position lies beyond it (a truncated log). */
  readonly logEnd?: number
}

/** What the source stream emits. */
export type SourceEvent = RecordsFetched | OffsetOutOfRange

/** Where to start reading. `start` holds a position for known partitions; others start at `otherwise`. */
export interface ConsumeRequest {
  readonly topic: string
  readonly start: ReadonlyMap<number, number>
  /** Where partitions not in `start` (including ones added while running) begin. */
  readonly otherwise: "earliest" | "latest"
  /** Partitions not to read at all (available-now: already drained). */
  readonly exclude?: ReadonlySet<number>
  /**
   * The reader stops at offsets that exist already (available-now): there is nothing to wait for at the end of
   * the log, so a source may keep its fetches' wait for new records short (the stream's stop waits for the
   * fetch in flight).
   */
  readonly drain?: boolean
}

/**
 * A rebalance of a consumer group, as one member sees it: `Revoked` names the partitions it must stop reading
 * (before another member may take them), `Assigned` every partition it owns from now on.
 */
export interface GroupAssignment {
  readonly _tag: "Assigned" | "Revoked"
  readonly group: string
  readonly topic: string
  /** Sorted. */
  readonly partitions: ReadonlyArray<number>
}

/** The brokers could not be reached, or a request failed in a way that may pass. Transient. */
export class KafkaUnavailableError extends Schema.TaggedError<KafkaUnavailableError>()("KafkaUnavailableError", {
  brokers: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Kafka at ${this.brokers} is unavailable: ${this.reason}`
  }
}

/** The brokers refused our credentials or TLS setup. Fatal. */
export class KafkaAuthError extends Schema.TaggedError<KafkaAuthError>()("KafkaAuthError", {
  broker: Schema.String,
  user: Schema.optional(Schema.String),
  mechanism: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    const who = this.user === undefined ? "" : ` for user ${this.user}`
    return `authentication failed${who} on ${this.broker} (${this.mechanism}): ${this.reason}`
  }
}

/** The topic does not exist. Fatal. */
export class TopicNotFoundError extends Schema.TaggedError<TopicNotFoundError>()("TopicNotFoundError", {
  topic: Schema.String,
  brokers: Schema.String
}) {
  override get message() {
    return `topic "${this.topic}" does not exist on ${this.brokers}; check the topic name and the environment's topicPrefix`
  }
}

/**
 * A record batch cannot be decompressed: its data is corrupt, or its codec is one the source cannot read. Fatal:
 * fetching it again gives the same bytes. `partition` and `offset` (the batch's first offset) are absent only when
 * the client could not say which batch it was.
 */
export class KafkaDecompressionError extends Schema.TaggedError<KafkaDecompressionError>()("KafkaDecompressionError", {
  topic: Schema.String,
  partition: Schema.optional(Schema.Number),
  offset: Schema.optional(Schema.Number),
  codec: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    const where = this.partition === undefined
      ? `topic ${this.topic}`
      : `${this.topic} partition ${this.partition}${this.offset === undefined ? "" : ` offset ${this.offset}`}`
    return `cannot decompress the ${this.codec} record batch at ${where}: ${this.reason}; kafka-delta reads uncompressed, gzip, snappy, lz4 and zstd batches: check the producers' compression.type, or start the stream past a corrupt batch`
  }
}

/** Errors the source can fail with. */
export type KafkaSourceError = KafkaUnavailableError | KafkaAuthError | TopicNotFoundError | KafkaDecompressionError

/** Reads a topic's partitions from given offsets. */
export class KafkaSource extends Context.Service<KafkaSource, {
  /** Earliest and latest offsets of every partition of `topic`, sorted by partition. */
  readonly offsets: (topic: string) => Effect.Effect<ReadonlyArray<PartitionOffsets>, KafkaSourceError>
  /**
   * Per partition of `topic`, sorted by partition: the first offset whose record timestamp is at or after
   * `timestamp` (ms since the epoch), or the latest offset when no record is that new.
   */
  readonly offsetsForTimestamp: (
    topic: string,
    timestamp: number
  ) => Effect.Effect<ReadonlyArray<{ readonly partition: number; readonly offset: number }>, KafkaSourceError>
  /**
   * Fetches from the requested positions until interrupted. Pull-driven: when the consumer of the stream is
   * slow, fetching pauses (backpressure), so memory stays bounded.
   */
  readonly consume: (request: ConsumeRequest) => Stream.Stream<SourceEvent, KafkaSourceError>
  /**
   * Stores `offsets` (partition -> the next offset to read) as consumer group `group`'s committed offsets of
   * `topic`, so `kafka-consumer-groups.sh --describe` shows the stream's lag. A mirror only: nothing reads them
   * back as positions, so a caller treats a failure as a warning. The broker refuses it while the group has
   * active members other than this source.
   */
  readonly commitOffsets: (
    group: string,
    topic: string,
    offsets: ReadonlyMap<number, number>
  ) => Effect.Effect<void, KafkaSourceError>
  /**
   * Membership of consumer group `group` for `topic` while the stream runs (ending it leaves the group): each
   * rebalance emits `Revoked`, then `Assigned`. Records are not read through the group: the member reads the
   * partitions it owns with `consume`, from the positions in the Delta table.
   */
  readonly joinGroup: (group: string, topic: string) => Stream.Stream<GroupAssignment, KafkaSourceError>
}>()("kafka-delta/services/KafkaSource") {}
