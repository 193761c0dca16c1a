/**
 * Rewriting a bin of small data files as one file, with bounded memory: each input is read one row group at a
 * time (parquet-wasm's `readParquet` with `rowGroups`), re-typed to the table's current data schema (columns a
 * file predates become nulls), and handed to parquet-wasm's streaming writer (`transformParquetStream`), which
 * emits the output's bytes row group by row group. At most one input file's bytes, one decoded row group and the
 * output's encoded bytes are held at once; the output's stats are the merged stats of its row groups.
 */
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import * as Parquet from "parquet-wasm"
import type { AddFile } from "./actions.ts"
import { conformData, nullData } from "./arrow-data.ts"
import { dictionaryPageSizeLimit } from "./parquet-encode.ts"
import { type Compression, fileSuffix, tableBytes } from "./parquet.ts"
import { decodeAddPath, encodeAddPath } from "./partition.ts"
import { arrowTypeOf, type DeltaStructType, isVoid } from "./schema.ts"
import { computeStats, type StatsOptions } from "./stats.ts"
import { mergeStats } from "./stats-merge.ts"
import { type DeltaStorage, storageError } from "./storage.ts"

/** What a rewrite needs to know about the table. */
export interface RewritePlan {
  /** The table's data schema (without partition columns), in table order. */
  readonly dataSchema: DeltaStructType
  readonly stats: StatsOptions
  readonly compression: Compression
}

const maxRowGroupRows = 1024 * 1024
const maxRowGroupBytes = 16 * 1024 * 1024

/** A decoded row group re-typed to `target` (missing columns as nulls). */
const conformTo = (table: Arrow.Table, target: Arrow.Schema): Arrow.Table => {
  const batches = table.batches.map((batch) => {
    const children = target.fields.map((field) => {
      const index = batch.schema.fields.findIndex((f) => f.name === field.name)
      return index < 0 ? nullData(field.type, batch.numRows) : conformData(batch.data.children[index]!, field.type)
    })
    const data = Arrow.makeData({ type: new Arrow.Struct(target.fields), length: batch.numRows, nullCount: 0, children })
    return new Arrow.RecordBatch(target, data)
  })
  return new Arrow.Table(target, batches)
}

/** Frees a buffer this module made, at once (transferring an ArrayBuffer detaches it). */
const release = (bytes: Uint8Array): void => {
  const buffer = bytes.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer }
  if (bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength && typeof buffer.transfer === "function") buffer.transfer(0)
}

/**
 * The output file's bytes as the writer emits them, in one buffer sized for the inputs' bytes (a compacted file
 * is rarely larger than its inputs): no list of chunks joined at the end, so the file is held once, not twice.
 */
const growingBuffer = (capacity: number) => {
  let buffer = new Uint8Array(Math.max(1024, capacity))
  let length = 0
  return {
    append: (chunk: Uint8Array) => {
      if (length + chunk.byteLength > buffer.byteLength) {
        const larger = new Uint8Array(Math.max(2 * buffer.byteLength, length + chunk.byteLength))
        larger.set(buffer.subarray(0, length))
        release(buffer)
        buffer = larger
      }
      buffer.set(chunk, length)
      length += chunk.byteLength
    },
    bytes: () => buffer.subarray(0, length),
    /** Frees the buffer once the file is written (it is up to the target size: too large to leave to the collector). */
    free: () => release(buffer)
  }
}

/** The row counts of a Parquet file's row groups, from its footer. */
const rowGroupRows = (bytes: Uint8Array) =>
  Effect.promise(async () => {
    const file = await Parquet.ParquetFile.fromFile(new Blob([bytes as Uint8Array<ArrayBuffer>]))
    try {
      const metadata = file.metadata()
      return Array.from({ length: metadata.numRowGroups() }, (_, i) => metadata.rowGroup(i).numRows())
    } finally {
      file.free()
    }
  })

/**
 * Rows decoded at once. A row group larger than this (another writer's, up to a million rows) is read in slices
 * (`offset`/`limit` within the row group), so its decoded columns and their copies never all exist at once.
 */
const sliceRows = 128 * 1024

/** A source stream the writer pulls from, fed one batch at a time (high-water mark 1: no read-ahead). */
const makeFeed = () => {
  let controller!: ReadableStreamDefaultController<Parquet.RecordBatch>
  let wake: (() => void) | undefined
  const stream = new ReadableStream<Parquet.RecordBatch>({
    start: (c) => {
      controller = c
    },
    pull: () => {
      wake?.()
      wake = undefined
    }
  }, { highWaterMark: 1 })
  const offer = async (batch: Parquet.RecordBatch) => {
    controller.enqueue(batch)
    if ((controller.desiredSize ?? 1) <= 0) await new Promise<void>((resolve) => (wake = resolve))
  }
  return { stream, offer, close: () => controller.close(), fail: (error: unknown) => controller.error(error) }
}

/**
 * Writes the rows of `files` (one partition's) as one new file in their directory and returns its `add` action
 * (`dataChange: false`: the same rows, moved).
 */
export const rewriteFiles = Effect.fnUntraced(function*(
  storage: DeltaStorage,
  files: ReadonlyArray<AddFile>,
  plan: RewritePlan,
  now: number
) {
  const target = new Arrow.Schema(
    plan.dataSchema.fields.filter((field) => !isVoid(field.type)).map((field) =>
      new Arrow.Field(field.name, arrowTypeOf(field.type), field.nullable)
    )
  )
  const feed = makeFeed()
  const output = growingBuffer(files.reduce((sum, file) => sum + file.size, 0))
  let collecting: Promise<void> | undefined
  const stats: Array<string> = []
  let rows = 0
  const start = (rowGroupRows: number) => {
    const properties = new Parquet.WriterPropertiesBuilder()
      .setCompression(plan.compression === "zstd" ? Parquet.Compression.ZSTD : Parquet.Compression.SNAPPY)
      .setWriterVersion(Parquet.WriterVersion.V1)
      .setMaxRowGroupSize(rowGroupRows)
      .setDictionaryPageSizeLimit(dictionaryPageSizeLimit)
      .setCreatedBy("kafka-delta (parquet-rs via parquet-wasm)")
      .build()
    collecting = Parquet.transformParquetStream(feed.stream, properties).then(async (out) => {
      for await (const chunk of out as unknown as AsyncIterable<Uint8Array>) output.append(chunk)
    })
    // a writer failure surfaces when awaited below; keep it from being reported as unhandled meanwhile
    collecting.catch(() => undefined)
  }
  const first = decodeAddPath(files[0]!.path)
  const directory = first.includes("/") ? first.slice(0, first.lastIndexOf("/")) : ""
  for (const file of files) {
    const path = decodeAddPath(file.path)
    const bytes = yield* storage.read(path)
    if (Option.isNone(bytes)) return yield* storageError(storage, path, "data file of the table is missing", false)
    const groups = yield* rowGroupRows(bytes.value)
    const slices = groups.flatMap((count, group) =>
      Array.from({ length: Math.max(1, Math.ceil(count / sliceRows)) }, (_, k) => ({ group, offset: k * sliceRows, count }))
    )
    for (const { group, offset, count } of slices) {
      const decodedIpc = yield* Effect.try({
        try: () =>
          Parquet.readParquet(
            bytes.value,
            count <= sliceRows ? { rowGroups: [group] } : { rowGroups: [group], offset, limit: sliceRows }
          ).intoIPCStream(),
        catch: (error) => storageError(storage, path, `unreadable Parquet row group ${group}: ${String(error)}`)
      })
      const decoded = Arrow.tableFromIPC(decodedIpc)
      if (decoded.numRows === 0) continue
      const conformed = conformTo(decoded, target)
      stats.push(computeStats(conformed, plan.dataSchema, plan.stats))
      rows += conformed.numRows
      if (collecting === undefined) {
        const perRow = Math.max(1, tableBytes(conformed) / conformed.numRows)
        start(Math.min(maxRowGroupRows, Math.max(1, Math.floor(maxRowGroupBytes / perRow))))
      }
      const ipc = Arrow.tableToIPC(conformed, "stream")
      const wasm = Parquet.Table.fromIPCStream(ipc)
      // both IPC copies are as large as the row group and nothing else holds them: free them now rather than
      // whenever the collector next runs (left to it, they pile up between collections)
      release(ipc)
      release(decodedIpc)
      for (const batch of wasm.recordBatches()) {
        // a writer that failed stops pulling: its failure ends the wait instead of the next pull
        yield* Effect.tryPromise({
          try: () => Promise.race([feed.offer(batch), collecting!]),
          catch: (error) => storageError(storage, directory, `writing the compacted file failed: ${String(error)}`)
        })
      }
      wasm.free()
      // the reads, decodes and encodes all finish without a macrotask: give timers and I/O (the stream's fetches
      // and heartbeats, when this runs as auto-compaction) a turn after each row group
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
  }
  if (collecting === undefined) start(1)
  feed.close()
  yield* Effect.tryPromise({
    try: () => collecting!,
    catch: (error) => storageError(storage, directory, `writing the compacted file failed: ${String(error)}`)
  })
  const name = `part-00000-${crypto.randomUUID()}${fileSuffix(plan.compression)}`
  const path = directory === "" ? name : `${directory}/${name}`
  const info = yield* storage.write(path, output.bytes()).pipe(Effect.ensuring(Effect.sync(output.free)))
  const add: AddFile = {
    path: encodeAddPath(path),
    partitionValues: files[0]!.partitionValues,
    size: info.size,
    modificationTime: info.modificationTime || now,
    dataChange: false,
    stats: mergeStats(stats, plan.dataSchema)
  }
  return { add, rows }
})
