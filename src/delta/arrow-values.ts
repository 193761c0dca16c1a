/**
 * Arrow columns from plain JavaScript values, built straight into buffers with `makeData` (Arrow's Builders are
 * slow and quirky with nested nulls). For cold paths: log checkpoints and tests. Longs, timestamps (µs) and
 * decimals (unscaled) are bigints; dates are days; binary is Uint8Array; maps are Map or entry arrays.
 */
import * as Arrow from "apache-arrow"

const encoder = new TextEncoder()

const validity = (values: ReadonlyArray<unknown>): { bitmap: Uint8Array; nulls: number } => {
  const bitmap = new Uint8Array((values.length + 7) >> 3)
  let nulls = 0
  values.forEach((value, i) => {
    if (value === null || value === undefined) nulls++
    else bitmap[i >> 3]! |= 1 << (i & 7)
  })
  return { bitmap, nulls }
}

const offsetsOf = (lengths: ReadonlyArray<number>): Int32Array => {
  const offsets = new Int32Array(lengths.length + 1)
  lengths.forEach((length, i) => (offsets[i + 1] = offsets[i]! + length))
  return offsets
}

const entriesOf = (value: unknown): Array<readonly [unknown, unknown]> =>
  value instanceof Map ? [...value.entries()] : Array.isArray(value) ? value : Object.entries(value as object)

/** A column of `type` holding `values` (null or undefined for null). */
export const dataOf = (type: Arrow.DataType, values: ReadonlyArray<unknown>): Arrow.Data => {
  const { bitmap, nulls } = validity(values)
  const base = { length: values.length, nullCount: nulls, nullBitmap: bitmap }
  const present = (value: unknown) => value !== null && value !== undefined
  if (Arrow.DataType.isStruct(type)) {
    const children = type.children.map((field) =>
      dataOf(field.type, values.map((value) => (present(value) ? (value as Record<string, unknown>)[field.name] : null)))
    )
    return Arrow.makeData({ ...base, type, children })
  }
  if (Arrow.DataType.isList(type)) {
    const lists = values.map((value) => (present(value) ? (value as ReadonlyArray<unknown>) : []))
    const child = dataOf(type.children[0]!.type, lists.flat())
    return Arrow.makeData({ ...base, type, valueOffsets: offsetsOf(lists.map((l) => l.length)), child })
  }
  if (Arrow.DataType.isMap(type)) {
    const maps = values.map((value) => (present(value) ? entriesOf(value) : []))
    const entries = maps.flat().map(([key, value]) => ({ key, value }))
    const child = dataOf(type.children[0]!.type, entries)
    return Arrow.makeData({ ...base, type, valueOffsets: offsetsOf(maps.map((m) => m.length)), child })
  }
  if (Arrow.DataType.isUtf8(type) || Arrow.DataType.isBinary(type)) {
    const chunks = values.map((value) =>
      !present(value) ? new Uint8Array(0) : typeof value === "string" ? encoder.encode(value) : (value as Uint8Array)
    )
    const valueOffsets = offsetsOf(chunks.map((c) => c.byteLength))
    const data = new Uint8Array(valueOffsets[valueOffsets.length - 1]!)
    chunks.forEach((chunk, i) => data.set(chunk, valueOffsets[i]!))
    return Arrow.makeData({ ...base, type: type as Arrow.Utf8, valueOffsets, data })
  }
  if (Arrow.DataType.isBool(type)) {
    const data = new Uint8Array((values.length + 7) >> 3)
    values.forEach((value, i) => {
      if (value === true) data[i >> 3]! |= 1 << (i & 7)
    })
    return Arrow.makeData({ ...base, type, data })
  }
  if (Arrow.DataType.isDecimal(type)) {
    const words = new BigInt64Array(values.length * 2)
    values.forEach((value, i) => {
      if (!present(value)) return
      const v = BigInt(value as bigint)
      words[i * 2] = BigInt.asIntN(64, v)
      words[i * 2 + 1] = BigInt.asIntN(64, v >> 64n)
    })
    return Arrow.makeData({ ...base, type, data: new Uint32Array(words.buffer) })
  }
  if ((Arrow.DataType.isInt(type) && type.bitWidth === 64) || Arrow.DataType.isTimestamp(type)) {
    const data = new BigInt64Array(values.map((value) => (present(value) ? BigInt(value as bigint) : 0n)))
    return Arrow.makeData({ ...base, type: type as Arrow.Int64, data })
  }
  const ArrayType = (type as unknown as { ArrayType: new(values: ArrayLike<number>) => Int32Array }).ArrayType
  const data = new ArrayType(values.map((value) => (present(value) ? Number(value) : 0)))
  return Arrow.makeData({ ...base, type: type as Arrow.Int32, data })
}

/** A table of `schema` from row objects. */
export const tableOf = (schema: Arrow.Schema, rows: ReadonlyArray<Record<string, unknown>>): Arrow.Table => {
  const children = schema.fields.map((field) => dataOf(field.type, rows.map((row) => row[field.name])))
  const data = Arrow.makeData({ type: new Arrow.Struct(schema.fields), length: rows.length, nullCount: 0, children })
  return new Arrow.Table(schema, [new Arrow.RecordBatch(schema, data)])
}

/** A plain JavaScript value of an Arrow value: structs and maps as objects, lists as arrays, bigints kept. */
export const plainOf = (value: unknown): unknown => {
  if (value === null || value === undefined) return null
  if (typeof value !== "object") return value
  if (value instanceof Uint8Array) return value
  if (value instanceof Arrow.Vector) return [...value].map(plainOf)
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plainOf(v)]))
  const json = (value as { toJSON?: () => unknown }).toJSON
  if (typeof json === "function") {
    const out = json.call(value)
    if (out !== value && typeof out === "object" && out !== null && !Array.isArray(out)) {
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, plainOf(v)]))
    }
    if (Array.isArray(out)) return out.map(plainOf)
  }
  return value
}
