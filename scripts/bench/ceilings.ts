/**
 * The ceilings of `npm run bench`, measured in this one process on the benchmark's data, so the report shows
 * where kafka-delta's time goes:
 * - decode only: avsc decode of every framed value to objects, results dropped (the pipeline's fallback path,
 *   for writers whose types differ from the batch columns);
 * - decode + columns: `decodeInto` a BatchBuilder (the direct decoder: bytes straight into columns, the
 *   pipeline's path), `finish()` to Arrow;
 * - decode + columns + Parquet + stats: also conformed to the table schema, encoded by parquet-wasm (snappy, as
 *   the sink does) and described by Delta stats, in batches like the pipeline's (no Kafka, no file I/O);
 * - kafkajs fetch: a consumer with the source's fetch settings reading the topic from the start, records dropped
 *   (with the record decoding of layers/kafka/kafkajs-fast-records.ts, as the live layer has it);
 * - KafkaSource stream: the live layer's `consume` (kafkajs plus our positions/backpressure), events dropped.
 * Each stage: wall seconds and CPU seconds of this process. Prints one JSON line: { rows: [...] }.
 *
 * Run alone: node scripts/bench/ceilings.ts --n=1000000 [--topic=<a bench topic>] [--batch=250000]
 */
import { Effect, Stream } from "effect"
// before kafkajs, as in the live layer: the fetch ceiling is kafkajs with kafka-delta's record decoding
import "../../layers/kafka/kafkajs-fast-records.ts"
import { Kafka, logLevel } from "kafkajs"
import * as Fs from "node:fs"
import * as KafkaJs from "../../layers/kafka/kafkajs.ts"
import { BatchBuilder, decodeInto, type KafkaMeta, makeDecoder } from "../../src/avro/index.ts"
import { demoEventSchema } from "../../src/demo/events.ts"
import { writeParquetFiles } from "../../src/delta/parquet.ts"
import { deltaSchemaOf } from "../../src/delta/schema.ts"
import { computeStats } from "../../src/delta/stats.ts"
import { conformSegment } from "../../src/delta/write-files.ts"
import { KafkaSource } from "../../src/services/KafkaSource.ts"
import { ensureBodies } from "./data.ts"

const args = new Map(process.argv.slice(2).map((arg) => {
  const [key, ...rest] = arg.replace(/^--/, "").split("=")
  return [key!, rest.join("=")] as const
}))
const N = Number(args.get("n") ?? 1_000_000)
const BATCH = Number(args.get("batch") ?? 250_000)
const topic = args.get("topic")
const bootstrap = process.env["KAFKA_BOOTSTRAP"] ?? "127.0.0.1:9092"
const SCHEMA_ID = 1

interface Row {
  readonly stage: string
  readonly records: number
  readonly seconds: number
  readonly cpuSeconds: number
  readonly mbPerSecond: number
  note?: string
}
const rows: Array<Row> = []
const log = (line: string) => process.stderr.write(`[ceilings] ${line}\n`)

const timed = async (stage: string, records: number, bytes: number, run: () => unknown, note?: string) => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  await run()
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  const row = { stage, records, seconds, cpuSeconds: (used.user + used.system) / 1e6, mbPerSecond: bytes / 1e6 / seconds, ...(note === undefined ? {} : { note }) }
  rows.push(row)
  log(`${stage}: ${Math.round(records / seconds).toLocaleString("en")} rec/s, ${Math.round(records / row.cpuSeconds).toLocaleString("en")} rec/CPU-s`)
}

// frames as subarrays of one buffer, like the buffers a Kafka client hands over
const bodies = await ensureBodies(N)
const raw = Fs.readFileSync(bodies.file)
const whole = Buffer.allocUnsafe(bodies.bytes + 5 * N)
const frames: Array<Buffer> = new Array(N)
for (let i = 0, p = 0, q = 0; i < N; i++) {
  const length = raw.readUInt32LE(p)
  p += 4
  whole[q] = 0
  whole.writeInt32BE(SCHEMA_ID, q + 1)
  raw.copy(whole, q + 5, p, p + length)
  frames[i] = whole.subarray(q, q + 5 + length)
  p += length
  q += 5 + length
}
const frameBytes = whole.length
const decoder = makeDecoder(SCHEMA_ID, demoEventSchema)
if (!("decode" in decoder)) throw decoder
const key = Buffer.from("1234567")
const metas: Array<KafkaMeta> = frames.map((_, i) => ({ topic: "bench", partition: i % 6, offset: i, timestamp: 1_767_225_600_000 + i, key }))

const decodeOnly = () => {
  for (let i = 0; i < N; i++) {
    const value = decoder.decode(frames[i]!, 5)
    if (value instanceof Error) throw value
  }
}
const toColumns = (onBatch: (builder: BatchBuilder) => void) => {
  let builder = new BatchBuilder(decoder.arrowSchema)
  for (let i = 0; i < N; i++) {
    const error = decodeInto(builder, decoder, frames[i]!, metas[i]!)
    if (error !== undefined) throw error
    if (builder.rowCount >= BATCH || i === N - 1) {
      onBatch(builder)
      builder = new BatchBuilder(decoder.arrowSchema)
    }
  }
}
const deltaSchema = deltaSchemaOf(decoder.arrowSchema)
let parquetBytes = 0
const toParquet = (builder: BatchBuilder) => {
  const table = conformSegment(builder.finish(), deltaSchema)
  for (const file of writeParquetFiles(table, { compression: "snappy", targetFileSize: 128 * 1024 * 1024 })) {
    parquetBytes += file.bytes.length
    computeStats(file.table, deltaSchema)
  }
}

decodeOnly() // warm the JIT the way a long run is warm
await timed("decode only (avsc to objects, the fallback path)", N, frameBytes, decodeOnly)
await timed("decode + columns (direct decoder, finish)", N, frameBytes, () => toColumns((b) => b.finish()))
toColumns(toParquet)
parquetBytes = 0
await timed("decode + columns + Parquet (snappy) + stats", N, frameBytes, () => toColumns(toParquet), `batches of ${BATCH.toLocaleString("en")}; all on this thread`)
rows.at(-1)!.note += `; ${(parquetBytes / 1e6).toFixed(0)} MB of Parquet`

if (topic !== undefined) {
  const kafka = new Kafka({ brokers: [bootstrap], clientId: "kafka-delta-ceilings", logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const total = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0)
  const fetch = async () => {
    const consumer = kafka.consumer({
      groupId: `kafka-delta-ceilings-${process.pid}-${Date.now()}`,
      maxBytes: 32 * 1024 * 1024,
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxWaitTimeInMs: 500
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let seen = 0
    let bytes = 0
    await new Promise<void>((resolve, reject) => {
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) bytes += message.value?.length ?? 0
          seen += batch.messages.length
          if (seen >= total) resolve()
        }
      }).catch(reject)
    })
    await consumer.disconnect()
    return bytes
  }
  await timed("kafkajs fetch, records dropped", total, frameBytes * (total / N), fetch, "from the local broker, includes group join (~3 s)")
  const source = async () => {
    const program = Effect.gen(function*() {
      const kafkaSource = yield* KafkaSource
      let seen = 0
      yield* kafkaSource.consume({ topic, start: new Map(offsets.map((o) => [o.partition, Number(o.low)])), otherwise: "earliest" }).pipe(
        Stream.takeUntil((event) => {
          if (event._tag === "RecordsFetched") seen += event.records.length
          return seen >= total
        }),
        Stream.runDrain
      )
    })
    await Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(KafkaJs.layer({ brokers: bootstrap }))))
  }
  await timed("KafkaSource (kafkajs layer) stream, events dropped", total, frameBytes * (total / N), source, "our consume loop: positions, pause/resume, queue")
}

process.stdout.write(`${JSON.stringify({ n: N, batch: BATCH, rows })}\n`)
process.exit(0)
