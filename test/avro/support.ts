/** Test helpers for the Avro layer: an independent encoder (plain avsc + a bigint long) and raw column readers. */
import * as Arrow from "apache-arrow"
import avro from "avsc"
import { expect } from "vitest"

/** A plain avsc long that encodes bigints (avsc's own long refuses values beyond 2^53). */
export const encoderLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(0),
  toBuffer: (n: number | bigint) => {
    const buf = Buffer.alloc(8)
    buf.writeBigInt64LE(BigInt(n))
    return buf
  },
  fromJSON: (n: unknown) => BigInt(n as number),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === "bigint" || (typeof n === "number" && Number.isSafeInteger(n)),
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0)
})

/** An avsc type that ignores logical types (so the test encodes raw bytes/longs itself). */
export const encoderType = (schema: object): avro.Type =>
  avro.Type.forSchema(schema as avro.Schema, {
    registry: { long: encoderLong },
    logicalTypes: {},
    // `{"type": "long"}` objects bypass the registry
    typeHook: (s: unknown) => (typeof s === "object" && s !== null && (s as { type?: unknown }).type === "long" ? encoderLong : undefined)
  } as Partial<avro.ForSchemaOptions>)

/** Confluent frame. */
export const frame = (schemaId: number, body: Uint8Array): Buffer => {
  const out = Buffer.alloc(5 + body.length)
  out.writeInt32BE(schemaId, 1)
  out.set(body, 5)
  return out
}

/** Minimal big-endian two's complement, written independently of src/avro. */
export const twos = (value: bigint, size?: number): Buffer => {
  const hex = BigInt.asUintN(8 * 17, value).toString(16).padStart(34, "0")
  let bytes = Buffer.from(hex, "hex")
  const negative = value < 0n
  while (bytes.length > 1 && bytes[0] === (negative ? 0xff : 0) && ((bytes[1]! & 0x80) !== 0) === negative) bytes = bytes.subarray(1)
  if (size !== undefined) {
    bytes = Buffer.concat([Buffer.alloc(size - bytes.length, negative ? 0xff : 0), bytes])
  }
  return bytes
}

/** The column data of a one-batch table's top-level column (or a struct child path "a.b"). */
export const dataOf = (table: Arrow.Table, path: string): Arrow.Data => {
  const [head, ...rest] = path.split(".")
  let vector = table.getChild(head!)!
  for (const name of rest) vector = vector.getChild(name)!
  expect(vector.data.length).toBe(1)
  return vector.data[0]!
}

/** Raw int64 (exact) at row i. */
export const int64At = (data: Arrow.Data, i: number): bigint | null =>
  data.getValid(i) ? (data.values as BigInt64Array)[i]! : null

/** Raw Decimal128 unscaled value at row i. */
export const decimalAt = (data: Arrow.Data, i: number): bigint | null => {
  if (!data.getValid(i)) return null
  const w = data.values as Uint32Array
  let v = 0n
  for (let k = 3; k >= 0; k--) v = (v << 32n) | BigInt(w[4 * i + k]!)
  return BigInt.asIntN(128, v)
}

/** Checks Arrow's structural invariants that a bad rollback would break; returns the problems found. */
export const structuralProblems = (data: Arrow.Data, path = "<root>"): Array<string> => {
  const problems: Array<string> = []
  const type = data.type
  if (Arrow.DataType.isStruct(type)) {
    data.children.forEach((child, k) => {
      const name = `${path}.${type.children[k]!.name}`
      if (child.length !== data.length) problems.push(`${name} has ${child.length} rows, its struct ${data.length}`)
      problems.push(...structuralProblems(child, name))
    })
  } else if (Arrow.DataType.isList(type) || Arrow.DataType.isMap(type)) {
    const offsets = data.valueOffsets as Int32Array
    const child = data.children[0]!
    if (offsets[data.length] !== child.length) problems.push(`${path} ends at ${offsets[data.length]}, child has ${child.length}`)
    problems.push(...structuralProblems(child, `${path}[]`))
  } else if (Arrow.DataType.isUtf8(type) || Arrow.DataType.isBinary(type)) {
    const offsets = data.valueOffsets as Int32Array
    if (offsets[data.length] !== (data.values as Uint8Array).length) problems.push(`${path} byte length mismatch`)
  }
  let nulls = 0
  for (let i = 0; i < data.length; i++) if (!data.getValid(i)) nulls++
  if (nulls !== data.nullCount) problems.push(`${path} nullCount ${data.nullCount}, bitmap says ${nulls}`)
  return problems
}

/** Structural problems of every column of a one-batch table. */
export const tableProblems = (table: Arrow.Table): Array<string> =>
  table.batches.flatMap((batch) => structuralProblems(batch.data))
