/**
 * `kafka-delta demo`: the whole job on an embedded default — an in-memory Kafka topic with several partitions
 * holding generated order events (nested records, arrays, maps, an enum, decimals, dates and timestamps, plus a
 * few poison records), an in-memory schema registry, and a real Delta table on disk. Runs with the
 * `available-now` trigger, so it drains the topic, commits, and exits.
 */
import { Duration, Effect, Layer } from "effect"
import * as NodePath from "node:path"
import * as CheckpointStoreFile from "../../layers/checkpoint-store/filesystem.ts"
import * as ConfigMemory from "../../layers/config/memory.ts"
import * as KafkaMemory from "../../layers/kafka/memory.ts"
import * as RegistryMemory from "../../layers/schema-registry/memory.ts"
import { tableNameOf } from "../config/job.ts"
import { demoEvent, demoEventSchema, encodeDemoEvent } from "../demo/events.ts"
import type { JobConfig, Trigger } from "../services/Config.ts"
import { deltaSinkLayer } from "./live.ts"

/** What the demo generates. */
export interface DemoOptions {
  readonly output: string
  readonly records: number
  readonly partitions: number
  readonly maxBatchRecords: number
  readonly trigger: Trigger
}

/** The demo job: where it writes, and the stream options it runs with. */
export const demoJob = (options: DemoOptions): JobConfig => {
  const root = NodePath.resolve(options.output)
  const topic = "orders"
  const table = tableNameOf(topic)
  return {
    environment: "Demo",
    source: "the built-in demo",
    topic,
    kafkaTopic: topic,
    streamId: `Demo_${topic}`,
    table: { name: `demo.kafka_raw.${table}`, location: NodePath.join(root, "lakehouse", "demo", "kafka_raw", table) },
    deadLetterTable: {
      name: `demo.kafka_raw.${table}_dead_letter`,
      location: NodePath.join(root, "lakehouse", "demo", "kafka_raw", `${table}_dead_letter`)
    },
    partitionBy: [],
    writer: {},
    checkpointLocation: NodePath.join(root, "checkpoints", `Demo_${topic}`),
    kafka: { bootstrapServers: "in-memory", securityProtocol: "PLAINTEXT", topicPrefix: "", groupIdPrefix: "kafka-delta-demo" },
    schemaRegistry: { url: "in-memory" },
    secrets: { scope: "demo", provider: "env" },
    stream: {
      trigger: options.trigger,
      startingOffsets: "earliest",
      failOnDataLoss: true,
      maxBatchRecords: options.maxBatchRecords,
      maxBatchBytes: 64 * 1024 * 1024,
      maxBatchInterval: Duration.seconds(2),
      onBadRecord: "dead-letter",
      retry: { initialDelay: Duration.millis(100), maxDelay: Duration.seconds(5), maxAttempts: 5 },
      gracePeriod: Duration.seconds(10)
    }
  }
}

/** Fills an in-memory Kafka and registry with the demo's events: `records` good ones and three poison records. */
export const demoSource = (options: DemoOptions) => {
  const kafka = new KafkaMemory.MemoryKafka()
  const registry = new RegistryMemory.MemoryRegistry()
  const schemaId = registry.register("orders-value", JSON.stringify(demoEventSchema))
  kafka.createTopic("orders", options.partitions)
  for (let i = 0; i < options.records; i++) {
    const event = demoEvent(42, i)
    kafka.produce("orders", i % options.partitions, {
      key: Buffer.from(event.customer_id),
      value: encodeDemoEvent(schemaId, event),
      timestamp: event.created_at
    })
  }
  kafka.produce("orders", 0, { value: Buffer.from("not avro at all") })
  kafka.produce("orders", 1 % options.partitions, { value: encodeDemoEvent(schemaId + 1000, demoEvent(42, 0)) })
  kafka.produce("orders", 2 % options.partitions, { value: encodeDemoEvent(schemaId, demoEvent(42, 1)).subarray(0, 12) })
  return { kafka, registry, schemaId }
}

/** The layers the demo runs on. */
export const demoLayers = (options: DemoOptions) => {
  const { kafka, registry } = demoSource(options)
  const job = demoJob(options)
  return Layer.mergeAll(
    ConfigMemory.layer(job),
    KafkaMemory.layer(kafka, { maxRecordsPerFetch: 2000 }),
    RegistryMemory.layer(registry),
    CheckpointStoreFile.layer(job.checkpointLocation),
    deltaSinkLayer
  )
}

/** The lines printed after the demo, telling how to look at the table. */
export const demoEpilogue = (options: DemoOptions): Effect.Effect<void> =>
  Effect.sync(() => {
    const job = demoJob(options)
    process.stdout.write(
      [
        `table:       ${job.table.location}`,
        `dead letters: ${job.deadLetterTable.location}`,
        `checkpoint:  ${job.checkpointLocation}`,
        "read it with delta-rs, e.g.:",
        `  python3 -c "import deltalake; t = deltalake.DeltaTable('${job.table.location}'); print(t.version(), t.to_pyarrow_table().num_rows)"`,
        "run the demo again: the table's txn versions make it read nothing twice.",
        ""
      ].join("\n")
    )
  })
