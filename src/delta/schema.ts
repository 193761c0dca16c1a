/**
 * Table schemas in both forms: Apache Arrow (what batches carry) and the Spark StructType JSON stored in
 * `metaData.schemaString`. The Arrow form produced here is canonical for writing Parquet the way Spark lays it
 * out: list items are named `element`, map entries `key_value` with a required `key`, timestamps are microseconds.
 */
import * as Arrow from "apache-arrow"

/** A Delta (Spark) data type. */
export type DeltaType =
  | string
  | DeltaStructType
  | { readonly type: "array"; readonly elementType: DeltaType; readonly containsNull: boolean }
  | {
    readonly type: "map"
    readonly keyType: DeltaType
    readonly valueType: DeltaType
    readonly valueContainsNull: boolean
  }

/** A struct field of a Delta schema. */
export interface DeltaField {
  readonly name: string
  readonly type: DeltaType
  readonly nullable: boolean
  readonly metadata: Readonly<Record<string, unknown>>
}

/** A Delta struct type; the table schema is one. */
export interface DeltaStructType {
  readonly type: "struct"
  readonly fields: ReadonlyArray<DeltaField>
}

/** Thrown for an Arrow or Delta type that has no counterpart. */
export class UnsupportedTypeError extends Error {}

const primitive = (type: Arrow.DataType, path: string): string => {
  if (Arrow.DataType.isInt(type)) {
    if (!type.isSigned) throw new UnsupportedTypeError(`${path}: unsigned integers have no Delta type`)
    return ({ 8: "byte", 16: "short", 32: "integer", 64: "long" } as Record<number, string>)[type.bitWidth] ?? "long"
  }
  if (Arrow.DataType.isFloat(type)) {
    if (type.precision === Arrow.Precision.SINGLE) return "float"
    if (type.precision === Arrow.Precision.DOUBLE) return "double"
    throw new UnsupportedTypeError(`${path}: half floats have no Delta type`)
  }
  if (Arrow.DataType.isBool(type)) return "boolean"
  if (Arrow.DataType.isUtf8(type)) return "string"
  if (Arrow.DataType.isBinary(type)) return "binary"
  if (Arrow.DataType.isDecimal(type)) {
    if (type.precision > 38) throw new UnsupportedTypeError(`${path}: decimal precision ${type.precision} > 38`)
    return `decimal(${type.precision},${type.scale})`
  }
  if (Arrow.DataType.isDate(type)) {
    if (type.unit !== Arrow.DateUnit.DAY) throw new UnsupportedTypeError(`${path}: only Date32(DAY) maps to date`)
    return "date"
  }
  if (Arrow.DataType.isTimestamp(type)) {
    if (type.unit !== Arrow.TimeUnit.MICROSECOND) {
      throw new UnsupportedTypeError(`${path}: timestamps must be microseconds (Spark cannot read others)`)
    }
    return type.timezone === null || type.timezone === undefined ? "timestamp_ntz" : "timestamp"
  }
  throw new UnsupportedTypeError(`${path}: Arrow type ${String(type)} has no Delta type`)
}

/** The Delta type of an Arrow type. */
export const deltaTypeOf = (type: Arrow.DataType, path = "column"): DeltaType => {
  if (Arrow.DataType.isStruct(type)) return deltaStructOf(type.children, path)
  if (Arrow.DataType.isList(type)) {
    const child = type.children[0]!
    return { type: "array", elementType: deltaTypeOf(child.type, `${path}.element`), containsNull: child.nullable }
  }
  if (Arrow.DataType.isMap(type)) {
    const entries = type.children[0]!.type as Arrow.Struct
    const [key, value] = entries.children
    return {
      type: "map",
      keyType: deltaTypeOf(key!.type, `${path}.key`),
      valueType: deltaTypeOf(value!.type, `${path}.value`),
      valueContainsNull: value!.nullable
    }
  }
  return primitive(type, path)
}

const deltaStructOf = (fields: ReadonlyArray<Arrow.Field>, prefix?: string): DeltaStructType => ({
  type: "struct",
  fields: fields.map((field) => ({
    name: field.name,
    type: deltaTypeOf(field.type, prefix === undefined ? field.name : `${prefix}.${field.name}`),
    nullable: field.nullable,
    metadata: {}
  }))
})

/** The Delta schema of an Arrow schema. */
export const deltaSchemaOf = (schema: Arrow.Schema): DeltaStructType => deltaStructOf(schema.fields)

/** The Arrow type of a Delta type, in the canonical layout used for Parquet files. */
export const arrowTypeOf = (type: DeltaType): Arrow.DataType => {
  if (typeof type === "string") {
    const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(type)
    if (decimal !== null) return new Arrow.Decimal(Number(decimal[2]), Number(decimal[1]), 128)
    switch (type) {
      case "string":
        return new Arrow.Utf8()
      case "long":
        return new Arrow.Int64()
      case "integer":
        return new Arrow.Int32()
      case "short":
        return new Arrow.Int16()
      case "byte":
        return new Arrow.Int8()
      case "float":
        return new Arrow.Float32()
      case "double":
        return new Arrow.Float64()
      case "boolean":
        return new Arrow.Bool()
      case "binary":
        return new Arrow.Binary()
      case "date":
        return new Arrow.DateDay()
      case "timestamp":
        return new Arrow.TimestampMicrosecond("UTC")
      case "timestamp_ntz":
        return new Arrow.TimestampMicrosecond()
      case "decimal":
        return new Arrow.Decimal(0, 10, 128)
    }
    throw new UnsupportedTypeError(`Delta type ${type} is not supported`)
  }
  switch (type.type) {
    case "struct":
      return new Arrow.Struct(arrowFieldsOf(type))
    case "array":
      return new Arrow.List(new Arrow.Field("element", arrowTypeOf(type.elementType), type.containsNull))
    case "map":
      return new Arrow.Map_(
        new Arrow.Field(
          "key_value",
          new Arrow.Struct<any>([
            new Arrow.Field("key", arrowTypeOf(type.keyType), false),
            new Arrow.Field("value", arrowTypeOf(type.valueType), type.valueContainsNull)
          ]),
          false
        )
      )
  }
}

/** Whether a Delta type is `void` (a column of only nulls that some engines create). */
export const isVoid = (type: DeltaType): boolean => type === "void"

// void columns are left out: PROTOCOL.md recommends readers drop them, and a writer has nothing to put in them
const arrowFieldsOf = (struct: DeltaStructType): Array<Arrow.Field> =>
  struct.fields.filter((field) => !isVoid(field.type)).map((field) =>
    new Arrow.Field(field.name, arrowTypeOf(field.type), field.nullable)
  )

/** The Arrow schema of a Delta schema. */
export const arrowSchemaOf = (struct: DeltaStructType): Arrow.Schema => new Arrow.Schema(arrowFieldsOf(struct))

/** `metaData.schemaString` of a Delta schema. */
export const schemaStringOf = (struct: DeltaStructType): string => JSON.stringify(struct)

/** Parses `metaData.schemaString`. */
export const parseSchemaString = (text: string): DeltaStructType => {
  const parsed = JSON.parse(text) as DeltaStructType
  if (parsed.type !== "struct" || !Array.isArray(parsed.fields)) {
    throw new UnsupportedTypeError("schemaString is not a struct type")
  }
  return parsed
}

/** Whether a Delta type (or any type inside it) is `timestamp_ntz`. */
export const usesTimestampNtz = (type: DeltaType): boolean => {
  if (typeof type === "string") return type === "timestamp_ntz"
  switch (type.type) {
    case "struct":
      return type.fields.some((field) => usesTimestampNtz(field.type))
    case "array":
      return usesTimestampNtz(type.elementType)
    case "map":
      return usesTimestampNtz(type.keyType) || usesTimestampNtz(type.valueType)
  }
}

/** Whether any field of a Delta type carries the given metadata key (e.g. `delta.invariants`). */
export const hasFieldMetadata = (type: DeltaType, key: string): boolean => {
  if (typeof type === "string") return false
  switch (type.type) {
    case "struct":
      return type.fields.some((field) => key in field.metadata || hasFieldMetadata(field.type, key))
    case "array":
      return hasFieldMetadata(type.elementType, key)
    case "map":
      return hasFieldMetadata(type.keyType, key) || hasFieldMetadata(type.valueType, key)
  }
}
