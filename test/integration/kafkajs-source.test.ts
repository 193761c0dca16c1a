/**
 * Integration tests of the kafkajs KafkaSource against the real local broker (`bash scripts/services.sh up`):
 * consuming from positions, SASL_SSL with PLAIN and SCRAM-SHA-512, auth and connection failures,
 * records deleted under the reader, backpressure, added partitions and a clean stop. What both layers share
 * (offsets, layerConfig, a wrong password, TLS without the CA, an unreachable broker, a position below the log
 * start): kafka-sources.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted, Stream } from "effect"
// before kafkajs, as the live layer has it, so these tests read through the replaced record decoding
import { installed } from "../../layers/kafka/kafkajs-fast-records.ts"
import { Kafka, logLevel } from "kafkajs"
import { randomUUID } from "node:crypto"
import * as KafkajsSource from "../../layers/kafka/kafkajs.ts"
import type { BufferState } from "../../layers/kafka/kafkajs-consume.ts"
import type { ConsumeRequest, KafkaSource, SourceEvent } from "../../src/services/KafkaSource.ts"
import { readUntil, reached, useBroker, valuesOf } from "./support/kafka.ts"

const broker = useBroker("kafkajs-source-test", "kd-it")
const { deleteRecords, makeTopic } = broker
const decoder = new TextDecoder()

const plaintext = (extra: Partial<KafkajsSource.KafkajsSourceOptions> = {}): KafkajsSource.KafkajsSourceOptions => ({
  brokers: broker.env.kafkaBootstrap,
  groupIdPrefix: "kd-it",
  ...extra
})

const withSource = <A, E>(
  options: KafkajsSource.KafkajsSourceOptions,
  use: (source: KafkaSource["Service"]) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(KafkajsSource.make(options), use))


describe("kafkajs KafkaSource (integration, local broker from scripts/services.sh)", () => {
  it.live("consumes a multi-partition topic from the requested positions, in order, without duplicates", () =>
    withSource(plaintext(), (source) =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(3, 300)
        const request: ConsumeRequest = { topic, start: new Map([[0, 10], [1, 250]]), otherwise: "earliest" }
        const events = yield* readUntil(source.consume(request), (seen) => {
          const next = reached(seen)
          return [0, 1, 2].every((p) => next.get(p) === 300)
        })
        assert.isTrue(events.every((event) => event._tag === "RecordsFetched"))
        assert.strictEqual(installed(), "installed") // read through kafka-delta's record decoding, as in a run
        assert.deepStrictEqual(valuesOf(events, 0), Array.from({ length: 290 }, (_, i) => `p0-${i + 10}`))
        assert.deepStrictEqual(valuesOf(events, 1), Array.from({ length: 50 }, (_, i) => `p1-${i + 250}`))
        assert.deepStrictEqual(valuesOf(events, 2), Array.from({ length: 300 }, (_, i) => `p2-${i}`))
        const first = events.find((event) => event._tag === "RecordsFetched" && event.partition === 0)
        assert.isTrue(first?._tag === "RecordsFetched" && first.records[0]!.key !== null)
        assert.strictEqual(decoder.decode((first as { records: ReadonlyArray<{ key: Uint8Array | null }> }).records[0]!.key!), "k10")
        for (const event of events) {
          if (event._tag === "RecordsFetched") {
            assert.strictEqual(event.highWatermark, 300)
            assert.instanceOf(event.records[0]?.value, Uint8Array)
          }
        }
      })))

  it.live("excluded partitions are not read; otherwise=latest waits for new records", () =>
    withSource(plaintext(), (source) =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(3, 20)
        const request: ConsumeRequest = { topic, start: new Map([[0, 0]]), otherwise: "latest", exclude: new Set([1]) }
        const fiber = yield* readUntil(source.consume(request), (seen) => reached(seen).get(2) === 21).pipe(Effect.forkChild)
        yield* Effect.sleep("3 seconds")
        yield* Effect.promise(() =>
          broker.producer.send({ topic, messages: [{ partition: 1, value: "late-1" }, { partition: 2, value: "late-2" }] })
        )
        const events = yield* Fiber.join(fiber)
        assert.isFalse(events.some((event) => event.partition === 1))
        assert.deepStrictEqual(valuesOf(events, 2), ["late-2"])
        assert.strictEqual(valuesOf(events, 0).length, 20)
      })))

  for (const mechanism of ["PLAIN", "SCRAM-SHA-512"] as const) {
    it.live(`SASL_SSL with ${mechanism} and the CA file reads offsets and records`, () =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(1, 5)
        const plain = mechanism === "PLAIN"
        const options: KafkajsSource.KafkajsSourceOptions = {
          brokers: broker.env.kafkaSaslSslBootstrap,
          securityProtocol: "SASL_SSL",
          saslMechanism: mechanism,
          username: plain ? broker.env.kafkaPlainUser : broker.env.kafkaScramUser,
          password: Redacted.make(plain ? broker.env.kafkaPlainPassword : broker.env.kafkaScramPassword),
          caFile: broker.env.kafkaCaFile,
          groupIdPrefix: "kd-it-sasl"
        }
        yield* withSource(options, (source) =>
          Effect.gen(function*() {
            assert.deepStrictEqual(yield* source.offsets(topic), [{ partition: 0, earliest: 0, latest: 5 }])
            const events = yield* readUntil(
              source.consume({ topic, start: new Map(), otherwise: "earliest" }),
              (seen) => reached(seen).get(0) === 5
            )
            assert.deepStrictEqual(valuesOf(events, 0), ["p0-0", "p0-1", "p0-2", "p0-3", "p0-4"])
          }))
      }))
  }

  it.live("records deleted under a running reader: OffsetOutOfRange, then reading goes on from the new log start", () =>
    withSource(plaintext({ queueCapacity: 1, maxBytesPerPartition: 2_048, maxBytes: 4_096 }), (source) =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(1, 400, { valueSize: 100, sendSize: 10 })
        const events: Array<SourceEvent> = []
        let deleted = false
        yield* source.consume({ topic, start: new Map([[0, 0]]), otherwise: "earliest" }).pipe(
          Stream.mapEffect((event) =>
            Effect.gen(function*() {
              events.push(event)
              if (!deleted) {
                deleted = true
                // The reader is behind (one small fetch consumed): retention removes what it has not read.
                yield* deleteRecords(topic, 300)
              }
              return event
            })
          ),
          Stream.takeUntil(() => reached(events).get(0) === 400),
          Stream.runDrain,
          Effect.timeout("30 seconds")
        )
        const gap = events.find((event) => event._tag === "OffsetOutOfRange")
        assert.isDefined(gap, "expected an OffsetOutOfRange event")
        assert.strictEqual(gap!._tag === "OffsetOutOfRange" && gap!.earliest, 300)
        assert.isTrue(gap!._tag === "OffsetOutOfRange" && gap!.requested > 0, "found while running, not at the start")
        const after = valuesOf(events.slice(events.indexOf(gap!)), 0)
        assert.deepStrictEqual(after, Array.from({ length: 100 }, (_, i) => `p0-${i + 300}${"x".repeat(100)}`))
      })))

  it.live("backpressure: a slow reader keeps the buffer bounded and pauses partitions", () =>
    Effect.gen(function*() {
      const topic = yield* makeTopic(3, 3_000, { valueSize: 200, sendSize: 10 }) // small record batches, so fetches stay small
      const states: Array<BufferState> = []
      const capacity = 2
      const options = plaintext({
        queueCapacity: capacity,
        maxBytesPerPartition: 8_192,
        maxBytes: 32_768,
        onBuffer: (state) => states.push(state)
      })
      const events = yield* withSource(options, (source) =>
        readUntil(
          source.consume({ topic, start: new Map(), otherwise: "earliest" }).pipe(Stream.tap(() => Effect.sleep("30 millis"))),
          (seen) => seen.length >= 60
        ))
      const records = events.reduce((sum, event) => sum + (event._tag === "RecordsFetched" ? event.records.length : 0), 0)
      assert.isBelow(records, 9_000, "the reader stopped long before the end")
      assert.isAtMost(Math.max(...states.map((s) => s.queued)), capacity)
      // at most the batches of one fetch per partition wait beside the full queue
      assert.isAtMost(Math.max(...states.map((s) => s.pending)), 3 * 4)
      assert.isTrue(states.some((s) => s.paused.length > 0), "partitions were paused while the reader lagged")
    }))

  it.live("partitions added while running are read from their earliest offset", () =>
    withSource(plaintext({ metadataMaxAge: "1 second" }), (source) =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(1, 3)
        const fiber = yield* readUntil(
          source.consume({ topic, start: new Map([[0, 0]]), otherwise: "earliest" }),
          (seen) => reached(seen).get(1) === 2,
          "45 seconds"
        ).pipe(Effect.forkChild)
        yield* Effect.sleep("2 seconds")
        yield* Effect.promise(async () => {
          await broker.admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] })
          // a fresh producer: the shared one would not know the new partition until its metadata expires
          const fresh = new Kafka({ brokers: [broker.env.kafkaBootstrap], logLevel: logLevel.NOTHING }).producer()
          await fresh.connect()
          await fresh.send({ topic, messages: [{ partition: 1, value: "new-0" }, { partition: 1, value: "new-1" }] })
          await fresh.disconnect()
          const after = await broker.admin.fetchTopicOffsets(topic)
          if (after.find((entry) => entry.partition === 1)?.high !== "2") throw new Error(`not produced: ${JSON.stringify(after)}`)
        })
        const events = yield* Fiber.join(fiber)
        assert.deepStrictEqual(valuesOf(events, 1), ["new-0", "new-1"])
        assert.strictEqual(valuesOf(events, 0).length, 3)
      })), 60_000)

  it.live("stopping the stream leaves its consumer group", () =>
    Effect.gen(function*() {
      const prefix = `kd-it-stop-${randomUUID().slice(0, 8)}`
      const topic = yield* makeTopic(2, 10)
      yield* withSource(plaintext({ groupIdPrefix: prefix }), (source) =>
        readUntil(source.consume({ topic, start: new Map(), otherwise: "earliest" }), (seen) => seen.length >= 1))
      const groups = yield* Effect.promise(() => broker.admin.listGroups())
      const ours = groups.groups.filter((group) => group.groupId.startsWith(prefix)).map((group) => group.groupId)
      if (ours.length > 0) {
        const described = yield* Effect.promise(() => broker.admin.describeGroups(ours))
        for (const group of described.groups) assert.include(["Empty", "Dead"], group.state, group.groupId)
      }
    }))
})

