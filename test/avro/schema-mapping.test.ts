import { describe, expect, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { UnsupportedAvroSchemaError } from "../../src/avro/errors.ts"
import { avroToArrow, avroToArrowSchema, KAFKA_COLUMN } from "../../src/avro/schema-mapping.ts"

const record = (...fields: ReadonlyArray<object>) => ({ type: "record", name: "R", namespace: "test", fields })
const fieldOf = (type: unknown) => {
  const schema = avroToArrowSchema(record({ name: "f", type }))
  return schema.fields[0]!
}
const mappingError = (schema: object): UnsupportedAvroSchemaError => {
  const result = avroToArrow(schema)
  expect(result).toBeInstanceOf(UnsupportedAvroSchemaError)
  return result as UnsupportedAvroSchemaError
}

describe("avroToArrowSchema: primitive and logical types", () => {
  const cases: ReadonlyArray<[string, unknown, (t: Arrow.DataType) => void]> = [
    ["int", "int", (t) => expect(t).toEqual(new Arrow.Int32())],
    ["long", "long", (t) => expect(t).toEqual(new Arrow.Int64())],
    ["float", "float", (t) => expect(t).toEqual(new Arrow.Float32())],
    ["double", "double", (t) => expect(t).toEqual(new Arrow.Float64())],
    ["boolean", "boolean", (t) => expect(t).toEqual(new Arrow.Bool())],
    ["string", "string", (t) => expect(t).toEqual(new Arrow.Utf8())],
    ["bytes", "bytes", (t) => expect(t).toEqual(new Arrow.Binary())],
    ["enum", { type: "enum", name: "E", symbols: ["A", "B"] }, (t) => expect(t).toEqual(new Arrow.Utf8())],
    ["fixed", { type: "fixed", name: "F", size: 3 }, (t) => expect(t).toEqual(new Arrow.Binary())],
    ["uuid on string", { type: "string", logicalType: "uuid" }, (t) => expect(t).toEqual(new Arrow.Utf8())],
    ["uuid on fixed(16)", { type: "fixed", name: "U", size: 16, logicalType: "uuid" }, (t) => expect(t).toEqual(new Arrow.Utf8())],
    ["decimal on bytes", { type: "bytes", logicalType: "decimal", precision: 18, scale: 2 }, (t) => expect(t).toEqual(new Arrow.Decimal(2, 18, 128))],
    ["decimal on fixed", { type: "fixed", name: "D", size: 16, logicalType: "decimal", precision: 38, scale: 10 }, (t) => expect(t).toEqual(new Arrow.Decimal(10, 38, 128))],
    ["decimal without scale", { type: "bytes", logicalType: "decimal", precision: 5 }, (t) => expect(t).toEqual(new Arrow.Decimal(0, 5, 128))],
    ["decimal with scale > precision (ignored)", { type: "bytes", logicalType: "decimal", precision: 2, scale: 3 }, (t) => expect(t).toEqual(new Arrow.Binary())],
    ["decimal too wide for its fixed (ignored)", { type: "fixed", name: "D2", size: 2, logicalType: "decimal", precision: 9 }, (t) => expect(t).toEqual(new Arrow.Binary())],
    ["date", { type: "int", logicalType: "date" }, (t) => expect(t).toEqual(new Arrow.DateDay())],
    ["time-millis", { type: "int", logicalType: "time-millis" }, (t) => expect(t).toEqual(new Arrow.Int32())],
    ["time-micros", { type: "long", logicalType: "time-micros" }, (t) => expect(t).toEqual(new Arrow.Int64())],
    ["timestamp-millis", { type: "long", logicalType: "timestamp-millis" }, (t) => expect(t).toEqual(new Arrow.TimestampMicrosecond("UTC"))],
    ["timestamp-micros", { type: "long", logicalType: "timestamp-micros" }, (t) => expect(t).toEqual(new Arrow.TimestampMicrosecond("UTC"))],
    ["timestamp-nanos", { type: "long", logicalType: "timestamp-nanos" }, (t) => expect(t).toEqual(new Arrow.TimestampMicrosecond("UTC"))],
    ["local-timestamp-millis", { type: "long", logicalType: "local-timestamp-millis" }, (t) => expect(t).toEqual(new Arrow.TimestampMicrosecond())],
    ["local-timestamp-micros", { type: "long", logicalType: "local-timestamp-micros" }, (t) => expect(t).toEqual(new Arrow.TimestampMicrosecond())],
    ["unknown logical type (underlying)", { type: "string", logicalType: "json" }, (t) => expect(t).toEqual(new Arrow.Utf8())]
  ]
  it.each(cases)("%s", (_name, avro, check) => {
    const field = fieldOf(avro)
    check(field.type)
    expect(field.nullable).toBe(false)
  })

  it("pins the unit and zone of timestamps", () => {
    const utc = fieldOf({ type: "long", logicalType: "timestamp-millis" }).type as Arrow.Timestamp
    expect(utc.unit).toBe(Arrow.TimeUnit.MICROSECOND)
    expect(utc.timezone).toBe("UTC")
    const local = fieldOf({ type: "long", logicalType: "local-timestamp-micros" }).type as Arrow.Timestamp
    expect(local.unit).toBe(Arrow.TimeUnit.MICROSECOND)
    // Arrow JS leaves the zone undefined when none is given; src/delta reads timestamp_ntz the same way
    expect(local.timezone ?? null).toBeNull()
  })
})

describe("avroToArrowSchema: complex types", () => {
  it("array -> List(element) with item nullability", () => {
    const plain = fieldOf({ type: "array", items: "int" }).type as Arrow.List
    expect(plain).toBeInstanceOf(Arrow.List)
    expect(plain.children[0]!.name).toBe("element")
    expect(plain.children[0]!.type).toEqual(new Arrow.Int32())
    expect(plain.children[0]!.nullable).toBe(false)
    const nullable = fieldOf({ type: "array", items: ["null", "string"] }).type as Arrow.List
    expect(nullable.children[0]!.nullable).toBe(true)
  })

  it("map -> Map_(entries: Struct<key Utf8 non-null, value>), keys unsorted", () => {
    const map = fieldOf({ type: "map", values: ["null", "long"] }).type as Arrow.Map_
    expect(map).toBeInstanceOf(Arrow.Map_)
    expect(map.keysSorted).toBe(false)
    const entries = map.children[0]!
    expect(entries.name).toBe("entries")
    expect(entries.nullable).toBe(false)
    const [key, value] = (entries.type as Arrow.Struct).children
    expect([key!.name, String(key!.type), key!.nullable]).toEqual(["key", "Utf8", false])
    expect([value!.name, String(value!.type), value!.nullable]).toEqual(["value", "Int64", true])
  })

  it("record -> Struct, and named types can be referenced again", () => {
    const schema = avroToArrowSchema(record(
      { name: "a", type: { type: "record", name: "Inner", fields: [{ name: "x", type: "int" }, { name: "y", type: ["null", "string"] }] } },
      { name: "b", type: ["null", "Inner"] },
      { name: "c", type: "test.Inner" }
    ))
    const inner = new Arrow.Struct([new Arrow.Field("x", new Arrow.Int32(), false), new Arrow.Field("y", new Arrow.Utf8(), true)])
    expect(schema.fields.slice(0, 3).map((f) => [f.name, f.nullable])).toEqual([["a", false], ["b", true], ["c", false]])
    for (const f of schema.fields.slice(0, 3)) expect(f.type).toEqual(inner)
  })

  it("[null, T] and [T, null] -> T nullable", () => {
    const a = fieldOf(["null", "double"])
    const b = fieldOf(["double", "null"])
    expect([a.type, a.nullable]).toEqual([new Arrow.Float64(), true])
    expect([b.type, b.nullable]).toEqual([new Arrow.Float64(), true])
  })

  it("accepts schema text", () => {
    const schema = avroToArrowSchema(JSON.stringify(record({ name: "x", type: "long" })))
    expect(schema.fields.map((f) => f.name)).toEqual(["x", KAFKA_COLUMN])
  })

  it("appends the non-null _kafka struct last", () => {
    const schema = avroToArrowSchema(record({ name: "x", type: "int" }))
    const kafka = schema.fields[schema.fields.length - 1]!
    expect(kafka.name).toBe("_kafka")
    expect(kafka.nullable).toBe(false)
    const children = (kafka.type as Arrow.Struct).children
    expect(children.map((c) => [c.name, String(c.type), c.nullable])).toEqual([
      ["topic", "Utf8", false],
      ["partition", "Int32", false],
      ["offset", "Int64", false],
      ["timestamp", "Timestamp<MICROSECOND, UTC>", false],
      ["key", "Binary", true]
    ])
  })
})

describe("avroToArrowSchema: rejected schemas name the field path", () => {
  it("a union of several types", () => {
    const error = mappingError(record({ name: "outer", type: record({ name: "u", type: ["null", "int", "string"] }) }))
    expect(error.path).toBe("outer.u")
    expect(error.message).toContain("outer.u")
    expect(error.message).toContain("2 non-null branches")
  })

  it("a recursive record", () => {
    const error = mappingError({ type: "record", name: "Node", fields: [{ name: "next", type: ["null", "Node"] }] })
    expect(error.path).toBe("next")
    expect(error.reason).toContain("recursive")
  })

  it("names that differ only in case", () => {
    const error = mappingError(record({ name: "inner", type: { type: "record", name: "I", fields: [{ name: "Id", type: "int" }, { name: "id", type: "int" }] } }))
    expect(error.path).toBe("inner.id")
    expect(error.reason).toContain("case")
  })

  it("a field named _kafka", () => {
    expect(mappingError(record({ name: "_Kafka", type: "int" })).path).toBe("_Kafka")
  })

  it("decimal precision above 38", () => {
    const error = mappingError(record({ name: "wide", type: { type: "bytes", logicalType: "decimal", precision: 39, scale: 0 } }))
    expect(error.path).toBe("wide")
    expect(error.reason).toContain("39")
  })

  it("a bare null field and a non-record root", () => {
    expect(mappingError(record({ name: "n", type: "null" })).path).toBe("n")
    expect(mappingError({ type: "array", items: "int" }).path).toBe("<root>")
  })

  it("unions inside arrays and maps name the element/value path", () => {
    expect(mappingError(record({ name: "xs", type: { type: "array", items: ["int", "string"] } })).path).toBe("xs.element")
    expect(mappingError(record({ name: "m", type: { type: "map", values: ["int", "string"] } })).path).toBe("m.value")
  })
})
