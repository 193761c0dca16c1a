/**
 * Avro body decoders, one per writer schema id. A decoder is an avsc Type built with:
 * - a `long` that stays exact beyond 2^53 (a number when safe, a bigint otherwise; avsc's own long throws);
 * - logical types that yield what the Arrow columns store: decimal -> DecimalValue (unscaled bigint + scale),
 *   timestamp-* and local-timestamp-* -> microseconds (millis * 1000, nanos floored), uuid on fixed(16) ->
 *   canonical text. date, time-* and uuid on string are left as their underlying int/long/string.
 * A body is walked by body-check.ts before avsc decodes it: avsc does not bound lengths and counts by what is left
 * of the body, and a corrupt one can abort the process or corrupt avsc's shared buffer pool.
 * A writer schema is decoded with itself; a row of an older schema lands in a wider batch by field name
 * (see columns.ts), so no reader/writer resolution is needed here.
 */
import type * as Arrow from "apache-arrow"
import avro from "avsc"
import { type BodyCheck, compileBodyCheck } from "./body-check.ts"
import { CorruptBody, Cursor } from "./cursor.ts"
import { CorruptAvroError, UnsupportedAvroSchemaError } from "./errors.ts"
import { avroToArrowSchema, decimalParams, parseAvroSchema } from "./schema-mapping.ts"

/** A decoded Avro decimal: `unscaled / 10^scale`. */
export class DecimalValue {
  readonly unscaled: bigint
  readonly scale: number
  constructor(unscaled: bigint, scale: number) {
    this.unscaled = unscaled
    this.scale = scale
  }
  /** The exact decimal text, e.g. `-12.05`. */
  toString(): string {
    if (this.scale === 0) return this.unscaled.toString()
    const negative = this.unscaled < 0n
    const digits = (negative ? -this.unscaled : this.unscaled).toString().padStart(this.scale + 1, "0")
    return `${negative ? "-" : ""}${digits.slice(0, -this.scale)}.${digits.slice(-this.scale)}`
  }
}

/** Big-endian two's-complement bytes -> bigint (number math for up to 6 bytes, which covers most amounts). */
export const bigIntFromTwosComplement = (bytes: Uint8Array): bigint => {
  const length = bytes.length
  if (length === 0) return 0n
  if (length <= 6) {
    let value = 0
    for (let i = 0; i < length; i++) value = value * 256 + bytes[i]!
    if (bytes[0]! & 0x80) value -= 2 ** (8 * length)
    return BigInt(value)
  }
  let value = 0n
  for (let i = 0; i < length; i++) value = (value << 8n) | BigInt(bytes[i]!)
  return bytes[0]! & 0x80 ? value - (1n << BigInt(8 * length)) : value
}

/** bigint -> minimal big-endian two's-complement bytes (padded with the sign to `size` when given). */
export const twosComplementFromBigInt = (value: bigint, size?: number): Buffer => {
  const bytes: Array<number> = []
  let v = value
  do {
    bytes.unshift(Number(v & 0xffn))
    v >>= 8n
  } while (!((v === 0n && (bytes[0]! & 0x80) === 0) || (v === -1n && (bytes[0]! & 0x80) !== 0)))
  while (size !== undefined && bytes.length < size) bytes.unshift(value < 0n ? 0xff : 0)
  return Buffer.from(bytes)
}

const toSafe = (value: bigint): number | bigint =>
  value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value

/** avsc's internal reading cursor (stable across avsc 5.x); read directly to avoid a Buffer per long. */
interface Tap {
  buf: Buffer
  pos: number
  readLong(): number
}

const readLongExact = (tap: Tap): number | bigint => {
  const buf = tap.buf
  const start = tap.pos
  let end = start
  while (buf[end++]! & 0x80) { /* find the varint's end */ }
  // up to 7 varint bytes = 49 bits of zig-zag: always a safe integer, avsc's own reader is exact
  if (end - start <= 7) return tap.readLong()
  let zigzag = 0n
  let shift = 0n
  for (let p = start; p < end; p++) {
    zigzag |= BigInt(buf[p]! & 0x7f) << shift
    shift += 7n
  }
  tap.pos = end
  return toSafe(BigInt.asIntN(64, (zigzag >> 1n) ^ -(zigzag & 1n)))
}

const makeExactLong = (): avro.Type => {
  const long = avro.types.LongType.__with({
    fromBuffer: (buf: Buffer) => toSafe(buf.readBigInt64LE(0)),
    toBuffer: (n: number | bigint) => {
      const buf = Buffer.alloc(8)
      buf.writeBigInt64LE(BigInt(n))
      return buf
    },
    fromJSON: (n: unknown) => (typeof n === "string" ? toSafe(BigInt(n)) : n),
    toJSON: (n: number | bigint) => (typeof n === "bigint" ? n.toString() : n),
    isValid: (n: unknown) =>
      (typeof n === "number" && Number.isSafeInteger(n)) ||
      (typeof n === "bigint" && n >= -(2n ** 63n) && n < 2n ** 63n),
    compare: (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0)
  })
  // avsc's abstract long unpacks every value into a new 8-byte Buffer; reading the varint in place is
  // allocation-free for safe values (the common case) and still exact beyond 2^53
  // (__with freezes the type, so the fast reader lives on an object that inherits everything else from it)
  const fast = Object.create(long) as avro.Type & { _read: (tap: Tap) => number | bigint }
  fast._read = readLongExact
  return Object.freeze(fast)
}

type AvroSchemaObject = { readonly [key: string]: unknown }

/** decimal on bytes or fixed -> DecimalValue. */
class DecimalLogicalType extends avro.types.LogicalType {
  readonly decimalScale: number
  readonly fixedSize: number | undefined
  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts)
    const params = decimalParams(schema as unknown as AvroSchemaObject)
    if (params === undefined) throw new Error("invalid decimal parameters")
    this.decimalScale = params.scale
    const size = (schema as unknown as AvroSchemaObject)["size"]
    this.fixedSize = typeof size === "number" ? size : undefined
  }
  protected override _fromValue(value: Buffer): DecimalValue {
    return new DecimalValue(bigIntFromTwosComplement(value), this.decimalScale)
  }
  protected override _toValue(value: unknown): Buffer | undefined {
    if (!(value instanceof DecimalValue)) return undefined
    return twosComplementFromBigInt(value.unscaled, this.fixedSize)
  }
  protected override _resolve(type: avro.Type) {
    if (type instanceof DecimalLogicalType && type.decimalScale === this.decimalScale) return (v: DecimalValue) => v
    return undefined
  }
}

const floorDiv = (value: bigint, divisor: bigint): bigint => {
  const q = value / divisor
  return value < 0n && q * divisor !== value ? q - 1n : q
}

/** A long counted in some unit -> microseconds. */
const microsType = (fromUnit: "millis" | "micros" | "nanos") =>
  class extends avro.types.LogicalType {
    protected override _fromValue(value: number | bigint): number | bigint {
      if (fromUnit === "micros") return value
      if (fromUnit === "millis") {
        if (typeof value === "number") {
          const micros = value * 1000
          return Number.isSafeInteger(micros) ? micros : BigInt(value) * 1000n
        }
        return value * 1000n
      }
      return typeof value === "number" ? Math.floor(value / 1000) : toSafe(floorDiv(value, 1000n))
    }
    protected override _toValue(value: unknown): number | bigint | undefined {
      if (typeof value !== "number" && typeof value !== "bigint") return undefined
      if (fromUnit === "micros") return value
      if (fromUnit === "millis") return typeof value === "number" ? Math.floor(value / 1000) : toSafe(floorDiv(value, 1000n))
      return BigInt(value) * 1000n
    }
    protected override _resolve(type: avro.Type) {
      return type.typeName === this.typeName ? (v: unknown) => v : undefined
    }
  }

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

/** uuid on fixed(16) -> canonical lowercase text (uuid on string is left as the string). */
class FixedUuidLogicalType extends avro.types.LogicalType {
  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts)
    const s = schema as unknown as AvroSchemaObject
    if (s["type"] !== "fixed" || s["size"] !== 16) throw new Error("uuid text is left as is")
  }
  protected override _fromValue(b: Buffer): string {
    let s = ""
    for (let i = 0; i < 16; i++) s += (i === 4 || i === 6 || i === 8 || i === 10 ? "-" : "") + HEX[b[i]!]
    return s
  }
  protected override _toValue(value: unknown): Buffer | undefined {
    return typeof value === "string" ? Buffer.from(value.replace(/-/g, ""), "hex") : undefined
  }
}

const logicalTypes = {
  decimal: DecimalLogicalType,
  uuid: FixedUuidLogicalType,
  "timestamp-millis": microsType("millis"),
  "timestamp-micros": microsType("micros"),
  "timestamp-nanos": microsType("nanos"),
  "local-timestamp-millis": microsType("millis"),
  "local-timestamp-micros": microsType("micros"),
  "local-timestamp-nanos": microsType("nanos")
} as unknown as Record<string, new(schema: avro.Schema, opts?: unknown) => avro.types.LogicalType>

/** An avsc Type for `schema` with exact longs and the logical types above. */
export const avroType = (schema: string | object): avro.Type => {
  const long = makeExactLong()
  // avsc builds `{"type": "long", ...}` objects (unlike the name "long") without asking the registry, so the hook
  // swaps them too; a long with one of our logical types is seen twice: first for the logical type (let avsc
  // build it), then for its underlying type
  const underlying = new WeakSet<object>()
  const typeHook = (s: unknown): avro.Type | undefined => {
    if (typeof s !== "object" || s === null || Array.isArray(s) || (s as AvroSchemaObject)["type"] !== "long") return undefined
    const logical = (s as AvroSchemaObject)["logicalType"]
    if (typeof logical === "string" && logical in logicalTypes && !underlying.has(s)) {
      underlying.add(s)
      return undefined
    }
    return long
  }
  return avro.Type.forSchema(parseAvroSchema(schema) as avro.Schema, {
    registry: { long },
    logicalTypes,
    typeHook,
    wrapUnions: "auto"
  } as Partial<avro.ForSchemaOptions>)
}

/** A decoder for bodies written with one registry schema id. */
export interface AvroDecoder {
  readonly schemaId: number
  readonly type: avro.Type
  /** The writer schema, parsed (what the direct decoder compiles). */
  readonly schema: unknown
  /** The writer schema's Arrow schema (value columns, then `_kafka`). */
  readonly arrowSchema: Arrow.Schema
  /** Decodes the body at `offset` to the end of `bytes`: the decoded record, or why it cannot be read. */
  readonly decode: (bytes: Uint8Array, offset: number) => unknown | CorruptAvroError
}

const EMPTY = new Uint8Array(0)

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** Builds the decoder for a writer schema, or says why the schema cannot become a Delta table. */
export const makeDecoder = (schemaId: number, schema: string | object): AvroDecoder | UnsupportedAvroSchemaError => {
  let arrowSchema: Arrow.Schema
  let type: avro.Type
  let parsed: unknown
  let check: BodyCheck
  try {
    arrowSchema = avroToArrowSchema(schema)
    type = avroType(schema)
    parsed = parseAvroSchema(schema)
    check = compileBodyCheck(parsed)
  } catch (error) {
    if (error instanceof UnsupportedAvroSchemaError) return error
    return new UnsupportedAvroSchemaError({ path: "<root>", reason: `avsc rejects the schema: ${String((error as Error)?.message ?? error)}` })
  }
  const cursor = new Cursor()
  const decode = (bytes: Uint8Array, offset: number): unknown | CorruptAvroError => {
    const buf = asBuffer(bytes)
    // avsc is only given bodies whose lengths and counts all fit (see body-check.ts)
    cursor.start(buf, offset)
    try {
      check(cursor)
    } catch (error) {
      if (error instanceof CorruptBody) return new CorruptAvroError({ schemaId, reason: error.reason })
      throw error
    } finally {
      cursor.buf = EMPTY
    }
    let result: { value: unknown; offset: number }
    try {
      result = type.decode(buf, offset)
    } catch (error) {
      return new CorruptAvroError({ schemaId, reason: String((error as Error)?.message ?? error) })
    }
    if (result.offset < 0) {
      return new CorruptAvroError({ schemaId, reason: `body of ${buf.length - offset} bytes ends before the record does (truncated)` })
    }
    if (result.offset !== buf.length) {
      return new CorruptAvroError({ schemaId, reason: `${buf.length - result.offset} bytes left over after the record` })
    }
    return result.value
  }
  return { schemaId, type, schema: parsed, arrowSchema, decode }
}

/** Decoders by schema id, each built once (a registry id never changes its schema). */
export class DecoderCache {
  readonly #byId = new Map<number, AvroDecoder | UnsupportedAvroSchemaError>()
  /** The decoder (or the schema's error) for `schemaId`, if built. */
  get(schemaId: number): AvroDecoder | UnsupportedAvroSchemaError | undefined {
    return this.#byId.get(schemaId)
  }
  /** The decoder for `schemaId`, built from `schema` on first use. */
  getOrMake(schemaId: number, schema: string | object): AvroDecoder | UnsupportedAvroSchemaError {
    let found = this.#byId.get(schemaId)
    if (found === undefined) {
      found = makeDecoder(schemaId, schema)
      this.#byId.set(schemaId, found)
    }
    return found
  }
  /** How many schema ids are cached. */
  get size(): number {
    return this.#byId.size
  }
}

/** Whether a decode result is the typed corruption error. */
export const isCorrupt = (value: unknown): value is CorruptAvroError => value instanceof CorruptAvroError

