/**
 * The cursor over an Avro body and the bounds-checked primitives both body walkers use: the direct decoder
 * (direct.ts, bytes into columns) and the structural check that runs before avsc (body-check.ts). Every read
 * checks what is left of the body, so a corrupt body is a CorruptBody error, never a read past its end, a
 * runaway loop or an allocation the size of a corrupt count.
 */

/**
 * The most items of a zero-byte type (an empty record, fixed(0)) one body may hold in arrays. Any other item
 * takes at least a byte, so its count is bounded by the bytes left; a zero-byte item is bounded by nothing in
 * the body, and a corrupt count (2^40 of them) would otherwise fill memory until the process aborts.
 */
export const MAX_ZERO_BYTE_ITEMS = 1_000_000

/** Where a reader is in the body being decoded. */
export class Cursor {
  buf: Uint8Array = new Uint8Array(0)
  pos = 0
  end = 0
  /** The exact value of the last long read when it was not a safe integer (readLong then returned NaN). */
  big = 0n
  /** What is left of this body's allowance of zero-byte array items (see MAX_ZERO_BYTE_ITEMS); reset per body. */
  zeroByteItemsLeft = MAX_ZERO_BYTE_ITEMS

  /** Points the cursor at a body: `buf` from `pos` to its end, with a fresh zero-byte item allowance. */
  start(buf: Uint8Array, pos: number): void {
    this.buf = buf
    this.pos = pos
    this.end = buf.length
    this.zeroByteItemsLeft = MAX_ZERO_BYTE_ITEMS
  }
}

/** Why a body cannot be decoded (thrown by readers, turned into CorruptAvroError by the builder). */
export class CorruptBody {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

export const corrupt = (reason: string): never => {
  throw new CorruptBody(reason)
}

export const truncated = (c: Cursor): never =>
  corrupt(`body of ${c.end} bytes ends before the record does (truncated)`)

/**
 * A zig-zag varint long: a number when it fits in 7 varint bytes (49 bits, always safe), otherwise NaN with the
 * exact value in `c.big` (converted back to a number when safe).
 */
export const readLong = (c: Cursor): number => {
  const buf = c.buf
  const end = c.end
  let pos = c.pos
  if (pos >= end) truncated(c)
  let b = buf[pos++]!
  if (b < 0x80) {
    c.pos = pos
    return (b >>> 1) ^ -(b & 1)
  }
  let zigzag = b & 0x7f
  let scale = 128
  const start = pos - 1
  do {
    if (pos >= end) truncated(c)
    b = buf[pos++]!
    zigzag += (b & 0x7f) * scale
    scale *= 128
  } while (b & 0x80 && pos - start < 7)
  if (b & 0x80) {
    // 8 to 10 bytes: beyond 2^49, exact in bigint
    do {
      if (pos >= end) truncated(c)
      b = buf[pos++]!
    } while (b & 0x80)
    if (pos - start > 10) corrupt("a long is encoded in more than 10 bytes")
    let exact = 0n
    let shift = 0n
    for (let p = start; p < pos; p++) {
      exact |= BigInt(buf[p]! & 0x7f) << shift
      shift += 7n
    }
    c.pos = pos
    const value = BigInt.asIntN(64, (exact >> 1n) ^ -(exact & 1n))
    if (value >= -9007199254740991n && value <= 9007199254740991n) return Number(value)
    c.big = value
    return NaN
  }
  c.pos = pos
  return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2
}

/** A zig-zag varint int (a long out of the 32-bit range is corrupt). */
export const readInt = (c: Cursor): number => {
  const value = readLong(c)
  if ((value | 0) !== value) corrupt(`an int holds ${Number.isNaN(value) ? c.big : value}, outside the 32-bit range`)
  return value
}

/** A length prefix (bytes, string, block size) that must fit in what is left of the body. */
export const readLength = (c: Cursor): number => {
  const length = readLong(c)
  if (!(length >= 0)) corrupt(`negative length ${Number.isNaN(length) ? c.big : length}`)
  if (c.pos + length > c.end) truncated(c)
  return length
}

/** Items in Avro blocks: a count (negative: followed by the block's byte size), items, ..., a zero count. */
export const readBlocks = (c: Cursor, minItemBytes: number, item: () => void): void => {
  for (;;) {
    let count = readLong(c)
    if (count === 0) return
    if (count < 0) {
      count = -count
      readLong(c)
    }
    if (!(count * minItemBytes <= c.end - c.pos)) {
      corrupt(`a block of ${Number.isNaN(count) ? c.big : count} items cannot fit in the ${c.end - c.pos} bytes left`)
    }
    if (minItemBytes === 0) {
      c.zeroByteItemsLeft -= count
      if (!(c.zeroByteItemsLeft >= 0)) corrupt(`more than ${MAX_ZERO_BYTE_ITEMS} items of a zero-byte type in one body`)
    }
    for (let k = 0; k < count; k++) item()
  }
}
