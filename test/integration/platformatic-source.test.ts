/**
 * Integration tests of the @platformatic/kafka KafkaSource against the real local broker, the checks the kafkajs
 * layer passes (test/integration/kafkajs-source.test.ts) that apply to a reader without a consumer group:
 * consuming from positions, excluded partitions and waiting for new records, offsets by timestamp, SASL_SSL with
 * PLAIN and SCRAM-SHA-512 and the CA file, records deleted under the reader, a slow reader (nothing fetched
 * ahead), and added partitions. Every codec: test/integration/compression.test.ts; what both layers share
 * (offsets, layerConfig, a wrong password, TLS without the CA, an unreachable broker, a position below the log
 * start): kafka-sources.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted, Stream } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as PlatformaticSource from "../../layers/kafka/platformatic.ts"
import type { KafkaSource, SourceEvent } from "../../src/services/KafkaSource.ts"
import { readUntil, reached, useBroker, valuesOf } from "./support/kafka.ts"

const broker = useBroker("platformatic-source-test", "kd-it-plt")
const { deleteRecords, makeTopic } = broker
const decoder = new TextDecoder()

const plaintext = (extra: Partial<PlatformaticSource.PlatformaticSourceOptions> = {}): PlatformaticSource.PlatformaticSourceOptions => ({
  brokers: broker.env.kafkaBootstrap,
  ...extra
})

const withSource = <A, E>(options: PlatformaticSource.PlatformaticSourceOptions, use: (source: KafkaSource["Service"]) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(PlatformaticSource.make(options), use))

describe("@platformatic/kafka KafkaSource (integration, local broker)", () => {
  it.live("consumes a multi-partition topic from the requested positions, in order, without duplicates", () =>
    withSource(plaintext(), (source) =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(3, 300)
        const events = yield* readUntil(
          source.consume({ topic, start: new Map([[0, 10], [1, 250]]), otherwise: "earliest" }),
          (seen) => [0, 1, 2].every((p) => reached(seen).get(p) === 300)
        )
        assert.isTrue(events.every((event) => event._tag === "RecordsFetched"))
        assert.deepStrictEqual(valuesOf(events, 0), Array.from({ length: 290 }, (_, i) => `p0-${i + 10}`))
        assert.deepStrictEqual(valuesOf(events, 1), Array.from({ length: 50 }, (_, i) => `p1-${i + 250}`))
        assert.deepStrictEqual(valuesOf(events, 2), Array.from({ length: 300 }, (_, i) => `p2-${i}`))
        const first = events.find((event) => event._tag === "RecordsFetched" && event.partition === 0)
        assert.strictEqual(decoder.decode((first as { records: ReadonlyArray<{ key: Uint8Array | null }> }).records[0]!.key!), "k10")
        for (const event of events) if (event._tag === "RecordsFetched") assert.strictEqual(event.highWatermark, 300)
      })))

  it.live("excluded partitions are not read; otherwise=latest waits for new records", () =>
    withSource(plaintext(), (source) =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(3, 20)
        const fiber = yield* readUntil(
          source.consume({ topic, start: new Map([[0, 0]]), otherwise: "latest", exclude: new Set([1]) }),
          (seen) => reached(seen).get(2) === 21
        ).pipe(Effect.forkChild)
        yield* Effect.sleep("2 seconds")
        yield* Effect.promise(() => broker.producer.send({ topic, messages: [{ partition: 1, value: "late-1" }, { partition: 2, value: "late-2" }] }))
        const events = yield* Fiber.join(fiber)
        assert.isFalse(events.some((event) => event.partition === 1))
        assert.deepStrictEqual(valuesOf(events, 2), ["late-2"])
        assert.strictEqual(valuesOf(events, 0).length, 20)
      })))

  it.live("offsetsForTimestamp: the first offset at or after the time per partition, the end past the last record", () =>
    withSource(plaintext(), (source) =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(2, 0)
        // recent times: the broker's retention (checked every 5 s) deletes records stamped in 1970 under the test
        const t0 = Date.now() - 60_000
        yield* Effect.promise(() =>
          broker.producer.send({
            topic,
            messages: [t0, t0 + 1_000, t0 + 2_000].map((timestamp, i) => ({ partition: 0, timestamp: String(timestamp), value: `t${i}` }))
          })
        )
        assert.deepStrictEqual(yield* source.offsetsForTimestamp(topic, t0 + 500), [{ partition: 0, offset: 1 }, { partition: 1, offset: 0 }])
        assert.deepStrictEqual(yield* source.offsetsForTimestamp(topic, t0 - 500), [{ partition: 0, offset: 0 }, { partition: 1, offset: 0 }])
        assert.deepStrictEqual(yield* source.offsetsForTimestamp(topic, t0 + 9_000), [{ partition: 0, offset: 3 }, { partition: 1, offset: 0 }])
      })))

  for (const mechanism of ["PLAIN", "SCRAM-SHA-512"] as const) {
    it.live(`SASL_SSL with ${mechanism} and the CA file reads offsets and records`, () =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(1, 5)
        const plain = mechanism === "PLAIN"
        yield* withSource({
          brokers: broker.env.kafkaSaslSslBootstrap,
          securityProtocol: "SASL_SSL",
          saslMechanism: mechanism,
          username: plain ? broker.env.kafkaPlainUser : broker.env.kafkaScramUser,
          password: Redacted.make(plain ? broker.env.kafkaPlainPassword : broker.env.kafkaScramPassword),
          caFile: broker.env.kafkaCaFile
        }, (source) =>
          Effect.gen(function*() {
            assert.deepStrictEqual(yield* source.offsets(topic), [{ partition: 0, earliest: 0, latest: 5 }])
            const events = yield* readUntil(source.consume({ topic, start: new Map(), otherwise: "earliest" }), (seen) => reached(seen).get(0) === 5)
            assert.deepStrictEqual(valuesOf(events, 0), ["p0-0", "p0-1", "p0-2", "p0-3", "p0-4"])
          }))
      }))
  }

  it.live("records deleted under a running reader: OffsetOutOfRange, then reading goes on from the new log start", () =>
    withSource(plaintext({ maxBytesPerPartition: 2_048, maxBytes: 4_096 }), (source) =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(1, 400, { sendSize: 10 })
        const events: Array<SourceEvent> = []
        let deleted = false
        yield* source.consume({ topic, start: new Map([[0, 0]]), otherwise: "earliest" }).pipe(
          Stream.mapEffect((event) =>
            Effect.gen(function*() {
              events.push(event)
              if (!deleted) {
                deleted = true
                yield* deleteRecords(topic, 300)
              }
              return event
            })),
          Stream.takeUntil(() => reached(events).get(0) === 400),
          Stream.runDrain,
          Effect.timeout("30 seconds")
        )
        const gap = events.find((event) => event._tag === "OffsetOutOfRange")
        assert.isDefined(gap, "expected an OffsetOutOfRange event")
        assert.isTrue(gap!._tag === "OffsetOutOfRange" && gap!.earliest === 300 && gap!.requested > 0)
        assert.deepStrictEqual(valuesOf(events.slice(events.indexOf(gap!)), 0), Array.from({ length: 100 }, (_, i) => `p0-${i + 300}`))
      })))

  it.live("a slow reader: nothing is fetched ahead of the pulls", () =>
    withSource(plaintext({ maxBytesPerPartition: 2_048, maxBytes: 8_192 }), (source) =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(2, 2_000, { sendSize: 10 })
        const events = yield* readUntil(
          source.consume({ topic, start: new Map(), otherwise: "earliest" }).pipe(Stream.tap(() => Effect.sleep("20 millis"))),
          (seen) => seen.length >= 20
        )
        const records = events.reduce((sum, event) => sum + (event._tag === "RecordsFetched" ? event.records.length : 0), 0)
        assert.isBelow(records, 4_000, "the reader stopped long before the end")
      })))

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
          const fresh = new Kafka({ brokers: [broker.env.kafkaBootstrap], logLevel: logLevel.NOTHING }).producer()
          await fresh.connect()
          await fresh.send({ topic, messages: [{ partition: 1, value: "new-0" }, { partition: 1, value: "new-1" }] })
          await fresh.disconnect()
        })
        const events = yield* Fiber.join(fiber)
        assert.deepStrictEqual(valuesOf(events, 1), ["new-0", "new-1"])
        assert.strictEqual(valuesOf(events, 0).length, 3)
      })), 60_000)
})
