/**
 * Column accumulators: growable typed arrays (values, offsets, UTF-8 bytes, validity bits) that decoded Avro
 * values are pushed into one at a time, and that hand their buffers to Arrow `Data` with `makeData` — no Arrow
 * Builders (about 8x slower, see perf-anchors.md) and no arrays of decoded objects.
 *
 * Every column can be truncated back to an earlier length, which is how a record that fails half-way through
 * (a null deep inside a non-nullable struct) is rolled back. A truncation clears the validity and boolean bits it
 * gives back, so a batch's bytes do not depend on the rows that were rolled back (the padding bits of the last
 * byte included).
 */
import * as Arrow from "apache-arrow"
import { ColumnTypeMismatchError, NullInNonNullableColumnError } from "./errors.ts"
import { DecimalValue } from "./decoder.ts"

const INITIAL_CAPACITY = 1024
const TWO_32 = 4294967296

const make = Arrow.makeData as unknown as (props: Record<string, unknown>) => Arrow.Data

const kindOf = (value: unknown): string =>
  value === null ? "null" : value instanceof Uint8Array ? "bytes" : Array.isArray(value) ? "array" : typeof value

/** A copy of `offsets` with room for `capacity` values (capacity + 1 offsets). */
export const grownOffsets = (offsets: Int32Array, capacity: number): Int32Array => {
  const grown = new Int32Array(capacity + 1)
  grown.set(offsets)
  return grown
}

/** An accumulator for one Arrow column (or a nested child of one). */
export abstract class Column {
  /** Dotted path, for error messages. */
  readonly path: string
  readonly type: Arrow.DataType
  readonly nullable: boolean
  /** Rows appended so far. */
  length = 0
  /** Null rows among them. */
  nullCount = 0
  protected capacity: number
  protected validity: Uint8Array | undefined

  constructor(path: string, type: Arrow.DataType, nullable: boolean, capacity: number) {
    this.path = path
    this.type = type
    this.nullable = nullable
    this.capacity = capacity
    this.validity = nullable ? new Uint8Array((capacity + 7) >> 3) : undefined
  }

  /** Appends one decoded value; null/undefined becomes null. Throws the typed error (caller rolls back). */
  append(value: unknown): void {
    if (value === null || value === undefined) {
      if (!this.nullable) throw new NullInNonNullableColumnError({ path: this.path })
      this.appendNull()
      return
    }
    const i = this.length
    if (i === this.capacity) this.grow(i + 1)
    this.write(i, value)
    if (this.validity !== undefined) this.validity[i >> 3]! |= 1 << (i & 7)
    this.length = i + 1
  }

  /**
   * Reserves the next row as non-null and returns its index; the caller then writes the value at that index
   * (the direct decoder's way in: no value object, no type check). A failure before the value is written is
   * undone by `truncate`, like any other.
   */
  push(): number {
    const i = this.length
    if (i === this.capacity) this.grow(i + 1)
    if (this.validity !== undefined) this.validity[i >> 3]! |= 1 << (i & 7)
    this.length = i + 1
    return i
  }

  /** Appends a null (or, in a non-nullable child of a null parent, an empty placeholder). */
  appendNull(): void {
    const i = this.length
    if (i === this.capacity) this.grow(i + 1)
    this.writeEmpty(i)
    if (this.validity !== undefined) {
      this.validity[i >> 3]! &= ~(1 << (i & 7))
      this.nullCount++
    }
    this.length = i + 1
  }

  /** Drops rows from `length` on. */
  truncate(length: number): void {
    if (length >= this.length) return
    if (this.validity !== undefined) {
      for (let i = length; i < this.length; i++) {
        if ((this.validity[i >> 3]! & (1 << (i & 7))) === 0) this.nullCount--
        else this.validity[i >> 3]! &= ~(1 << (i & 7))
      }
    }
    this.truncateValues(length)
    this.length = length
  }

  /**
   * The rows as Arrow Data; the column is empty afterwards (the Data keeps the old buffers). The fresh buffers
   * start small: the pipeline drops a builder once it is finished, so buffers sized for the next batch would
   * only be garbage (a whole batch's worth per finish).
   */
  finish(): Arrow.Data {
    const n = this.length
    const nullBitmap = this.nullCount > 0 && this.validity !== undefined ? this.validity.subarray(0, (n + 7) >> 3) : undefined
    const data = this.toData(n, this.nullCount, nullBitmap)
    const capacity = INITIAL_CAPACITY
    this.length = 0
    this.nullCount = 0
    this.capacity = capacity
    if (this.validity !== undefined) this.validity = new Uint8Array((capacity + 7) >> 3)
    this.allocate(capacity)
    return data
  }

  /** Approximate bytes held by the appended rows. */
  byteSize(): number {
    return (this.validity !== undefined ? this.length >> 3 : 0) + this.valueBytes()
  }

  protected grow(needed: number): void {
    let capacity = this.capacity * 2
    while (capacity < needed) capacity *= 2
    if (this.validity !== undefined) {
      const validity = new Uint8Array((capacity + 7) >> 3)
      validity.set(this.validity)
      this.validity = validity
    }
    this.resize(capacity)
    this.capacity = capacity
  }

  protected mismatch(expected: string, value: unknown): never {
    throw new ColumnTypeMismatchError({ path: this.path, expected, found: kindOf(value) })
  }

  protected abstract write(index: number, value: unknown): void
  protected abstract writeEmpty(index: number): void
  protected abstract truncateValues(length: number): void
  protected abstract resize(capacity: number): void
  protected abstract allocate(capacity: number): void
  protected abstract valueBytes(): number
  protected abstract toData(length: number, nullCount: number, nullBitmap: Uint8Array | undefined): Arrow.Data
}

type NumberArray = Int32Array | Float32Array | Float64Array
type NumberArrayConstructor = new(length: number) => NumberArray

/** int, date, time-millis (Int32 / Date32), float (Float32), double (Float64). */
export class NumberColumn extends Column {
  values: NumberArray
  readonly #make: NumberArrayConstructor
  readonly #integer: boolean
  constructor(path: string, type: Arrow.DataType, nullable: boolean, capacity = INITIAL_CAPACITY) {
    super(path, type, nullable, capacity)
    this.#make = Arrow.DataType.isFloat(type)
      ? (type.precision === Arrow.Precision.SINGLE ? Float32Array : Float64Array)
      : Int32Array
    this.#integer = this.#make === Int32Array
    this.values = new this.#make(capacity)
  }
  protected write(i: number, value: unknown) {
    if (typeof value !== "number") this.mismatch(this.#integer ? "int" : "number", value)
    if (this.#integer && (value | 0) !== value) this.mismatch("32-bit int", `${value}`)
    this.values[i] = value
  }
  protected writeEmpty(i: number) {
    this.values[i] = 0
  }
  protected truncateValues() {}
  protected resize(capacity: number) {
    const values = new this.#make(capacity)
    values.set(this.values)
    this.values = values
  }
  protected allocate(capacity: number) {
    this.values = new this.#make(capacity)
  }
  protected valueBytes() {
    return this.length * this.values.BYTES_PER_ELEMENT
  }
  protected toData(length: number, nullCount: number, nullBitmap: Uint8Array | undefined) {
    return make({ type: this.type, length, nullCount, nullBitmap, data: this.values.subarray(0, length) })
  }
}

/** long, time-micros (Int64) and timestamps in microseconds: numbers when safe, bigints beyond 2^53. */
export class Int64Column extends Column {
  words: Uint32Array
  big: BigInt64Array
  constructor(path: string, type: Arrow.DataType, nullable: boolean, capacity = INITIAL_CAPACITY) {
    super(path, type, nullable, capacity)
    this.big = new BigInt64Array(capacity)
    this.words = new Uint32Array(this.big.buffer)
  }
  protected write(i: number, value: unknown) {
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) this.mismatch("long", `${value}`)
      const hi = Math.floor(value / TWO_32)
      this.words[2 * i] = value - hi * TWO_32
      this.words[2 * i + 1] = hi
    } else if (typeof value === "bigint") {
      if (BigInt.asIntN(64, value) !== value) this.mismatch("64-bit long", `${value}`)
      this.big[i] = value
    } else {
      this.mismatch("long", value)
    }
  }
  /** Appends a safe integer (used for Kafka metadata, which is never null). */
  appendNumber(value: number): void {
    const i = this.length
    if (i === this.capacity) this.grow(i + 1)
    const hi = Math.floor(value / TWO_32)
    this.words[2 * i] = value - hi * TWO_32
    this.words[2 * i + 1] = hi
    this.length = i + 1
  }
  protected writeEmpty(i: number) {
    this.big[i] = 0n
  }
  protected truncateValues() {}
  protected resize(capacity: number) {
    const big = new BigInt64Array(capacity)
    big.set(this.big)
    this.big = big
    this.words = new Uint32Array(big.buffer)
  }
  protected allocate(capacity: number) {
    this.big = new BigInt64Array(capacity)
    this.words = new Uint32Array(this.big.buffer)
  }
  protected valueBytes() {
    return this.length * 8
  }
  protected toData(length: number, nullCount: number, nullBitmap: Uint8Array | undefined) {
    return make({ type: this.type, length, nullCount, nullBitmap, data: this.big.subarray(0, length) })
  }
}

/** boolean, bit-packed. */
export class BoolColumn extends Column {
  bits: Uint8Array
  constructor(path: string, type: Arrow.DataType, nullable: boolean, capacity = INITIAL_CAPACITY) {
    super(path, type, nullable, capacity)
    this.bits = new Uint8Array((capacity + 7) >> 3)
  }
  protected write(i: number, value: unknown) {
    if (value === true) this.bits[i >> 3]! |= 1 << (i & 7)
    else if (value === false) this.bits[i >> 3]! &= ~(1 << (i & 7))
    else this.mismatch("boolean", value)
  }
  protected writeEmpty(i: number) {
    this.bits[i >> 3]! &= ~(1 << (i & 7))
  }
  protected truncateValues(length: number) {
    for (let i = length; i < this.length; i++) this.bits[i >> 3]! &= ~(1 << (i & 7))
  }
  protected resize(capacity: number) {
    const bits = new Uint8Array((capacity + 7) >> 3)
    bits.set(this.bits)
    this.bits = bits
  }
  protected allocate(capacity: number) {
    this.bits = new Uint8Array((capacity + 7) >> 3)
  }
  protected valueBytes() {
    return this.length >> 3
  }
  protected toData(length: number, nullCount: number, nullBitmap: Uint8Array | undefined) {
    return make({ type: this.type, length, nullCount, nullBitmap, data: this.bits.subarray(0, (length + 7) >> 3) })
  }
}

/** string, enum, uuid (Utf8) and bytes, fixed (Binary): offsets plus one byte buffer. */
export class VarBinaryColumn extends Column {
  offsets: Int32Array
  bytes: Buffer
  readonly #utf8: boolean
  constructor(path: string, type: Arrow.DataType, nullable: boolean, capacity = INITIAL_CAPACITY) {
    super(path, type, nullable, capacity)
    this.#utf8 = Arrow.DataType.isUtf8(type)
    this.offsets = new Int32Array(capacity + 1)
    this.bytes = Buffer.allocUnsafe(capacity * 16)
  }
  protected write(i: number, value: unknown) {
    let end = this.offsets[i]!
    if (typeof value === "string") {
      if (!this.#utf8) this.mismatch("bytes", value)
      const length = value.length
      if (end + length * 3 > this.bytes.length) this.growBytes(end + length * 3)
      const bytes = this.bytes
      // short ASCII strings: a byte loop beats the utf8Write call (perf-anchors); fall back at the first non-ASCII
      if (length < 64) {
        let k = 0
        for (; k < length; k++) {
          const c = value.charCodeAt(k)
          if (c >= 0x80) break
          bytes[end++] = c
        }
        if (k < length) end += bytes.write(k === 0 ? value : value.slice(k), end)
      } else {
        end += bytes.write(value, end)
      }
    } else if (value instanceof Uint8Array) {
      if (this.#utf8) this.mismatch("string", value)
      if (end + value.length > this.bytes.length) this.growBytes(end + value.length)
      this.bytes.set(value, end)
      end += value.length
    } else {
      this.mismatch(this.#utf8 ? "string" : "bytes", value)
    }
    this.offsets[i + 1] = end
  }
  /** Appends a string that is never null (Kafka topic). */
  appendString(value: string): void {
    const i = this.length
    if (i === this.capacity) this.grow(i + 1)
    this.write(i, value)
    if (this.validity !== undefined) this.validity[i >> 3]! |= 1 << (i & 7)
    this.length = i + 1
  }
  protected writeEmpty(i: number) {
    this.offsets[i + 1] = this.offsets[i]!
  }
  protected truncateValues() {}
  /**
   * Makes room for `needed` bytes in all, keeping the first `used` (by default the end of the rows appended so
   * far; a caller that has `push`ed the row it is writing passes that row's start offset).
   */
  growBytes(needed: number, used: number = this.offsets[this.length]!): void {
    let size = Math.max(1024, this.bytes.length * 2)
    while (size < needed) size *= 2
    const bytes = Buffer.allocUnsafe(size)
    this.bytes.copy(bytes, 0, 0, used)
    this.bytes = bytes
  }
  protected resize(capacity: number) {
    this.offsets = grownOffsets(this.offsets, capacity)
  }
  protected allocate(capacity: number) {
    this.offsets = new Int32Array(capacity + 1)
    this.bytes = Buffer.allocUnsafe(capacity * 16)
  }
  protected valueBytes() {
    return this.length * 4 + this.offsets[this.length]!
  }
  protected toData(length: number, nullCount: number, nullBitmap: Uint8Array | undefined) {
    const end = this.offsets[length]!
    return make({
      type: this.type,
      length,
      nullCount,
      nullBitmap,
      valueOffsets: this.offsets.subarray(0, length + 1),
      data: new Uint8Array(this.bytes.buffer, this.bytes.byteOffset, end)
    })
  }
}

const POW10 = Array.from({ length: 39 }, (_, i) => 10n ** BigInt(i))

/** decimal(p, s) as Decimal128: two little-endian int64 words per value. */
export class DecimalColumn extends Column {
  words: BigInt64Array
  /** The same buffer as 32-bit words (four per value, little-endian), for writes without BigInt. */
  u32: Uint32Array
  readonly #scale: number
  readonly #limit: bigint
  constructor(path: string, type: Arrow.Decimal, nullable: boolean, capacity = INITIAL_CAPACITY) {
    super(path, type, nullable, capacity)
    this.#scale = type.scale
    this.#limit = POW10[type.precision]!
    this.words = new BigInt64Array(capacity * 2)
    this.u32 = new Uint32Array(this.words.buffer)
  }
  protected write(i: number, value: unknown) {
    if (!(value instanceof DecimalValue)) return this.mismatch("decimal", value)
    let unscaled = value.unscaled
    if (value.scale !== this.#scale) {
      // a writer with a smaller scale widens exactly; a larger scale would round, which we never do silently
      if (value.scale > this.#scale) this.mismatch(`decimal with scale ${this.#scale}`, `scale ${value.scale}`)
      unscaled *= POW10[this.#scale - value.scale]!
    }
    if (unscaled >= this.#limit || unscaled <= -this.#limit) {
      this.mismatch(`decimal(${(this.type as Arrow.Decimal).precision}, ${this.#scale})`, `${value.toString()} (too many digits)`)
    }
    this.words[2 * i] = BigInt.asIntN(64, unscaled)
    this.words[2 * i + 1] = unscaled >> 64n
  }
  protected writeEmpty(i: number) {
    this.words[2 * i] = 0n
    this.words[2 * i + 1] = 0n
  }
  protected truncateValues() {}
  protected resize(capacity: number) {
    const words = new BigInt64Array(capacity * 2)
    words.set(this.words)
    this.words = words
    this.u32 = new Uint32Array(words.buffer)
  }
  protected allocate(capacity: number) {
    this.words = new BigInt64Array(capacity * 2)
    this.u32 = new Uint32Array(this.words.buffer)
  }
  protected valueBytes() {
    return this.length * 16
  }
  protected toData(length: number, nullCount: number, nullBitmap: Uint8Array | undefined) {
    return make({ type: this.type, length, nullCount, nullBitmap, data: new Uint32Array(this.words.buffer, 0, length * 4) })
  }
}
