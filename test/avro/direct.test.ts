/**
 * The direct decoder (Avro bytes straight into columns) against the avsc path (decode to objects, then
 * `append`): for the same bodies, both must build byte-identical Arrow IPC; a corrupt body must be an error that
 * leaves the builder unchanged; a writer whose types differ from the batch columns must take the avsc path.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import fc from "fast-check"
import { BatchBuilder } from "../../src/avro/batch.ts"
import { type AvroDecoder, makeDecoder } from "../../src/avro/decoder.ts"
import { compileBodyReader, isWellFormedUtf8 } from "../../src/avro/direct.ts"
import { isUtf8 } from "node:buffer"
import { CorruptAvroError } from "../../src/avro/errors.ts"
import { columnFor } from "../../src/avro/nested.ts"
import { encoderType, twos } from "./support.ts"

/** Every type the mapping knows, with the logical types that change what a column holds. */
const wideSchema = {
  type: "record",
  name: "Wide",
  namespace: "test.direct",
  fields: [
    { name: "i", type: "int" },
    { name: "l", type: "long" },
    { name: "f", type: "float" },
    { name: "d", type: "double" },
    { name: "b", type: "boolean" },
    { name: "s", type: "string" },
    { name: "raw", type: "bytes" },
    { name: "e", type: { type: "enum", name: "Colour", symbols: ["RED", "GREEN", "BLUE"] } },
    { name: "fx", type: { type: "fixed", name: "Four", size: 4 } },
    { name: "dec", type: { type: "bytes", logicalType: "decimal", precision: 12, scale: 3 } },
    { name: "wide_dec", type: { type: "bytes", logicalType: "decimal", precision: 38, scale: 10 } },
    { name: "fixed_dec", type: { type: "fixed", name: "Money", size: 9, logicalType: "decimal", precision: 20, scale: 2 } },
    { name: "uuid_fixed", type: { type: "fixed", name: "Id", size: 16, logicalType: "uuid" } },
    { name: "uuid_text", type: { type: "string", logicalType: "uuid" } },
    { name: "day", type: { type: "int", logicalType: "date" } },
    { name: "ts_ms", type: { type: "long", logicalType: "timestamp-millis" } },
    { name: "ts_us", type: { type: "long", logicalType: "timestamp-micros" } },
    { name: "ts_ns", type: { type: "long", logicalType: "timestamp-nanos" } },
    { name: "local_ms", type: { type: "long", logicalType: "local-timestamp-millis" } },
    { name: "maybe", type: ["null", "string"] },
    { name: "maybe_last", type: ["long", "null"] },
    { name: "tags", type: { type: "array", items: "string" } },
    { name: "scores", type: { type: "map", values: ["null", "double"] } },
    {
      name: "addr",
      type: {
        type: "record",
        name: "Addr",
        fields: [
          { name: "street", type: "string" },
          { name: "colour", type: "Colour" },
          { name: "lines", type: { type: "array", items: { type: "record", name: "Line", fields: [{ name: "n", type: "int" }, { name: "at", type: ["null", "Four"] }] } } }
        ]
      }
    },
    { name: "maybe_addr", type: ["null", "Addr"] }
  ]
}

const long = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b))
const text = fc.oneof(fc.string({ unit: "grapheme", maxLength: 12 }), fc.string({ unit: "grapheme", minLength: 48, maxLength: 90 }))
const decimal = (digits: number, size?: number) =>
  fc.bigInt({ min: -(10n ** BigInt(digits) - 1n), max: 10n ** BigInt(digits) - 1n }).map((v) => twos(v, size))
const addr = fc.record({
  street: text,
  colour: fc.constantFrom("RED", "GREEN", "BLUE"),
  lines: fc.array(fc.record({ n: fc.integer(), at: fc.option(bytes(4).filter((b) => b.length === 4).map((b) => b), { nil: null }) }), { maxLength: 3 })
})

/** A datum in the shape the plain encoder (no logical types) writes. */
const datum = fc.record({
  i: fc.integer(),
  l: long,
  f: fc.float({ noNaN: true }),
  d: fc.double({ noNaN: true }),
  b: fc.boolean(),
  s: text,
  raw: bytes(60),
  e: fc.constantFrom("RED", "GREEN", "BLUE"),
  fx: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Buffer.from(b)),
  dec: decimal(12),
  wide_dec: decimal(38),
  fixed_dec: decimal(20, 9),
  uuid_fixed: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b)),
  uuid_text: fc.uuid(),
  day: fc.integer({ min: -1_000_000, max: 1_000_000 }),
  ts_ms: fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
  ts_us: long,
  ts_ns: long,
  local_ms: fc.bigInt({ min: -9223372036854775n, max: 9223372036854775n }),
  maybe: fc.option(text, { nil: null }),
  maybe_last: fc.option(long, { nil: null }),
  tags: fc.array(text, { maxLength: 4 }),
  // keys that are not integer-like: the avsc path goes through a JS object, which reorders those
  scores: fc.dictionary(fc.string({ maxLength: 5 }).map((k) => `k${k}`), fc.option(fc.double({ noNaN: true }), { nil: null }), { maxKeys: 4 }),
  addr,
  maybe_addr: fc.option(addr, { nil: null })
})

const meta = (n: number) => ({ topic: "orders", partition: 3, offset: 1000 + n, timestamp: 1_767_225_600_000 + n, key: n % 2 === 0 ? null : Buffer.from([n & 0xff]) })

const ipc = (table: Arrow.Table) => Buffer.from(Arrow.tableToIPC(table, "stream"))

/** The avsc path, record by record. */
const viaAvsc = (builder: BatchBuilder, decoder: AvroDecoder, body: Buffer, n: number) => {
  const decoded = decoder.decode(body, 0)
  if (decoded instanceof CorruptAvroError) return decoded
  return builder.append(decoded, meta(n))
}

/** The direct path. */
const viaDirect = (builder: BatchBuilder, decoder: AvroDecoder, body: Buffer, n: number) => {
  const m = meta(n)
  return builder.appendBody(decoder, body, 0, m.topic, m.partition, m.offset, m.timestamp, m.key)
}

const wide = makeDecoder(7, wideSchema)
if (!("decode" in wide)) throw wide
const encodeWide = encoderType(wideSchema)

describe("direct decoder", () => {
  it("builds the same Arrow data as the avsc path for every type", () => {
    // the wide schema compiles to a direct reader (the comparison below would be vacuous otherwise)
    const names = wide.arrowSchema.fields.slice(0, -1).map((field) => field.name)
    expect(compileBodyReader(wide.schema, columnsOf(new BatchBuilder(wide.arrowSchema)), names)).toBeDefined()
    fc.assert(
      fc.property(fc.array(datum, { minLength: 1, maxLength: 20 }), (rows) => {
        const direct = new BatchBuilder(wide.arrowSchema)
        const avsc = new BatchBuilder(wide.arrowSchema)
        rows.forEach((row, n) => {
          const body = encodeWide.toBuffer(row)
          expect(viaDirect(direct, wide, body, n)).toBeUndefined()
          expect(viaAvsc(avsc, wide, body, n)).toBeUndefined()
        })
        expect(ipc(direct.finish()).equals(ipc(avsc.finish()))).toBe(true)
      }),
      { numRuns: 60 }
    )
  })

  it("replaces invalid UTF-8 in strings with U+FFFD, as the avsc path does", () => {
    // a string and a bytes field encode alike, so a bytes writer schema can put any bytes in a string
    const asString = { type: "record", name: "T", fields: [{ name: "s", type: "string" }] }
    const asBytes = encoderType({ type: "record", name: "T", fields: [{ name: "s", type: "bytes" }] })
    const decoder = makeDecoder(1, asString)
    if (!("decode" in decoder)) throw decoder
    const samples = [
      Buffer.from([0x61, 0xff, 0x62]),
      Buffer.from([0xc3]),
      Buffer.from([0xe2, 0x82]),
      Buffer.from("Zürich", "utf8"),
      Buffer.concat([Buffer.alloc(60, 0x41), Buffer.from([0xed, 0xa0, 0x80])]), // a surrogate, past the short-string loop
      Buffer.from([0xf0, 0x9f, 0x98, 0x80])
    ]
    const direct = new BatchBuilder(decoder.arrowSchema)
    const avsc = new BatchBuilder(decoder.arrowSchema)
    samples.forEach((sample, n) => {
      const body = asBytes.toBuffer({ s: sample })
      expect(viaDirect(direct, decoder, body, n)).toBeUndefined()
      expect(viaAvsc(avsc, decoder, body, n)).toBeUndefined()
    })
    const table = direct.finish()
    expect(table.getChild("s")!.get(0)).toBe("a\ufffdb")
    expect(ipc(table).equals(ipc(avsc.finish()))).toBe(true)
  })

  it("decides well-formed UTF-8 as buffer.isUtf8 does", () => {
    // bytes biased to the interesting ranges: lead bytes, continuations, the edges of overlong and surrogate forms
    const byte = fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0xbf }), fc.constantFrom(0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90))
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 12 }), fc.nat(3), (values, pad) => {
        const bytes = Uint8Array.from([...Array(pad).fill(0x41), ...values, 0x41])
        expect(isWellFormedUtf8(bytes, pad, pad + values.length)).toBe(isUtf8(Buffer.from(values)))
      }),
      { numRuns: 5000 }
    )
  })

  it("rejects every truncation of a body and leaves the builder unchanged", () => {
    const rows = fc.sample(datum, { numRuns: 5, seed: 11 })
    for (const row of rows) {
      const body = encodeWide.toBuffer(row)
      const builder = new BatchBuilder(wide.arrowSchema)
      const reference = new BatchBuilder(wide.arrowSchema)
      for (let cut = 0; cut < body.length; cut++) {
        const error = viaDirect(builder, wide, body.subarray(0, cut), cut)
        expect(error).toBeInstanceOf(CorruptAvroError)
        expect(builder.rowCount).toBe(0)
      }
      const trailing = viaDirect(builder, wide, Buffer.concat([body, Buffer.from([0])]), 0)
      expect(trailing?.message).toContain("1 bytes left over")
      expect(viaDirect(builder, wide, body, 0)).toBeUndefined()
      expect(viaAvsc(reference, wide, body, 0)).toBeUndefined()
      expect(ipc(builder.finish()).equals(ipc(reference.finish()))).toBe(true)
    }
  })

  it("on random corruption, errors leave the builder unchanged and successes agree with avsc", () => {
    const sampleRows = fc.sample(datum, { numRuns: 8, seed: 5 })
    fc.assert(
      fc.property(
        fc.constantFrom(...sampleRows.map((row) => encodeWide.toBuffer(row))),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (good, flips) => {
          const body = Buffer.from(good)
          for (const [at, byte] of flips) body[at % body.length] = byte
          const direct = new BatchBuilder(wide.arrowSchema)
          const avsc = new BatchBuilder(wide.arrowSchema)
          const directError = viaDirect(direct, wide, body, 0)
          const avscError = viaAvsc(avsc, wide, body, 0)
          if (directError !== undefined) {
            expect(direct.rowCount).toBe(0)
          } else if (avscError === undefined) {
            expect(ipc(direct.finish()).equals(ipc(avsc.finish()))).toBe(true)
            return
          }
          // after a rejected body, a good one lands alone
          direct.reset()
          avsc.reset()
          expect(viaDirect(direct, wide, good, 1)).toBeUndefined()
          expect(viaAvsc(avsc, wide, good, 1)).toBeUndefined()
          expect(ipc(direct.finish()).equals(ipc(avsc.finish()))).toBe(true)
        }
      ),
      { numRuns: 1000 }
    )
  })

  it("names the problem in a corrupt body", () => {
    const schema = { type: "record", name: "T", fields: [{ name: "e", type: { type: "enum", name: "E", symbols: ["A", "B"] } }, { name: "o", type: ["null", "int"] }] }
    const decoder = makeDecoder(3, schema)
    if (!("decode" in decoder)) throw decoder
    const builder = new BatchBuilder(decoder.arrowSchema)
    expect(viaDirect(builder, decoder, Buffer.from([4, 0]), 0)?.message).toContain("enum index 2 is out of range (2 symbols)")
    expect(viaDirect(builder, decoder, Buffer.from([0, 6]), 0)?.message).toContain("union branch index 3 is out of range")
    expect(viaDirect(builder, decoder, Buffer.from([0, 2]), 0)?.message).toContain("truncated")
    expect(viaDirect(builder, decoder, Buffer.from([0, 2, 2]), 0)).toBeUndefined()
    expect(builder.rowCount).toBe(1)
  })

  it("rejects a block count that cannot fit in the body on both paths, before reading its items", () => {
    // a count of 2^40: avsc alone would loop over it, building a map or an array until the process aborts
    const zigzag = (n: bigint) => {
      const out: Array<number> = []
      let v = n >= 0n ? n * 2n : -n * 2n - 1n
      while (v >= 0x80n) {
        out.push(Number(v & 0x7fn) | 0x80)
        v >>= 7n
      }
      out.push(Number(v))
      return out
    }
    const huge = zigzag(2n ** 40n)
    const cases = [
      { values: { type: "map", values: { type: "fixed", name: "Empty", size: 0 } }, body: [...huge, 2, 0x61, 0], reason: "cannot fit in the 3 bytes left" },
      { values: { type: "array", items: "long" }, body: [...huge, 2, 0], reason: "cannot fit in the 2 bytes left" },
      { values: { type: "array", items: { type: "record", name: "Empty", fields: [] } }, body: [...huge, 0], reason: "more than 1000000 items of a zero-byte type" },
      // a negative count is followed by the block's size in bytes
      { values: { type: "array", items: { type: "fixed", name: "Empty", size: 0 } }, body: [...zigzag(-600_000n), 0, ...zigzag(-600_000n), 0, 0], reason: "more than 1000000 items of a zero-byte type" }
    ]
    for (const { values, body, reason } of cases) {
      const schema = { type: "record", name: "Blocks", fields: [{ name: "v", type: values }] }
      const decoder = makeDecoder(4, schema)
      if (!("decode" in decoder)) throw decoder
      const direct = new BatchBuilder(decoder.arrowSchema)
      const avsc = new BatchBuilder(decoder.arrowSchema)
      const started = performance.now()
      expect(viaDirect(direct, decoder, Buffer.from(body), 0)?.message).toContain(reason)
      expect(viaAvsc(avsc, decoder, Buffer.from(body), 0)?.message).toContain(reason)
      expect(performance.now() - started).toBeLessThan(2_000)
      expect(direct.rowCount + avsc.rowCount).toBe(0)
    }
    // within the allowance, zero-byte items are read on both paths alike
    const schema = { type: "record", name: "Nothing", fields: [{ name: "v", type: { type: "array", items: { type: "fixed", name: "Empty", size: 0 } } }] }
    const decoder = makeDecoder(5, schema)
    if (!("decode" in decoder)) throw decoder
    const body = Buffer.from([...zigzag(-3n), 0, ...zigzag(2n), 0])
    const direct = new BatchBuilder(decoder.arrowSchema)
    const avsc = new BatchBuilder(decoder.arrowSchema)
    expect(viaDirect(direct, decoder, body, 0)).toBeUndefined()
    expect(viaAvsc(avsc, decoder, body, 0)).toBeUndefined()
    const table = direct.finish()
    expect(table.getChild("v")?.get(0)?.length).toBe(5)
    expect(ipc(table).equals(ipc(avsc.finish()))).toBe(true)
  })

  it("a corrupt body leaves the bodies decoded after it on the avsc path intact", () => {
    // a length whose varint never ends reads as NaN in avsc; unchecked, it poisoned avsc's shared buffer pool and
    // every later bytes or fixed value came back empty
    const schema = { type: "record", name: "Blob", fields: [{ name: "raw", type: "bytes" }, { name: "fx", type: { type: "fixed", name: "F4", size: 4 } }] }
    const decoder = makeDecoder(6, schema)
    if (!("decode" in decoder)) throw decoder
    const good = encoderType(schema).toBuffer({ raw: Buffer.from([1, 2, 3]), fx: Buffer.from([4, 5, 6, 7]) })
    const runaway = Buffer.alloc(200, 0x80)
    expect(decoder.decode(runaway, 0)).toBeInstanceOf(CorruptAvroError)
    expect((decoder.decode(runaway, 0) as CorruptAvroError).reason).toContain("truncated")
    const decoded = decoder.decode(good, 0) as { raw: Buffer; fx: Buffer }
    expect([...decoded.raw]).toEqual([1, 2, 3])
    expect([...decoded.fx]).toEqual([4, 5, 6, 7])
  })

  it("a rolled-back body leaves no bits behind: the batch's bytes are those of the rows that landed", () => {
    const schema = {
      type: "record",
      name: "Bits",
      fields: [
        { name: "o", type: ["null", "boolean"] },
        { name: "b", type: "boolean" },
        { name: "e", type: { type: "enum", name: "One", symbols: ["A"] } }
      ]
    }
    const decoder = makeDecoder(8, schema)
    if (!("decode" in decoder)) throw decoder
    const good = Buffer.from([2, 1, 1, 0]) // o = true, b = true, e = A
    const bad = Buffer.from([2, 1, 1, 10]) // the same, but enum index 5: rejected after o and b were written
    const rolledBack = new BatchBuilder(decoder.arrowSchema)
    expect(viaDirect(rolledBack, decoder, good, 0)).toBeUndefined()
    expect(viaDirect(rolledBack, decoder, bad, 1)?.message).toContain("enum index 5 is out of range")
    const clean = new BatchBuilder(decoder.arrowSchema)
    expect(viaDirect(clean, decoder, good, 0)).toBeUndefined()
    expect(ipc(rolledBack.finish()).equals(ipc(clean.finish()))).toBe(true)
  })

  it("leaves a writer whose field types differ from the batch columns to the avsc path", () => {
    const older = makeDecoder(1, { type: "record", name: "T", fields: [{ name: "n", type: "int" }, { name: "s", type: "string" }] })
    const newer = makeDecoder(2, { type: "record", name: "T", fields: [{ name: "n", type: "long" }, { name: "s", type: "string" }, { name: "extra", type: ["null", "string"], default: null }] })
    if (!("decode" in older) || !("decode" in newer)) throw new Error("schemas")
    const olderBatch = new BatchBuilder(older.arrowSchema)
    // same fields and types: direct; a changed type (int column, long writer): no direct reader
    expect(compileBodyReader(older.schema, columnsOf(olderBatch), ["n", "s"])).toBeDefined()
    expect(compileBodyReader(newer.schema, columnsOf(olderBatch), ["n", "s"])).toBeUndefined()
    // through appendBody, the long that fits the int column lands and one that does not is the typed mismatch
    const encode = encoderType(newer.schema as object)
    expect(viaDirect(olderBatch, newer, encode.toBuffer({ n: 5, s: "a", extra: null }), 0)?._tag).toBe(undefined)
    expect(viaDirect(olderBatch, newer, encode.toBuffer({ n: 2 ** 40, s: "b", extra: null }), 1)?._tag).toBe("ColumnTypeMismatchError")
    expect(olderBatch.rowCount).toBe(1)
  })

  it("fills batch columns the writer lacks with nulls", () => {
    const older = makeDecoder(1, { type: "record", name: "T", fields: [{ name: "s", type: "string" }] })
    const newer = makeDecoder(2, { type: "record", name: "T", fields: [{ name: "s", type: "string" }, { name: "extra", type: ["null", "long"], default: null }] })
    if (!("decode" in older) || !("decode" in newer)) throw new Error("schemas")
    const batch = new BatchBuilder(newer.arrowSchema)
    const avsc = new BatchBuilder(newer.arrowSchema)
    const body = encoderType(older.schema as object).toBuffer({ s: "old row" })
    expect(viaDirect(batch, older, body, 0)).toBeUndefined()
    expect(viaAvsc(avsc, older, body, 0)).toBeUndefined()
    const table = batch.finish()
    expect(table.getChild("extra")!.get(0)).toBeNull()
    expect(ipc(table).equals(ipc(avsc.finish()))).toBe(true)
  })
})

/** The top-level value columns of a builder (a fresh accumulator tree of its schema, for compiling). */
const columnsOf = (builder: BatchBuilder) => builder.schema.fields.slice(0, -1).map((field) => columnFor(field))
