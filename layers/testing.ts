/**
 * The in-memory layers, for users' own tests: a Kafka with partitions, gaps and retention, a schema registry,
 * Delta tables, checkpoints, secrets and a config given as a value. Import from `kafka-delta/testing`.
 *
 * `testJob`, `produceAvro` and `testLayers` keep a unit test of a pipeline to a few lines: a job that needs no
 * brokers or registry URLs, Avro records produced Confluent-framed, and every service in memory.
 */
import avro from "avsc"
import { Duration, Layer } from "effect"
import { encodeFrame } from "../src/avro/framing.ts"
import { tableNameOf } from "../src/config/job.ts"
import type { CheckpointStore } from "../src/services/CheckpointStore.ts"
import type { Config, JobConfig, StreamOptions } from "../src/services/Config.ts"
import type { DeltaSink } from "../src/services/DeltaSink.ts"
import type { KafkaSource } from "../src/services/KafkaSource.ts"
import type { SchemaRegistry } from "../src/services/SchemaRegistry.ts"
import * as CheckpointStoreMemory from "./checkpoint-store/memory.ts"
import * as ConfigMemory from "./config/memory.ts"
import * as DeltaSinkMemory from "./delta-sink/memory.ts"
import * as KafkaMemory from "./kafka/memory.ts"
import * as SchemaRegistryMemory from "./schema-registry/memory.ts"

export * as CheckpointStoreMemory from "./checkpoint-store/memory.ts"
export * as ConfigMemory from "./config/memory.ts"
export * as DeltaSinkMemory from "./delta-sink/memory.ts"
export * as DeltaSinkMemoryStorage from "./delta-sink/memory-storage.ts"
export * as KafkaMemory from "./kafka/memory.ts"
export * as SchemaRegistryMemory from "./schema-registry/memory.ts"
export * as SecretsMemory from "./secrets/memory.ts"

/** What a test job may set; everything else takes the in-memory defaults. */
export interface TestJobOptions {
  /** The Kafka topic read (no prefix). */
  readonly topic: string
  /** Where the table lives: a key of the in-memory Delta, or a directory with the filesystem DeltaSink. */
  readonly table?: string
  readonly partitionBy?: ReadonlyArray<string>
  readonly stream?: Partial<StreamOptions>
}

/**
 * A job for the in-memory layers: environment `Test`, table at `memory/<topic>`, available-now (the run drains
 * what was produced and ends), earliest offsets, small batches and short retries.
 */
export const testJob = (options: TestJobOptions): JobConfig => {
  const name = tableNameOf(options.topic)
  const location = options.table ?? `memory/${name}`
  return {
    environment: "Test",
    source: "testJob",
    topic: options.topic,
    kafkaTopic: options.topic,
    streamId: `Test_${options.topic}`,
    table: { name: `test.kafka_raw.${name}`, location },
    deadLetterTable: { name: `test.kafka_raw.${name}_dead_letter`, location: `${location}_dead_letter` },
    partitionBy: options.partitionBy ?? [],
    writer: {},
    checkpointLocation: `memory/checkpoints/Test_${options.topic}`,
    kafka: { bootstrapServers: "in-memory", securityProtocol: "PLAINTEXT", topicPrefix: "", groupIdPrefix: "test" },
    schemaRegistry: { url: "in-memory" },
    secrets: { scope: "test", provider: "env" },
    stream: {
      trigger: "available-now",
      startingOffsets: "earliest",
      failOnDataLoss: true,
      maxBatchRecords: 1000,
      maxBatchBytes: 16 * 1024 * 1024,
      maxBatchInterval: Duration.millis(50),
      onBadRecord: "fail",
      retry: { initialDelay: Duration.millis(5), maxDelay: Duration.millis(50), maxAttempts: 3 },
      gracePeriod: Duration.seconds(1),
      ...options.stream
    }
  }
}

/** What `produceAvro` writes and where. */
export interface ProduceAvroOptions {
  readonly kafka: KafkaMemory.MemoryKafka
  readonly registry: SchemaRegistryMemory.MemoryRegistry
  readonly topic: string
  /** The writer schema, as an object or its JSON text; registered under `<topic>-value`. */
  readonly schema: object | string
  /** Records as avsc takes them (a `long` as a number, `bytes` as a Buffer, a union branch as its value). */
  readonly records: ReadonlyArray<unknown>
  /** Partitions of the topic when it does not exist yet (default 1); records go round-robin over them. */
  readonly partitions?: number
  /** The record's key, if any. */
  readonly key?: (record: unknown, index: number) => Uint8Array | null
}

/**
 * Registers the schema in the in-memory registry and produces the records Confluent-framed (magic byte 0, the
 * 4-byte schema id, the Avro body) to the in-memory Kafka; returns the schema id and each record's place.
 */
export const produceAvro = (options: ProduceAvroOptions): { readonly schemaId: number; readonly produced: ReadonlyArray<{ readonly partition: number; readonly offset: number }> } => {
  const text = typeof options.schema === "string" ? options.schema : JSON.stringify(options.schema)
  const schemaId = options.registry.register(`${options.topic}-value`, text)
  const type = avro.Type.forSchema(JSON.parse(text) as avro.Schema)
  options.kafka.createTopic(options.topic, options.partitions ?? 1)
  const partitions = options.kafka.partitionCount(options.topic)
  const produced = options.records.map((record, index) => {
    const partition = index % partitions
    const value = encodeFrame(schemaId, type.toBuffer(record))
    const offset = options.kafka.produce(options.topic, partition, { value, key: options.key?.(record, index) ?? null })
    return { partition, offset }
  })
  return { schemaId, produced }
}

/** The in-memory state a test run reads and writes; what is not given starts empty. */
export interface TestState {
  readonly kafka: KafkaMemory.MemoryKafka
  readonly registry: SchemaRegistryMemory.MemoryRegistry
  readonly delta?: DeltaSinkMemory.MemoryDelta
  readonly checkpoint?: CheckpointStoreMemory.MemoryCheckpoint
}

/** Every service `runStream` needs, in memory, for `job`. */
export const testLayers = (
  job: JobConfig,
  state: TestState
): Layer.Layer<Config | KafkaSource | SchemaRegistry | DeltaSink | CheckpointStore> =>
  Layer.mergeAll(
    ConfigMemory.layer(job),
    KafkaMemory.layer(state.kafka),
    SchemaRegistryMemory.layer(state.registry),
    DeltaSinkMemory.layer(state.delta ?? new DeltaSinkMemory.MemoryDelta()),
    CheckpointStoreMemory.layer(state.checkpoint)
  )
