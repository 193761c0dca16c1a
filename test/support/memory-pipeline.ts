/**
 * A test harness for the pipeline on the in-memory layers: a job, an in-memory Kafka, registry, Delta and
 * checkpoint that survive across runs (so a "restart" sees what the previous run left), and helpers to produce
 * demo events and read back which offsets the table holds.
 */
import { Duration, Effect, Layer, Stream } from "effect"
import * as CheckpointMemory from "../../layers/checkpoint-store/memory.ts"
import * as ConfigMemory from "../../layers/config/memory.ts"
import * as DeltaMemory from "../../layers/delta-sink/memory.ts"
import * as KafkaMemory from "../../layers/kafka/memory.ts"
import * as RegistryMemory from "../../layers/schema-registry/memory.ts"
import * as Testing from "../../layers/testing.ts"
import { demoEvent, demoEventSchema, encodeDemoEvent } from "../../src/demo/events.ts"
import { avroCodec } from "../../src/pipeline/avro-codec.ts"
import { type RunOptions, runStream } from "../../src/pipeline/stream.ts"
import type { JobConfig, StreamOptions } from "../../src/services/Config.ts"
import { DeltaSink, type DeltaStorageError } from "../../src/services/DeltaSink.ts"
import { type ConsumeRequest, KafkaSource, type KafkaUnavailableError } from "../../src/services/KafkaSource.ts"

/**
 * A job on topic `orders` with small batches: the exported `testJob` with a topic prefix (`test.orders` in Kafka)
 * and the tables and checkpoint under `/mem`.
 */
export const testJob = (stream: Partial<StreamOptions> = {}): JobConfig => {
  const job = Testing.testJob({
    topic: "orders",
    table: "/mem/orders",
    stream: {
      maxBatchRecords: 250,
      maxBatchBytes: 64 * 1024 * 1024,
      retry: { initialDelay: Duration.millis(5), maxDelay: Duration.millis(20), maxAttempts: 3 },
      ...stream
    }
  })
  return {
    ...job,
    source: "test",
    kafkaTopic: "test.orders",
    table: { ...job.table, name: "test.raw.orders" },
    deadLetterTable: { ...job.deadLetterTable, name: "test.raw.orders_dead_letter" },
    checkpointLocation: "/mem/checkpoints/Test_orders",
    kafka: { ...job.kafka, topicPrefix: "test.", groupIdPrefix: "t" }
  }
}

/** Everything a test run uses, kept across runs. */
export class World {
  readonly kafka = new KafkaMemory.MemoryKafka()
  readonly registry = new RegistryMemory.MemoryRegistry()
  readonly delta = new DeltaMemory.MemoryDelta()
  checkpoint = CheckpointMemory.empty()
  /** Every consume request the runs made, in order. */
  readonly consumeRequests: Array<ConsumeRequest> = []
  /** Records the source has handed to the runs so far. */
  recordsDelivered = 0
  /** Runs before every append to the table (a test can hold commits, or fail them, with it). */
  beforeAppend: Effect.Effect<void, DeltaStorageError> = Effect.void
  /** Runs before each source event is handed on (a test can make the source fail with it). */
  beforeEvent: Effect.Effect<void, KafkaUnavailableError> = Effect.void
  /** The sink's compaction (auto-compaction), absent as in the in-memory sink unless a test sets it. */
  compact: DeltaSink["Service"]["compact"] = undefined
  /** Records per fetch of one partition. */
  fetchSize = 100
  readonly schemaId: number
  /** What was produced, by partition: offset -> order_id (undefined for poison records). */
  readonly produced = new Map<number, Map<number, number | undefined>>()
  private nextIndex = 0

  readonly topic: string

  constructor(partitions = 3, topic = "test.orders") {
    this.topic = topic
    this.kafka.createTopic(topic, partitions)
    this.schemaId = this.registry.register(`${topic}-value`, JSON.stringify(demoEventSchema))
  }

  /** Produces `count` demo events round-robin over the partitions (or all to `partition`). */
  produce(count: number, options: { gapEvery?: number; partition?: number } = {}): void {
    const partitions = this.kafka.partitionCount(this.topic)
    for (let i = 0; i < count; i++) {
      const index = this.nextIndex++
      const event = demoEvent(7, index)
      const partition = options.partition ?? index % partitions
      const offset = this.kafka.produce(this.topic, partition, {
        key: Buffer.from(event.customer_id),
        value: encodeDemoEvent(this.schemaId, event),
        timestamp: event.created_at,
        ...(options.gapEvery !== undefined && index % options.gapEvery === 0 ? { gapBefore: 3 } : {})
      })
      this.record(partition, offset, event.order_id)
    }
  }

  /** Deletes and recreates the topic (offsets start again at 0); forgets what was produced. */
  recreateTopic(): void {
    this.kafka.recreateTopic(this.topic, this.kafka.partitionCount(this.topic))
    this.produced.clear()
  }

  /** Produces a raw value to one partition (poison records). */
  produceRaw(partition: number, value: Uint8Array | null): number {
    const offset = this.kafka.produce(this.topic, partition, { value })
    this.record(partition, offset, undefined)
    return offset
  }

  private record(partition: number, offset: number, orderId: number | undefined) {
    const map = this.produced.get(partition) ?? new Map<number, number | undefined>()
    map.set(offset, orderId)
    this.produced.set(partition, map)
  }

  /** The layers of one run. */
  layers(job: JobConfig) {
    return Layer.mergeAll(
      ConfigMemory.layer(job),
      Layer.succeed(KafkaSource, this.recordingSource()),
      RegistryMemory.layer(this.registry),
      Layer.succeed(DeltaSink, this.holdableSink()),
      CheckpointMemory.layer(this.checkpoint)
    )
  }

  private holdableSink(): DeltaSink["Service"] {
    const sink = DeltaMemory.make(this.delta)
    return DeltaSink.of({
      ...sink,
      append: (request) => Effect.andThen(Effect.suspend(() => this.beforeAppend), sink.append(request)),
      ...(this.compact === undefined ? {} : { compact: this.compact })
    })
  }

  private recordingSource(): KafkaSource["Service"] {
    const source = KafkaMemory.make(this.kafka, { maxRecordsPerFetch: this.fetchSize, idlePoll: "2 millis" })
    return KafkaSource.of({
      ...source,
      consume: (request) => {
        this.consumeRequests.push(request)
        return source.consume(request).pipe(Stream.tap((event) =>
          Effect.andThen(
            Effect.suspend(() => this.beforeEvent),
            Effect.sync(() => {
              if (event._tag === "RecordsFetched") this.recordsDelivered += event.records.length
            })
          )
        ))
      }
    })
  }

  /** Runs the job once (to the end for available-now). */
  run(job: JobConfig, options: Partial<RunOptions> = {}) {
    return runStream({ codec: avroCodec, ...options }).pipe(Effect.provide(this.layers(job)))
  }

  /** `(partition, offset)` of every row in `location`, as `p:o` strings, in table order. */
  offsetsIn(location: string): Array<string> {
    return this.delta.rows(location).map((row) => {
      const kafka = row["_kafka"] as { partition: number; offset: bigint | number }
      return `${kafka.partition}:${Number(kafka.offset)}`
    })
  }

  /** `p:o` of every good record produced. */
  goodOffsets(): Array<string> {
    return [...this.produced].flatMap(([partition, offsets]) =>
      [...offsets].filter(([, orderId]) => orderId !== undefined).map(([offset]) => `${partition}:${offset}`)
    )
  }
}

/** Sorted copy, for comparing offset sets. */
export const sorted = (values: ReadonlyArray<string>): Array<string> => [...values].sort()

/** The values that occur more than once. */
export const duplicates = (values: ReadonlyArray<string>): Array<string> => {
  const seen = new Set<string>()
  const twice = new Set<string>()
  for (const value of values) (seen.has(value) ? twice : seen).add(value)
  return [...twice]
}
