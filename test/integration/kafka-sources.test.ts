/**
 * One suite over both live KafkaSource layers (kafkajs and @platformatic/kafka) against the real local broker, for
 * what every client must do the same way: offsets (a missing topic is TopicNotFoundError), the layer the job's
 * `kafka` section and secrets build, TLS without the CA, an unreachable broker, a position below the log start,
 * mirror positions into a consumer group (read back through Kafka's admin API, as `kafka-consumer-groups.sh
 * --describe` reads them), group membership with rebalances, fail fast in one line on a wrong PLAIN or SCRAM
 * password, and start from explicit positions, `earliest` or `latest` (the startingOffsets forms). Client-specific checks:
 * kafkajs-source.test.ts, platformatic-source.test.ts; every codec: compression.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Redacted, Stream } from "effect"
// before kafkajs, as the live layer has it, so the kafkajs layer reads through its replaced record decoding
import "../../layers/kafka/kafkajs-fast-records.ts"
import { randomUUID } from "node:crypto"
import * as MemoryConfig from "../../layers/config/memory.ts"
import * as KafkajsSource from "../../layers/kafka/kafkajs.ts"
import * as PlatformaticSource from "../../layers/kafka/platformatic.ts"
import * as MemorySecrets from "../../layers/secrets/memory.ts"
import { type GroupAssignment, KafkaSource, type SourceEvent } from "../../src/services/KafkaSource.ts"
import { testJob } from "../layers/support/job.ts"
import { closedPort } from "../support/closed-port.ts"
import { reached, readUntil, useBroker, valuesOf } from "./support/kafka.ts"

const broker = useBroker("kafka-sources-test", "kd-it-src")
const { deleteRecords, makeTopic } = broker

/** Connection settings both layers take. */
interface Connection {
  readonly brokers: string
  readonly securityProtocol?: "PLAINTEXT" | "SASL_SSL"
  readonly saslMechanism?: "PLAIN" | "SCRAM-SHA-512"
  readonly username?: string
  readonly password?: Redacted.Redacted<string>
  readonly caFile?: string
  readonly retries?: number
}

const clients = {
  kafkajs: (connection: Connection) => KafkajsSource.make({ ...connection, groupIdPrefix: "kd-it-sources" }),
  platformatic: (connection: Connection) => PlatformaticSource.make(connection)
} as const

const nextOf = (events: ReadonlyArray<SourceEvent>, partition: number): number | undefined =>
  events.filter((e) => e.partition === partition && e._tag === "RecordsFetched").map((e) => (e as { nextOffset: number }).nextOffset).at(-1)

/** Each layer as the job's `kafka` section and its secrets build it. */
const configLayers = { kafkajs: KafkajsSource.layerConfig, platformatic: PlatformaticSource.layerConfig } as const

for (const name of ["kafkajs", "platformatic"] as const) {
  const make = clients[name]
  const withSource = <A, E>(connection: Connection, use: (source: KafkaSource["Service"]) => Effect.Effect<A, E>) =>
    Effect.scoped(Effect.flatMap(make(connection), use))
  const plaintext = (): Connection => ({ brokers: broker.env.kafkaBootstrap })

  describe(`${name} KafkaSource (integration, shared suite)`, () => {
    it.live("offsets: earliest and latest per partition; a missing topic is TopicNotFoundError", () =>
      withSource(plaintext(), (source) =>
        Effect.gen(function*() {
          const topic = yield* makeTopic(3, 7)
          assert.deepStrictEqual(yield* source.offsets(topic), [
            { partition: 0, earliest: 0, latest: 7 },
            { partition: 1, earliest: 0, latest: 7 },
            { partition: 2, earliest: 0, latest: 7 }
          ])
          const missing = yield* Effect.flip(source.offsets(`kd-it-missing-${randomUUID().slice(0, 8)}`))
          assert.strictEqual(missing._tag, "TopicNotFoundError")
        })))

    it.live("layerConfig: the job's kafka section, credentials from its secret scope, reaches the SASL_SSL broker", () =>
      Effect.gen(function*() {
        const topic = yield* makeTopic(2, 3)
        const job = testJob({
          kafka: {
            bootstrapServers: broker.env.kafkaSaslSslBootstrap,
            securityProtocol: "SASL_SSL",
            saslMechanism: "SCRAM-SHA-512",
            username: { secret: "kafka-api-key" },
            password: { secret: "kafka-api-secret" },
            caFile: broker.env.kafkaCaFile,
            topicPrefix: "",
            groupIdPrefix: "kd-it-config"
          }
        })
        const secrets = { "test-scope": { "kafka-api-key": broker.env.kafkaScramUser, "kafka-api-secret": broker.env.kafkaScramPassword } }
        const offsets = yield* KafkaSource.use((source) => source.offsets(topic)).pipe(
          Effect.provide(configLayers[name].pipe(Layer.provide([MemoryConfig.layer(job), MemorySecrets.layer(secrets)])))
        )
        assert.deepStrictEqual(offsets.map((entry) => entry.latest), [3, 3])
      }))

    it.live("TLS without the right CA is KafkaAuthError (TLS) naming the CA setting", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(withSource({
          brokers: broker.env.kafkaSaslSslBootstrap,
          securityProtocol: "SASL_SSL",
          saslMechanism: "PLAIN",
          username: broker.env.kafkaPlainUser,
          password: Redacted.make(broker.env.kafkaPlainPassword),
          retries: 0
        }, () => Effect.void))
        assert.strictEqual(error._tag, "KafkaAuthError")
        assert.include(error.message, "(TLS)")
        assert.include(error.message, "kafka.caFile")
      }))

    it.live("an unreachable broker is KafkaUnavailableError naming the address", () =>
      Effect.gen(function*() {
        const port = yield* Effect.promise(closedPort)
        const started = Date.now()
        const error = yield* Effect.flip(withSource({ brokers: `127.0.0.1:${port}`, retries: 1 }, () => Effect.void))
        assert.strictEqual(error._tag, "KafkaUnavailableError")
        assert.include(error.message, `127.0.0.1:${port}`)
        assert.include(error.message, "ECONNREFUSED")
        assert.isBelow(Date.now() - started, 15_000)
      }))

    it.live("a position below the log start is reported as OffsetOutOfRange, then records from earliest", () =>
      withSource(plaintext(), (source) =>
        Effect.gen(function*() {
          const topic = yield* makeTopic(2, 50)
          yield* deleteRecords(topic, 20)
          const events = yield* readUntil(
            source.consume({ topic, start: new Map([[0, 5], [1, 5]]), otherwise: "earliest" }),
            (seen) => reached(seen).get(0) === 50 && reached(seen).get(1) === 50
          )
          const forZero = events.filter((event) => event.partition === 0)
          assert.deepStrictEqual(forZero[0], { _tag: "OffsetOutOfRange", topic, partition: 0, requested: 5, earliest: 20 })
          assert.deepStrictEqual(valuesOf(events, 0), Array.from({ length: 30 }, (_, i) => `p0-${i + 20}`))
          assert.isFalse(events.some((event) => event._tag === "OffsetOutOfRange" && event.partition === 1))
          assert.strictEqual(valuesOf(events, 1).length, 45)
        })))

    it.live("commitOffsets over SASL_SSL mirrors positions into the consumer group, read back through the admin API", () =>
      withSource({
        brokers: broker.env.kafkaSaslSslBootstrap,
        securityProtocol: "SASL_SSL",
        saslMechanism: "SCRAM-SHA-512",
        username: broker.env.kafkaScramUser,
        password: Redacted.make(broker.env.kafkaScramPassword),
        caFile: broker.env.kafkaCaFile
      }, (source) =>
        Effect.gen(function*() {
          const topic = yield* makeTopic(3, 10)
          const group = `kd-it-mirror-${name}-${randomUUID().slice(0, 8)}`
          const started = Date.now()
          yield* source.commitOffsets(group, topic, new Map([[0, 4], [1, 10], [2, 0]]))
          // a later commit moves the partitions it names and leaves the others
          yield* source.commitOffsets(group, topic, new Map([[0, 7]]))
          // cheap enough to follow every Delta commit (kafkajs's own setOffsets joins the group: seconds per call)
          assert.isBelow(Date.now() - started, 3_000)
          const read = yield* Effect.promise(() => broker.admin.fetchOffsets({ groupId: group, topics: [topic] }))
          const committed = read[0]!.partitions.map((p) => [p.partition, Number(p.offset)]).sort((a, b) => a[0]! - b[0]!)
          assert.deepStrictEqual(committed, [[0, 7], [1, 10], [2, 0]])
        })))

    it.live("joinGroup: two members split a topic's partitions; when one leaves, the other owns them all", () =>
      withSource(plaintext(), (source) =>
        Effect.gen(function*() {
          const topic = yield* makeTopic(4, 1)
          const group = `kd-it-members-${name}-${randomUUID().slice(0, 8)}`
          const seen: [Array<GroupAssignment>, Array<GroupAssignment>] = [[], []]
          const owned = (member: 0 | 1) => seen[member].filter((e) => e._tag === "Assigned").at(-1)?.partitions ?? []
          const waitFor = (done: () => boolean) =>
            Effect.gen(function*() {
              for (let i = 0; i < 300 && !done(); i++) yield* Effect.sleep("100 millis")
              assert.isTrue(done(), `rebalance seen: ${JSON.stringify(seen)}`)
            })
          const member = (index: 0 | 1) =>
            source.joinGroup(group, topic).pipe(Stream.runForEach((event) => Effect.sync(() => seen[index].push(event))), Effect.forkChild)
          const first = yield* member(0)
          yield* waitFor(() => owned(0).length === 4)
          const second = yield* member(1)
          yield* waitFor(() => owned(0).length === 2 && owned(1).length === 2)
          assert.deepStrictEqual([...owned(0), ...owned(1)].sort(), [0, 1, 2, 3])
          assert.isTrue(seen[0].some((e) => e._tag === "Revoked"), "the first member was told what it gave up")
          yield* Fiber.interrupt(second)
          yield* waitFor(() => owned(0).length === 4)
          yield* Fiber.interrupt(first)
        })), 90_000)

    it.live("commitOffsets while this source is a member of the group commits through the member (the broker refuses outside commits then)", () =>
      withSource(plaintext(), (source) =>
        Effect.gen(function*() {
          const topic = yield* makeTopic(2, 5)
          const group = `kd-it-member-commit-${name}-${randomUUID().slice(0, 8)}`
          let assigned = false
          const member = yield* source.joinGroup(group, topic).pipe(
            Stream.runForEach((event) => Effect.sync(() => { if (event._tag === "Assigned") assigned = true })),
            Effect.forkChild
          )
          for (let i = 0; i < 300 && !assigned; i++) yield* Effect.sleep("100 millis")
          assert.isTrue(assigned)
          yield* source.commitOffsets(group, topic, new Map([[0, 3], [1, 5]]))
          const read = yield* Effect.promise(() => broker.admin.fetchOffsets({ groupId: group, topics: [topic] }))
          const committed = read[0]!.partitions.map((p) => [p.partition, Number(p.offset)]).sort((a, b) => a[0]! - b[0]!)
          assert.deepStrictEqual(committed, [[0, 3], [1, 5]])
          yield* Fiber.interrupt(member)
        })), 90_000)

    it.live("a wrong PLAIN password fails fast with KafkaAuthError naming user, broker and mechanism, without the secret", () =>
      Effect.gen(function*() {
        const wrong = `${broker.env.kafkaPlainPassword}-wrong-9f3a`
        const started = Date.now()
        const error = yield* Effect.flip(withSource({
          brokers: broker.env.kafkaSaslSslBootstrap,
          securityProtocol: "SASL_SSL",
          saslMechanism: "PLAIN",
          username: broker.env.kafkaPlainUser,
          password: Redacted.make(wrong),
          caFile: broker.env.kafkaCaFile
        }, () => Effect.void))
        assert.strictEqual(error._tag, "KafkaAuthError")
        assert.include(error.message, `authentication failed for user ${broker.env.kafkaPlainUser} on ${broker.env.kafkaSaslSslBootstrap} (SASL PLAIN)`)
        assert.notInclude(error.message, wrong)
        assert.notInclude(error.message, "\n")
        assert.notInclude(JSON.stringify(error), wrong)
        assert.isBelow(Date.now() - started, 15_000)
      }))

    it.live("a wrong SCRAM-SHA-512 password fails fast with one line naming user and mechanism, without the secret", () =>
      Effect.gen(function*() {
        const wrong = `${broker.env.kafkaScramPassword}-wrong-4c1d`
        const started = Date.now()
        const error = yield* Effect.flip(withSource({
          brokers: broker.env.kafkaSaslSslBootstrap,
          securityProtocol: "SASL_SSL",
          saslMechanism: "SCRAM-SHA-512",
          username: broker.env.kafkaScramUser,
          password: Redacted.make(wrong),
          caFile: broker.env.kafkaCaFile
        }, () => Effect.void))
        assert.strictEqual(error._tag, "KafkaAuthError")
        assert.include(error.message, `authentication failed for user ${broker.env.kafkaScramUser}`)
        assert.include(error.message, "(SASL SCRAM-SHA-512)")
        assert.notInclude(error.message, "\n")
        assert.notInclude(JSON.stringify(error), wrong)
        assert.isBelow(Date.now() - started, 15_000)
      }))

    it.live("startingOffsets forms: an explicit position, earliest, and latest (only records produced after the start)", () =>
      withSource(plaintext(), (source) =>
        Effect.gen(function*() {
          const topic = yield* makeTopic(3, 5)
          const fiber = yield* readUntil(
            source.consume({ topic, start: new Map([[0, 3], [1, 0]]), otherwise: "latest" }),
            (seen) => nextOf(seen, 0) === 5 && nextOf(seen, 1) === 5 && nextOf(seen, 2) === 6
          ).pipe(Effect.forkChild)
          yield* Effect.sleep("2 seconds")
          yield* Effect.promise(() => broker.producer.send({ topic, messages: [{ partition: 2, value: "after-start" }] }))
          const events = yield* Fiber.join(fiber)
          assert.deepStrictEqual(valuesOf(events, 0), ["p0-3", "p0-4"])
          assert.deepStrictEqual(valuesOf(events, 1), ["p1-0", "p1-1", "p1-2", "p1-3", "p1-4"])
          assert.deepStrictEqual(valuesOf(events, 2), ["after-start"])
        })))
  })
}
