/**
 * The reading half of the @platformatic/kafka KafkaSource: fetch requests at our own positions, with no consumer
 * group at all. The KafkaSource contract makes positions ours (they come from the checkpoint and the Delta table),
 * so a group would only add joins, rebalances and a client that forgets positions; this reader asks each
 * partition's leader for the records from the position it holds, one round of fetches per pull of the stream,
 * which makes backpressure plain (no pull, no fetch).
 *
 * Per fetched partition it turns record batches into `RecordsFetched` (offsets and timestamps as numbers, control
 * batches and aborted transactions left out as a read-committed consumer does), and OFFSET_OUT_OF_RANGE into
 * `OffsetOutOfRange`: below the log start the position moves to it, beyond the log's end (a truncated log) the
 * position stays and the event carries `logEnd`, reported once.
 */
import type { Consumer, RecordsBatch } from "@platformatic/kafka"
import { Effect, Stream } from "effect"
import type {
  ConsumeRequest,
  KafkaRecord,
  KafkaSourceError,
  PartitionOffsets,
  SourceEvent
} from "../../src/services/KafkaSource.ts"

/** What a round of fetches needs from the layer. */
export interface FetchContext {
  readonly client: Consumer
  readonly offsets: (topic: string) => Effect.Effect<ReadonlyArray<PartitionOffsets>, KafkaSourceError>
  /** The topic's id and each partition's leader and leader epoch; `refresh` asks the brokers, not the cache. */
  readonly layout: (topic: string, refresh?: boolean) => Effect.Effect<TopicLayout, KafkaSourceError>
  readonly fail: (error: unknown) => KafkaSourceError
  readonly maxBytes: number
  readonly maxBytesPerPartition: number
  readonly maxWaitMillis: (drain: boolean) => number
}

/** Where a topic's partitions are led from. */
export interface TopicLayout {
  readonly id: string
  readonly partitions: ReadonlyArray<{ readonly partition: number; readonly leader: number; readonly leaderEpoch: number }>
}

const TIMESTAMP_TYPE_LOG_APPEND = 0x08
const TRANSACTIONAL = 0x10
const CONTROL = 0x20
const READ_COMMITTED = 1

/** The records of `batches` at or above `from`, leaving out control batches and aborted transactions. */
export const recordsOf = (
  batches: ReadonlyArray<RecordsBatch>,
  from: number,
  aborted: ReadonlyArray<{ readonly producerId: bigint; readonly firstOffset: bigint }> | null
): { readonly records: Array<KafkaRecord>; readonly nextOffset: number | undefined } => {
  const records: Array<KafkaRecord> = []
  let nextOffset: number | undefined
  // the Java consumer's rule: a producer's transactional batches from an aborted transaction's first offset on
  // are skipped until that producer's control batch (its abort marker)
  const pendingAborts = [...(aborted ?? [])].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1))
  const abortedProducers = new Set<bigint>()
  for (const batch of batches) {
    const base = Number(batch.firstOffset)
    while (pendingAborts.length > 0 && pendingAborts[0]!.firstOffset <= batch.firstOffset) {
      abortedProducers.add(pendingAborts.shift()!.producerId)
    }
    nextOffset = Math.max(nextOffset ?? 0, base + batch.lastOffsetDelta + 1)
    if ((batch.attributes & CONTROL) !== 0) {
      abortedProducers.delete(batch.producerId)
      continue
    }
    if ((batch.attributes & TRANSACTIONAL) !== 0 && abortedProducers.has(batch.producerId)) continue
    const logAppend = (batch.attributes & TIMESTAMP_TYPE_LOG_APPEND) !== 0
    const firstTimestamp = Number(batch.firstTimestamp)
    for (const record of batch.records) {
      const offset = base + record.offsetDelta
      if (offset < from) continue
      records.push({
        offset,
        timestamp: logAppend ? Number(batch.maxTimestamp) : firstTimestamp + Number(record.timestampDelta),
        key: record.key,
        value: record.value
      })
    }
  }
  return { records, nextOffset }
}

const isOutOfRange = (code: number) => code === 1

/** What a fetch request answers. */
type FetchResponse = Awaited<ReturnType<Consumer["fetch"]>>

/** The stream of `request`: rounds of fetches at our positions, one per pull. */
export const fetchStream = (context: FetchContext, request: ConsumeRequest): Stream.Stream<SourceEvent, KafkaSourceError> =>
  Stream.unwrap(Effect.gen(function*() {
    const topic = request.topic
    const drain = request.drain === true
    const excluded = (partition: number) => request.exclude?.has(partition) === true
    const position = new Map<number, number>()
    const truncationReported = new Map<number, number>()
    const startEvents: Array<SourceEvent> = []

    for (const range of yield* context.offsets(topic)) {
      if (excluded(range.partition)) continue
      const requested = request.start.get(range.partition) ??
        (request.otherwise === "earliest" ? range.earliest : range.latest)
      if (requested < range.earliest || requested > range.latest) {
        position.set(range.partition, range.earliest)
        startEvents.push({ _tag: "OffsetOutOfRange", topic, partition: range.partition, requested, earliest: range.earliest })
      } else {
        position.set(range.partition, requested)
      }
    }

    // partitions added while running start at `otherwise`
    const addPartitions = (layout: TopicLayout) =>
      Effect.gen(function*() {
        const added = layout.partitions.filter((p) => !position.has(p.partition) && !excluded(p.partition))
        if (added.length === 0) return
        const ranges = yield* context.offsets(topic)
        for (const { partition } of added) {
          const range = ranges.find((r) => r.partition === partition)
          position.set(partition, range === undefined ? 0 : request.otherwise === "earliest" ? range.earliest : range.latest)
        }
      })

    const outOfRange = (partition: number) =>
      Effect.gen(function*() {
        const range = (yield* context.offsets(topic)).find((r) => r.partition === partition)
        const requested = position.get(partition)
        if (range === undefined || requested === undefined) return []
        if (requested < range.earliest) {
          position.set(partition, range.earliest)
          return [{ _tag: "OffsetOutOfRange", topic, partition, requested, earliest: range.earliest } as const]
        }
        if (requested > range.latest && truncationReported.get(partition) !== requested) {
          truncationReported.set(partition, requested)
          return [{ _tag: "OffsetOutOfRange", topic, partition, requested, earliest: range.earliest, logEnd: range.latest } as const]
        }
        return []
      })

    const fetchFrom = (leader: number, id: string, partitions: ReadonlyArray<{ partition: number; leaderEpoch: number }>) =>
      Effect.tryPromise({
        try: () =>
          context.client.fetch({
            node: leader,
            maxWaitTime: context.maxWaitMillis(drain),
            minBytes: 1,
            maxBytes: context.maxBytes,
            isolationLevel: READ_COMMITTED,
            topics: [{
              topicId: id,
              partitions: partitions.map((p) => ({
                partition: p.partition,
                fetchOffset: BigInt(position.get(p.partition)!),
                currentLeaderEpoch: p.leaderEpoch,
                lastFetchedEpoch: -1,
                partitionMaxBytes: context.maxBytesPerPartition
              }))
            }]
          }).catch((error: unknown) => {
            // a partition's error fails the whole request; the response still holds every partition's part
            const response = (error as { response?: FetchResponse }).response
            if (response !== undefined && response.errorCode === 0) return response
            throw error
          }),
        catch: context.fail
      })

    // set when a partition's fetch failed in a way new metadata may fix (leadership moved, a stale epoch)
    let refresh = false

    const round = Effect.gen(function*() {
      if (startEvents.length > 0) return startEvents.splice(0)
      const layout = yield* context.layout(topic, refresh)
      refresh = false
      yield* addPartitions(layout)
      const byLeader = new Map<number, Array<{ partition: number; leaderEpoch: number }>>()
      for (const p of layout.partitions) {
        if (!position.has(p.partition)) continue
        const list = byLeader.get(p.leader) ?? []
        list.push(p)
        byLeader.set(p.leader, list)
      }
      if (byLeader.size === 0) {
        yield* Effect.sleep("200 millis")
        return []
      }
      const responses = yield* Effect.forEach([...byLeader], ([leader, partitions]) => fetchFrom(leader, layout.id, partitions), {
        concurrency: "unbounded"
      })
      const events: Array<SourceEvent> = []
      let answeredAtOnce = false
      for (const response of responses) {
        for (const part of response.responses.flatMap((t) => t.partitions)) {
          const partition = part.partitionIndex
          const from = position.get(partition)
          if (from === undefined) continue
          if (isOutOfRange(part.errorCode)) {
            events.push(...(yield* outOfRange(partition)))
            answeredAtOnce = true
            continue
          }
          if (part.errorCode !== 0) {
            refresh = true // leadership moved and the like: the next round asks the brokers again
            answeredAtOnce = true
            continue
          }
          const { records, nextOffset } = recordsOf(part.records ?? [], from, part.abortedTransactions)
          if (nextOffset === undefined || nextOffset <= from) continue
          position.set(partition, nextOffset)
          events.push({ _tag: "RecordsFetched", topic, partition, records, nextOffset, highWatermark: Number(part.highWatermark) })
        }
      }
      // an error answers without the broker's wait: do not ask again at once (a truncated log stays out of range
      // until it grows past our position)
      if (events.length === 0 && answeredAtOnce) yield* Effect.sleep("100 millis")
      return events
    })
    return Stream.fromIterableEffectRepeat(round)
  }))
