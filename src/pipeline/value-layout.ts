/**
 * The table layouts a run can append in. `columns` (kafka-delta's own): the record's fields as top-level columns
 * plus `_kafka`. `value` (the notebook's: `from_avro(...).alias("value")`): one struct column `value` holding the
 * record, and `_kafka` only when the table has it (adding it changes a user's schema, so only
 * `kafka-delta migrate --add-kafka-column` does). The layout is read from the table schema at each run, so it
 * needs no state of its own; `delta.layout` in the environment file overrides it. The value layout wraps another
 * Codec: decoding is the same, only the columns are nested under `value` when a segment is finished.
 */
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import { Config } from "../services/Config.ts"
import { type DeltaReadError, DeltaSink } from "../services/DeltaSink.ts"
import { KAFKA_COLUMN, kafkaField } from "../avro/index.ts"
import { DEAD_LETTER_SCHEMA_ID } from "./dead-letters.ts"
import type { Codec, SegmentBuilder, WriterSchema } from "./decoding.ts"

/** How rows are laid out in the table. */
export type TableLayout = "value" | "columns"

/** The column the value layout nests the record under. */
export const VALUE_COLUMN = "value"

/** The layout a table has: `value` when its only column besides `_kafka` is a struct named `value`. */
export const layoutOfSchema = (schema: Arrow.Schema | undefined): TableLayout => {
  if (schema === undefined) return "columns"
  const fields = schema.fields.filter((field) => field.name !== KAFKA_COLUMN)
  return fields.length === 1 && fields[0]!.name === VALUE_COLUMN && Arrow.DataType.isStruct(fields[0]!.type) ? "value" : "columns"
}

/** Whether the table has the `_kafka` column. */
export const hasKafkaColumn = (schema: Arrow.Schema | undefined): boolean =>
  schema?.fields.some((field) => field.name === KAFKA_COLUMN) ?? false

const recordFields = (schema: Arrow.Schema): Array<Arrow.Field> => {
  const value = schema.fields.find((field) => field.name === VALUE_COLUMN)
  if (value !== undefined && Arrow.DataType.isStruct(value.type)) return [...(value.type as Arrow.Struct).children]
  return schema.fields.filter((field) => field.name !== KAFKA_COLUMN)
}

/** The schema of a value-layout table whose record has `fields`. */
const wrap = (fields: ReadonlyArray<Arrow.Field>, withKafka: boolean): Arrow.Schema =>
  new Arrow.Schema([
    new Arrow.Field(VALUE_COLUMN, new Arrow.Struct([...fields]), true),
    ...(withKafka ? [kafkaField()] : [])
  ])

/**
 * `base` appending the notebook's layout: the record under `value`, `_kafka` beside it when `withKafka`. Rows of
 * a schema this codec did not wrap (the dead-letter rows, which go to kafka-delta's own table) stay flat.
 */
export const valueLayoutCodec = (base: Codec, withKafka: boolean): Codec => {
  const wrapped = new WeakSet<Arrow.Schema>()
  const wrapRecord = (fields: ReadonlyArray<Arrow.Field>) => {
    const schema = wrap(fields, withKafka)
    wrapped.add(schema)
    return schema
  }
  return {
    frame: base.frame,
    writerSchema: (id, text) => {
      const writer = base.writerSchema(id, text)
      if ("reason" in writer || id === DEAD_LETTER_SCHEMA_ID) return writer
      return { ...writer, arrowSchema: wrapRecord(recordFields(writer.arrowSchema)) } satisfies WriterSchema
    },
    builder: (schema) => {
      if (!wrapped.has(schema)) return base.builder(schema)
      const inner = base.builder(new Arrow.Schema(recordFields(schema)))
      const outer = wrapRecord(recordFields(inner.schema))
      return {
        schema: outer,
        get rowCount() {
          return inner.rowCount
        },
        get byteSize() {
          return inner.byteSize
        },
        append: inner.append,
        finish: () => {
          const flat = inner.finish()
          const length = flat.numRows
          const record = recordFields(flat.schema)
          const struct = Arrow.makeData({
            type: new Arrow.Struct(record),
            length,
            nullCount: 0,
            children: record.map((field) => flat.getChild(field.name)!.data[0]!)
          })
          const children: Array<Arrow.Data> = [struct]
          if (withKafka) children.push(flat.getChild(KAFKA_COLUMN)!.data[0]!)
          const rows = Arrow.makeData({ type: new Arrow.Struct(outer.fields), length, nullCount: 0, children })
          return new Arrow.Table([new Arrow.RecordBatch(outer, rows)])
        }
      } satisfies SegmentBuilder
    },
    widen: (table, next) => {
      const wider = base.widen(new Arrow.Schema(recordFields(table)), new Arrow.Schema(recordFields(next)))
      if (wider === undefined || "problems" in wider) return wider
      return wrapRecord(recordFields(wider))
    }
  }
}

/** The codec for a table: `base` as it is for the columns layout, wrapped for the value layout. */
export const codecForTable = (base: Codec, tableSchema: Arrow.Schema | undefined, override: TableLayout | undefined): Codec =>
  (override ?? layoutOfSchema(tableSchema)) === "value" ? valueLayoutCodec(base, hasKafkaColumn(tableSchema)) : base

/** The codec for the job's table as it is now: its layout (or `delta.layout`), and `_kafka` only when it has one. */
export const codecForJob = (base: Codec): Effect.Effect<Codec, DeltaReadError, Config | DeltaSink> =>
  Effect.gen(function*() {
    const job = yield* Config
    const schema = Option.getOrUndefined(yield* (yield* DeltaSink).schema(job.table))
    const codec = codecForTable(base, schema, job.layout)
    if (codec !== base) yield* Effect.logInfo(`table ${job.table.name} has the value layout: records are appended as its \`value\` column${hasKafkaColumn(schema) ? " with _kafka" : ""}`)
    return codec
  })
