/**
 * The data-file half of an append: each segment re-typed to the table schema, split by partition, encoded as
 * Parquet files of about the target size, written under Spark-style names, and described by `add` actions
 * with exact sizes and stats. Nothing here is visible to readers until the commit references it.
 */
import * as Arrow from "apache-arrow"
import { Effect } from "effect"
import type { AddFile } from "./actions.ts"
import { conformData } from "./arrow-data.ts"
import { type Compression, fileSuffix, startParquetFiles } from "./parquet.ts"
import { encodeAddPath, splitByPartition } from "./partition.ts"
import { arrowTypeOf, type DeltaStructType } from "./schema.ts"
import { computeStats } from "./stats.ts"
import type { DeltaStorage } from "./storage.ts"

/** What the file writer needs to know about the table. */
export interface FilePlan {
  readonly schema: DeltaStructType
  readonly partitionColumns: ReadonlyArray<string>
  readonly configuration: Readonly<Record<string, string>>
  readonly compression: Compression
  readonly targetFileSize: number
}

/** A segment's columns in table order, re-typed to the table's canonical Arrow types. */
export const conformSegment = (segment: Arrow.Table, schema: DeltaStructType): Arrow.Table => {
  const fields: Array<Arrow.Field> = []
  const columns: Array<number> = []
  for (const field of schema.fields) {
    const index = segment.schema.fields.findIndex((f) => f.name === field.name)
    if (index < 0) continue
    fields.push(new Arrow.Field(field.name, arrowTypeOf(field.type), field.nullable))
    columns.push(index)
  }
  const target = new Arrow.Schema(fields)
  const batches = segment.batches.map((batch) => {
    const children = columns.map((index, k) => conformData(batch.data.children[index]!, fields[k]!.type))
    const data = Arrow.makeData({ type: new Arrow.Struct(fields), length: batch.numRows, nullCount: 0, children })
    return new Arrow.RecordBatch(target, data)
  })
  return new Arrow.Table(target, batches)
}

/** Files written for one batch: their add actions and totals. */
export interface WrittenFiles {
  readonly adds: ReadonlyArray<AddFile>
  readonly rows: number
  readonly bytes: number
}

/** Writes the segments' rows as data files and returns their add actions. */
export const writeDataFiles = Effect.fnUntraced(function*(
  storage: DeltaStorage,
  segments: ReadonlyArray<Arrow.Table>,
  plan: FilePlan
) {
  const dataSchema: DeltaStructType = {
    type: "struct",
    fields: plan.schema.fields.filter((field) => !plan.partitionColumns.includes(field.name))
  }
  const indexed = Number(plan.configuration["delta.dataSkippingNumIndexedCols"] ?? 32)
  const prefix = Number(plan.configuration["delta.dataSkippingStringPrefixLength"] ?? 32)
  const adds: Array<AddFile> = []
  let rows = 0
  let bytes = 0
  let part = 0
  // every file is handed to the Parquet worker first and its stats computed here meanwhile; only then are the
  // encoded bytes awaited and written, so encoding overlaps the stats (and, across fibers, further decoding)
  const started: Array<{ readonly directory: string; readonly values: AddFile["partitionValues"]; readonly rows: number; readonly bytes: Promise<Uint8Array>; readonly stats: string }> = []
  for (const segment of segments) {
    if (segment.numRows === 0) continue
    const conformed = conformSegment(segment, plan.schema)
    for (const group of splitByPartition(conformed, plan.partitionColumns)) {
      const files = startParquetFiles(group.table, { compression: plan.compression, targetFileSize: plan.targetFileSize })
      for (const file of files) {
        started.push({
          directory: group.directory,
          values: group.values,
          rows: file.rows,
          bytes: file.bytes,
          stats: computeStats(file.table, dataSchema, {
            indexedColumns: Number.isFinite(indexed) ? indexed : 32,
            stringPrefix: Number.isFinite(prefix) ? prefix : 32
          })
        })
      }
    }
  }
  for (const file of started) {
    const encoded = yield* Effect.promise(() => file.bytes)
    const name = `part-${String(part++).padStart(5, "0")}-${crypto.randomUUID()}${fileSuffix(plan.compression)}`
    const path = file.directory === "" ? name : `${file.directory}/${name}`
    const info = yield* storage.write(path, encoded)
    adds.push({
      path: encodeAddPath(path),
      partitionValues: file.values,
      size: info.size,
      modificationTime: info.modificationTime,
      dataChange: true,
      stats: file.stats
    })
    rows += file.rows
    bytes += info.size
  }
  return { adds, rows, bytes } satisfies WrittenFiles
})
