/**
 * The local broker as the KafkaSource integration tests use it: a kafkajs admin and producer connected for the
 * test file, fresh topics filled with `p<partition>-<i>` records, and reading a source's events until a condition
 * holds. A file that reads through kafkajs imports `layers/kafka/kafkajs-fast-records.ts` before this module, as
 * the live layer does.
 */
import { Effect, Stream } from "effect"
import { type Admin, Kafka, logLevel, type Producer } from "kafkajs"
import { randomUUID } from "node:crypto"
import { afterAll, beforeAll, beforeEach } from "vitest"
import type { SourceEvent } from "../../../src/services/KafkaSource.ts"
import { type ServicesEnv, servicesEnv } from "./services-env.ts"

/** How `makeTopic` fills a topic. */
export interface TopicFill {
  /** Characters of padding after each value (default none). */
  readonly valueSize?: number
  /** Records per produce request, so per record batch (default 500). */
  readonly sendSize?: number
}

/** The services' details and a connected admin and producer (set in `beforeAll`: read them inside tests). */
export interface Broker {
  readonly env: ServicesEnv
  readonly admin: Admin
  readonly producer: Producer
  /**
   * Creates a fresh topic `<topicPrefix>-<random>` with `partitions` partitions and `perPartition` records in each:
   * key `k<i>`, value `p<partition>-<i>` (plus padding).
   */
  readonly makeTopic: (partitions: number, perPartition: number, fill?: TopicFill) => Effect.Effect<string>
  /** Deletes the records of partition 0 below `offset` (as retention would). */
  readonly deleteRecords: (topic: string, offset: number) => Effect.Effect<void>
}

/**
 * Connects an admin and a producer for this test file (closed after it) as `clientId`; its topics are named
 * `<topicPrefix>-<random>`. Every test fails, none is skipped, when the services are missing.
 */
export const useBroker = (clientId: string, topicPrefix: string): Broker => {
  let missingServices: Error | undefined
  const broker: { -readonly [K in keyof Broker]: Broker[K] } = {
    env: undefined as never,
    admin: undefined as never,
    producer: undefined as never,
    makeTopic: (partitions, perPartition, fill = {}) =>
      Effect.promise(async () => {
        const topic = `${topicPrefix}-${randomUUID().slice(0, 8)}`
        const sendSize = fill.sendSize ?? 500
        await broker.admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
        const padding = "x".repeat(fill.valueSize ?? 0)
        for (let partition = 0; partition < partitions; partition++) {
          for (let from = 0; from < perPartition; from += sendSize) {
            const count = Math.min(sendSize, perPartition - from)
            await broker.producer.send({
              topic,
              messages: Array.from({ length: count }, (_, i) => ({ partition, key: `k${from + i}`, value: `p${partition}-${from + i}${padding}` }))
            })
          }
        }
        return topic
      }),
    deleteRecords: (topic, offset) =>
      Effect.promise(async () => {
        await broker.admin.fetchTopicOffsets(topic) // loads the topic's leaders into the admin's metadata
        await broker.admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(offset) }] })
      })
  }
  beforeAll(async () => {
    try {
      broker.env = servicesEnv()
    } catch (error) {
      missingServices = error as Error
      return
    }
    const kafka = new Kafka({ brokers: [broker.env.kafkaBootstrap], clientId, logLevel: logLevel.NOTHING })
    broker.admin = kafka.admin()
    broker.producer = kafka.producer({ allowAutoTopicCreation: false })
    await broker.admin.connect()
    await broker.producer.connect()
  })
  beforeEach(() => {
    if (missingServices !== undefined) throw missingServices
  })
  afterAll(async () => {
    await broker.producer?.disconnect()
    await broker.admin?.disconnect()
  })
  return broker
}

/** Reads events until `done` says so (or fails after `limit`). */
export const readUntil = (
  stream: Stream.Stream<SourceEvent, unknown>,
  done: (events: ReadonlyArray<SourceEvent>) => boolean,
  limit: string = "30 seconds"
) =>
  Effect.gen(function*() {
    const events: Array<SourceEvent> = []
    yield* stream.pipe(
      Stream.takeUntil((event) => {
        events.push(event)
        return done(events)
      }),
      Stream.runDrain,
      Effect.timeout(limit as "30 seconds")
    )
    return events
  })

/** The next offset reached per partition. */
export const reached = (events: ReadonlyArray<SourceEvent>): Map<number, number> => {
  const next = new Map<number, number>()
  for (const event of events) next.set(event.partition, event._tag === "RecordsFetched" ? event.nextOffset : event.earliest)
  return next
}

const decoder = new TextDecoder()

/** The values read from `partition`, in order, as text. */
export const valuesOf = (events: ReadonlyArray<SourceEvent>, partition: number): Array<string> =>
  events.flatMap((event) =>
    event._tag === "RecordsFetched" && event.partition === partition ? event.records.map((record) => decoder.decode(record.value!)) : []
  )
