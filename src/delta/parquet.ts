/**
 * Parquet data files through parquet-wasm (arrow-rs, the writer delta-rs uses): data page v1, dictionary
 * encoding, zstd or snappy, and Spark's physical layout, which follows from the canonical Arrow types of
 * `schema.ts` (INT64 TIMESTAMP(MICROS, UTC), INT32/INT64/FLBA decimals, 3-level LIST `element`, MAP
 * `key_value`). Tables larger than the target file size are split into several files by row ranges.
 */
import * as Arrow from "apache-arrow"
import * as Parquet from "parquet-wasm"
import { dataBytes } from "./arrow-data.ts"
import { type Compression, encodeIpcToParquet } from "./parquet-encode.ts"
import { encodeOffThread } from "./parquet-pool.ts"

export type { Compression } from "./parquet-encode.ts"

/** Options of `writeParquetFiles`. */
export interface ParquetOptions {
  readonly compression: Compression
  /** Target bytes per file (Spark/Delta default 128 MiB). */
  readonly targetFileSize: number
  /** Expected compressed/in-memory size ratio, used to plan file splits before writing. */
  readonly compressionRatio?: number
}

/** Spark's default target file size. */
export const defaultTargetFileSize = 128 * 1024 * 1024

const maxRowGroupRows = 1024 * 1024
const maxRowGroupBytes = 64 * 1024 * 1024

/** The file name suffix for a codec, as Spark names files (`.c000.zstd.parquet`). */
export const fileSuffix = (compression: Compression): string => `.c000.${compression}.parquet`

/** Bytes of one Parquet file: the encoded content and its row count. */
export interface ParquetFile {
  readonly bytes: Uint8Array
  readonly rows: number
  /** The rows it holds, for stats. */
  readonly table: Arrow.Table
}

/** The in-memory size of a table's buffers. */
export const tableBytes = (table: Arrow.Table): number =>
  table.data.reduce((sum, batch) => sum + dataBytes(batch), 0)

/** Row ranges so that each file is about `target` bytes once written: `[start, end)` pairs. */
export const planFileRanges = (
  rows: number,
  inMemoryBytes: number,
  target: number,
  ratio: number
): Array<readonly [number, number]> => {
  const estimated = inMemoryBytes * ratio
  const files = Math.max(1, Math.ceil(estimated / target))
  const per = Math.ceil(rows / files)
  const ranges: Array<readonly [number, number]> = []
  for (let start = 0; start < rows; start += per) ranges.push([start, Math.min(rows, start + per)])
  return ranges.length === 0 ? [[0, 0]] : ranges
}

/** Encodes one Arrow table as one Parquet file. */
export const encodeParquet = (table: Arrow.Table, compression: Compression, rowGroupRows: number): Uint8Array =>
  encodeIpcToParquet(Arrow.tableToIPC(table, "stream"), compression, rowGroupRows, true)

/** The files a table is written as: row ranges of about the target size, and the row-group size. */
const planFiles = (table: Arrow.Table, options: ParquetOptions) => {
  const inMemory = tableBytes(table)
  const ranges = planFileRanges(table.numRows, inMemory, options.targetFileSize, options.compressionRatio ?? 0.5)
  const bytesPerRow = table.numRows === 0 ? 1 : inMemory / table.numRows
  const rowGroupRows = Math.min(maxRowGroupRows, Math.max(1, Math.floor(maxRowGroupBytes / Math.max(1, bytesPerRow))))
  return { ranges, rowGroupRows }
}

/** Writes a table as one or more Parquet files of about the target size, split on row-group boundaries. */
export const writeParquetFiles = (table: Arrow.Table, options: ParquetOptions): Array<ParquetFile> => {
  const { ranges, rowGroupRows } = planFiles(table, options)
  return ranges.map(([start, end]) => {
    const part = ranges.length === 1 ? table : table.slice(start, end)
    return { bytes: encodeParquet(part, options.compression, rowGroupRows), rows: end - start, table: part }
  })
}

/** A Parquet file being encoded off the main thread. */
export interface PendingParquetFile {
  readonly bytes: Promise<Uint8Array>
  readonly rows: number
  /** The rows it holds, for stats (computed meanwhile on the calling thread). */
  readonly table: Arrow.Table
}

/**
 * Like `writeParquetFiles`, but the encoding runs on the Parquet worker (`parquet-pool.ts`): only the Arrow IPC
 * serialisation happens here, and the caller can compute stats (or decode more records) while the files encode.
 */
export const startParquetFiles = (table: Arrow.Table, options: ParquetOptions): Array<PendingParquetFile> =>
  parquetFileSlices(table, options).map((slice) => startParquetFile(slice, options))

/** One file's share of a table, not yet encoded. */
export interface ParquetFileSlice {
  readonly table: Arrow.Table
  readonly rowGroupRows: number
}

/** How `table` splits into files of about the target size (nothing is encoded yet). */
export const parquetFileSlices = (table: Arrow.Table, options: ParquetOptions): Array<ParquetFileSlice> => {
  const { ranges, rowGroupRows } = planFiles(table, options)
  return ranges.map(([start, end]) => ({ table: ranges.length === 1 ? table : table.slice(start, end), rowGroupRows }))
}

/** Starts encoding one slice (off the main thread when a Parquet worker is configured). */
export const startParquetFile = (slice: ParquetFileSlice, options: ParquetOptions): PendingParquetFile => ({
  bytes: encodeOffThread(Arrow.tableToIPC(slice.table, "stream"), options.compression, slice.rowGroupRows),
  rows: slice.table.numRows,
  table: slice.table
})

/** Decodes a Parquet file into an Arrow table (used for log checkpoints and tests). */
export const decodeParquet = (bytes: Uint8Array): Arrow.Table => {
  const wasmTable = Parquet.readParquet(bytes)
  return Arrow.tableFromIPC(wasmTable.intoIPCStream())
}
