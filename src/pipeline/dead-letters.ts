/**
 * Dead letters: records that could not become rows, written to `<table>_dead_letter` with the error text, the
 * schema id when the framing had one, the raw value bytes and the same `_kafka` column as the main table.
 * The rows go through the same decoder and column builders as ordinary records (encoded with a fixed Avro schema),
 * so the two tables' `_kafka` columns cannot drift apart.
 */
import avro from "avsc"
import type * as Arrow from "apache-arrow"
import type { Codec, WriterSchema } from "./decoding.ts"
import type { DeadLetterRow } from "./partition.ts"

/** The Avro schema of a dead-letter row's value columns. */
export const deadLetterAvroSchema = {
  type: "record",
  name: "DeadLetter",
  namespace: "kafka_delta",
  fields: [
    { name: "error", type: "string" },
    { name: "schema_id", type: ["null", "int"], default: null },
    { name: "value", type: ["null", "bytes"], default: null }
  ]
} as const

const deadLetterType = avro.Type.forSchema(deadLetterAvroSchema as unknown as avro.Schema)
/** The writer schema id of dead-letter rows (registry ids are never negative). */
export const DEAD_LETTER_SCHEMA_ID = -1
const framePrefix = new Uint8Array([0, 0xff, 0xff, 0xff, 0xff])

let writerCache: { codec: Codec; writer: WriterSchema } | undefined
const writerFor = (codec: Codec): WriterSchema => {
  if (writerCache?.codec === codec) return writerCache.writer
  const writer = codec.writerSchema(DEAD_LETTER_SCHEMA_ID, JSON.stringify(deadLetterAvroSchema))
  if ("reason" in writer) throw new Error(`dead-letter schema rejected: ${writer.reason}`)
  writerCache = { codec, writer }
  return writer
}

/** Dead-letter rows of a batch, per partition, so a redo can leave out those already written. */
export interface DeadLetters {
  /** Builds the rows of each partition whose offset is at or above the given position. */
  readonly build: (since: ReadonlyMap<number, number>) => { readonly table: Arrow.Table; readonly rows: number } | undefined
  /** The last offset of a dead letter per partition. */
  readonly lastOffsets: ReadonlyMap<number, number>
}

/** Dead letters of a batch, built lazily so a redo can leave out rows that already landed. */
export const buildDeadLetters = (codec: Codec, rows: ReadonlyArray<DeadLetterRow>): DeadLetters => {
  const lastOffsets = new Map<number, number>()
  for (const row of rows) lastOffsets.set(row.partition, Math.max(lastOffsets.get(row.partition) ?? -1, row.record.offset))
  return {
    lastOffsets,
    build: (since) => {
      const writer = writerFor(codec)
      const builder = codec.builder(writer.arrowSchema)
      for (const row of rows) {
        if (row.record.offset < (since.get(row.partition) ?? 0)) continue
        const body = deadLetterType.toBuffer({
          error: row.error,
          schema_id: row.schemaId === undefined ? null : row.schemaId,
          value: row.record.value === null ? null : Buffer.from(row.record.value)
        })
        const framed = new Uint8Array(framePrefix.length + body.length)
        framed.set(framePrefix)
        framed.set(body, framePrefix.length)
        const failure = builder.append(writer, { ...row.record, value: framed }, framePrefix.length, row.topic, row.partition)
        if (failure !== undefined) throw new Error(`dead-letter row could not be built: ${failure}`)
      }
      return builder.rowCount === 0 ? undefined : { rows: builder.rowCount, table: builder.finish() }
    }
  }
}
