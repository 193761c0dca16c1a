/**
 * Avro writer schema -> Arrow schema of the Delta table (value columns, then `_kafka`), following Spark's Avro
 * converter (see delta-writer.md section 2). Choices where Spark has several options:
 * - unions other than [null, T] (either order) are rejected with UnsupportedAvroSchemaError (no member0..N
 *   structs): a table shape that changes when a producer adds a union branch is worse than a clear stop;
 * - decimal precision above 38 is rejected (Arrow/Delta decimals hold at most 38 digits), never turned into text;
 * - a bare `null` field, recursive records and names that clash case-insensitively are rejected;
 * - a decimal, uuid or timestamp logical type with invalid parameters is ignored, as the Avro spec and avsc do.
 */
import * as Arrow from "apache-arrow"
import { UnsupportedAvroSchemaError } from "./errors.ts"

/** Name of the Kafka metadata column, always last. */
export const KAFKA_COLUMN = "_kafka"

/** Largest decimal precision Arrow Decimal128 and Delta can hold. */
export const MAX_DECIMAL_PRECISION = 38

/** The `_kafka` struct type: where the record came from. */
export const kafkaType = (): Arrow.Struct =>
  new Arrow.Struct([
    new Arrow.Field("topic", new Arrow.Utf8(), false),
    new Arrow.Field("partition", new Arrow.Int32(), false),
    new Arrow.Field("offset", new Arrow.Int64(), false),
    new Arrow.Field("timestamp", new Arrow.TimestampMicrosecond("UTC"), false),
    new Arrow.Field("key", new Arrow.Binary(), true)
  ])

/** The `_kafka` column's field (non-nullable). */
export const kafkaField = (): Arrow.Field => new Arrow.Field(KAFKA_COLUMN, kafkaType(), false)

type Json = unknown
type JsonObject = { readonly [key: string]: Json }

const isObject = (value: Json): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const PRIMITIVES = new Set(["null", "boolean", "int", "long", "float", "double", "bytes", "string"])

/** Decimal parameters if valid per the Avro spec, else undefined (the logical type is then ignored). */
export const decimalParams = (schema: JsonObject): { precision: number; scale: number } | undefined => {
  const precision = schema["precision"]
  const scale = schema["scale"] ?? 0
  if (typeof precision !== "number" || !Number.isInteger(precision) || precision <= 0) return undefined
  if (typeof scale !== "number" || !Number.isInteger(scale) || scale < 0 || scale > precision) return undefined
  if (schema["type"] === "fixed") {
    const size = schema["size"]
    if (typeof size !== "number") return undefined
    // the most digits `size` two's-complement bytes can hold
    if (precision > Math.floor(Math.log10(2) * (8 * size - 1))) return undefined
  }
  return { precision, scale }
}

class Mapper {
  readonly named = new Map<string, JsonObject>()
  readonly open = new Set<string>()

  fail(path: string, reason: string): never {
    throw new UnsupportedAvroSchemaError({ path, reason })
  }

  fullName(name: string, namespace: string | undefined): string {
    return name.includes(".") || namespace === undefined || namespace === "" ? name : `${namespace}.${name}`
  }

  /** The Arrow type and nullability of `schema` at `path`. */
  map(schema: Json, path: string, namespace: string | undefined): { type: Arrow.DataType; nullable: boolean } {
    if (typeof schema === "string") {
      if (PRIMITIVES.has(schema)) return this.map({ type: schema }, path, namespace)
      const full = this.named.has(this.fullName(schema, namespace)) ? this.fullName(schema, namespace) : schema
      if (this.open.has(full)) {
        this.fail(path, `record ${full} refers to itself; recursive records have no Delta equivalent, flatten the schema`)
      }
      const found = this.named.get(full)
      if (found === undefined) this.fail(path, `unknown type name "${schema}"; define it before its first use`)
      return this.mapNamed(found, full, path)
    }
    if (Array.isArray(schema)) return this.mapUnion(schema, path, namespace)
    if (!isObject(schema)) this.fail(path, `not an Avro schema: ${JSON.stringify(schema)}`)
    const type = schema["type"]
    if (isObject(type) || Array.isArray(type)) return this.map(type, path, namespace)
    if (typeof type !== "string") this.fail(path, `schema has no "type"`)
    if (type === "record" || type === "error" || type === "enum" || type === "fixed") {
      const name = schema["name"]
      if (typeof name !== "string") this.fail(path, `${type} has no name`)
      const ns = typeof schema["namespace"] === "string" ? schema["namespace"] : namespace
      const full = this.fullName(name, ns)
      this.named.set(full, schema)
      return this.mapNamed(schema, full, path)
    }
    const logical = schema["logicalType"]
    switch (type) {
      case "null":
        return this.fail(path, `a field of type null has no Delta type; make it a union with a real type`)
      case "boolean":
        return { type: new Arrow.Bool(), nullable: false }
      case "int":
        return { type: logical === "date" ? new Arrow.DateDay() : new Arrow.Int32(), nullable: false }
      case "long":
        if (logical === "timestamp-millis" || logical === "timestamp-micros" || logical === "timestamp-nanos") {
          return { type: new Arrow.TimestampMicrosecond("UTC"), nullable: false }
        }
        if (logical === "local-timestamp-millis" || logical === "local-timestamp-micros" || logical === "local-timestamp-nanos") {
          return { type: new Arrow.TimestampMicrosecond(), nullable: false }
        }
        return { type: new Arrow.Int64(), nullable: false }
      case "float":
        return { type: new Arrow.Float32(), nullable: false }
      case "double":
        return { type: new Arrow.Float64(), nullable: false }
      case "string":
        return { type: new Arrow.Utf8(), nullable: false }
      case "bytes":
        return { type: this.decimalOr(schema, path) ?? new Arrow.Binary(), nullable: false }
      case "array": {
        const items = this.map(schema["items"], `${path}.element`, namespace)
        return { type: new Arrow.List(new Arrow.Field("element", items.type, items.nullable)), nullable: false }
      }
      case "map": {
        const values = this.map(schema["values"], `${path}.value`, namespace)
        const entries = new Arrow.Struct([
          new Arrow.Field("key", new Arrow.Utf8(), false),
          new Arrow.Field("value", values.type, values.nullable)
        ])
        return { type: new Arrow.Map_(new Arrow.Field("entries", entries, false), false), nullable: false }
      }
      default:
        return this.fail(path, `unknown Avro type "${type}"`)
    }
  }

  decimalOr(schema: JsonObject, path: string): Arrow.Decimal | undefined {
    if (schema["logicalType"] !== "decimal") return undefined
    const params = decimalParams(schema)
    if (params === undefined) return undefined
    if (params.precision > MAX_DECIMAL_PRECISION) {
      this.fail(path, `decimal precision ${params.precision} exceeds ${MAX_DECIMAL_PRECISION}, the most a Delta decimal holds; lower the precision or send the value as a string`)
    }
    return new Arrow.Decimal(params.scale, params.precision, 128)
  }

  mapNamed(schema: JsonObject, full: string, path: string): { type: Arrow.DataType; nullable: boolean } {
    const kind = schema["type"]
    if (kind === "enum") return { type: new Arrow.Utf8(), nullable: false }
    if (kind === "fixed") {
      if (schema["logicalType"] === "uuid" && schema["size"] === 16) return { type: new Arrow.Utf8(), nullable: false }
      return { type: this.decimalOr(schema, path) ?? new Arrow.Binary(), nullable: false }
    }
    const ns = full.includes(".") ? full.slice(0, full.lastIndexOf(".")) : undefined
    this.open.add(full)
    const fields = this.fields(schema, path === "" ? "" : `${path}.`, ns)
    this.open.delete(full)
    return { type: new Arrow.Struct(fields), nullable: false }
  }

  fields(record: JsonObject, prefix: string, namespace: string | undefined): Array<Arrow.Field> {
    const fields = record["fields"]
    if (!Array.isArray(fields)) this.fail(prefix === "" ? "<root>" : prefix.slice(0, -1), `record has no fields array`)
    const seen = new Map<string, string>()
    return fields.map((field: Json) => {
      if (!isObject(field) || typeof field["name"] !== "string") this.fail(`${prefix}?`, "field without a name")
      const name = field["name"]
      const path = `${prefix}${name}`
      const clash = seen.get(name.toLowerCase())
      if (clash !== undefined) {
        this.fail(path, `names "${clash}" and "${name}" differ only in case; Delta column names are case-insensitive, rename one`)
      }
      seen.set(name.toLowerCase(), name)
      if (prefix === "" && name.toLowerCase() === KAFKA_COLUMN) {
        this.fail(path, `"${KAFKA_COLUMN}" is reserved for the Kafka metadata column; rename the field`)
      }
      const mapped = this.map(field["type"], path, namespace)
      return new Arrow.Field(name, mapped.type, mapped.nullable)
    })
  }

  mapUnion(branches: ReadonlyArray<Json>, path: string, namespace: string | undefined) {
    const isNull = (b: Json) => b === "null" || (isObject(b) && b["type"] === "null")
    const nonNull = branches.filter((b) => !isNull(b))
    if (nonNull.length === 1 && branches.length === 2) {
      return { type: this.map(nonNull[0], path, namespace).type, nullable: true }
    }
    return this.fail(
      path,
      nonNull.length === 0
        ? "a union of only null has no Delta type"
        : `union with ${nonNull.length} non-null branches; only [null, T] maps to a Delta column, split the field or use a record`
    )
  }
}

/** Parses Avro schema text, failing with the typed error on bad JSON. */
export const parseAvroSchema = (schema: string | object): unknown => {
  if (typeof schema !== "string") return schema
  try {
    return JSON.parse(schema)
  } catch {
    // a bare primitive name like `string` is valid Avro schema text but not JSON
    if (/^[A-Za-z_][A-Za-z0-9_.]*$/.test(schema.trim())) return schema.trim()
    throw new UnsupportedAvroSchemaError({ path: "<root>", reason: "schema text is not valid JSON" })
  }
}

/**
 * The value fields of an Avro record schema as Arrow fields. Throws UnsupportedAvroSchemaError (mapping runs
 * once per schema id, so the pipeline wraps it; see `avroToArrow`).
 */
export const valueFields = (schema: string | object): Array<Arrow.Field> => {
  const parsed = parseAvroSchema(schema)
  const mapper = new Mapper()
  const root = isObject(parsed) && isObject(parsed["type"]) ? parsed["type"] : parsed
  if (!isObject(root) || (root["type"] !== "record" && root["type"] !== "error")) {
    throw new UnsupportedAvroSchemaError({ path: "<root>", reason: "the value schema must be a record, whose fields become the columns" })
  }
  const mapped = mapper.map(root, "", undefined)
  return (mapped.type as Arrow.Struct).children
}

/** The Arrow schema of an Avro record schema: its fields, then `_kafka`. Throws UnsupportedAvroSchemaError. */
export const avroToArrowSchema = (schema: string | object): Arrow.Schema =>
  new Arrow.Schema([...valueFields(schema), kafkaField()])

/** The Arrow schema or the typed error, without throwing. */
export const avroToArrow = (schema: string | object): Arrow.Schema | UnsupportedAvroSchemaError => {
  try {
    return avroToArrowSchema(schema)
  } catch (error) {
    if (error instanceof UnsupportedAvroSchemaError) return error
    throw error
  }
}
