/**
 * An in-memory Kafka for tests (exported for users' own tests too): topics with several partitions,
 * monotonically increasing offsets with gaps allowed, a log start offset that can be advanced to simulate
 * retention, partitions that can be added while a stream runs, and the same `SourceEvent` shape as the live
 * source. Fetching is pull-driven: nothing is read ahead of what the consumer asks for.
 */
import { Duration, Effect, Layer, Queue, Stream } from "effect"
import {
  type GroupAssignment,
  type KafkaRecord,
  KafkaSource,
  type PartitionOffsets,
  type SourceEvent,
  TopicNotFoundError
} from "../../src/services/KafkaSource.ts"

interface GroupMember {
  readonly topic: string
  owned: ReadonlyArray<number>
  readonly listener: (event: GroupAssignment) => void
}

interface PartitionLog {
  readonly records: Array<KafkaRecord>
  /** Offsets below this were deleted by retention. */
  logStart: number
  /** The next offset to assign. */
  next: number
}

/** What to produce. */
export interface ProduceInput {
  readonly key?: Uint8Array | null
  readonly value: Uint8Array | null
  readonly timestamp?: number
  /** Skip this many offsets before this record (as compaction or transaction markers leave gaps). */
  readonly gapBefore?: number
}

/** A set of in-memory topics. Mutate it from the test while a stream reads it. */
export class MemoryKafka {
  private readonly topics = new Map<string, Array<PartitionLog>>()
  private readonly groups = new Map<string, Map<string, Map<number, number>>>()
  private readonly members = new Map<string, Array<GroupMember>>()

  /**
   * Joins `group` for `topic`; `listener` hears every rebalance, as an eager Kafka rebalance goes: every member
   * gives up all it owns, then the partitions are split in ranges among the members in joining order. Returns
   * the function that leaves the group (which rebalances the others).
   */
  join(group: string, topic: string, listener: (event: GroupAssignment) => void): () => void {
    const member: GroupMember = { topic, owned: [], listener }
    this.members.set(group, [...(this.members.get(group) ?? []), member])
    this.rebalance(group)
    return () => {
      this.members.set(group, (this.members.get(group) ?? []).filter((m) => m !== member))
      this.rebalance(group)
    }
  }

  private rebalance(group: string): void {
    const members = this.members.get(group) ?? []
    for (const member of members) {
      if (member.owned.length > 0) member.listener({ _tag: "Revoked", group, topic: member.topic, partitions: member.owned })
      member.owned = []
    }
    for (const member of members) {
      const count = this.partitionCount(member.topic)
      const sameTopic = members.filter((m) => m.topic === member.topic)
      const rank = sameTopic.indexOf(member)
      const share = Math.floor(count / sameTopic.length)
      const extra = count % sameTopic.length
      const from = rank * share + Math.min(rank, extra)
      member.owned = Array.from({ length: share + (rank < extra ? 1 : 0) }, (_, i) => from + i)
      member.listener({ _tag: "Assigned", group, topic: member.topic, partitions: member.owned })
    }
  }

  /** Stores `offsets` as `group`'s committed offsets of `topic` (partitions not named keep theirs). */
  commitOffsets(group: string, topic: string, offsets: ReadonlyMap<number, number>): void {
    const topics = this.groups.get(group) ?? new Map<string, Map<number, number>>()
    this.groups.set(group, topics)
    const committed = topics.get(topic) ?? new Map<number, number>()
    topics.set(topic, committed)
    for (const [partition, offset] of offsets) committed.set(partition, offset)
  }

  /** `group`'s committed offsets of `topic`, partition -> offset (empty when it committed none). */
  committedOffsets(group: string, topic: string): ReadonlyMap<number, number> {
    return new Map(this.groups.get(group)?.get(topic) ?? [])
  }

  /** Creates `topic` with `partitions` partitions (no-op if it exists). */
  createTopic(topic: string, partitions: number): void {
    if (this.topics.has(topic)) return
    this.topics.set(topic, Array.from({ length: partitions }, () => ({ records: [], logStart: 0, next: 0 })))
  }

  /** Deletes `topic` and creates it anew with `partitions` empty partitions: offsets start again at 0. */
  recreateTopic(topic: string, partitions: number): void {
    this.topics.delete(topic)
    this.createTopic(topic, partitions)
  }

  /** Grows `topic` to `total` partitions. */
  addPartitions(topic: string, total: number): void {
    const logs = this.logsOf(topic)
    while (logs.length < total) logs.push({ records: [], logStart: 0, next: 0 })
  }

  /** Appends a record and returns its offset. */
  produce(topic: string, partition: number, input: ProduceInput): number {
    const log = this.logOf(topic, partition)
    log.next += input.gapBefore ?? 0
    const offset = log.next
    log.records.push({
      offset,
      timestamp: input.timestamp ?? Date.now(),
      key: input.key ?? null,
      value: input.value
    })
    log.next = offset + 1
    return offset
  }

  /** Deletes every record below `offset` (Kafka's deleteRecords / retention). */
  deleteRecords(topic: string, partition: number, offset: number): void {
    const log = this.logOf(topic, partition)
    log.logStart = Math.max(log.logStart, Math.min(offset, log.next))
    const keep = log.records.findIndex((record) => record.offset >= log.logStart)
    log.records.splice(0, keep === -1 ? log.records.length : keep)
  }

  /** Number of partitions of `topic` (0 when absent). */
  partitionCount(topic: string): number {
    return this.topics.get(topic)?.length ?? 0
  }

  /** Earliest and latest offsets per partition. */
  offsets(topic: string): ReadonlyArray<PartitionOffsets> {
    return this.logsOf(topic).map((log, partition) => ({ partition, earliest: log.logStart, latest: log.next }))
  }

  /** Per partition, the first offset whose timestamp is at or after `timestamp`, else the latest offset. */
  offsetsForTimestamp(topic: string, timestamp: number): ReadonlyArray<{ readonly partition: number; readonly offset: number }> {
    return this.logsOf(topic).map((log, partition) => ({
      partition,
      offset: log.records.find((record) => record.timestamp >= timestamp)?.offset ?? log.next
    }))
  }

  /** Records of one partition at or above `from`, at most `max`. */
  fetch(topic: string, partition: number, from: number, max: number): ReadonlyArray<KafkaRecord> {
    const records = this.logOf(topic, partition).records
    let low = 0
    let high = records.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (records[mid]!.offset < from) low = mid + 1
      else high = mid
    }
    return records.slice(low, low + max)
  }

  /** Whether `topic` exists. */
  has(topic: string): boolean {
    return this.topics.has(topic)
  }

  private logsOf(topic: string): Array<PartitionLog> {
    const logs = this.topics.get(topic)
    if (logs === undefined) throw new Error(`no topic ${topic}`)
    return logs
  }

  private logOf(topic: string, partition: number): PartitionLog {
    const log = this.logsOf(topic)[partition]
    if (log === undefined) throw new Error(`no partition ${partition} in ${topic}`)
    return log
  }
}

/** Fetch behaviour of the in-memory source. */
export interface MemoryKafkaOptions {
  /** Records per fetch of one partition (default 500). */
  readonly maxRecordsPerFetch?: number
  /** Wait between polls when no partition has anything new (default 5 ms). */
  readonly idlePoll?: Duration.Input
}

/** A KafkaSource reading `kafka`. */
export const make = (kafka: MemoryKafka, options: MemoryKafkaOptions = {}): KafkaSource["Service"] => {
  const maxRecords = options.maxRecordsPerFetch ?? 500
  const idlePoll = options.idlePoll ?? "5 millis"
  const brokers = "in-memory"
  const offsets = (topic: string) =>
    Effect.suspend(() =>
      kafka.has(topic) ? Effect.succeed(kafka.offsets(topic)) : Effect.fail(new TopicNotFoundError({ topic, brokers }))
    )
  return KafkaSource.of({
    offsets,
    offsetsForTimestamp: (topic, timestamp) =>
      Effect.suspend(() =>
        kafka.has(topic) ? Effect.succeed(kafka.offsetsForTimestamp(topic, timestamp)) : Effect.fail(new TopicNotFoundError({ topic, brokers }))
      ),
    joinGroup: (group, topic) =>
      Stream.callback<GroupAssignment, TopicNotFoundError>((queue) =>
        Effect.flatMap(offsets(topic), () =>
          Effect.acquireRelease(
            Effect.sync(() => kafka.join(group, topic, (event) => Queue.offerUnsafe(queue, event))),
            (leave) => Effect.sync(leave)
          ))
      ),
    commitOffsets: (group, topic, committed) =>
      Effect.flatMap(offsets(topic), () => Effect.sync(() => kafka.commitOffsets(group, topic, committed))),
    consume: (request) =>
      Stream.unwrap(Effect.gen(function*() {
        const topic = request.topic
        yield* offsets(topic)
        const positions = new Map<number, number>()
        const positionOf = (partition: number): number => {
          const known = positions.get(partition) ?? request.start.get(partition)
          if (known !== undefined) return known
          const range = kafka.offsets(topic)[partition]!
          return request.otherwise === "earliest" ? range.earliest : range.latest
        }
        let cursor = 0
        const poll = Effect.suspend((): Effect.Effect<ReadonlyArray<SourceEvent>> => {
          const partitions = kafka.partitionCount(topic)
          for (let step = 0; step < partitions; step++) {
            const partition = (cursor + step) % partitions
            if (request.exclude?.has(partition)) continue
            const range = kafka.offsets(topic)[partition]!
            const position = positionOf(partition)
            if (position < range.earliest) {
              positions.set(partition, range.earliest)
              cursor = partition + 1
              return Effect.succeed([{ _tag: "OffsetOutOfRange", topic, partition, requested: position, earliest: range.earliest }])
            }
            if (position >= range.latest) {
              positions.set(partition, position)
              continue
            }
            const records = kafka.fetch(topic, partition, position, maxRecords)
            const last = records[records.length - 1]
            const nextOffset = last === undefined ? range.latest : last.offset + 1
            positions.set(partition, nextOffset)
            cursor = partition + 1
            return Effect.succeed([{
              _tag: "RecordsFetched",
              topic,
              partition,
              records,
              nextOffset,
              highWatermark: range.latest
            }])
          }
          return Effect.as(Effect.sleep(idlePoll), [])
        })
        return Stream.fromIterableEffectRepeat(poll)
      }))
  })
}

/** The in-memory KafkaSource layer over `kafka`. */
export const layer = (kafka: MemoryKafka, options?: MemoryKafkaOptions): Layer.Layer<KafkaSource> =>
  Layer.succeed(KafkaSource, make(kafka, options))
