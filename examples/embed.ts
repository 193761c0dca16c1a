/**
 * Embedding kafka-delta in a larger Effect application: the job is built from a config value in code (no
 * environment file), `liveLayers(job)` (`kafka-delta/live`) provides the same services `kafka-delta run` uses —
 * kafkajs connected on the job's retry schedule, the registry over HTTP with its auth and TLS, the secrets
 * provider the job names, Delta tables and checkpoints on disk — and the stream runs as one fiber of the
 * application's program.
 *
 * Run it against the local services (`bash scripts/services.sh up`): `node examples/embed.ts [output-dir]`.
 * KAFKA_BOOTSTRAP and SCHEMA_REGISTRY_URL point it elsewhere. It produces 100 readings to a new topic (the schema
 * registered through the job's own registry service, each value framed with `encodeFrame`), drains them into a
 * table, and prints one JSON line with the run's summary.
 *
 * In an application, import from the package instead: `kafka-delta` and `kafka-delta/live`.
 */
// before kafkajs: the live kafkajs layer replaces kafkajs's record decoding when it is loaded first (see README)
import { liveLayers } from "../src/cli/live.ts"
import avro from "avsc"
import { Effect, Fiber } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { decodeEnvironmentFile, encodeFrame, resolveJob, runStream, SchemaRegistry, silentReporter } from "../src/index.ts"

const bootstrap = process.env["KAFKA_BOOTSTRAP"] ?? "127.0.0.1:9092"
const registryUrl = process.env["SCHEMA_REGISTRY_URL"] ?? "http://127.0.0.1:8081/apis/ccompat/v7"

const schema = {
  type: "record",
  name: "Reading",
  fields: [
    { name: "sensor", type: "string" },
    { name: "celsius", type: "double" },
    { name: "at", type: { type: "long", logicalType: "timestamp-millis" } }
  ]
}

/** The application's own producer: 100 readings over two partitions, Confluent-framed with `schemaId`. */
const produceReadings = (topic: string, schemaId: number) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ clientId: "embed-example", brokers: [bootstrap], logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
    await admin.disconnect()
    const type = avro.Type.forSchema(schema as avro.Schema)
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({
      topic,
      messages: Array.from({ length: 100 }, (_, i) => ({
        partition: i % 2,
        value: encodeFrame(schemaId, type.toBuffer({ sensor: `s${i % 5}`, celsius: 20 + i / 10, at: 1_767_225_600_000 + i }))
      }))
    })
    await producer.disconnect()
  })

const program = Effect.gen(function*() {
  const output = process.argv[2] ?? (yield* Effect.promise(() => Fs.mkdtemp(NodePath.join(Os.tmpdir(), "kafka-delta-embed-"))))
  const topic = `embed-readings-${Date.now()}`
  const file = decodeEnvironmentFile({
    environment: "Embedded",
    kafka: { bootstrapServers: bootstrap, securityProtocol: "PLAINTEXT", topicPrefix: "", groupIdPrefix: "embed" },
    schemaRegistry: { url: registryUrl },
    secrets: { scope: "embed", provider: "env" },
    delta: { warehouse: "lakehouse", catalog: "main", schema: "iot" },
    checkpoints: "checkpoints",
    stream: { startingOffsets: "earliest", failOnDataLoss: true, maxBatchRecords: 1000, maxBatchInterval: "1 second", onBadRecord: "fail" }
  })
  if (file._tag === "Failure") return yield* Effect.fail(new Error(JSON.stringify(file.failure)))
  const job = resolveJob(file.success, { topic, trigger: "available-now", source: "examples/embed.ts", baseDirectory: output })

  const run = Effect.gen(function*() {
    const registry = yield* SchemaRegistry
    yield* produceReadings(topic, yield* registry.register(`${topic}-value`, JSON.stringify(schema)))
    // the stream is one fiber among the application's others
    const fiber = yield* Effect.forkChild(runStream({ reporter: silentReporter }))
    return yield* Fiber.join(fiber)
  })
  const summary = yield* run.pipe(Effect.provide(liveLayers(job)))
  process.stdout.write(`${JSON.stringify({ topic, table: job.table.location, records: summary.records, batches: summary.batches })}\n`)
})

Effect.runPromise(program).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`)
  process.exitCode = 1
})
