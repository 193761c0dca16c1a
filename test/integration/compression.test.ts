/**
 * Compressed topics against the real local broker: records produced by confluent-kafka (librdkafka) with each
 * `compression.type` (gzip, snappy, lz4, zstd), and a topic whose batches mix all four, are read exactly once
 * with every value equal by each live KafkaSource (kafkajs and @platformatic/kafka); and the mixed topic goes
 * through the whole `kafka-delta` process into a Delta table that delta-rs reads back.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
// before kafkajs, as the live layer has it, so these tests read through the replaced record decoding
import { installed } from "../../layers/kafka/kafkajs-fast-records.ts"
import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { beforeAll } from "vitest"
import * as CheckpointStoreFile from "../../layers/checkpoint-store/filesystem.ts"
import * as ConfigFile from "../../layers/config/environment-file.ts"
import * as KafkajsSource from "../../layers/kafka/kafkajs.ts"
import * as PlatformaticSource from "../../layers/kafka/platformatic.ts"
import * as RegistryHttp from "../../layers/schema-registry/http.ts"
import { deltaSinkLayer, secretsLayer } from "../../src/cli/live.ts"
import { runStream } from "../../src/pipeline/stream.ts"
import type { KafkaSource, SourceEvent } from "../../src/services/KafkaSource.ts"
import { localEnvironment, python, readTable, root, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"
import { type ServicesEnv, servicesEnv } from "./support/services-env.ts"
import { appIdsOf, assertStreamedOnce } from "./support/streamed-table.ts"

let env: ServicesEnv
beforeAll(() => {
  env = servicesEnv()
})

const codecs = ["gzip", "snappy", "lz4", "zstd"] as const
type Codec = (typeof codecs)[number]

// Produces `count` plain values per codec run to `topic` (created with `partitions` partitions): value i of a run is
// "<codec>-<i>-" and compressible padding, record i goes to partition i % partitions. Several records per batch
// (linger), so every batch is really compressed.
const producerScript = `
import json, sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, topic, partitions, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
admin = AdminClient({"bootstrap.servers": bootstrap})
admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result()
errors = []
def report(err, msg):
    if err is not None:
        errors.append(str(err))
for run in runs:
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": run["codec"], "linger.ms": 20,
                         "enable.idempotence": True, "acks": "all"})
    for i in range(run["start"], run["start"] + run["count"]):
        value = f"{run['codec']}-{i}-" + "abcdefgh" * (i % 50)
        producer.produce(topic, key=str(i), value=value, partition=i % partitions, on_delivery=report)
        producer.poll(0)
    if producer.flush(60) != 0:
        errors.append("not flushed")
if errors:
    sys.exit("delivery failed: " + "; ".join(errors[:5]))
`

interface Run {
  readonly codec: Codec
  readonly start: number
  readonly count: number
}

const produceRuns = (topic: string, partitions: number, runs: ReadonlyArray<Run>) => {
  const result = spawnSync(python(), ["-c", producerScript, env.kafkaBootstrap, topic, String(partitions), JSON.stringify(runs)], {
    encoding: "utf8",
    timeout: 120_000
  })
  if (result.status !== 0) throw new Error(`producer failed: ${result.stderr}`)
}

/** The values the runs produced, per partition, in the order they were produced. */
const expectedValues = (partitions: number, runs: ReadonlyArray<Run>): Map<number, Array<string>> => {
  const values = new Map<number, Array<string>>()
  for (const run of runs) {
    for (let i = run.start; i < run.start + run.count; i++) {
      const list = values.get(i % partitions) ?? []
      list.push(`${run.codec}-${i}-${"abcdefgh".repeat(i % 50)}`)
      values.set(i % partitions, list)
    }
  }
  return values
}

const text = new TextDecoder()

/** The live layers, each as a scoped source on the local PLAINTEXT listener. */
const clients = {
  kafkajs: () => KafkajsSource.make({ brokers: env.kafkaBootstrap, groupIdPrefix: "kd-it-codecs" }),
  platformatic: () => PlatformaticSource.make({ brokers: env.kafkaBootstrap })
} as const
type Client = keyof typeof clients

/** Reads `topic` from the start until every partition reached its end; the values and offsets per partition. */
const readAll = (client: Client, topic: string) =>
  Effect.scoped(Effect.gen(function*() {
    const source: KafkaSource["Service"] = yield* clients[client]()
    const ends = yield* source.offsets(topic)
    const next = new Map<number, number>()
    const values = new Map<number, Array<string>>()
    const offsets = new Map<number, Array<number>>()
    const done = () => ends.every((range) => (next.get(range.partition) ?? 0) >= range.latest)
    yield* source.consume({ topic, start: new Map(), otherwise: "earliest", drain: true }).pipe(
      Stream.takeUntil((event: SourceEvent) => {
        assert.strictEqual(event._tag, "RecordsFetched")
        if (event._tag === "RecordsFetched") {
          next.set(event.partition, event.nextOffset)
          for (const record of event.records) {
            values.set(event.partition, [...(values.get(event.partition) ?? []), text.decode(record.value!)])
            offsets.set(event.partition, [...(offsets.get(event.partition) ?? []), record.offset])
          }
        }
        return done()
      }),
      Stream.runDrain,
      Effect.timeout("60 seconds")
    )
    return { values, offsets, ends }
  }))

const checkExactlyOnce = (client: Client, topic: string, partitions: number, runs: ReadonlyArray<Run>) =>
  Effect.gen(function*() {
    const read = yield* readAll(client, topic)
    if (client === "kafkajs") assert.strictEqual(installed(), "installed") // kafka-delta's record decoding, as in a run
    const expected = expectedValues(partitions, runs)
    for (let p = 0; p < partitions; p++) {
      assert.deepStrictEqual(read.values.get(p), expected.get(p), `values of partition ${p}`)
      const offsets = read.offsets.get(p) ?? []
      assert.strictEqual(new Set(offsets).size, offsets.length, `no offset twice in partition ${p}`)
    }
  })

type Produced = Array<{ partition: number; offset: number; value: Record<string, unknown> }>

/** Produces Avro records to a fresh 2-partition topic with each codec in turn (produce_avro.py, confluent-kafka). */
const produceMixedAvro = (prefix: string): { dir: string; topic: string; produced: Produced } => {
  const dir = tempDir(prefix)
  const topic = `${prefix.replace(/-/g, "_")}_${randomUUID().slice(0, 8)}`
  const schema = {
    type: "record",
    name: "Reading",
    namespace: "it",
    fields: [{ name: "id", type: "long" }, { name: "sensor", type: "string" }, { name: "value", type: "double" }]
  }
  const schemaFile = NodePath.join(dir, "reading.avsc")
  Fs.writeFileSync(schemaFile, JSON.stringify(schema))
  const produced: Produced = []
  codecs.forEach((codec, run) => {
    const summaryFile = NodePath.join(dir, `produced-${codec}.json`)
    const result = spawnSync(python(), [
      NodePath.join(root, "scripts/produce_avro.py"),
      "--topic", topic,
      "--schema", schemaFile,
      "--count", "120",
      "--start", String(run * 120),
      "--partitions", "2",
      "--compression", codec,
      "--include-values",
      "--summary", summaryFile
    ], { encoding: "utf8", timeout: 120_000 })
    if (result.status !== 0) throw new Error(`producer failed: ${result.stderr}`)
    produced.push(...(JSON.parse(Fs.readFileSync(summaryFile, "utf8")) as { records: Produced }).records)
  })
  return { dir, topic, produced }
}

/** The table of `topic` under `dir` as delta-rs reads it holds every produced record once, value for value. */
const checkTable = (dir: string, topic: string, produced: Produced) =>
  assertStreamedOnce(readTable(NodePath.join(dir, "lakehouse", "it", "raw", topic), appIdsOf(topic, 2)), topic, produced, 2, (record, row) => {
    assert.strictEqual(row["id"], String(record.value["id"]))
    assert.strictEqual(row["sensor"], record.value["sensor"])
    assert.strictEqual(Number(row["value"]), record.value["value"])
  })

describe("compressed topics (integration, confluent-kafka producers, local broker)", () => {
  for (const codec of codecs) {
    it.live(`a ${codec} topic is read exactly once with every value equal, by each client`, () =>
      Effect.gen(function*() {
        const topic = `kd-it-${codec}-${randomUUID().slice(0, 8)}`
        const runs = [{ codec, start: 0, count: 900 }]
        produceRuns(topic, 3, runs)
        yield* checkExactlyOnce("kafkajs", topic, 3, runs)
        yield* checkExactlyOnce("platformatic", topic, 3, runs)
      }), 90_000)
  }

  it.live("a topic whose batches mix all four codecs is read exactly once with every value equal, by each client", () =>
    Effect.gen(function*() {
      const topic = `kd-it-mixed-${randomUUID().slice(0, 8)}`
      const runs = [...codecs, ...codecs].map((codec, i) => ({ codec, start: i * 150, count: 150 }))
      produceRuns(topic, 2, runs)
      yield* checkExactlyOnce("kafkajs", topic, 2, runs)
      yield* checkExactlyOnce("platformatic", topic, 2, runs)
    }), 90_000)

  it("the whole process streams a topic of mixed codecs into a Delta table, every value equal (delta-rs)", () => {
    const { dir, topic, produced } = produceMixedAvro("codecs")
    const environments = writeEnvironment(dir, "It", localEnvironment(dir))
    const run = runCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now"])
    assert.strictEqual(run.status, 0, run.stderr)
    checkTable(dir, topic, produced)
  }, 180_000)

  it.live("the pipeline on the @platformatic/kafka layer streams a topic of mixed codecs into a Delta table (delta-rs)", () =>
    Effect.gen(function*() {
      const { dir, topic, produced } = produceMixedAvro("codecs-plt")
      const environmentsDir = writeEnvironment(dir, "It", localEnvironment(dir))
      const config = ConfigFile.layer({ environmentsDir, environment: "It", topic, trigger: "available-now" })
      const layers = Layer.mergeAll(
        PlatformaticSource.layerConfig,
        RegistryHttp.layerConfig,
        CheckpointStoreFile.layerConfig,
        deltaSinkLayer
      ).pipe(Layer.provideMerge(Layer.provideMerge(secretsLayer, config)))
      yield* runStream().pipe(Effect.provide(layers), Effect.timeout("90 seconds"))
      checkTable(dir, topic, produced)
    }), 180_000)
})
