import { assert, describe, it } from "@effect/vitest"
import * as path from "node:path"
import * as Arrow from "apache-arrow"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { readWithDeltaRs, tempDir } from "./support.ts"

/** A generated column type: its Arrow type, a value generator, and the canonical form read_table.py prints. */
interface Gen {
  readonly type: Arrow.DataType
  readonly value: fc.Arbitrary<unknown>
  readonly canon: (value: unknown) => unknown
}

const str = (v: unknown) => String(v)
const decText = (scale: number) => (v: unknown) => {
  const big = v as bigint
  const neg = big < 0n
  const digits = (neg ? -big : big).toString().padStart(scale + 1, "0")
  return scale === 0 ? `${neg ? "-" : ""}${digits}` : `${neg ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`
}

const nullable = (gen: Gen): Gen => ({ ...gen, value: fc.option(gen.value, { nil: null }), canon: (v) => (v === null ? null : gen.canon(v)) })

const leaf: fc.Arbitrary<Gen> = fc.oneof(
  fc.constant<Gen>({ type: new Arrow.Int32(), value: fc.integer(), canon: str }),
  fc.constant<Gen>({ type: new Arrow.Int64(), value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), canon: str }),
  fc.constant<Gen>({ type: new Arrow.Float64(), value: fc.double({ noNaN: true, noDefaultInfinity: true }), canon: (v) => (Object.is(v, -0) ? 0 : v) }),
  fc.constant<Gen>({ type: new Arrow.Bool(), value: fc.boolean(), canon: (v) => v }),
  fc.constant<Gen>({ type: new Arrow.Utf8(), value: fc.string({ unit: "grapheme" }), canon: (v) => v }),
  fc.constant<Gen>({ type: new Arrow.Binary(), value: fc.uint8Array({ maxLength: 8 }), canon: (v) => Buffer.from(v as Uint8Array).toString("hex") }),
  fc.constant<Gen>({ type: new Arrow.DateDay(), value: fc.integer({ min: -700_000, max: 2_900_000 }), canon: (v) => new Date((v as number) * 86_400_000).toISOString().slice(0, 10).replace(/^\+0*/, "") }),
  fc.constant<Gen>({ type: new Arrow.TimestampMicrosecond("UTC"), value: fc.bigInt({ min: -62_000_000_000_000_000n, max: 253_000_000_000_000_000n }), canon: str }),
  fc.record({ precision: fc.integer({ min: 1, max: 38 }), scale: fc.integer({ min: 0, max: 10 }) }).map(({ precision, scale }): Gen => {
    const s = Math.min(scale, precision)
    const bound = 10n ** BigInt(precision) - 1n
    return { type: new Arrow.Decimal(s, precision, 128), value: fc.bigInt({ min: -bound, max: bound }), canon: decText(s) }
  })
)

const column: fc.Arbitrary<Gen> = fc.letrec<{ col: Gen }>((tie) => ({
  col: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf.map(nullable),
    (tie("col") as fc.Arbitrary<Gen>).map((inner): Gen => ({
      type: new Arrow.List(new Arrow.Field("item", inner.type, true)),
      value: fc.option(fc.array(inner.value, { maxLength: 3 }), { nil: null }),
      canon: (v) => (v === null ? null : (v as Array<unknown>).map(inner.canon))
    })),
    fc.tuple(tie("col") as fc.Arbitrary<Gen>, tie("col") as fc.Arbitrary<Gen>).map(([a, b]): Gen => ({
      type: new Arrow.Struct([new Arrow.Field("a", a.type, true), new Arrow.Field("b", b.type, true)]),
      value: fc.option(fc.record({ a: a.value, b: b.value }), { nil: null }),
      canon: (v) => (v === null ? null : { a: a.canon((v as { a: unknown }).a), b: b.canon((v as { b: unknown }).b) })
    })),
    (tie("col") as fc.Arbitrary<Gen>).map((inner): Gen => ({
      type: new Arrow.Map_(new Arrow.Field("entries", new Arrow.Struct<any>([new Arrow.Field("key", new Arrow.Utf8(), false), new Arrow.Field("value", inner.type, true)]), false) as Arrow.Field<Arrow.Struct<any>>),
      value: fc.option(fc.uniqueArray(fc.tuple(fc.string({ maxLength: 4 }), inner.value), { maxLength: 3, selector: ([k]) => k }), { nil: null }),
      canon: (v) => (v === null ? null : (v as Array<[string, unknown]>).map(([k, x]) => [k, inner.canon(x)]))
    }))
  )
})).col

const depthLimited = column.filter((gen) => String(gen.type).length < 400)

describe("property: random schemas and values round-trip through delta-rs", () => {
  it.live("written tables read back equal to the input", () =>
    Effect.gen(function*() {
      const sink = yield* DeltaSink
      const sample = fc.sample(
        fc.array(depthLimited, { minLength: 1, maxLength: 5 }).chain((cols) =>
          fc.tuple(fc.constant(cols), fc.array(fc.tuple(...cols.map((c) => c.value)), { minLength: 1, maxLength: 20 }))
        ),
        { numRuns: 25, seed: Number(process.env["DELTA_PROPERTY_SEED"] ?? 42) }
      )
      for (const [index, [cols, rows]] of sample.entries()) {
        const schema = new Arrow.Schema([
          new Arrow.Field("row", new Arrow.Int32(), false),
          ...cols.map((c, i) => new Arrow.Field(`c${i}`, c.type, true))
        ])
        const objects = rows.map((values, r) => Object.fromEntries([["row", r], ...values.map((v, i) => [`c${i}`, v])]))
        const location = path.join(tempDir(), `p${index}`)
        yield* sink.append({ table: { name: `p${index}`, location }, schema, data: [tableOf(schema, objects)], partitionBy: [], txns: [], operationParameters: {} })
        const read = readWithDeltaRs(location)
        const actual = [...read.rows].sort((a, b) => Number(a["row"]) - Number(b["row"]))
        const expected = objects.map((o, r) => Object.fromEntries([["row", String(r)], ...cols.map((c, i) => [`c${i}`, c.canon(o[`c${i}`])])]))
        assert.deepStrictEqual(actual, expected, `case ${index}: ${schema.fields.map((f) => `${f.name}:${f.type}`).join(", ")}`)
      }
    }).pipe(Effect.provide(FilesystemSink.layer())), 180_000)
})
