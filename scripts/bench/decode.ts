/**
 * Micro benchmark of the Avro hot path: N demo events (default 500k, env N) framed Confluent-style, decoded with
 * `decodeInto` into one BatchBuilder (the direct decoder), then `finish()`ed into an Arrow Table. Not a test; prints one line.
 * Run: node scripts/bench/decode.ts   (Node 24 from node_modules/.bin)
 */
import { BatchBuilder, decodeInto, type KafkaMeta, makeDecoder } from "../../src/avro/index.ts"
import { demoEvent, demoEventSchema, encodeDemoEvent } from "../../src/demo/events.ts"

const N = Number(process.env["N"] ?? 500_000)
const SCHEMA_ID = 1

const decoder = makeDecoder(SCHEMA_ID, demoEventSchema)
if (!("decode" in decoder)) throw decoder

const frames: Array<Buffer> = new Array(N)
let bytes = 0
for (let i = 0; i < N; i++) {
  frames[i] = encodeDemoEvent(SCHEMA_ID, demoEvent(42, i))
  bytes += frames[i]!.length
}
const key = Buffer.from("order-key")
const metas: Array<KafkaMeta> = frames.map((_, i) => ({ topic: "orders", partition: 0, offset: i, timestamp: 1_767_225_600_000 + i, key }))

const run = () => {
  const builder = new BatchBuilder(decoder.arrowSchema)
  const start = performance.now()
  const cpu = process.cpuUsage()
  for (let i = 0; i < N; i++) {
    const error = decodeInto(builder, decoder, frames[i]!, metas[i]!)
    if (error !== undefined) throw error
  }
  const decoded = performance.now()
  const table = builder.finish()
  const end = performance.now()
  const used = process.cpuUsage(cpu)
  if (table.numRows !== N) throw new Error(`expected ${N} rows, got ${table.numRows}`)
  return { ms: end - start, decodeMs: decoded - start, finishMs: end - decoded, cpuS: (used.user + used.system) / 1e6 }
}

const warm = run()
const hot = run()
const report = (r: typeof warm) =>
  `${Math.round(N / (r.ms / 1000)).toLocaleString("en")} rec/s (${(bytes / 1e6 / (r.ms / 1000)).toFixed(1)} MB/s, decode ${r.decodeMs.toFixed(0)} ms + finish ${r.finishMs.toFixed(0)} ms, ${Math.round(N / r.cpuS).toLocaleString("en")} rec/CPU-s)`
console.log(`records: ${N}, avg frame ${(bytes / N).toFixed(0)} B`)
console.log(`cold: ${report(warm)}`)
console.log(`warm: ${report(hot)}`)
console.log(`peak RSS: ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`)
