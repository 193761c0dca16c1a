/**
 * The pipeline's Codec bound to `src/avro` (Confluent framing, bodies decoded straight into column accumulators
 * by readers compiled per writer schema, avsc decoders where a writer's types differ from the batch columns') and to the Delta schema rules of `src/delta` for widening a batch schema when a writer
 * schema adds nullable fields.
 */
import * as Arrow from "apache-arrow"
import { type AvroDecoder, BatchBuilder, KAFKA_COLUMN, kafkaField, makeDecoder, parseFrame } from "../avro/index.ts"
import { mergeSchema } from "../delta/schema-merge.ts"
import { arrowSchemaOf, deltaSchemaOf } from "../delta/schema.ts"
import type { Codec, SegmentBuilder, WriterSchema } from "./decoding.ts"

interface AvroWriterSchema extends WriterSchema {
  readonly decoder: AvroDecoder
}

const withoutKafka = (schema: Arrow.Schema): Arrow.Schema =>
  new Arrow.Schema(schema.fields.filter((field) => field.name !== KAFKA_COLUMN))

const segmentBuilder = (schema: Arrow.Schema): SegmentBuilder => {
  const builder = new BatchBuilder(schema)
  return {
    schema: builder.schema,
    get rowCount() {
      return builder.rowCount
    },
    get byteSize() {
      return builder.byteSize
    },
    append: (writer, record, bodyOffset, topic, partition) => {
      const decoder = (writer as AvroWriterSchema).decoder
      const value = record.value
      if (value === null) return "record value is null"
      const failure = builder.appendBody(decoder, value, bodyOffset, topic, partition, record.offset, record.timestamp, record.key)
      return failure === undefined ? undefined : failure.message
    },
    finish: () => builder.finish()
  }
}

/** Decoding Avro bodies into Arrow columns. */
export const avroCodec: Codec = {
  frame: (value) => {
    const frame = parseFrame(value)
    return frame._tag === "Frame" ? frame : { reason: frame.message }
  },
  writerSchema: (id, text) => {
    const decoder = makeDecoder(id, text)
    if (!("decode" in decoder)) return { reason: decoder.message }
    const writer: AvroWriterSchema = { id, arrowSchema: decoder.arrowSchema, decoder }
    return writer
  },
  builder: segmentBuilder,
  widen: (base, next) => {
    const merged = mergeSchema(deltaSchemaOf(withoutKafka(base)), deltaSchemaOf(withoutKafka(next)))
    if (merged._tag === "Problems") return { problems: merged.problems }
    if (!merged.changed) return undefined
    return new Arrow.Schema([...arrowSchemaOf(merged.schema).fields, kafkaField()])
  }
}
