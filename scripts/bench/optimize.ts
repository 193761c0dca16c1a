/**
 * `npm run bench:optimize`: builds a table of small files (--size-mb of data, default 64, in files of about
 * --file-kb, default 256, over --partitions partition values, default 2), then runs OPTIMIZE on it in a child
 * process of its own (so its peak RSS is the optimize's alone) with --target-mb (default 128) and reports
 * records/s, MB/s, files before/after and peak RSS into reports/optimize-bench.json and one line of text.
 * The table is built under --dir (default a temp directory) and deleted afterwards unless --keep.
 */
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { localStorage } from "../../layers/delta-sink/filesystem.ts"
import { type Action, commitPath, serializeActions } from "../../src/delta/actions.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { decodeAddPath, encodeAddPath } from "../../src/delta/partition.ts"
import { optimize } from "../../src/delta/optimize.ts"
import { wasmMemoryBytes } from "../../src/delta/parquet-encode.ts"
import { appendBatch } from "../../src/delta/table.ts"

const { values } = parseArgs({
  options: {
    "size-mb": { type: "string", default: "64" },
    "file-kb": { type: "string", default: "256" },
    "target-mb": { type: "string", default: "128" },
    partitions: { type: "string", default: "2" },
    dir: { type: "string" },
    keep: { type: "boolean", default: false },
    "optimize-only": { type: "string" }
  }
})
const targetBytes = Number(values["target-mb"]) * 1024 * 1024

const schema = new Arrow.Schema([
  new Arrow.Field("id", new Arrow.Int64(), false),
  new Arrow.Field("ts", new Arrow.TimestampMicrosecond("UTC"), false),
  new Arrow.Field("amount", new Arrow.Float64(), true),
  new Arrow.Field("code", new Arrow.Int32(), true),
  new Arrow.Field("note", new Arrow.Utf8(), true),
  new Arrow.Field("region", new Arrow.Utf8(), false)
])

/** `rows` rows starting at `from`, as typed columns (no per-row objects). */
const chunk = (from: number, rows: number, partitions: number): Arrow.Table => {
  const ids = new BigInt64Array(rows)
  const ts = new BigInt64Array(rows)
  const amount = new Float64Array(rows)
  const code = new Int32Array(rows)
  const notes: Array<string> = new Array(rows)
  const regions: Array<string> = new Array(rows)
  for (let i = 0; i < rows; i++) {
    const n = from + i
    ids[i] = BigInt(n)
    ts[i] = 1_767_225_600_000_000n + BigInt(n) * 1000n
    amount[i] = (n % 100_000) / 100
    code[i] = n % 977
    notes[i] = `order ${n} for customer ${n % 50_021} via channel ${n % 7}`
    regions[i] = `r${n % partitions}`
  }
  return new Arrow.Table(schema, new Arrow.RecordBatch(schema, Arrow.makeData({
    type: new Arrow.Struct(schema.fields),
    length: rows,
    nullCount: 0,
    children: [
      Arrow.makeData({ type: new Arrow.Int64(), data: ids }),
      Arrow.makeData({ type: new Arrow.TimestampMicrosecond("UTC"), data: ts }),
      Arrow.makeData({ type: new Arrow.Float64(), data: amount }),
      Arrow.makeData({ type: new Arrow.Int32(), data: code }),
      Arrow.vectorFromArray(notes, new Arrow.Utf8()).data[0]!,
      Arrow.vectorFromArray(regions, new Arrow.Utf8()).data[0]!
    ]
  })))
}

const runOptimizeOnly = async (location: string) => {
  const started = performance.now()
  const result = await Effect.runPromise(optimize(localStorage(location), { targetFileSize: targetBytes }))
  const seconds = (performance.now() - started) / 1000
  process.stdout.write(JSON.stringify({
    seconds,
    rows: result.rows,
    filesRemoved: result.filesRemoved,
    filesAdded: result.filesAdded,
    bytesRemoved: result.bytesRemoved,
    bytesAdded: result.bytesAdded,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    // where the memory is at the end: parquet-wasm's linear memory never shrinks, so it shows its peak
    wasmMemoryBytes: wasmMemoryBytes(),
    heapUsedBytes: process.memoryUsage().heapUsed,
    externalBytes: process.memoryUsage().external
  }))
}

/**
 * The table: one real append of a few files of about --file-kb (the templates), then copies of those files under
 * new names added in commits of 1,000, until --size-mb; encoding every small file would make a 2 GB table take
 * most of an hour to build. Rows repeat across copies, which does not change what optimize does per byte.
 */
const build = async (location: string) => {
  const storage = localStorage(location)
  const total = Number(values["size-mb"]) * 1024 * 1024
  const fileBytes = Number(values["file-kb"]) * 1024
  const partitions = Number(values.partitions)
  const started = performance.now()
  await Effect.runPromise(appendBatch(storage, {
    schema,
    data: [chunk(0, 200_000, partitions)],
    partitionBy: ["region"],
    txns: [],
    operationParameters: {}
  }, { targetFileSize: fileBytes }))
  const templates = [...Option.getOrThrow(await Effect.runPromise(readSnapshot(storage))).files.values()]
  let bytes = templates.reduce((sum, add) => sum + add.size, 0)
  let rows = templates.reduce((sum, add) => sum + JSON.parse(add.stats!).numRecords, 0)
  let files = templates.length
  let version = 1
  while (bytes < total) {
    const adds: Array<Action> = [{ commitInfo: { timestamp: Date.now(), operation: "WRITE", operationParameters: { mode: "Append" } } }]
    for (let i = 0; i < 1000 && bytes < total; i++) {
      const template = templates[files % templates.length]!
      const source = decodeAddPath(template.path)
      const target = `${source.slice(0, source.lastIndexOf("/"))}/part-copy-${files}-${crypto.randomUUID()}.c000.snappy.parquet`
      fs.copyFileSync(path.join(location, source), path.join(location, target))
      adds.push({ add: { ...template, path: encodeAddPath(target), modificationTime: Date.now() } })
      bytes += template.size
      rows += JSON.parse(template.stats!).numRecords
      files++
    }
    await Effect.runPromise(storage.putIfAbsent(commitPath(version++), new TextEncoder().encode(serializeActions(adds))))
  }
  return { rows, bytes, files, seconds: (performance.now() - started) / 1000 }
}

const main = async () => {
  if (values["optimize-only"] !== undefined) return runOptimizeOnly(values["optimize-only"])
  const dir = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "kafka-delta-optimize-bench-"))
  const location = path.join(dir, "table")
  const built = await build(location)
  process.stderr.write(`built ${built.files} files, ${(built.bytes / 2 ** 20).toFixed(0)} MiB, ${built.rows} rows in ${built.seconds.toFixed(1)} s\n`)
  const child = spawnSync(process.execPath, [import.meta.filename, "--optimize-only", location, "--target-mb", String(values["target-mb"])], {
    encoding: "utf8",
    maxBuffer: 1 << 26
  })
  if (child.status !== 0) throw new Error(`optimize failed: ${child.stderr}`)
  const run = JSON.parse(child.stdout) as { seconds: number; rows: number; filesRemoved: number; filesAdded: number; bytesRemoved: number; bytesAdded: number; peakRssBytes: number }
  const report = {
    date: new Date().toISOString(),
    table: { files: built.files, bytes: built.bytes, rows: built.rows, fileKiB: Number(values["file-kb"]), partitions: Number(values.partitions) },
    targetFileSize: targetBytes,
    optimize: {
      ...run,
      recordsPerSecond: Math.round(run.rows / run.seconds),
      mebibytesPerSecond: Number((run.bytesRemoved / 2 ** 20 / run.seconds).toFixed(1)),
      peakRssMiB: Number((run.peakRssBytes / 2 ** 20).toFixed(0))
    }
  }
  fs.mkdirSync("reports", { recursive: true })
  fs.writeFileSync("reports/optimize-bench.json", JSON.stringify(report, null, 2))
  process.stdout.write(
    `optimize: ${run.filesRemoved} files (${(run.bytesRemoved / 2 ** 20).toFixed(0)} MiB) -> ${run.filesAdded} in ${run.seconds.toFixed(1)} s: ` +
      `${report.optimize.recordsPerSecond} records/s, ${report.optimize.mebibytesPerSecond} MiB/s, peak RSS ${report.optimize.peakRssMiB} MiB\n`
  )
  if (!values.keep && values.dir === undefined) fs.rmSync(dir, { recursive: true, force: true })
}

await main()
