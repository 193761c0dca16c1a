import { describe, expect, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { BatchBuilder, decodeInto, type KafkaMeta } from "../../src/avro/batch.ts"
import { DecoderCache, makeDecoder, type AvroDecoder } from "../../src/avro/decoder.ts"
import { CorruptAvroError, NullInNonNullableColumnError } from "../../src/avro/errors.ts"
import { widenSchema } from "../../src/avro/widen.ts"
import { dataOf, decimalAt, encoderType, frame, int64At, tableProblems, twos } from "./support.ts"

const inner = {
  type: "record",
  name: "Inner",
  fields: [
    { name: "a", type: "int" },
    { name: "b", type: ["null", "string"], default: null },
    { name: "deep", type: { type: "record", name: "Deeper", fields: [{ name: "x", type: "double" }] } }
  ]
}
const richSchema = {
  type: "record",
  name: "Rich",
  namespace: "test.rich",
  fields: [
    { name: "id", type: "long" },
    { name: "big", type: "long" },
    { name: "i", type: "int" },
    { name: "f", type: "float" },
    { name: "d", type: "double" },
    { name: "flag", type: "boolean" },
    { name: "s", type: "string" },
    { name: "color", type: { type: "enum", name: "Color", symbols: ["RED", "GREEN", "BLUE"] } },
    { name: "hash", type: { type: "fixed", name: "Hash", size: 4 } },
    { name: "raw", type: "bytes" },
    { name: "decB", type: { type: "bytes", logicalType: "decimal", precision: 10, scale: 2 } },
    { name: "decF", type: { type: "fixed", name: "Dec16", size: 16, logicalType: "decimal", precision: 38, scale: 6 } },
    { name: "day", type: { type: "int", logicalType: "date" } },
    { name: "tsMs", type: { type: "long", logicalType: "timestamp-millis" } },
    { name: "tsUs", type: { type: "long", logicalType: "timestamp-micros" } },
    { name: "tsNs", type: { type: "long", logicalType: "timestamp-nanos" } },
    { name: "localMs", type: { type: "long", logicalType: "local-timestamp-millis" } },
    { name: "localUs", type: { type: "long", logicalType: "local-timestamp-micros" } },
    { name: "tMs", type: { type: "int", logicalType: "time-millis" } },
    { name: "tUs", type: { type: "long", logicalType: "time-micros" } },
    { name: "uid", type: { type: "string", logicalType: "uuid" } },
    { name: "nested", type: inner },
    { name: "items", type: { type: "array", items: { type: "record", name: "Item", fields: [
      { name: "sku", type: "string" },
      { name: "qty", type: "int" },
      { name: "price", type: ["null", { type: "bytes", logicalType: "decimal", precision: 9, scale: 2 }] }
    ] } } },
    { name: "maybeTags", type: { type: "array", items: ["null", "string"] } },
    { name: "attrs", type: { type: "map", values: "long" } },
    { name: "optMap", type: ["null", { type: "map", values: ["string", "null"] }], default: null },
    { name: "optA", type: ["null", "string"], default: null },
    { name: "optB", type: ["long", "null"], default: 0 },
    { name: "optRec", type: ["null", "Inner"], default: null }
  ]
}

/** The inputs, in the test's own terms (bigints for longs, unscaled bigints for decimals). */
const row = (n: number) => {
  const odd = n % 2 === 1
  return {
    id: BigInt(n) * (odd ? -1n : 1n) - 3n,
    big: odd ? -(2n ** 63n) + BigInt(n) : 2n ** 53n + 1n + BigInt(n) * 1_000_003n,
    i: odd ? -(2 ** 31) + n : 2 ** 31 - 1 - n,
    f: n + 0.5,
    d: n * 1e-3 - 7.25,
    flag: n % 3 === 0,
    s: `row ${n} ${odd ? "Zürich Łódź 日本" : "plain"}`,
    color: ["RED", "GREEN", "BLUE"][n % 3]!,
    hash: Buffer.from([n, 255 - n, 0, 1]),
    raw: Buffer.from(Array.from({ length: n % 5 }, (_, k) => k * 7 + n)),
    decB: odd ? -(BigInt(n) * 12345n) : BigInt(n) * 99_999_999n,
    decF: odd ? -(10n ** 37n) - BigInt(n) : 10n ** 37n + 123_456_789n * BigInt(n),
    day: odd ? -719_162 + n : 19_000 + n,
    tsMs: odd ? -1_000_001 - n : 1_767_225_600_123 + n,
    tsUs: odd ? -(2n ** 60n) : 1_767_225_600_123_456n + BigInt(n),
    tsNs: odd ? -1_500n - BigInt(n) * 1000n : 1_767_225_600_123_456_789n + BigInt(n),
    localMs: 1_700_000_000_000 + n,
    localUs: 1_700_000_000_000_000n + BigInt(n),
    tMs: 86_399_999 - n,
    tUs: 86_399_999_999n - BigInt(n),
    uid: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    nested: { a: n, b: odd ? null : `b${n}`, deep: { x: n / 4 } },
    items: Array.from({ length: n % 3 }, (_, k) => ({ sku: `sku-${n}-${k}`, qty: k + 1, price: k === 1 ? null : BigInt(n * 100 + k) })),
    maybeTags: n % 4 === 0 ? [] : [`t${n}`, null, "x"],
    attrs: n % 2 === 0 ? { one: 1n, many: -(2n ** 62n) } : {},
    optMap: n % 3 === 0 ? null : { k: odd ? null : "v", z: "zz" },
    optA: odd ? `a${n}` : null,
    optB: odd ? null : BigInt(n) * 2n ** 55n,
    optRec: n % 4 === 1 ? { a: -n, b: "r", deep: { x: -1 } } : null
  }
}
type Row = ReturnType<typeof row>

/** Avro datum for plain avsc: decimals as bytes, unions of several branches unwrapped (avsc "auto"). */
const datum = (r: Row) => ({
  ...r,
  decB: twos(r.decB),
  decF: twos(r.decF, 16),
  items: r.items.map((item) => ({ ...item, price: item.price === null ? null : twos(item.price) })),
  attrs: r.attrs,
  optB: r.optB
})

const meta = (n: number): KafkaMeta => ({ topic: "orders", partition: 3, offset: 1000 + n, timestamp: 1_767_225_600_000 + n, key: n % 2 ? null : Buffer.from(`key${n}`) })

const decoderFor = (id: number, schema: object): AvroDecoder => {
  const decoder = makeDecoder(id, schema)
  if (!("decode" in decoder)) throw decoder
  return decoder
}

const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b))

describe("round trip: plain avsc -> decodeInto -> Arrow table", () => {
  const N = 24
  const rows = Array.from({ length: N }, (_, n) => row(n))
  const encode = encoderType(richSchema)
  const decoder = decoderFor(11, richSchema)
  const builder = new BatchBuilder(decoder.arrowSchema)
  for (let n = 0; n < N; n++) {
    const error = decodeInto(builder, decoder, frame(11, encode.toBuffer(datum(rows[n]!))), meta(n))
    if (error !== undefined) throw error
  }
  expect(builder.rowCount).toBe(N)
  expect(builder.byteSize).toBeGreaterThan(N * 50)
  const table = builder.finish()

  it("keeps the mapped schema with _kafka last", () => {
    expect(table.numRows).toBe(N)
    expect(table.schema.fields.map((f) => f.name)).toEqual([...richSchema.fields.map((f) => f.name), "_kafka"])
    expect(tableProblems(table)).toEqual([])
    expect(builder.rowCount).toBe(0)
  })

  it("longs are exact beyond 2^53 and negative", () => {
    const id = dataOf(table, "id")
    const big = dataOf(table, "big")
    for (let n = 0; n < N; n++) {
      expect(int64At(id, n)).toBe(rows[n]!.id)
      expect(int64At(big, n)).toBe(rows[n]!.big)
      expect(table.getChild("big")!.get(n)).toBe(rows[n]!.big)
    }
  })

  it("primitive columns", () => {
    for (let n = 0; n < N; n++) {
      const r = rows[n]!
      expect(table.getChild("i")!.get(n)).toBe(r.i)
      expect(table.getChild("f")!.get(n)).toBe(Math.fround(r.f))
      expect(table.getChild("d")!.get(n)).toBe(r.d)
      expect(table.getChild("flag")!.get(n)).toBe(r.flag)
      expect(table.getChild("s")!.get(n)).toBe(r.s)
      expect(table.getChild("color")!.get(n)).toBe(r.color)
      expect(Buffer.from(table.getChild("hash")!.get(n)!)).toEqual(r.hash)
      expect(Buffer.from(table.getChild("raw")!.get(n)!)).toEqual(r.raw)
      expect(table.getChild("uid")!.get(n)).toBe(r.uid)
      expect(table.getChild("tMs")!.get(n)).toBe(r.tMs)
      expect(int64At(dataOf(table, "tUs"), n)).toBe(r.tUs)
    }
  })

  it("decimals on bytes and fixed keep their unscaled value", () => {
    for (let n = 0; n < N; n++) {
      expect(decimalAt(dataOf(table, "decB"), n)).toBe(rows[n]!.decB)
      expect(decimalAt(dataOf(table, "decF"), n)).toBe(rows[n]!.decF)
    }
  })

  it("dates are days; timestamps are microseconds (millis * 1000, nanos floored)", () => {
    for (let n = 0; n < N; n++) {
      const r = rows[n]!
      expect((dataOf(table, "day").values as Int32Array)[n]).toBe(r.day)
      expect(int64At(dataOf(table, "tsMs"), n)).toBe(BigInt(r.tsMs) * 1000n)
      expect(int64At(dataOf(table, "tsUs"), n)).toBe(r.tsUs)
      expect(int64At(dataOf(table, "tsNs"), n)).toBe(floorDiv(r.tsNs, 1000n))
      expect(int64At(dataOf(table, "localMs"), n)).toBe(BigInt(r.localMs) * 1000n)
      expect(int64At(dataOf(table, "localUs"), n)).toBe(r.localUs)
    }
  })

  it("nested records, arrays of records, maps", () => {
    for (let n = 0; n < N; n++) {
      const r = rows[n]!
      const nested = table.getChild("nested")!.get(n)!.toJSON()
      expect({ a: nested["a"], b: nested["b"], x: (nested["deep"] as { toJSON(): { x: number } }).toJSON().x }).toEqual({ a: r.nested.a, b: r.nested.b, x: r.nested.deep.x })
      const items = [...table.getChild("items")!.get(n)!].map((item) => item!.toJSON())
      expect(items.map((item) => [item["sku"], item["qty"]])).toEqual(r.items.map((item) => [item.sku, item.qty]))
      const itemData = dataOf(table, "items").children[0]!.children[2]!
      const start = (dataOf(table, "items").valueOffsets as Int32Array)[n]!
      r.items.forEach((item, k) => expect(decimalAt(itemData, start + k)).toBe(item.price))
      expect([...table.getChild("maybeTags")!.get(n)!]).toEqual(r.maybeTags)
      const attrs = table.getChild("attrs")!.get(n)!.toJSON()
      expect(attrs).toEqual(r.attrs)
      const optMap = table.getChild("optMap")!.get(n)
      expect(optMap === null ? null : optMap.toJSON()).toEqual(r.optMap)
    }
  })

  it("nullable unions in both orders", () => {
    for (let n = 0; n < N; n++) {
      const r = rows[n]!
      expect(table.getChild("optA")!.get(n)).toBe(r.optA)
      expect(int64At(dataOf(table, "optB"), n)).toBe(r.optB)
      const optRec = table.getChild("optRec")!.get(n)
      expect(optRec === null ? null : optRec.toJSON()["a"]).toBe(r.optRec === null ? null : r.optRec.a)
    }
    expect(dataOf(table, "optA").nullCount).toBe(rows.filter((r) => r.optA === null).length)
    expect(dataOf(table, "optRec").nullCount).toBe(rows.filter((r) => r.optRec === null).length)
  })

  it("the _kafka column holds topic, partition, offset, timestamp in micros and key", () => {
    for (let n = 0; n < N; n++) {
      const m = meta(n)
      expect(table.getChild("_kafka")!.getChild("topic")!.get(n)).toBe("orders")
      expect(table.getChild("_kafka")!.getChild("partition")!.get(n)).toBe(3)
      expect(int64At(dataOf(table, "_kafka.offset"), n)).toBe(BigInt(m.offset))
      expect(int64At(dataOf(table, "_kafka.timestamp"), n)).toBe(BigInt(m.timestamp) * 1000n)
      const key = table.getChild("_kafka")!.getChild("key")!.get(n)
      expect(key === null ? null : Buffer.from(key)).toEqual(m.key)
    }
    expect(dataOf(table, "_kafka").nullCount).toBe(0)
  })

  it("survives Arrow IPC (the hand-off to the Parquet writer)", () => {
    const back = Arrow.tableFromIPC(Arrow.tableToIPC(table))
    expect(back.numRows).toBe(N)
    for (let n = 0; n < N; n++) {
      expect(back.getChild("s")!.get(n)).toBe(rows[n]!.s)
      expect(int64At(back.getChild("big")!.data[0]!, n)).toBe(rows[n]!.big)
      expect(back.getChild("attrs")!.get(n)!.toJSON()).toEqual(rows[n]!.attrs)
    }
  })

  it("the builder is reusable after finish", () => {
    const r = row(5)
    expect(decodeInto(builder, decoder, frame(11, encode.toBuffer(datum(r))), meta(5))).toBeUndefined()
    const again = builder.finish()
    expect(again.numRows).toBe(1)
    expect(again.getChild("s")!.get(0)).toBe(r.s)
    expect(table.getChild("s")!.get(0)).toBe(rows[0]!.s) // the first table still holds its own buffers
  })
})

describe("schema evolution within one batch", () => {
  const v1 = { type: "record", name: "Order", fields: [
    { name: "id", type: "long" },
    { name: "address", type: { type: "record", name: "Address", fields: [{ name: "city", type: "string" }] } }
  ] }
  const v2 = { type: "record", name: "Order", fields: [
    { name: "id", type: "long" },
    { name: "coupon", type: ["null", "string"], default: null },
    { name: "address", type: { type: "record", name: "Address", fields: [
      { name: "city", type: "string" },
      { name: "zip", type: ["null", "string"], default: null }
    ] } }
  ] }

  it("rows of an older schema land by name in the wider batch; missing fields are null", () => {
    const cache = new DecoderCache()
    const d1 = cache.getOrMake(1, JSON.stringify(v1)) as AvroDecoder
    const d2 = cache.getOrMake(2, v2) as AvroDecoder
    expect(cache.getOrMake(1, "ignored")).toBe(d1)
    const builder = new BatchBuilder(d2.arrowSchema)
    const e1 = encoderType(v1)
    const e2 = encoderType(v2)
    expect(decodeInto(builder, d1, frame(1, e1.toBuffer({ id: 1, address: { city: "Oslo" } })), meta(0))).toBeUndefined()
    expect(decodeInto(builder, d2, frame(2, e2.toBuffer({ id: 2, coupon: "X", address: { city: "Kyoto", zip: "600" } })), meta(1))).toBeUndefined()
    expect(decodeInto(builder, d1, frame(1, e1.toBuffer({ id: 3, address: { city: "Lima" } })), meta(2))).toBeUndefined()
    const table = builder.finish()
    expect(table.schema.fields.map((f) => f.name)).toEqual(["id", "coupon", "address", "_kafka"])
    expect([0, 1, 2].map((i) => table.getChild("id")!.get(i))).toEqual([1n, 2n, 3n])
    expect([0, 1, 2].map((i) => table.getChild("coupon")!.get(i))).toEqual([null, "X", null])
    expect([0, 1, 2].map((i) => table.getChild("address")!.getChild("city")!.get(i))).toEqual(["Oslo", "Kyoto", "Lima"])
    expect([0, 1, 2].map((i) => table.getChild("address")!.getChild("zip")!.get(i))).toEqual([null, "600", null])
  })

  it("widenSchema adds the newer schema's fields (nested too) as nullable, _kafka last", () => {
    const s1 = decoderFor(1, v1).arrowSchema
    const s2 = decoderFor(2, v2).arrowSchema
    expect(widenSchema(s2, s1)).toBeUndefined()
    const wide = widenSchema(s1, s2)!
    expect(wide.fields.map((f) => [f.name, f.nullable])).toEqual([["id", false], ["address", false], ["coupon", true], ["_kafka", false]])
    expect((wide.fields[1]!.type as Arrow.Struct).children.map((f) => [f.name, f.nullable])).toEqual([["city", false], ["zip", true]])
    // a batch of the widened schema takes rows of both
    const builder = new BatchBuilder(wide)
    expect(decodeInto(builder, decoderFor(2, v2), frame(2, encoderType(v2).toBuffer({ id: 9, coupon: null, address: { city: "Rome", zip: "1" } })), meta(0))).toBeUndefined()
    expect(decodeInto(builder, decoderFor(1, v1), frame(1, encoderType(v1).toBuffer({ id: 8, address: { city: "Bern" } })), meta(1))).toBeUndefined()
    const table = builder.finish()
    expect([0, 1].map((i) => table.getChild("address")!.getChild("zip")!.get(i))).toEqual(["1", null])
  })

  it("decodes plain Uint8Array values (not only Buffers)", () => {
    const d1 = decoderFor(1, v1)
    const builder = new BatchBuilder(d1.arrowSchema)
    const bytes = new Uint8Array(frame(1, encoderType(v1).toBuffer({ id: 5, address: { city: "Riga" } })))
    expect(decodeInto(builder, d1, bytes, meta(0))).toBeUndefined()
    expect(builder.finish().getChild("address")!.getChild("city")!.get(0)).toBe("Riga")
  })

  it("a row lacking a non-nullable column is rejected with its path", () => {
    const d1 = decoderFor(1, v1)
    const wider = decoderFor(3, { ...v2, fields: [...v2.fields, { name: "must", type: "int", default: 0 }] })
    const builder = new BatchBuilder(wider.arrowSchema)
    const error = decodeInto(builder, d1, frame(1, encoderType(v1).toBuffer({ id: 1, address: { city: "Oslo" } })), meta(0))
    expect(error).toBeInstanceOf(NullInNonNullableColumnError)
    expect((error as NullInNonNullableColumnError).path).toBe("must")
    expect(builder.rowCount).toBe(0)
  })
})

describe("bad records leave the builder with whole rows", () => {
  const schema = richSchema
  const encode = encoderType(schema)
  const decoder = decoderFor(11, schema)

  it("a truncated body is a CorruptAvroError and the other rows still make a valid table", () => {
    const builder = new BatchBuilder(decoder.arrowSchema)
    const good = [0, 1, 2].map((n) => frame(11, encode.toBuffer(datum(row(n)))))
    const broken = frame(11, encode.toBuffer(datum(row(3))))
    expect(decodeInto(builder, decoder, good[0]!, meta(0))).toBeUndefined()
    for (const cut of [6, 20, broken.length - 1]) {
      const error = decodeInto(builder, decoder, broken.subarray(0, cut), meta(3))
      expect(error).toBeInstanceOf(CorruptAvroError)
      expect((error as CorruptAvroError).schemaId).toBe(11)
      expect(error!.message).toContain("schema id 11")
    }
    const trailing = decodeInto(builder, decoder, Buffer.concat([good[1]!, Buffer.from([1, 2])]), meta(1))
    expect((trailing as CorruptAvroError).reason).toContain("2 bytes left over")
    expect(decodeInto(builder, decoder, good[1]!, meta(1))).toBeUndefined()
    expect(decodeInto(builder, decoder, good[2]!, meta(2))).toBeUndefined()
    const table = builder.finish()
    expect(table.numRows).toBe(3)
    const back = Arrow.tableFromIPC(Arrow.tableToIPC(table))
    expect([0, 1, 2].map((i) => back.getChild("s")!.get(i))).toEqual([0, 1, 2].map((n) => row(n).s))
  })

  it("bad framing and a foreign schema id are reported, not thrown", () => {
    const builder = new BatchBuilder(decoder.arrowSchema)
    expect(decodeInto(builder, decoder, null, meta(0))).toMatchObject({ _tag: "BadFramingError", problem: "tombstone" })
    expect(decodeInto(builder, decoder, Uint8Array.of(1, 0, 0, 0, 11, 0), meta(0))).toMatchObject({ problem: "bad-magic-byte" })
    expect(decodeInto(builder, decoder, frame(12, encode.toBuffer(datum(row(0)))), meta(0))).toBeInstanceOf(CorruptAvroError)
    expect(builder.rowCount).toBe(0)
  })

  it("a null deep inside a record rolls back every column it touched", () => {
    const builder = new BatchBuilder(decoder.arrowSchema)
    const decoded = (n: number) => decoder.decode(frame(11, encode.toBuffer(datum(row(n)))), 5) as Record<string, unknown>
    expect(builder.append(decoded(0), meta(0))).toBeUndefined()
    // items[1].qty missing, after items[0] and many top-level columns were appended
    const bad = decoded(2)
    const items = bad["items"] as Array<Record<string, unknown>>
    items[1] = { ...items[1], qty: null }
    const error = builder.append(bad, meta(2))
    expect(error).toBeInstanceOf(NullInNonNullableColumnError)
    expect((error as NullInNonNullableColumnError).path).toBe("items.element.qty")
    // the deep struct's x missing (nested.deep.x) after nested.a and nested.b were appended
    const bad2 = decoded(4)
    bad2["nested"] = { a: 1, b: "b", deep: {} }
    expect((builder.append(bad2, meta(4)) as NullInNonNullableColumnError).path).toBe("nested.deep.x")
    expect(builder.rowCount).toBe(1)
    expect(builder.append(decoded(2), meta(2))).toBeUndefined()
    const table = builder.finish()
    expect(table.numRows).toBe(2)
    for (const field of table.schema.fields) expect(table.getChild(field.name)!.length).toBe(2)
    const itemsData = dataOf(table, "items")
    expect(Array.from(itemsData.valueOffsets as Int32Array)).toEqual([0, 0, 2])
    expect(itemsData.children[0]!.length).toBe(2)
    expect(itemsData.children[0]!.children.map((c) => c.length)).toEqual([2, 2, 2])
    expect(dataOf(table, "nested.deep.x").length).toBe(2)
    expect(dataOf(table, "nested.a").length).toBe(2)
    expect(tableProblems(table)).toEqual([])
    expect(table.getChild("items")!.get(1)!.get(1)!.toJSON()["sku"]).toBe("sku-2-1")
    expect(int64At(dataOf(table, "_kafka.offset"), 1)).toBe(1002n)
  })
})
