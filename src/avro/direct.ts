/**
 * Direct decoding: an Avro body read straight from its bytes into a BatchBuilder's column accumulators, with no
 * decoded record objects and no JS strings in between (string bytes are copied, not decoded and re-encoded).
 * A writer schema is compiled once per batch builder into a tree of small readers, one per schema node, each
 * bound to the column it fills.
 *
 * It yields exactly what the avsc path (decoder.ts + BatchBuilder.append) yields, which a differential test
 * checks: exact longs (bigints beyond 2^53), timestamps in microseconds, decimals as Decimal128 words, uuid on
 * fixed(16) as text, invalid UTF-8 replaced by U+FFFD as avsc's string reader does. Map entries keep the order
 * they were written in (the avsc path goes through a JS object, which puts integer-like keys first).
 *
 * `compileBodyReader` returns undefined when the writer schema does not match the batch columns type for type
 * (a field whose type changed since the batch schema was set, a decimal of another scale, ...): those records go
 * through the avsc path, which rejects or widens them one by one with the typed errors.
 */
import * as Arrow from "apache-arrow"
import { isUtf8 } from "node:buffer"
import { endianness } from "node:os"
import { BoolColumn, type Column, DecimalColumn, Int64Column, NumberColumn, VarBinaryColumn } from "./columns.ts"
import { DecimalValue } from "./decoder.ts"
import { corrupt, type Cursor, readBlocks, readInt, readLength, readLong, truncated } from "./cursor.ts"
import { NullInNonNullableColumnError } from "./errors.ts"
import { ListColumn, MapColumn, StructColumn } from "./nested.ts"
import { decimalParams } from "./schema-mapping.ts"

/** Reads one value of its schema node at the cursor into its column. */
export type Reader = (c: Cursor) => void

const TWO_32 = 4294967296

const scratch = new ArrayBuffer(8)
const scratchBytes = new Uint8Array(scratch)
const scratchFloat = new Float32Array(scratch)
const scratchDouble = new Float64Array(scratch)

/**
 * Whether `bytes[start, end)` is well-formed UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF), as `buffer.isUtf8` decides, without the subarray that calling it on a slice needs.
 */
export const isWellFormedUtf8 = (bytes: Uint8Array, start: number, end: number): boolean => {
  let i = start
  while (i < end) {
    const b = bytes[i]!
    if (b < 0x80) {
      i++
      continue
    }
    if (b < 0xc2) return false
    if (b < 0xe0) {
      if (i + 1 >= end || (bytes[i + 1]! & 0xc0) !== 0x80) return false
      i += 2
      continue
    }
    if (b < 0xf0) {
      if (i + 2 >= end) return false
      const b1 = bytes[i + 1]!
      if ((b1 & 0xc0) !== 0x80 || (bytes[i + 2]! & 0xc0) !== 0x80) return false
      if ((b === 0xe0 && b1 < 0xa0) || (b === 0xed && b1 >= 0xa0)) return false
      i += 3
      continue
    }
    if (b < 0xf5) {
      if (i + 3 >= end) return false
      const b1 = bytes[i + 1]!
      if ((b1 & 0xc0) !== 0x80 || (bytes[i + 2]! & 0xc0) !== 0x80 || (bytes[i + 3]! & 0xc0) !== 0x80) return false
      if ((b === 0xf0 && b1 < 0x90) || (b === 0xf4 && b1 >= 0x90)) return false
      i += 4
      continue
    }
    return false
  }
  return true
}

/** Copies `length` bytes at the cursor into a var-binary column's byte buffer as row `i`'s value. */
const copyBytes = (c: Cursor, column: VarBinaryColumn, i: number, length: number, utf8: boolean): void => {
  let q = column.offsets[i]!
  if (q + length > column.bytes.length) column.growBytes(q + length, q)
  const dst = column.bytes
  const src = c.buf
  const start = c.pos
  const stop = start + length
  let valid = true
  if (length < 48) {
    let high = 0
    for (let p = start; p < stop; p++) {
      const b = src[p]!
      high |= b
      dst[q++] = b
    }
    if (utf8 && high & 0x80) valid = isWellFormedUtf8(src, start, stop)
  } else {
    const slice = src.subarray(start, stop)
    dst.set(slice, q)
    q += length
    if (utf8) valid = isUtf8(slice)
  }
  if (!valid) {
    // what avsc's string reader (Buffer#utf8Slice) gives: each invalid sequence becomes U+FFFD
    const text = Buffer.from(src.buffer, src.byteOffset + start, length).toString("utf8")
    q = column.offsets[i]!
    const needed = q + Buffer.byteLength(text)
    if (needed > column.bytes.length) column.growBytes(needed, q)
    q += column.bytes.write(text, q)
  }
  column.offsets[i + 1] = q
  c.pos = stop
}

const stringReader = (column: VarBinaryColumn, utf8: boolean): Reader => (c) => {
  const length = readLength(c)
  copyBytes(c, column, column.push(), length, utf8)
}

const fixedBinaryReader = (column: VarBinaryColumn, size: number): Reader => (c) => {
  if (c.pos + size > c.end) truncated(c)
  copyBytes(c, column, column.push(), size, false)
}

const encoder = new TextEncoder()

const enumReader = (column: VarBinaryColumn, symbols: ReadonlyArray<string>): Reader => {
  const encoded = symbols.map((symbol) => encoder.encode(symbol))
  return (c) => {
    const index = readLong(c)
    const symbol = encoded[index]
    if (symbol === undefined) return corrupt(`enum index ${index} is out of range (${symbols.length} symbols)`)
    const i = column.push()
    const q = column.offsets[i]!
    if (q + symbol.length > column.bytes.length) column.growBytes(q + symbol.length, q)
    column.bytes.set(symbol, q)
    column.offsets[i + 1] = q + symbol.length
  }
}

const HEX = encoder.encode("0123456789abcdef")

const fixedUuidReader = (column: VarBinaryColumn): Reader => (c) => {
  if (c.pos + 16 > c.end) truncated(c)
  const i = column.push()
  let q = column.offsets[i]!
  if (q + 36 > column.bytes.length) column.growBytes(q + 36, q)
  const dst = column.bytes
  const src = c.buf
  for (let k = 0; k < 16; k++) {
    if (k === 4 || k === 6 || k === 8 || k === 10) dst[q++] = 0x2d
    const b = src[c.pos + k]!
    dst[q++] = HEX[b >> 4]!
    dst[q++] = HEX[b & 15]!
  }
  column.offsets[i + 1] = q
  c.pos += 16
}

const booleanReader = (column: BoolColumn): Reader => (c) => {
  if (c.pos >= c.end) truncated(c)
  const i = column.push()
  // avsc reads any non-zero byte as true
  if (c.buf[c.pos++] !== 0) column.bits[i >> 3]! |= 1 << (i & 7)
  else column.bits[i >> 3]! &= ~(1 << (i & 7))
}

const intReader = (column: NumberColumn): Reader => (c) => {
  const value = readInt(c)
  const i = column.push()
  column.values[i] = value
}

const floatReader = (column: NumberColumn, bytes: 4 | 8): Reader => (c) => {
  const pos = c.pos
  if (pos + bytes > c.end) truncated(c)
  const buf = c.buf
  for (let k = 0; k < bytes; k++) scratchBytes[k] = buf[pos + k]!
  c.pos = pos + bytes
  const i = column.push()
  column.values[i] = bytes === 4 ? scratchFloat[0]! : scratchDouble[0]!
}

const writeLongWords = (column: Int64Column, value: number): void => {
  const i = column.push()
  const hi = Math.floor(value / TWO_32)
  column.words[2 * i] = value - hi * TWO_32
  column.words[2 * i + 1] = hi
}

const floorDiv1000 = (value: bigint): bigint => {
  const q = value / 1000n
  return value < 0n && q * 1000n !== value ? q - 1n : q
}

/** long, and timestamps read in `unit` and stored in microseconds. */
const longReader = (column: Int64Column, unit: "plain" | "millis" | "nanos"): Reader => (c) => {
  const value = readLong(c)
  if (unit === "plain") {
    if (value === value) writeLongWords(column, value)
    else column.append(c.big)
  } else if (unit === "millis") {
    const micros = value * 1000
    if (Number.isSafeInteger(micros)) writeLongWords(column, micros)
    else column.append((value === value ? BigInt(value) : c.big) * 1000n)
  } else {
    if (value === value) writeLongWords(column, Math.floor(value / 1000))
    else {
      const micros = floorDiv1000(c.big)
      column.append(micros >= -9007199254740991n && micros <= 9007199254740991n ? Number(micros) : micros)
    }
  }
}

/** decimal on bytes (size undefined) or fixed(size), written with `scale` into a column of the same scale. */
const decimalReader = (column: DecimalColumn, scale: number, size: number | undefined): Reader => {
  const precision = (column.type as Arrow.Decimal).precision
  // safe integers below 2^47 (6 bytes) always fit 15 digits; a smaller precision is checked as a number
  const limit = precision >= 15 ? Infinity : 10 ** precision
  return (c) => {
    const length = size ?? readLength(c)
    if (c.pos + length > c.end) truncated(c)
    const buf = c.buf
    const start = c.pos
    c.pos = start + length
    if (length <= 6) {
      let value = 0
      for (let k = 0; k < length; k++) value = value * 256 + buf[start + k]!
      if (length > 0 && buf[start]! & 0x80) value -= 2 ** (8 * length)
      if (value < limit && value > -limit) {
        const i = column.push()
        const u32 = column.u32
        const hi = Math.floor(value / TWO_32)
        u32[4 * i] = value - hi * TWO_32
        u32[4 * i + 1] = hi
        const sign = value < 0 ? 0xffffffff : 0
        u32[4 * i + 2] = sign
        u32[4 * i + 3] = sign
        return
      }
    }
    // wide or out-of-range values: the column's own checks and error
    let unscaled = 0n
    for (let k = 0; k < length; k++) unscaled = (unscaled << 8n) | BigInt(buf[start + k]!)
    if (length > 0 && buf[start]! & 0x80) unscaled -= 1n << BigInt(8 * length)
    column.append(new DecimalValue(unscaled, scale))
  }
}

const nullIn = (column: Column): void => {
  if (!column.nullable) throw new NullInNonNullableColumnError({ path: column.path })
  column.appendNull()
}

/** [null, T] or [T, null]. */
const unionReader = (column: Column, nullIndex: number, value: Reader): Reader => (c) => {
  const index = readLong(c)
  if (index === nullIndex) nullIn(column)
  else if (index === 1 - nullIndex) value(c)
  else corrupt(`union branch index ${index} is out of range (2 branches)`)
}

const listReader = (column: ListColumn, item: Reader, minItemBytes: number): Reader => (c) => {
  const i = column.push()
  readBlocks(c, minItemBytes, () => item(c))
  column.offsets[i + 1] = column.child.length
}

const mapReader = (column: MapColumn, value: Reader, minEntryBytes: number): Reader => {
  const key = stringReader(column.keys, true)
  return (c) => {
    const i = column.push()
    readBlocks(c, minEntryBytes, () => {
      key(c)
      value(c)
    })
    column.offsets[i + 1] = column.keys.length
  }
}

/**
 * The fields of a record in writer order, then nulls for the batch columns the writer lacks. A loop over the
 * readers: the same sequence generated as straight-line code (one call site per reader, for the JIT to inline)
 * measured no faster on the demo record (4 alternating runs of `scripts/bench/decode.ts`).
 */
const fieldsReader = (readers: ReadonlyArray<Reader>, absent: ReadonlyArray<Column>): Reader => {
  const count = readers.length
  return (c) => {
    for (let f = 0; f < count; f++) readers[f]!(c)
    for (let a = 0; a < absent.length; a++) nullIn(absent[a]!)
  }
}

const structReader = (column: StructColumn, fields: Reader): Reader => (c) => {
  column.push()
  fields(c)
}

type Json = unknown
type JsonObject = { readonly [key: string]: Json }
const isObject = (value: Json): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value)

const sameLeafType = (a: Arrow.DataType, b: Arrow.DataType): boolean => {
  if (a.typeId !== b.typeId) return false
  switch (a.typeId) {
    case Arrow.Type.Int:
      return (a as Arrow.Int).bitWidth === (b as Arrow.Int).bitWidth && (a as Arrow.Int).isSigned === (b as Arrow.Int).isSigned
    case Arrow.Type.Float:
      return (a as Arrow.Float).precision === (b as Arrow.Float).precision
    case Arrow.Type.Timestamp:
      return (a as Arrow.Timestamp).unit === (b as Arrow.Timestamp).unit && ((a as Arrow.Timestamp).timezone ?? null) === ((b as Arrow.Timestamp).timezone ?? null)
    case Arrow.Type.Decimal:
      return (a as Arrow.Decimal).scale === (b as Arrow.Decimal).scale && (a as Arrow.Decimal).precision === (b as Arrow.Decimal).precision
    case Arrow.Type.Date:
      return (a as Arrow.Date_).unit === (b as Arrow.Date_).unit
    default:
      return true
  }
}

/** Thrown inside the compiler when writer and batch types differ: the caller falls back to the avsc path. */
class NoDirectPath {}

const PRIMITIVES = new Set(["null", "boolean", "int", "long", "float", "double", "bytes", "string"])
const MICROS_UNITS: Record<string, "millis" | "plain" | "nanos"> = {
  "timestamp-millis": "millis",
  "timestamp-micros": "plain",
  "timestamp-nanos": "nanos",
  "local-timestamp-millis": "millis",
  "local-timestamp-micros": "plain",
  "local-timestamp-nanos": "nanos"
}

/** Compiles readers for one writer schema against columns; named types are resolved as in schema-mapping.ts. */
class Compiler {
  readonly named = new Map<string, JsonObject>()

  fullName(name: string, namespace: string | undefined): string {
    return name.includes(".") || namespace === undefined || namespace === "" ? name : `${namespace}.${name}`
  }

  /** The reader for `schema` into `column`, and the fewest bytes a value of it takes. */
  compile(schema: Json, column: Column, namespace: string | undefined): { reader: Reader; minBytes: number } {
    if (typeof schema === "string") {
      if (PRIMITIVES.has(schema)) return this.compile({ type: schema }, column, namespace)
      const found = this.named.get(this.fullName(schema, namespace)) ?? this.named.get(schema)
      if (found === undefined) throw new NoDirectPath()
      const full = this.named.has(this.fullName(schema, namespace)) ? this.fullName(schema, namespace) : schema
      return this.compileNamed(found, full, column)
    }
    if (Array.isArray(schema)) {
      const isNull = (b: Json) => b === "null" || (isObject(b) && b["type"] === "null")
      if (schema.length !== 2 || isNull(schema[0]) === isNull(schema[1])) throw new NoDirectPath()
      const nullIndex = isNull(schema[0]) ? 0 : 1
      const value = this.compile(schema[1 - nullIndex], column, namespace)
      return { reader: unionReader(column, nullIndex, value.reader), minBytes: 1 }
    }
    if (!isObject(schema)) throw new NoDirectPath()
    const type = schema["type"]
    if (isObject(type) || Array.isArray(type)) return this.compile(type, column, namespace)
    if (type === "record" || type === "error" || type === "enum" || type === "fixed") {
      const name = schema["name"]
      if (typeof name !== "string") throw new NoDirectPath()
      const ns = typeof schema["namespace"] === "string" ? schema["namespace"] : namespace
      const full = this.fullName(name, ns)
      this.named.set(full, schema)
      return this.compileNamed(schema, full, column)
    }
    const logical = schema["logicalType"]
    const arrowType = column.type
    const expect = (expected: Arrow.DataType, ok: boolean) => {
      if (!ok || !sameLeafType(expected, arrowType)) throw new NoDirectPath()
    }
    switch (type) {
      case "boolean":
        expect(new Arrow.Bool(), column instanceof BoolColumn)
        return { reader: booleanReader(column as BoolColumn), minBytes: 1 }
      case "int":
        expect(logical === "date" ? new Arrow.DateDay() : new Arrow.Int32(), column instanceof NumberColumn)
        return { reader: intReader(column as NumberColumn), minBytes: 1 }
      case "long": {
        const unit = typeof logical === "string" ? MICROS_UNITS[logical] : undefined
        const expected = unit === undefined
          ? new Arrow.Int64()
          : new Arrow.TimestampMicrosecond((logical as string).startsWith("local-") ? null : "UTC")
        expect(expected, column instanceof Int64Column)
        return { reader: longReader(column as Int64Column, unit ?? "plain"), minBytes: 1 }
      }
      case "float":
        expect(new Arrow.Float32(), column instanceof NumberColumn)
        return { reader: floatReader(column as NumberColumn, 4), minBytes: 4 }
      case "double":
        expect(new Arrow.Float64(), column instanceof NumberColumn)
        return { reader: floatReader(column as NumberColumn, 8), minBytes: 8 }
      case "string":
        expect(new Arrow.Utf8(), column instanceof VarBinaryColumn)
        return { reader: stringReader(column as VarBinaryColumn, true), minBytes: 1 }
      case "bytes": {
        const decimal = logical === "decimal" ? decimalParams(schema) : undefined
        if (decimal !== undefined) {
          expect(new Arrow.Decimal(decimal.scale, decimal.precision, 128), column instanceof DecimalColumn)
          return { reader: decimalReader(column as DecimalColumn, decimal.scale, undefined), minBytes: 1 }
        }
        expect(new Arrow.Binary(), column instanceof VarBinaryColumn)
        return { reader: stringReader(column as VarBinaryColumn, false), minBytes: 1 }
      }
      case "array": {
        if (!(column instanceof ListColumn) || arrowType.typeId !== Arrow.Type.List) throw new NoDirectPath()
        const item = this.compile(schema["items"], column.child, namespace)
        return { reader: listReader(column, item.reader, item.minBytes), minBytes: 1 }
      }
      case "map": {
        if (!(column instanceof MapColumn) || arrowType.typeId !== Arrow.Type.Map) throw new NoDirectPath()
        const value = this.compile(schema["values"], column.values, namespace)
        return { reader: mapReader(column, value.reader, 1 + value.minBytes), minBytes: 1 }
      }
      default:
        throw new NoDirectPath()
    }
  }

  compileNamed(schema: JsonObject, full: string, column: Column): { reader: Reader; minBytes: number } {
    const kind = schema["type"]
    if (kind === "enum") {
      const symbols = schema["symbols"]
      if (!Array.isArray(symbols) || !symbols.every((s) => typeof s === "string")) throw new NoDirectPath()
      if (!(column instanceof VarBinaryColumn) || !sameLeafType(new Arrow.Utf8(), column.type)) throw new NoDirectPath()
      return { reader: enumReader(column, symbols as Array<string>), minBytes: 1 }
    }
    if (kind === "fixed") {
      const size = schema["size"]
      if (typeof size !== "number" || !Number.isInteger(size) || size < 0) throw new NoDirectPath()
      if (schema["logicalType"] === "uuid" && size === 16) {
        if (!(column instanceof VarBinaryColumn) || !sameLeafType(new Arrow.Utf8(), column.type)) throw new NoDirectPath()
        return { reader: fixedUuidReader(column), minBytes: 16 }
      }
      const decimal = schema["logicalType"] === "decimal" ? decimalParams(schema) : undefined
      if (decimal !== undefined) {
        if (!(column instanceof DecimalColumn) || !sameLeafType(new Arrow.Decimal(decimal.scale, decimal.precision, 128), column.type)) {
          throw new NoDirectPath()
        }
        return { reader: decimalReader(column, decimal.scale, size), minBytes: size }
      }
      if (!(column instanceof VarBinaryColumn) || !sameLeafType(new Arrow.Binary(), column.type)) throw new NoDirectPath()
      return { reader: fixedBinaryReader(column, size), minBytes: size }
    }
    if (!(column instanceof StructColumn)) throw new NoDirectPath()
    const ns = full.includes(".") ? full.slice(0, full.lastIndexOf(".")) : undefined
    const fields = this.fields(schema, column.children, column.names, ns)
    return { reader: structReader(column, fields.reader), minBytes: fields.minBytes }
  }

  /** Readers for a record's fields into `columns` (matched by name). */
  fields(
    record: JsonObject,
    columns: ReadonlyArray<Column>,
    names: ReadonlyArray<string>,
    namespace: string | undefined
  ): { reader: Reader; minBytes: number } {
    const fields = record["fields"]
    if (!Array.isArray(fields)) throw new NoDirectPath()
    const readers: Array<Reader> = []
    const filled = new Set<Column>()
    let minBytes = 0
    for (const field of fields) {
      if (!isObject(field) || typeof field["name"] !== "string") throw new NoDirectPath()
      const index = names.indexOf(field["name"])
      if (index < 0) throw new NoDirectPath()
      const column = columns[index]!
      const compiled = this.compile(field["type"], column, namespace)
      readers.push(compiled.reader)
      filled.add(column)
      minBytes += compiled.minBytes
    }
    return { reader: fieldsReader(readers, columns.filter((column) => !filled.has(column))), minBytes }
  }
}

const littleEndian = endianness() === "LE"

/**
 * The reader of whole bodies of `writerSchema` (a parsed Avro record schema) into the top-level `columns`
 * (named `names`), or undefined when some field's writer type differs from its column's type.
 */
export const compileBodyReader = (
  writerSchema: unknown,
  columns: ReadonlyArray<Column>,
  names: ReadonlyArray<string>
): Reader | undefined => {
  if (!littleEndian) return undefined
  const root = isObject(writerSchema) && isObject(writerSchema["type"]) ? writerSchema["type"] : writerSchema
  if (!isObject(root) || (root["type"] !== "record" && root["type"] !== "error")) return undefined
  const compiler = new Compiler()
  const name = root["name"]
  if (typeof name === "string") {
    const ns = typeof root["namespace"] === "string" ? root["namespace"] : undefined
    compiler.named.set(compiler.fullName(name, ns), root)
  }
  try {
    const namespace = typeof name === "string" && name.includes(".")
      ? name.slice(0, name.lastIndexOf("."))
      : typeof root["namespace"] === "string" ? root["namespace"] : undefined
    return compiler.fields(root, columns, names, namespace).reader
  } catch (error) {
    if (error instanceof NoDirectPath) return undefined
    throw error
  }
}
