/**
 * Unit tests of the kafkajs consume loop against a scripted stand-in for the kafkajs consumer (no broker):
 * positions win over what kafkajs fetches, gaps versus records deleted under us, backpressure by pausing,
 * no events for revoked partitions after a rejoin, batches of only transaction markers, and crashes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Fiber, Queue, Stream } from "effect"
import type { Kafka, LogEntry } from "kafkajs"
import { createRequire } from "node:module"
import { type BufferState, type ConsumeContext, consumeStream } from "../../layers/kafka/kafkajs-consume.ts"
import { makeRecordBatchDecoder } from "../../layers/kafka/kafkajs-fast-records.ts"
import {
  type ConsumeRequest,
  KafkaDecompressionError,
  KafkaUnavailableError,
  type PartitionOffsets,
  type SourceEvent
} from "../../src/services/KafkaSource.ts"

const topic = "orders"

/** Plays kafkajs's consumer: the test decides joins and what each fetch returns. */
class FakeConsumer {
  readonly events = { GROUP_JOIN: "consumer.group_join", END_BATCH_PROCESS: "consumer.end_batch_process", CRASH: "consumer.crash" }
  readonly seeks: Array<readonly [number, number]> = []
  readonly paused = new Set<number>()
  readonly pauses: Array<number> = []
  readonly resumes: Array<number> = []
  disconnected = false
  /** The fetch wait the consumer was created with. */
  maxWaitTimeInMs: number | undefined
  /** The consumer group the consumer was created with. */
  groupId: string | undefined
  private readonly listeners = new Map<string, Array<(event: unknown) => void>>()
  private eachBatch: ((payload: unknown) => Promise<void>) | undefined

  private readonly initial: ReadonlyArray<number>

  constructor(initial: ReadonlyArray<number>) {
    this.initial = initial
  }

  on(name: string, listener: (event: unknown) => void) {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener])
    return () => undefined
  }
  async connect() {}
  async subscribe() {}
  async run(options: { eachBatch: (payload: unknown) => Promise<void> }) {
    this.eachBatch = options.eachBatch
    this.join(this.initial)
  }
  async disconnect() {
    this.disconnected = true
  }
  seek(target: { partition: number; offset: string }) {
    this.seeks.push([target.partition, Number(target.offset)])
  }
  pause(list: ReadonlyArray<{ partitions: ReadonlyArray<number> }>) {
    for (const p of list.flatMap((entry) => entry.partitions)) {
      this.paused.add(p)
      this.pauses.push(p)
    }
  }
  resume(list: ReadonlyArray<{ partitions: ReadonlyArray<number> }>) {
    for (const p of list.flatMap((entry) => entry.partitions)) {
      this.paused.delete(p)
      this.resumes.push(p)
    }
  }
  emit(name: string, event: unknown) {
    for (const listener of this.listeners.get(name) ?? []) listener(event)
  }
  join(partitions: ReadonlyArray<number>) {
    this.emit(this.events.GROUP_JOIN, { payload: { memberAssignment: { [topic]: partitions } } })
  }
  /** One fetch of `offsets` from `partition` (the batch's last offset may lie beyond the last record). */
  deliver(partition: number, offsets: ReadonlyArray<number>, highWatermark: number, lastOffset?: number, extra: ReadonlyArray<object> = []) {
    const messages = [
      ...offsets.map((offset) => ({
        offset: String(offset),
        timestamp: "1700000000000",
        key: null,
        value: Buffer.from(`v${offset}`)
      })),
      ...extra
    ]
    const batch = {
      topic,
      partition,
      highWatermark: String(highWatermark),
      messages,
      firstOffset: () => (offsets.length === 0 ? null : String(offsets[0])),
      lastOffset: () => String(lastOffset ?? offsets.at(-1))
    }
    return this.eachBatch!({ batch, isStale: () => false })
  }
}

interface Harness {
  readonly consumer: FakeConsumer
  readonly ranges: Array<PartitionOffsets>
  readonly states: Array<BufferState>
  readonly context: ConsumeContext
  /** Plays a kafkajs log line. */
  readonly log: (message: string, extra: Record<string, unknown>) => void
}

const harness = (ranges: Array<PartitionOffsets>, assignment: ReadonlyArray<number>, queueCapacity = 8): Harness => {
  const consumer = new FakeConsumer(assignment)
  const states: Array<BufferState> = []
  const logListeners: Array<(entry: LogEntry) => void> = []
  const context: ConsumeContext = {
    kafka: {
      consumer: (config: { maxWaitTimeInMs?: number; groupId: string }) => {
        consumer.maxWaitTimeInMs = config.maxWaitTimeInMs
        consumer.groupId = config.groupId
        return consumer
      }
    } as unknown as Kafka,
    brokers: "fake:9092",
    groupIdPrefix: "unit",
    retries: 0,
    offsets: () => Effect.sync(() => ranges.map((range) => ({ ...range }))),
    fail: (error) => new KafkaUnavailableError({ brokers: "fake:9092", reason: String((error as Error).message) }),
    onLog: (listener) => {
      logListeners.push(listener)
      return () => undefined
    },
    tuning: { queueCapacity, onBuffer: (state) => states.push(state) }
  }
  const log = (message: string, extra: Record<string, unknown>) => {
    for (const listener of logListeners) {
      listener({ namespace: "Consumer", level: 4, label: "INFO", log: { message, timestamp: "", logger: "kafkajs", ...extra } })
    }
  }
  return { consumer, ranges, states, context, log }
}

/** Runs the stream, reading one event per permit given with `allow`. */
const reader = (h: Harness, request: ConsumeRequest) =>
  Effect.gen(function*() {
    const permits = yield* Queue.unbounded<true>()
    const seen: Array<SourceEvent> = []
    const fiber = yield* consumeStream(h.context, request).pipe(
      Stream.tap(() => Queue.take(permits)),
      Stream.runForEach((event) => Effect.sync(() => seen.push(event))),
      Effect.forkChild
    )
    yield* Effect.sleep("20 millis")
    const allow = (n: number) =>
      Effect.gen(function*() {
        for (let i = 0; i < n; i++) yield* Queue.offer(permits, true)
        yield* Effect.sleep("20 millis")
      })
    return { seen, fiber, allow }
  })

const offsetsOf = (events: ReadonlyArray<SourceEvent>, partition: number) =>
  events.flatMap((event) => event._tag === "RecordsFetched" && event.partition === partition ? event.records.map((r) => r.offset) : [])

describe("kafkajs consume loop (unit, scripted consumer)", () => {
  it.live("a drain request keeps the fetch wait short; others use the default", () =>
    Effect.gen(function*() {
      for (const [drain, expected] of [[true, 100], [false, 500], [undefined, 500]] as const) {
        const h = harness([{ partition: 0, earliest: 0, latest: 10 }], [0])
        const r = yield* reader(h, { topic, start: new Map([[0, 0]]), otherwise: "earliest", ...(drain === undefined ? {} : { drain }) })
        assert.strictEqual(h.consumer.maxWaitTimeInMs, expected)
        yield* Fiber.interrupt(r.fiber)
      }
    }))


  it.live("seeks to the requested positions and drops records kafkajs fetched from below them", () =>
    Effect.gen(function*() {
      const h = harness([{ partition: 0, earliest: 0, latest: 10 }, { partition: 1, earliest: 0, latest: 10 }], [0, 1])
      const r = yield* reader(h, { topic, start: new Map([[0, 5]]), otherwise: "latest" })
      assert.deepStrictEqual(h.consumer.seeks, [[0, 5], [1, 10]])
      yield* Effect.promise(() => h.consumer.deliver(0, [3, 4, 5, 6, 7, 8, 9], 10))
      yield* r.allow(5)
      assert.deepStrictEqual(offsetsOf(r.seen, 0), [5, 6, 7, 8, 9])
      const event = r.seen[0]!
      assert.isTrue(event._tag === "RecordsFetched" && event.nextOffset === 10 && event.highWatermark === 10)
      assert.instanceOf(event._tag === "RecordsFetched" ? event.records[0]!.value : undefined, Uint8Array)
      yield* Fiber.interrupt(r.fiber)
      assert.isTrue(h.consumer.disconnected)
    }))

  it.live("a gap above the log start is just a gap; a position below it is OffsetOutOfRange", () =>
    Effect.gen(function*() {
      const h = harness([{ partition: 0, earliest: 0, latest: 100 }], [0])
      const r = yield* reader(h, { topic, start: new Map([[0, 0]]), otherwise: "earliest" })
      yield* Effect.promise(() => h.consumer.deliver(0, [0, 1, 2], 100))
      yield* Effect.promise(() => h.consumer.deliver(0, [10, 11], 100)) // compacted away 3..9
      h.ranges[0] = { partition: 0, earliest: 50, latest: 100 } // retention deleted below 50
      yield* Effect.promise(() => h.consumer.deliver(0, [50, 51], 100)) // kafkajs reset us to the log start
      yield* r.allow(10)
      assert.deepStrictEqual(r.seen.map((event) => event._tag), ["RecordsFetched", "RecordsFetched", "OffsetOutOfRange", "RecordsFetched"])
      assert.deepStrictEqual(r.seen[2], { _tag: "OffsetOutOfRange", topic, partition: 0, requested: 12, earliest: 50 })
      assert.deepStrictEqual(offsetsOf(r.seen, 0), [0, 1, 2, 10, 11, 50, 51])
    }))

  it.live("a start below the log start, or beyond the end, is reported before anything is read", () =>
    Effect.gen(function*() {
      const h = harness([{ partition: 0, earliest: 20, latest: 30 }, { partition: 1, earliest: 0, latest: 5 }], [0, 1])
      const r = yield* reader(h, { topic, start: new Map([[0, 3], [1, 9]]), otherwise: "earliest" })
      yield* r.allow(2)
      assert.deepStrictEqual(r.seen, [
        { _tag: "OffsetOutOfRange", topic, partition: 0, requested: 3, earliest: 20 },
        { _tag: "OffsetOutOfRange", topic, partition: 1, requested: 9, earliest: 0 }
      ])
      assert.deepStrictEqual(h.consumer.seeks, [[0, 20], [1, 0]])
    }))

  it.live("a full queue pauses the partition; draining resumes it; the buffer stays bounded", () =>
    Effect.gen(function*() {
      const h = harness([{ partition: 0, earliest: 0, latest: 100 }], [0], 1)
      const r = yield* reader(h, { topic, start: new Map([[0, 0]]), otherwise: "earliest" })
      for (let i = 0; i < 4; i++) yield* Effect.promise(() => h.consumer.deliver(0, [i * 2, i * 2 + 1], 100))
      assert.isTrue(h.consumer.paused.has(0))
      assert.isAtMost(Math.max(...h.states.map((s) => s.queued)), 1)
      yield* r.allow(10)
      assert.deepStrictEqual(offsetsOf(r.seen, 0), [0, 1, 2, 3, 4, 5, 6, 7])
      assert.isFalse(h.consumer.paused.has(0))
      assert.include(h.consumer.resumes, 0)
    }))

  it.live("after a rejoin, nothing of a revoked partition is emitted, even if it was already queued", () =>
    Effect.gen(function*() {
      const h = harness([{ partition: 0, earliest: 0, latest: 100 }, { partition: 1, earliest: 0, latest: 100 }], [0, 1], 2)
      const r = yield* reader(h, { topic, start: new Map([[0, 0], [1, 0]]), otherwise: "earliest" })
      yield* Effect.promise(() => h.consumer.deliver(1, [0, 1], 100))
      yield* Effect.promise(() => h.consumer.deliver(0, [0, 1], 100))
      yield* Effect.promise(() => h.consumer.deliver(1, [2, 3], 100)) // waits beside the full queue
      h.consumer.join([0])
      yield* Effect.promise(() => h.consumer.deliver(1, [4], 100)) // a late fetch for the revoked partition
      yield* r.allow(10)
      assert.deepStrictEqual(offsetsOf(r.seen, 1), [])
      assert.deepStrictEqual(offsetsOf(r.seen, 0), [0, 1])
      // given back later, it resumes where the reader got to, not where fetching had got to
      h.consumer.join([0, 1])
      assert.deepStrictEqual(h.consumer.seeks.at(-1), [1, 0])
    }))

  it.live("partitions added while running start at `otherwise`; excluded ones are paused and never read", () =>
    Effect.gen(function*() {
      const h = harness([{ partition: 0, earliest: 0, latest: 10 }, { partition: 1, earliest: 0, latest: 10 }], [0, 1])
      const r = yield* reader(h, { topic, start: new Map([[0, 10]]), otherwise: "latest", exclude: new Set([1]) })
      assert.include(h.consumer.pauses, 1)
      h.ranges.push({ partition: 2, earliest: 4, latest: 7 })
      h.consumer.join([0, 1, 2])
      yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(h.consumer.seeks.at(-1), [2, 7])
      yield* Effect.promise(() => h.consumer.deliver(1, [0], 10))
      yield* Effect.promise(() => h.consumer.deliver(2, [7], 8))
      yield* r.allow(5)
      assert.deepStrictEqual(offsetsOf(r.seen, 1), [])
      assert.deepStrictEqual(offsetsOf(r.seen, 2), [7])
    }))

  it.live("a fetch of only transaction markers moves the position on, and a batch's end may pass its last record", () =>
    Effect.gen(function*() {
      const h = harness([{ partition: 0, earliest: 0, latest: 10 }], [0])
      const r = yield* reader(h, { topic, start: new Map([[0, 0]]), otherwise: "earliest" })
      yield* Effect.promise(() => h.consumer.deliver(0, [0, 1], 10, 2)) // a commit marker at offset 2
      h.consumer.emit(h.consumer.events.END_BATCH_PROCESS, {
        payload: { topic, partition: 0, batchSize: 0, firstOffset: "3", lastOffset: "3", highWatermark: "4" }
      })
      yield* r.allow(2)
      assert.deepStrictEqual(r.seen.map((event) => event._tag === "RecordsFetched" ? [event.records.length, event.nextOffset] : []), [[2, 3], [0, 4]])
    }))

  it.live("a consumer crash fails the stream with the mapped error", () =>
    Effect.gen(function*() {
      const h = harness([{ partition: 0, earliest: 0, latest: 10 }], [0])
      const r = yield* reader(h, { topic, start: new Map(), otherwise: "earliest" })
      h.consumer.emit(h.consumer.events.CRASH, { payload: { error: new Error("Connection error: connect ECONNREFUSED"), restart: false } })
      const exit = yield* Fiber.await(r.fiber)
      assert.strictEqual(exit._tag, "Failure")
      assert.include(String(exit._tag === "Failure" ? exit.cause : ""), "ECONNREFUSED")
    }))

  it.live("a log truncated below our position mid-run (unclean leader election) is OffsetOutOfRange, reported once", () =>
    Effect.gen(function*() {
      const h = harness([{ partition: 0, earliest: 0, latest: 10 }], [0])
      const r = yield* reader(h, { topic, start: new Map([[0, 0]]), otherwise: "earliest" })
      yield* Effect.promise(() => h.consumer.deliver(0, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 10))
      yield* r.allow(1)
      // the new leader's log ends at 6; kafkajs is told our offset 10 is out of range and starts over from 0
      h.ranges[0] = { partition: 0, earliest: 0, latest: 6 }
      const outOfRange = { topic, partition: 0, groupId: h.consumer.groupId }
      h.log("Offset out of range, resetting to default offset", outOfRange)
      yield* Effect.sleep("20 millis")
      yield* Effect.promise(() => h.consumer.deliver(0, [0, 1, 2, 3, 4, 5], 6))
      h.log("Offset out of range, resetting to default offset", outOfRange) // again after the seek back to 10
      yield* Effect.promise(() => h.consumer.deliver(0, [0, 1, 2, 3, 4, 5], 6))
      yield* r.allow(3)
      assert.deepStrictEqual(r.seen.slice(1), [{ _tag: "OffsetOutOfRange", topic, partition: 0, requested: 10, earliest: 0, logEnd: 6 }])
      assert.deepStrictEqual(h.consumer.seeks.slice(-1), [[0, 10]])
      // the log grows past our position: reading goes on from it
      h.ranges[0] = { partition: 0, earliest: 0, latest: 12 }
      yield* Effect.promise(() => h.consumer.deliver(0, [10, 11], 12))
      yield* r.allow(1)
      assert.deepStrictEqual(offsetsOf(r.seen, 0), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
      yield* Fiber.interrupt(r.fiber)
    }))

  it.live("a batch that could not be decompressed fails the stream with KafkaDecompressionError naming where", () =>
    Effect.gen(function*() {
      // the record kafka-delta's record-batch decoder puts in place of a corrupt snappy batch at offsets 12..14
      const require = createRequire(import.meta.url)
      const { RecordBatch } = require(require.resolve("kafkajs/src/protocol/recordBatch/v0/index.js"))
      const Decoder = require(require.resolve("kafkajs/src/protocol/decoder.js"))
      const Long = require(require.resolve("kafkajs/src/utils/long.js"))
      const encoded = yield* Effect.promise(() =>
        RecordBatch({
          compression: 0,
          firstOffset: Long.fromValue("12"),
          firstTimestamp: Long.fromValue("1700000000000"),
          maxTimestamp: Long.fromValue("1700000000000"),
          lastOffsetDelta: 2,
          records: []
        })
      )
      const bytes = Buffer.from((encoded as { buffer: Buffer }).buffer)
      bytes.writeInt16BE(2, 21) // says snappy, holds no snappy data
      bytes.writeInt32BE(3, 57) // three records
      const { records } = yield* Effect.promise(() => makeRecordBatchDecoder()(new Decoder(bytes)) as Promise<{ records: Array<object> }>)
      const h = harness([{ partition: 3, earliest: 0, latest: 15 }], [3])
      const r = yield* reader(h, { topic, start: new Map([[3, 10]]), otherwise: "earliest" })
      yield* Effect.promise(() => h.consumer.deliver(3, [10, 11], 15, 14, records))
      const exit = yield* Fiber.await(r.fiber)
      assert.strictEqual(exit._tag, "Failure")
      const error = exit._tag === "Failure" ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(error, KafkaDecompressionError)
      const typed = error as KafkaDecompressionError
      assert.deepStrictEqual([typed.topic, typed.partition, typed.offset, typed.codec], [topic, 3, 12, "snappy"])
      assert.match(typed.message, /^cannot decompress the snappy record batch at orders partition 3 offset 12: .+; kafka-delta reads uncompressed, gzip, snappy, lz4 and zstd batches/)
      assert.notInclude(typed.message, "\n")
    }))
})
