/**
 * BatchBuilder: Avro bodies (or decoded records) in, one Arrow Table out. `appendBody` is the hot path: the
 * body is read straight into the column accumulators by a reader compiled per writer schema (direct.ts); when
 * the writer's types differ from the columns', avsc decodes it and `append` pushes the record's fields in by
 * name. Either way a field the record lacks (written with an older schema) becomes null, the Kafka metadata goes
 * into the trailing `_kafka` struct, and a record that cannot be a row is rolled back so the builder holds only
 * whole rows. `decodeInto` adds the framing check.
 */
import * as Arrow from "apache-arrow"
import { type Column, Int64Column, NumberColumn, VarBinaryColumn } from "./columns.ts"
import { CorruptBody, Cursor } from "./cursor.ts"
import type { AvroDecoder } from "./decoder.ts"
import { compileBodyReader, type Reader } from "./direct.ts"
import {
  type AppendError,
  ColumnTypeMismatchError,
  CorruptAvroError,
  NullInNonNullableColumnError,
  type RecordError
} from "./errors.ts"
import { HEADER_LENGTH, parseFrame } from "./framing.ts"
import { columnFor } from "./nested.ts"
import { KAFKA_COLUMN, kafkaField } from "./schema-mapping.ts"

/** Where a record came from; becomes the `_kafka` column. */
export interface KafkaMeta {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  /** Record timestamp, milliseconds since the epoch (stored as microseconds). */
  readonly timestamp: number
  readonly key: Uint8Array | null
}

const EMPTY = new Uint8Array(0)

const make = Arrow.makeData as unknown as (props: Record<string, unknown>) => Arrow.Data

/** The `_kafka` struct's accumulators, written without going through the generic struct path. */
class KafkaColumns {
  readonly type: Arrow.Struct
  readonly topic: VarBinaryColumn
  readonly partition: NumberColumn
  readonly offset: Int64Column
  readonly timestamp: Int64Column
  readonly key: VarBinaryColumn
  constructor(field: Arrow.Field<Arrow.Struct>) {
    this.type = field.type
    const [topic, partition, offset, timestamp, key] = field.type.children
    this.topic = new VarBinaryColumn(`${KAFKA_COLUMN}.topic`, topic!.type, false)
    this.partition = new NumberColumn(`${KAFKA_COLUMN}.partition`, partition!.type, false)
    this.offset = new Int64Column(`${KAFKA_COLUMN}.offset`, offset!.type, false)
    this.timestamp = new Int64Column(`${KAFKA_COLUMN}.timestamp`, timestamp!.type, false)
    this.key = new VarBinaryColumn(`${KAFKA_COLUMN}.key`, key!.type, true)
  }
  append(meta: KafkaMeta) {
    this.appendFields(meta.topic, meta.partition, meta.offset, meta.timestamp, meta.key)
  }
  #topic = ""
  #topicBytes = new Uint8Array(0)
  appendFields(topic: string, partition: number, offset: number, timestamp: number, key: Uint8Array | null) {
    // one topic per builder in practice: its UTF-8 bytes are encoded once and copied per row
    if (topic !== this.#topic) {
      this.#topic = topic
      this.#topicBytes = Buffer.from(topic, "utf8")
    }
    const topicBytes = this.#topicBytes
    const i = this.topic.push()
    const q = this.topic.offsets[i]!
    if (q + topicBytes.length > this.topic.bytes.length) this.topic.growBytes(q + topicBytes.length, q)
    this.topic.bytes.set(topicBytes, q)
    this.topic.offsets[i + 1] = q + topicBytes.length
    this.partition.append(partition)
    this.offset.appendNumber(offset)
    this.timestamp.appendNumber(timestamp * 1000)
    if (key === null) this.key.appendNull()
    else this.key.append(key)
  }
  finish(length: number): Arrow.Data {
    const children = [this.topic.finish(), this.partition.finish(), this.offset.finish(), this.timestamp.finish(), this.key.finish()]
    return make({ type: this.type, length, nullCount: 0, children })
  }
  byteSize() {
    return this.topic.byteSize() + this.partition.byteSize() + 16 * this.offset.length + this.key.byteSize()
  }
}

/** Accumulates rows of one batch schema (value columns, then `_kafka`) and finishes them as an Arrow Table. */
export class BatchBuilder {
  /** The batch schema; `_kafka` is added last when the given schema lacks it. */
  readonly schema: Arrow.Schema
  readonly #columns: ReadonlyArray<Column>
  readonly #names: ReadonlyArray<string>
  readonly #kafka: KafkaColumns
  #rows = 0
  /** Direct readers by writer schema id; null when the writer's types differ from the columns' (avsc path). */
  readonly #readers = new Map<number, Reader | null>()
  readonly #cursor = new Cursor()

  constructor(schema: Arrow.Schema) {
    const last = schema.fields[schema.fields.length - 1]
    const hasKafka = last !== undefined && last.name === KAFKA_COLUMN
    this.schema = hasKafka ? schema : new Arrow.Schema([...schema.fields, kafkaField()], schema.metadata)
    const valueFields = this.schema.fields.slice(0, -1)
    this.#columns = valueFields.map((field) => columnFor(field))
    this.#names = valueFields.map((field) => field.name)
    this.#kafka = new KafkaColumns(this.schema.fields[this.schema.fields.length - 1] as Arrow.Field<Arrow.Struct>)
  }

  /** Rows appended since the last finish. */
  get rowCount(): number {
    return this.#rows
  }

  /** Approximate bytes the rows hold in column buffers (walks the columns: call per fetch, not per record). */
  get byteSize(): number {
    let bytes = this.#kafka.byteSize()
    for (const column of this.#columns) bytes += column.byteSize()
    return bytes
  }

  /**
   * Appends one decoded record. Returns undefined, or the reason it cannot be a row (the builder is then
   * unchanged).
   */
  append(decoded: unknown, meta: KafkaMeta): AppendError | undefined {
    if (typeof decoded !== "object" || decoded === null) {
      return new ColumnTypeMismatchError({ path: "<root>", expected: "record", found: decoded === null ? "null" : typeof decoded })
    }
    const record = decoded as Record<string, unknown>
    const columns = this.#columns
    const names = this.#names
    try {
      for (let c = 0; c < columns.length; c++) columns[c]!.append(record[names[c]!])
    } catch (error) {
      for (const column of columns) column.truncate(this.#rows)
      if (error instanceof NullInNonNullableColumnError || error instanceof ColumnTypeMismatchError) return error
      throw error
    }
    this.#kafka.append(meta)
    this.#rows++
    return undefined
  }

  /**
   * Decodes the Avro body at `offset` of `value` (written with `decoder`'s schema) straight into the columns
   * (see direct.ts), or through avsc and `append` when the writer's types differ from the columns'. Returns
   * undefined, or why the record cannot be a row (the builder is then unchanged).
   */
  appendBody(
    decoder: AvroDecoder,
    value: Uint8Array,
    offset: number,
    topic: string,
    partition: number,
    kafkaOffset: number,
    timestamp: number,
    key: Uint8Array | null
  ): RecordError | undefined {
    let reader = this.#readers.get(decoder.schemaId)
    if (reader === undefined) {
      reader = compileBodyReader(decoder.schema, this.#columns, this.#names) ?? null
      this.#readers.set(decoder.schemaId, reader)
    }
    if (reader === null) {
      const decoded = decoder.decode(value, offset)
      if (decoded instanceof CorruptAvroError) return decoded
      return this.append(decoded, { topic, partition, offset: kafkaOffset, timestamp, key })
    }
    const cursor = this.#cursor
    cursor.start(value, offset)
    try {
      reader(cursor)
      if (cursor.pos !== cursor.end) throw new CorruptBody(`${cursor.end - cursor.pos} bytes left over after the record`)
    } catch (error) {
      for (const column of this.#columns) column.truncate(this.#rows)
      if (error instanceof CorruptBody) return new CorruptAvroError({ schemaId: decoder.schemaId, reason: error.reason })
      if (error instanceof NullInNonNullableColumnError || error instanceof ColumnTypeMismatchError) return error
      throw error
    } finally {
      cursor.buf = EMPTY
    }
    this.#kafka.appendFields(topic, partition, kafkaOffset, timestamp, key)
    this.#rows++
    return undefined
  }

  /** The rows as one Arrow Table (one record batch); the builder is empty and reusable afterwards. */
  finish(): Arrow.Table {
    const length = this.#rows
    const children = this.#columns.map((column) => column.finish())
    children.push(this.#kafka.finish(length))
    this.#rows = 0
    const struct = make({ type: new Arrow.Struct(this.schema.fields), length, nullCount: 0, children })
    return new Arrow.Table([new Arrow.RecordBatch(this.schema, struct as Arrow.Data<Arrow.Struct>)])
  }

  /** Drops every row appended since the last finish. */
  reset(): void {
    for (const column of this.#columns) column.truncate(0)
    this.#kafka.topic.truncate(0)
    this.#kafka.partition.truncate(0)
    this.#kafka.offset.truncate(0)
    this.#kafka.timestamp.truncate(0)
    this.#kafka.key.truncate(0)
    this.#rows = 0
  }
}

/**
 * Decodes one framed Kafka value with `decoder` and appends it. Returns undefined, or why the record cannot
 * be a row (bad framing, a body of another schema id, a corrupt body, a null in a non-nullable column).
 */
export const decodeInto = (
  builder: BatchBuilder,
  decoder: AvroDecoder,
  value: Uint8Array | null,
  meta: KafkaMeta
): RecordError | undefined => {
  if (value === null || value.length < HEADER_LENGTH || value[0] !== 0) {
    const frame = parseFrame(value)
    return frame._tag === "Frame" ? undefined : frame
  }
  const schemaId = (value[1]! << 24) | (value[2]! << 16) | (value[3]! << 8) | value[4]!
  if (schemaId !== decoder.schemaId) {
    return new CorruptAvroError({ schemaId, reason: `framed with schema id ${schemaId} but decoded with the decoder of id ${decoder.schemaId}` })
  }
  return builder.appendBody(decoder, value, HEADER_LENGTH, meta.topic, meta.partition, meta.offset, meta.timestamp, meta.key)
}

