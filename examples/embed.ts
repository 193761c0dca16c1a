/**
 * Embedding kafka-delta in a larger Effect application: the job is built from a config value in code (no
 * environment file), the application provides its own layers — here an in-memory Kafka and registry holding a
 * few events, Delta tables and checkpoints on disk — and runs the stream as one fiber of its own program.
 *
 * Run it: `node examples/embed.ts [output-dir]`. It prints one JSON line with the run's summary.
 */
import { Effect, Fiber, Layer } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as NodePath from "node:path"
import * as CheckpointStoreFile from "../layers/checkpoint-store/filesystem.ts"
import * as ConfigMemory from "../layers/config/memory.ts"
import * as DeltaSinkFile from "../layers/delta-sink/filesystem.ts"
import * as KafkaMemory from "../layers/kafka/memory.ts"
import * as RegistryMemory from "../layers/schema-registry/memory.ts"
import { decodeEnvironmentFile, resolveJob, runStream, silentReporter } from "../src/index.ts"

const schema = {
  type: "record",
  name: "Reading",
  fields: [
    { name: "sensor", type: "string" },
    { name: "celsius", type: "double" },
    { name: "at", type: { type: "long", logicalType: "timestamp-millis" } }
  ]
}

const program = Effect.gen(function*() {
  const output = process.argv[2] ?? (yield* Effect.promise(() => Fs.mkdtemp(NodePath.join(Os.tmpdir(), "kafka-delta-embed-"))))
  const file = decodeEnvironmentFile({
    environment: "Embedded",
    kafka: { bootstrapServers: "in-memory", securityProtocol: "PLAINTEXT", topicPrefix: "", groupIdPrefix: "embed" },
    schemaRegistry: { url: "in-memory" },
    secrets: { scope: "embed", provider: "env" },
    delta: { warehouse: "lakehouse", catalog: "main", schema: "iot" },
    checkpoints: "checkpoints",
    stream: { startingOffsets: "earliest", failOnDataLoss: true, maxBatchRecords: 1000, maxBatchInterval: "1 second", onBadRecord: "fail" }
  })
  if (file._tag === "Failure") return yield* Effect.fail(new Error(JSON.stringify(file.failure)))
  const job = resolveJob(file.success, { topic: "readings", trigger: "available-now", source: "examples/embed.ts", baseDirectory: output })

  // the application's own source of records
  const kafka = new KafkaMemory.MemoryKafka()
  const registry = new RegistryMemory.MemoryRegistry()
  kafka.createTopic("readings", 2)
  const id = registry.register("readings-value", JSON.stringify(schema))
  const avsc = (yield* Effect.promise(() => import("avsc"))).default
  const type = avsc.Type.forSchema(schema as never)
  for (let i = 0; i < 100; i++) {
    const body = type.toBuffer({ sensor: `s${i % 5}`, celsius: 20 + i / 10, at: 1_767_225_600_000 + i })
    const value = Buffer.concat([Buffer.from([0, 0, 0, 0, id]), body])
    kafka.produce("readings", i % 2, { value })
  }

  const services = Layer.mergeAll(
    ConfigMemory.layer(job),
    KafkaMemory.layer(kafka),
    RegistryMemory.layer(registry),
    DeltaSinkFile.layer(),
    CheckpointStoreFile.layer(job.checkpointLocation)
  )
  // the stream is one fiber among the application's others
  const fiber = yield* Effect.forkChild(runStream({ reporter: silentReporter }).pipe(Effect.provide(services)))
  const summary = yield* Fiber.join(fiber)
  process.stdout.write(`${JSON.stringify({ table: job.table.location, records: summary.records, batches: summary.batches })}\n`)
})

Effect.runPromise(program).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`)
  process.exitCode = 1
})
