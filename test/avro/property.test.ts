import { describe, expect, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import fc from "fast-check"
import { BatchBuilder, decodeInto } from "../../src/avro/batch.ts"
import { makeDecoder } from "../../src/avro/decoder.ts"
import { decimalAt, encoderType, frame, tableProblems, twos } from "./support.ts"

type Leaf = "int" | "long" | "float" | "double" | "boolean" | "string" | "bytes" | "enum" | "decimal" | "date" | "ts-millis" | "ts-micros"
type Shape =
  | { readonly kind: "leaf"; readonly leaf: Leaf; readonly precision: number; readonly scale: number }
  | { readonly kind: "nullable"; readonly nullFirst: boolean; readonly inner: Shape }
  | { readonly kind: "array"; readonly inner: Shape }
  | { readonly kind: "map"; readonly inner: Shape }
  | { readonly kind: "record"; readonly fields: ReadonlyArray<Shape> }

const leaves: ReadonlyArray<Leaf> = ["int", "long", "float", "double", "boolean", "string", "bytes", "enum", "decimal", "date", "ts-millis", "ts-micros"]
const leafArb = fc
  .record({ leaf: fc.constantFrom(...leaves), precision: fc.integer({ min: 1, max: 38 }), scale: fc.nat() })
  .map(({ leaf, precision, scale }) => ({ kind: "leaf" as const, leaf, precision, scale: scale % (precision + 1) }))

const { shape } = fc.letrec<{ shape: Shape; nonNull: Shape }>((tie) => ({
  shape: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    tie("nonNull"),
    fc.record({ kind: fc.constant("nullable" as const), nullFirst: fc.boolean(), inner: tie("nonNull") })
  ),
  nonNull: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leafArb,
    fc.record({ kind: fc.constant("array" as const), inner: tie("shape") }),
    fc.record({ kind: fc.constant("map" as const), inner: tie("shape") }),
    fc.record({ kind: fc.constant("record" as const), fields: fc.array(tie("shape"), { minLength: 1, maxLength: 4 }) })
  )
}))

const SYMBOLS = ["A", "B", "C"]

const schemaOf = (s: Shape, path: string): unknown => {
  switch (s.kind) {
    case "leaf":
      switch (s.leaf) {
        case "enum": return { type: "enum", name: `E_${path}`, symbols: SYMBOLS }
        case "decimal": return { type: "bytes", logicalType: "decimal", precision: s.precision, scale: s.scale }
        case "date": return { type: "int", logicalType: "date" }
        case "ts-millis": return { type: "long", logicalType: "timestamp-millis" }
        case "ts-micros": return { type: "long", logicalType: "timestamp-micros" }
        default: return s.leaf
      }
    case "nullable":
      return s.nullFirst ? ["null", schemaOf(s.inner, path)] : [schemaOf(s.inner, path), "null"]
    case "array":
      return { type: "array", items: schemaOf(s.inner, `${path}_e`) }
    case "map":
      return { type: "map", values: schemaOf(s.inner, `${path}_v`) }
    case "record":
      return { type: "record", name: `R_${path}`, fields: s.fields.map((f, k) => ({ name: `f${k}`, type: schemaOf(f, `${path}_${k}`) })) }
  }
}

/** A random value in the test's terms: what the table must hold (decimals as unscaled bigints, timestamps as µs). */
const valueOf = (s: Shape): fc.Arbitrary<unknown> => {
  switch (s.kind) {
    case "leaf":
      switch (s.leaf) {
        case "int": case "date": return fc.integer()
        case "long": case "ts-micros": return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
        case "ts-millis": return fc.integer({ min: -(2 ** 52), max: 2 ** 52 }).map((ms) => ({ ms }))
        case "float": return fc.float({ noNaN: true })
        case "double": return fc.double({ noNaN: true })
        case "boolean": return fc.boolean()
        case "string": return fc.string({ unit: "grapheme", maxLength: 12 })
        case "bytes": return fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b))
        case "enum": return fc.constantFrom(...SYMBOLS)
        case "decimal": {
          const limit = 10n ** BigInt(s.precision) - 1n
          return fc.bigInt({ min: -limit, max: limit }).map((unscaled) => ({ unscaled }))
        }
      }
    // eslint-disable-next-line no-fallthrough
    case "nullable": return fc.option(valueOf(s.inner), { nil: null })
    case "array": return fc.array(valueOf(s.inner), { maxLength: 4 })
    case "map": return fc.dictionary(fc.string({ maxLength: 4 }), valueOf(s.inner), { maxKeys: 3 })
    case "record": return fc.tuple(...s.fields.map(valueOf))
  }
}

/** The datum plain avsc encodes. */
const datumOf = (s: Shape, v: unknown): unknown => {
  if (v === null) return null
  switch (s.kind) {
    case "leaf":
      if (s.leaf === "decimal") return twos((v as { unscaled: bigint }).unscaled)
      if (s.leaf === "ts-millis") return (v as { ms: number }).ms
      return v
    case "nullable": return datumOf(s.inner, v)
    case "array": return (v as Array<unknown>).map((x) => datumOf(s.inner, x))
    case "map": return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, datumOf(s.inner, x)]))
    case "record": return Object.fromEntries(s.fields.map((f, k) => [`f${k}`, datumOf(f, (v as Array<unknown>)[k])]))
  }
}

/** What the Arrow column must hold for `v`, in the form `read` returns. */
const expectedOf = (s: Shape, v: unknown): unknown => {
  if (v === null) return null
  switch (s.kind) {
    case "leaf":
      if (s.leaf === "decimal") return (v as { unscaled: bigint }).unscaled
      if (s.leaf === "ts-millis") return BigInt((v as { ms: number }).ms) * 1000n
      if (s.leaf === "float") return Math.fround(v as number)
      return v
    case "nullable": return expectedOf(s.inner, v)
    case "array": return (v as Array<unknown>).map((x) => expectedOf(s.inner, x))
    case "map": return Object.entries(v as object).map(([k, x]) => [k, expectedOf(s.inner, x)])
    case "record": return s.fields.map((f, k) => expectedOf(f, (v as Array<unknown>)[k]))
  }
}

const utf8 = new TextDecoder()

/** Reads row i of raw Arrow data, independently of src/avro. */
const read = (data: Arrow.Data, i: number): unknown => {
  if (!data.getValid(i)) return null
  const type = data.type
  if (Arrow.DataType.isStruct(type)) return data.children.map((child) => read(child, i))
  if (Arrow.DataType.isList(type) || Arrow.DataType.isMap(type)) {
    const offsets = data.valueOffsets as Int32Array
    const child = data.children[0]!
    const items = []
    for (let k = offsets[i]!; k < offsets[i + 1]!; k++) items.push(read(child, k))
    return items
  }
  if (Arrow.DataType.isUtf8(type) || Arrow.DataType.isBinary(type)) {
    const offsets = data.valueOffsets as Int32Array
    const bytes = (data.values as Uint8Array).subarray(offsets[i], offsets[i + 1])
    return Arrow.DataType.isUtf8(type) ? utf8.decode(bytes) : Buffer.from(bytes)
  }
  if (Arrow.DataType.isBool(type)) return ((data.values as Uint8Array)[i >> 3]! >> (i & 7) & 1) === 1
  if (Arrow.DataType.isDecimal(type)) return decimalAt(data, i)
  return (data.values as ArrayLike<unknown>)[i]
}

describe("property: random schemas and values round-trip through the builder", () => {
  it("every value comes back exactly", () => {
    fc.assert(
      fc.property(
        fc.array(shape, { minLength: 1, maxLength: 5 }).chain((fields) =>
          fc.tuple(fc.constant(fields), fc.array(fc.tuple(...fields.map(valueOf)), { minLength: 1, maxLength: 12 }))
        ),
        ([fields, rows]) => {
          const schema = { type: "record", name: "Top", fields: fields.map((f, k) => ({ name: `c${k}`, type: schemaOf(f, `c${k}`) })) }
          const decoder = makeDecoder(5, schema)
          if (!("decode" in decoder)) throw decoder
          const encode = encoderType(schema)
          const builder = new BatchBuilder(decoder.arrowSchema)
          rows.forEach((row, n) => {
            const datum = Object.fromEntries(fields.map((f, k) => [`c${k}`, datumOf(f, row[k])]))
            const error = decodeInto(builder, decoder, frame(5, encode.toBuffer(datum)), { topic: "t", partition: 0, offset: n, timestamp: n, key: null })
            if (error !== undefined) throw error
          })
          const table = builder.finish()
          expect(table.numRows).toBe(rows.length)
          expect(tableProblems(table)).toEqual([])
          const back = Arrow.tableFromIPC(Arrow.tableToIPC(table))
          rows.forEach((row, n) => {
            fields.forEach((f, k) => {
              expect(read(back.getChild(`c${k}`)!.data[0]!, n)).toEqual(expectedOf(f, row[k]))
            })
          })
        }
      ),
      { numRuns: 150 }
    )
  })
})
