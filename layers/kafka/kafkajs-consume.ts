/**
 * The consuming half of the kafkajs KafkaSource: one consumer in a fresh group per `consume`, positioned by
 * seeking (never by committed offsets), handing each fetched batch to a bounded queue that the stream pulls.
 *
 * Why it is shaped like this:
 * - Backpressure without starving kafkajs: `eachBatch` never waits for the reader. When the queue is full the
 *   batch waits beside it and the partition is paused; a pump moves it on and resumes the partition. So
 *   kafkajs keeps heartbeating, and memory stays at most the queue plus about one batch per partition.
 * - Positions are ours: kafkajs forgets its fetch positions on every rejoin and silently resets to the log
 *   start on OFFSET_OUT_OF_RANGE. We keep the next offset per partition, seek to it after each join, drop
 *   records below it, and treat a jump forward as a question for the broker: if our position is now below the
 *   log start, that is an `OffsetOutOfRange` event, otherwise just a gap (compaction, transaction markers).
 *   When kafkajs reports an offset out of range and our position is beyond the log's end, the log was
 *   truncated under us: that is an `OffsetOutOfRange` event with `logEnd`, and we keep our position.
 * - Rebalances: every queued event carries its partition's assignment generation; the stream drops events
 *   of partitions revoked since they were queued.
 */
import { Cause, Duration, Effect, Queue, Stream } from "effect"
import type { Consumer, EachBatchPayload, Kafka, LogEntry } from "kafkajs"
import { randomUUID } from "node:crypto"
import type { FailedBatchRecord } from "./codecs.ts"
import {
  type ConsumeRequest,
  type KafkaAuthError,
  KafkaDecompressionError,
  type KafkaRecord,
  type KafkaSourceError,
  type KafkaUnavailableError,
  type PartitionOffsets,
  type SourceEvent
} from "../../src/services/KafkaSource.ts"

/** What the buffer between kafkajs and the stream's reader holds, reported on every change. */
export interface BufferState {
  /** Events in the bounded queue. */
  readonly queued: number
  /** Events waiting beside the full queue (their partitions are paused). */
  readonly pending: number
  /** Partitions paused because the reader is behind. */
  readonly paused: ReadonlyArray<number>
}

/** Fetch sizes, buffering and rebalance timing of `consume`. */
export interface ConsumeTuning {
  /** Bytes per fetch request (default 32 MiB). */
  readonly maxBytes?: number | undefined
  /**
   * Bytes per partition per fetch (default 1 MiB). Larger did not read faster on localhost (about 330k
   * records/s of 200 bytes either way: kafkajs's decoding is the limit) but buffers more: every fetched batch
   * waiting in this queue or a partition's mailbox holds kafkajs's message objects too (several hundred bytes per
   * record besides the value), so with 6 partitions 4 MiB fetches alone kept hundreds of MiB alive.
   */
  readonly maxBytesPerPartition?: number | undefined
  /**
   * How long the broker may wait for data before answering a fetch (default 500 millis; 100 millis for a
   * `drain` request). Stopping waits for the fetch in flight, which at the end of a drained log is a fetch that
   * waits this long: the last ~0.45 s of an available-now run with 500.
   */
  readonly maxWaitTime?: Duration.Input | undefined
  /**
   * Fetched batches buffered ahead of the reader (default 1). Decoding runs on the same thread as kafkajs, so a
   * deep buffer adds no parallelism, only memory: each waiting batch pins its fetch response and kafkajs's message
   * objects until it is read (4, the old default, held about 60 MiB more under backlog).
   */
  readonly queueCapacity?: number | undefined
  /** How often metadata is refreshed, i.e. how soon added partitions are seen (default 30 seconds). */
  readonly metadataMaxAge?: Duration.Input | undefined
  /** Consumer session timeout (default 30 seconds). */
  readonly sessionTimeout?: Duration.Input | undefined
  /** Observes the buffer (diagnostics and tests). */
  readonly onBuffer?: ((state: BufferState) => void) | undefined
}

/** What `consume` needs from the client built by `make`. */
export interface ConsumeContext {
  readonly kafka: Kafka
  readonly brokers: string
  readonly groupIdPrefix: string
  readonly retries: number
  readonly offsets: (topic: string) => Effect.Effect<ReadonlyArray<PartitionOffsets>, KafkaSourceError>
  /** Maps a kafkajs failure to a typed error; `topic` names the topic being consumed. */
  readonly fail: (error: unknown, topic?: string) => KafkaAuthError | KafkaUnavailableError | KafkaDecompressionError
  /** Subscribes to kafkajs log entries; returns the unsubscribe. */
  readonly onLog: (listener: (entry: LogEntry) => void) => () => void
  readonly tuning: ConsumeTuning
}

interface Tagged {
  readonly event: SourceEvent
  readonly generation: number
}

const millis = (input: Duration.Input | undefined, fallback: Duration.Input): number =>
  Duration.toMillis(Duration.fromInputUnsafe(input ?? fallback))

const nextOffsetOf = (event: SourceEvent): number =>
  event._tag === "RecordsFetched" ? event.nextOffset : event.logEnd === undefined ? event.earliest : event.requested

/** The stream of `request`, on a new consumer that lives as long as the stream. */
export const consumeStream = (
  context: ConsumeContext,
  request: ConsumeRequest
): Stream.Stream<SourceEvent, KafkaSourceError> =>
  Stream.unwrap(Effect.gen(function*() {
    const topic = request.topic
    const tuning = context.tuning
    const excluded = (partition: number) => request.exclude?.has(partition) === true
    const initial = yield* context.offsets(topic)
    const queue = yield* Queue.bounded<Tagged, KafkaSourceError | Cause.Done>(Math.max(1, tuning.queueCapacity ?? 1))
    const wake = yield* Queue.sliding<true>(1)
    const services = yield* Effect.context<never>()
    const runPromise = Effect.runPromiseExitWith(services)

    /** Next offset to hand on, per partition. */
    const position = new Map<number, number>()
    /** Where each partition started, and how far the reader has pulled: where to go back to after a revoke. */
    const restartAt = new Map<number, number>()
    const generation = new Map<number, number>()
    const assigned = new Set<number>()
    /** Partitions added while running whose start offset is being looked up. */
    const positioning = new Set<number>()
    const pending = new Map<number, Array<Tagged>>()
    let consumer: Consumer | undefined
    let running = false

    const report = () => {
      if (tuning.onBuffer === undefined) return
      let waiting = 0
      for (const list of pending.values()) waiting += list.length
      tuning.onBuffer({ queued: Queue.sizeUnsafe(queue), pending: waiting, paused: [...pending.keys()].sort((a, b) => a - b) })
    }
    const guard = (action: (client: Consumer) => void) => {
      if (consumer === undefined || !running) return
      try {
        action(consumer)
      } catch {
        // the consumer is stopping; nothing to pause, resume or seek any more
      }
    }
    const seek = (partition: number, offset: number) =>
      guard((client) => client.seek({ topic, partition, offset: String(offset) }))
    const pause = (partition: number) => guard((client) => client.pause([{ topic, partitions: [partition] }]))
    const resume = (partition: number) => guard((client) => client.resume([{ topic, partitions: [partition] }]))
    const failWith = (error: KafkaSourceError) => Queue.failCauseUnsafe(queue, Cause.fail(error))

    const emit = (partition: number, events: ReadonlyArray<SourceEvent>) => {
      const tag = generation.get(partition) ?? 0
      let waiting = pending.get(partition)
      for (const event of events) {
        const tagged: Tagged = { event, generation: tag }
        if ((waiting === undefined || waiting.length === 0) && Queue.offerUnsafe(queue, tagged)) continue
        if (waiting === undefined) {
          waiting = []
          pending.set(partition, waiting)
        }
        waiting.push(tagged)
      }
      if (waiting !== undefined && waiting.length > 0) {
        pause(partition)
        Queue.offerUnsafe(wake, true)
      }
      report()
    }

    // Moves waiting events into the queue as the reader makes room, one partition at a time in turn.
    const pump = Effect.gen(function*() {
      while (true) {
        yield* Queue.take(wake)
        while (pending.size > 0) {
          for (const [partition, waiting] of [...pending]) {
            const next = waiting[0]
            if (next !== undefined) {
              yield* Queue.offer(queue, next)
              if (waiting[0] === next) waiting.shift()
            }
            if (waiting.length === 0 && pending.get(partition) === waiting) {
              pending.delete(partition)
              if (assigned.has(partition)) resume(partition)
            }
            report()
          }
        }
      }
    })

    /** The position at which a truncated log was last reported, per partition (reported once, not per refetch). */
    const truncationReported = new Map<number, number>()

    // Our position is behind a jump in offsets (a gap, or the log start moved past us), or kafkajs was told it
    // is out of range: below the log start, or beyond a log that was truncated under us (an unclean leader
    // election), where kafkajs silently starts over from the log start and only our filter keeps the records
    // below our position out.
    const checkLogStart = async (partition: number): Promise<void> => {
      const exit = await runPromise(context.offsets(topic))
      if (exit._tag === "Failure") {
        Queue.failCauseUnsafe(queue, exit.cause)
        return
      }
      const range = exit.value.find((entry) => entry.partition === partition)
      const requested = position.get(partition)
      if (range === undefined || requested === undefined || !assigned.has(partition)) return
      if (requested < range.earliest) {
        position.set(partition, range.earliest)
        emit(partition, [{ _tag: "OffsetOutOfRange", topic, partition, requested, earliest: range.earliest }])
      } else if (requested > range.latest && truncationReported.get(partition) !== requested) {
        truncationReported.set(partition, requested)
        emit(partition, [{ _tag: "OffsetOutOfRange", topic, partition, requested, earliest: range.earliest, logEnd: range.latest }])
      }
    }

    for (const range of initial) {
      if (excluded(range.partition)) continue
      const requested = request.start.get(range.partition) ??
        (request.otherwise === "earliest" ? range.earliest : range.latest)
      restartAt.set(range.partition, requested)
      if (requested < range.earliest || requested > range.latest) {
        // Kafka would answer OFFSET_OUT_OF_RANGE and kafkajs would quietly start over; say so instead.
        position.set(range.partition, range.earliest)
        emit(range.partition, [{
          _tag: "OffsetOutOfRange",
          topic,
          partition: range.partition,
          requested,
          earliest: range.earliest
        }])
      } else {
        position.set(range.partition, requested)
      }
    }

    const startAdded = (partition: number) => {
      positioning.add(partition)
      void runPromise(context.offsets(topic)).then((exit) => {
        if (exit._tag === "Failure") return Queue.failCauseUnsafe(queue, exit.cause)
        const range = exit.value.find((entry) => entry.partition === partition)
        const start = range === undefined ? 0 : request.otherwise === "earliest" ? range.earliest : range.latest
        position.set(partition, start)
        restartAt.set(partition, start)
        positioning.delete(partition)
        if (assigned.has(partition)) seek(partition, start)
        return true
      })
    }

    const revoke = (partition: number) => {
      assigned.delete(partition)
      generation.set(partition, (generation.get(partition) ?? 0) + 1)
      const waiting = pending.get(partition)
      if (waiting !== undefined) waiting.length = 0
      pending.delete(partition)
      const back = restartAt.get(partition)
      if (back === undefined) position.delete(partition)
      else position.set(partition, back)
    }

    const onJoin = (assignment: ReadonlyArray<number>) => {
      const now = new Set(assignment.filter((partition) => !excluded(partition)))
      for (const partition of [...assigned]) if (!now.has(partition)) revoke(partition)
      for (const partition of assignment) {
        if (excluded(partition)) {
          pause(partition)
          continue
        }
        assigned.add(partition)
        const known = position.get(partition)
        if (known === undefined) {
          if (!positioning.has(partition)) startAdded(partition)
        } else {
          seek(partition, known) // kafkajs forgets its positions on every rejoin
        }
        if ((pending.get(partition)?.length ?? 0) > 0) pause(partition)
      }
      report()
    }

    const eachBatch = async ({ batch, isStale }: EachBatchPayload): Promise<void> => {
      const partition = batch.partition
      if (batch.topic !== topic || !assigned.has(partition) || positioning.has(partition) || isStale()) return
      let from = position.get(partition)
      if (from === undefined) return
      const first = batch.firstOffset()
      if (first !== null && Number(first) > from) {
        await checkLogStart(partition)
        from = position.get(partition)
        if (from === undefined || !assigned.has(partition) || isStale()) return
      }
      const records: Array<KafkaRecord> = []
      for (const message of batch.messages) {
        const failure = (message as Partial<FailedBatchRecord>).decompressionFailure
        if (failure !== undefined) {
          failWith(new KafkaDecompressionError({ topic, partition, offset: Number(failure.firstOffset), codec: failure.codec, reason: failure.reason }))
          return
        }
        const offset = Number(message.offset)
        if (offset < from) continue
        // kafkajs's Buffers are Uint8Arrays already (views of the fetch response): handed on as they are, rather
        // than wrapped in a new view each (two objects per record for the young generation to collect)
        records.push({ offset, timestamp: Number(message.timestamp), key: message.key, value: message.value })
      }
      const lastRecord = records.at(-1)
      const nextOffset = Math.max(Number(batch.lastOffset()) + 1, lastRecord === undefined ? 0 : lastRecord.offset + 1)
      if (nextOffset <= from) {
        seek(partition, from) // kafkajs is behind our position (after a rejoin); skip ahead
        return
      }
      position.set(partition, nextOffset)
      emit(partition, [{
        _tag: "RecordsFetched",
        topic,
        partition,
        records,
        nextOffset,
        highWatermark: Number(batch.highWatermark)
      }])
    }

    // A fetch that held only transaction markers or aborted records never reaches eachBatch, yet moves the
    // position: report it, or a reader draining to the high watermark would wait forever.
    const onFilteredBatch = (payload: { topic: string; partition: number; batchSize: number; firstOffset: string | null; lastOffset: string; highWatermark: string }) => {
      const partition = payload.partition
      if (payload.topic !== topic || payload.batchSize !== 0 || !assigned.has(partition) || positioning.has(partition)) return
      const from = position.get(partition)
      const nextOffset = Number(payload.lastOffset) + 1
      if (from === undefined || nextOffset <= from || (payload.firstOffset !== null && Number(payload.firstOffset) > from)) return
      position.set(partition, nextOffset)
      emit(partition, [{ _tag: "RecordsFetched", topic, partition, records: [], nextOffset, highWatermark: Number(payload.highWatermark) }])
    }

    const groupId = `${context.groupIdPrefix}-${randomUUID()}`
    const created = context.kafka.consumer({
      groupId,
      maxBytes: tuning.maxBytes ?? 32 * 1024 * 1024,
      maxBytesPerPartition: tuning.maxBytesPerPartition ?? 1024 * 1024,
      maxWaitTimeInMs: millis(tuning.maxWaitTime, request.drain === true ? "100 millis" : "500 millis"),
      metadataMaxAge: millis(tuning.metadataMaxAge, "30 seconds"),
      sessionTimeout: millis(tuning.sessionTimeout, "30 seconds"),
      allowAutoTopicCreation: false,
      retry: { retries: context.retries, initialRetryTime: 200, maxRetryTime: 2_000, restartOnFailure: async () => false }
    })
    consumer = created
    created.on(created.events.GROUP_JOIN, (event) => onJoin(event.payload.memberAssignment[topic] ?? []))
    created.on(created.events.END_BATCH_PROCESS, (event) => onFilteredBatch(event.payload))
    created.on(created.events.CRASH, (event) => failWith(context.fail(event.payload.error, topic)))
    const unlisten = context.onLog((entry) => {
      const log = entry.log as { message: string; topic?: unknown; partition?: unknown; groupId?: unknown }
      if (log.groupId === groupId && log.topic === topic && typeof log.partition === "number" &&
        log.message.startsWith("Offset out of range")) {
        void checkLogStart(log.partition)
      }
    })
    yield* Effect.addFinalizer(() => Effect.sync(unlisten))

    yield* Effect.forkScoped(pump)
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          try {
            await created.connect()
            await created.subscribe({ topics: [topic], fromBeginning: true })
            running = true
            await created.run({ autoCommit: false, eachBatchAutoResolve: true, eachBatch })
          } catch (error) {
            running = false
            await created.disconnect().catch(() => undefined)
            throw error
          }
        },
        catch: (error) => context.fail(error, topic)
      }),
      () =>
        Effect.promise(() => {
          running = false
          return created.disconnect().catch(() => undefined)
        })
    )

    return Stream.fromQueue(queue).pipe(
      Stream.filter((tagged) =>
        assigned.has(tagged.event.partition) && (generation.get(tagged.event.partition) ?? 0) === tagged.generation
      ),
      Stream.map((tagged) => {
        restartAt.set(tagged.event.partition, nextOffsetOf(tagged.event))
        return tagged.event
      })
    )
  }))
