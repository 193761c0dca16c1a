/**
 * The data-file half of an append: each segment re-typed to the table schema, split by partition, encoded as
 * Parquet files of about the target size, written under Spark-style names, and described by `add` actions
 * with exact sizes and stats. Nothing here is visible to readers until the commit references it.
 */
import * as Arrow from "apache-arrow"
import { Effect } from "effect"
import type { AddFile } from "./actions.ts"
import { conformData } from "./arrow-data.ts"
import { type Compression, fileSuffix, parquetFileSlices, startParquetFile } from "./parquet.ts"
import { encodeAddPath, splitByPartition } from "./partition.ts"
import { arrowTypeOf, type DeltaStructType, isVoid } from "./schema.ts"
import { computeStats, parseStatsColumns } from "./stats.ts"
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
    if (index < 0 || isVoid(field.type)) continue
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

/**
 * The batch's segments conformed to the table schema, those with the same columns joined into one table, so a
 * batch from many source partitions becomes files of the target size rather than one small file per partition.
 */
export const mergeSegments = (segments: ReadonlyArray<Arrow.Table>, schema: DeltaStructType): Array<Arrow.Table> => {
  const byColumns = new Map<string, Array<Arrow.Table>>()
  for (const segment of segments) {
    if (segment.numRows === 0) continue
    const conformed = conformSegment(segment, schema)
    const key = conformed.schema.fields.map((field) => field.name).join("\u0000")
    const group = byColumns.get(key)
    if (group === undefined) byColumns.set(key, [conformed])
    else group.push(conformed)
  }
  return [...byColumns.values()].map((group) =>
    group.length === 1 ? group[0]! : new Arrow.Table(group[0]!.schema, group.flatMap((table) => table.batches))
  )
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
  const statsColumnsText = plan.configuration["delta.dataSkippingStatsColumns"]
  const statsColumns = statsColumnsText === undefined ? undefined : parseStatsColumns(statsColumnsText)
  const adds: Array<AddFile> = []
  let rows = 0
  let bytes = 0
  let part = 0
  // each file is handed to the Parquet worker and its stats computed here meanwhile; at most two files are in
  // flight (one encoding, one waiting), so a batch's IPC copies do not all exist at once
  const inFlight: Array<{ readonly directory: string; readonly values: AddFile["partitionValues"]; readonly rows: number; readonly bytes: Promise<Uint8Array>; readonly stats: string }> = []
  const finishOldest = Effect.gen(function*() {
    const file = inFlight.shift()!
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
  })
  for (const conformed of mergeSegments(segments, plan.schema)) {
    for (const group of splitByPartition(conformed, plan.partitionColumns)) {
      for (const slice of parquetFileSlices(group.table, { compression: plan.compression, targetFileSize: plan.targetFileSize })) {
        if (inFlight.length >= 2) yield* finishOldest
        const encoding = startParquetFile(slice, { compression: plan.compression, targetFileSize: plan.targetFileSize })
        inFlight.push({
          directory: group.directory,
          values: group.values,
          rows: encoding.rows,
          bytes: encoding.bytes,
          stats: computeStats(encoding.table, dataSchema, {
            indexedColumns: Number.isFinite(indexed) ? indexed : 32,
            stringPrefix: Number.isFinite(prefix) ? prefix : 32,
            ...(statsColumns === undefined ? {} : { statsColumns })
          })
        })
      }
    }
  }
  while (inFlight.length > 0) yield* finishOldest
  return { adds, rows, bytes } satisfies WrittenFiles
})
