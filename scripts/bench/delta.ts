/**
 * Benchmark of the Delta writer (`npm run bench:delta`): writes N demo events (default 1,000,000; env N) in
 * batches (env BATCH, default 100,000) through the filesystem DeltaSink, one commit per batch, and reports rows/s
 * and MB/s of Parquet (append time only; building the Arrow batches is excluded), commit latency p50/p99 (the
 * whole append), peak RSS, as reports/delta-bench.json and one line of text. Env COMPRESSION=zstd|snappy.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import * as Arrow from "apache-arrow"
import { Effect } from "effect"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { demoEvent } from "../../src/demo/events.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"

const n = Number(process.env["N"] ?? 1_000_000)
const batchSize = Number(process.env["BATCH"] ?? 100_000)
const compression = process.env["COMPRESSION"] === "snappy" ? "snappy" : "zstd"

const f = (name: string, type: Arrow.DataType, nullable = false) => new Arrow.Field(name, type, nullable)
const schema = new Arrow.Schema([
  f("order_id", new Arrow.Int64()),
  f("customer_id", new Arrow.Utf8()),
  f("status", new Arrow.Utf8()),
  f("amount", new Arrow.Decimal(2, 18, 128)),
  f("currency", new Arrow.Utf8()),
  f("created_at", new Arrow.TimestampMicrosecond("UTC")),
  f("delivery_date", new Arrow.DateDay(), true),
  f("note", new Arrow.Utf8(), true),
  f("express", new Arrow.Bool()),
  f("quantity", new Arrow.Int32()),
  f("weight_kg", new Arrow.Float64()),
  f("tags", new Arrow.List(f("element", new Arrow.Utf8()))),
  f("shipping_address", new Arrow.Struct([f("street", new Arrow.Utf8()), f("city", new Arrow.Utf8()), f("zip", new Arrow.Utf8())])),
  f(
    "attributes",
    new Arrow.Map_(
      f("entries", new Arrow.Struct<any>([f("key", new Arrow.Utf8()), f("value", new Arrow.Utf8(), true)])) as Arrow.Field<Arrow.Struct<any>>
    )
  ),
  f("_kafka", new Arrow.Struct([
    f("topic", new Arrow.Utf8()),
    f("partition", new Arrow.Int32()),
    f("offset", new Arrow.Int64()),
    f("timestamp", new Arrow.TimestampMicrosecond("UTC")),
    f("key", new Arrow.Binary(), true)
  ]))
])

const batchOf = (from: number, to: number) =>
  tableOf(schema, Array.from({ length: to - from }, (_, i) => {
    const e = demoEvent(1, from + i)
    return {
      ...e,
      order_id: BigInt(e.order_id),
      amount: e.amountCents,
      created_at: BigInt(e.created_at) * 1000n,
      attributes: Object.entries(e.attributes),
      _kafka: { topic: "orders", partition: 0, offset: BigInt(from + i), timestamp: BigInt(e.created_at) * 1000n, key: null }
    }
  }))

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}

const program = Effect.gen(function*() {
  const location = fs.mkdtempSync(path.join(os.tmpdir(), "delta-bench-"))
  const sink = yield* DeltaSink
  const latencies: Array<number> = []
  let bytes = 0
  let busy = 0
  let version = 0
  for (let from = 0; from < n; from += batchSize) {
    const to = Math.min(n, from + batchSize)
    const batch = batchOf(from, to)
    const start = performance.now()
    const result = yield* sink.append({
      table: { name: "bench.orders", location },
      schema,
      data: [batch],
      partitionBy: [],
      txns: [{ appId: "bench-0", version: to, expected: from === 0 ? undefined : from }],
      operationParameters: { batchId: String(version) }
    })
    const elapsed = performance.now() - start
    latencies.push(elapsed)
    busy += elapsed
    bytes += result.bytes
    version = result.version
  }
  const report = {
    rows: n,
    batchSize,
    commits: version + 1,
    compression,
    rowsPerSecond: Math.round(n / (busy / 1000)),
    parquetMBPerSecond: Number((bytes / 1e6 / (busy / 1000)).toFixed(2)),
    parquetBytes: bytes,
    commitLatencyMs: { p50: Number(percentile(latencies, 50).toFixed(1)), p99: Number(percentile(latencies, 99).toFixed(1)) },
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    node: process.version,
    table: location
  }
  fs.mkdirSync("reports", { recursive: true })
  fs.writeFileSync("reports/delta-bench.json", JSON.stringify(report, null, 2))
  console.log(
    `delta-bench: ${n} rows in ${report.commits} commits (${compression}): ${report.rowsPerSecond} rows/s, ` +
      `${report.parquetMBPerSecond} MB/s Parquet, commit p50 ${report.commitLatencyMs.p50} ms p99 ${report.commitLatencyMs.p99} ms, ` +
      `peak RSS ${report.peakRssMB} MB`
  )
  fs.rmSync(location, { recursive: true, force: true })
}).pipe(Effect.provide(FilesystemSink.layer({ compression })))

Effect.runPromise(program)
