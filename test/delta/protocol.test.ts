import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import fc from "fast-check"
import { type Action, parseActions, serializeActions } from "../../src/delta/actions.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { parseInterval } from "../../src/delta/checkpoint.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { decodeAddPath, encodeAddPath, escapePartitionPathName, partitionDirectory } from "../../src/delta/partition.ts"
import { mergeSchema } from "../../src/delta/schema-merge.ts"
import { arrowSchemaOf, deltaSchemaOf, parseSchemaString, schemaStringOf } from "../../src/delta/schema.ts"
import { computeStats, truncateMax, truncateMin } from "../../src/delta/stats.ts"
import { formatTimestampMillis } from "../../src/delta/value-text.ts"
import { unsupportedReason } from "../../src/delta/snapshot.ts"
import { localStorage } from "../../layers/delta-sink/filesystem.ts"
import { allTypesSchema, fixture } from "./support.ts"

describe("actions", () => {
  it("serialize and parse back, unknown actions kept", () => {
    const actions: Array<Action> = [
      { commitInfo: { timestamp: 1, operation: "STREAMING UPDATE" } },
      { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
      { txn: { appId: "a", version: 7, lastUpdated: 3 } },
      { add: { path: "x=1/p.parquet", partitionValues: { x: "1", y: null }, size: 10, modificationTime: 2, dataChange: true } },
      { unknown: { key: "domainMetadata", value: { domain: "d" } } }
    ]
    const text = serializeActions(actions)
    assert.strictEqual(text.split("\n").length, 6)
    assert.deepStrictEqual(parseActions(text), actions)
  })
})

describe("schema", () => {
  it("Arrow -> Spark StructType JSON -> Arrow", () => {
    const delta = deltaSchemaOf(allTypesSchema)
    const text = schemaStringOf(delta)
    assert.include(text, `{"name":"dec","type":"decimal(18,2)","nullable":true,"metadata":{}}`)
    assert.include(text, `"type":{"type":"map","keyType":"string","valueType":"long","valueContainsNull":true}`)
    assert.include(text, `"type":{"type":"array","elementType":"string","containsNull":true}`)
    assert.include(text, `{"name":"ts","type":"timestamp","nullable":true,"metadata":{}}`)
    assert.deepStrictEqual(deltaSchemaOf(arrowSchemaOf(parseSchemaString(text))), delta)
    const ntz = deltaSchemaOf(new Arrow.Schema([new Arrow.Field("t", new Arrow.TimestampMicrosecond(), true)]))
    assert.strictEqual(ntz.fields[0]!.type, "timestamp_ntz")
  })

  it("merge: added nullable fields, and named problems", () => {
    const table = deltaSchemaOf(new Arrow.Schema([
      new Arrow.Field("a", new Arrow.Int64(), false),
      new Arrow.Field("s", new Arrow.Struct([new Arrow.Field("x", new Arrow.Int32(), true)]), true)
    ]))
    const added = deltaSchemaOf(new Arrow.Schema([
      new Arrow.Field("a", new Arrow.Int64(), false),
      new Arrow.Field("s", new Arrow.Struct([new Arrow.Field("x", new Arrow.Int32(), true), new Arrow.Field("y", new Arrow.Utf8(), true)]), true),
      new Arrow.Field("n", new Arrow.Utf8(), true)
    ]))
    const merged = mergeSchema(table, added)
    assert.strictEqual(merged._tag, "Merged")
    if (merged._tag === "Merged") {
      assert.isTrue(merged.changed)
      assert.deepStrictEqual(merged.schema.fields.map((f) => f.name), ["a", "s", "n"])
    }
    assert.strictEqual(mergeSchema(table, added, false)._tag, "Problems")
    const bad = deltaSchemaOf(new Arrow.Schema([
      new Arrow.Field("s", new Arrow.Struct([new Arrow.Field("x", new Arrow.Int64(), true)]), true),
      new Arrow.Field("req", new Arrow.Utf8(), false),
      new Arrow.Field("dup", new Arrow.Utf8(), true),
      new Arrow.Field("DUP", new Arrow.Utf8(), true)
    ]))
    const problems = mergeSchema(table, bad)
    assert.strictEqual(problems._tag, "Problems")
    if (problems._tag === "Problems") {
      const text = problems.problems.join("\n")
      assert.include(text, "a: non-nullable field removed")
      assert.include(text, "s.x: type integer in the table, long in the batch")
      assert.include(text, "req: required field added")
      assert.include(text, "DUP: duplicate of dup ignoring case")
    }
  })
})

describe("stats", () => {
  it("strings truncate as Spark does", () => {
    const long = "a".repeat(40)
    assert.strictEqual(truncateMin(long), "a".repeat(32))
    assert.strictEqual(truncateMax(long), "a".repeat(32) + "\u007f")
    assert.strictEqual(truncateMax("b".repeat(32) + "é"), "b".repeat(32) + String.fromCodePoint(0x10ffff))
    assert.strictEqual(truncateMin("😈".repeat(33)), "😈".repeat(32))
    assert.strictEqual(truncateMax("short"), "short")
  })

  it("exact longs and decimals, ms timestamps, nested, no NaN, null counts", () => {
    const schema = new Arrow.Schema([
      new Arrow.Field("l", new Arrow.Int64(), true),
      new Arrow.Field("dec", new Arrow.Decimal(3, 38, 128), true),
      new Arrow.Field("ts", new Arrow.TimestampMicrosecond("UTC"), true),
      new Arrow.Field("x", new Arrow.Float64(), true),
      new Arrow.Field("st", new Arrow.Struct([new Arrow.Field("n", new Arrow.Int32(), true)]), true),
      new Arrow.Field("b", new Arrow.Bool(), true)
    ])
    const table = tableOf(schema, [
      { l: 9007199254740993n, dec: -123456789012345678901234567890123n, ts: -1n, x: NaN, st: { n: 5 }, b: true },
      { l: -5n, dec: 5n, ts: 1_767_225_600_123_999n, x: 1, st: null, b: null },
      { l: null, dec: null, ts: null, x: 2, st: { n: null }, b: false }
    ])
    const stats = computeStats(table, deltaSchemaOf(schema))
    assert.strictEqual(
      stats,
      `{"numRecords":3,"minValues":{"l":-5,"dec":-123456789012345678901234567890.123,"ts":"1969-12-31T23:59:59.999Z","st":{"n":5}},` +
        `"maxValues":{"l":9007199254740993,"dec":0.005,"ts":"2026-01-01T00:00:00.123Z","st":{"n":5}},` +
        `"nullCount":{"l":1,"dec":1,"ts":1,"x":0,"st":{"n":2},"b":1}}`
    )
    assert.strictEqual(formatTimestampMillis(1_000_999n, false), "1970-01-01T00:00:01.000")
  })

  it("string min and max are the byte-order extremes, nulls and empty strings included", () => {
    const schema = new Arrow.Schema([
      new Arrow.Field("s", new Arrow.Utf8(), true),
      new Arrow.Field("st", new Arrow.Struct([new Arrow.Field("t", new Arrow.Utf8(), true)]), true)
    ])
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.option(fc.string({ unit: "binary", maxLength: 9 }), { nil: null }), fc.option(fc.option(fc.string({ maxLength: 3 }), { nil: null }), { nil: null })), { minLength: 1, maxLength: 30 }),
        (rows) => {
          const table = tableOf(schema, rows.map(([s, t]) => ({ s, st: t === null ? null : { t } })))
          const stats = JSON.parse(computeStats(table, deltaSchemaOf(schema)))
          const extremes = (values: ReadonlyArray<string | null>) => {
            const present = values.filter((v): v is string => v !== null).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
            return present.length === 0 ? [undefined, undefined] : [truncateMin(present[0]!), truncateMax(present[present.length - 1]!)]
          }
          const [sMin, sMax] = extremes(rows.map(([s]) => s))
          assert.strictEqual(stats.minValues.s, sMin)
          assert.strictEqual(stats.maxValues.s, sMax)
          const [tMin, tMax] = extremes(rows.map(([, t]) => t ?? null))
          assert.strictEqual(stats.minValues.st?.t, tMin)
          assert.strictEqual(stats.maxValues.st?.t, tMax)
          assert.strictEqual(stats.nullCount.s, rows.filter(([s]) => s === null).length)
          assert.strictEqual(stats.nullCount.st.t, rows.filter(([, t]) => t == null).length)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("only the first 32 leaf columns", () => {
    const fields = Array.from({ length: 40 }, (_, i) => new Arrow.Field(`c${i}`, new Arrow.Int32(), true))
    const schema = new Arrow.Schema(fields)
    const stats = JSON.parse(computeStats(tableOf(schema, [Object.fromEntries(fields.map((f, i) => [f.name, i]))]), deltaSchemaOf(schema)))
    assert.strictEqual(Object.keys(stats.nullCount).length, 32)
    assert.notProperty(stats.minValues, "c32")
  })
})

describe("partitions", () => {
  it("escape as Spark (directory) and Hadoop (add.path)", () => {
    assert.strictEqual(escapePartitionPathName("/%20%f"), "%2F%2520%25f")
    assert.strictEqual(encodeAddPath("letter=%2F%2520%25f/p.parquet"), "letter=%252F%252520%2525f/p.parquet")
    assert.strictEqual(encodeAddPath("data=😈/p"), "data=😈/p")
    assert.strictEqual(escapePartitionPathName("2021-09-08 11:11:11"), "2021-09-08 11%3A11%3A11")
    assert.strictEqual(encodeAddPath("t=2021-09-08 11%3A11%3A11/p"), "t=2021-09-08%2011%253A11%253A11/p")
    assert.strictEqual(decodeAddPath("t=2021-09-08%2011%253A11%253A11/p"), "t=2021-09-08 11%3A11%3A11/p")
    assert.strictEqual(partitionDirectory(["a", "b"], { a: null, b: "" }), "a=__HIVE_DEFAULT_PARTITION__/b=__HIVE_DEFAULT_PARTITION__")
  })
})

describe("protocol checks", () => {
  it("refuses what we do not implement", () => {
    assert.isUndefined(unsupportedReason({ minReaderVersion: 1, minWriterVersion: 2 }, undefined))
    assert.isUndefined(unsupportedReason({ minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ["timestampNtz"], writerFeatures: ["timestampNtz"] }, undefined))
    assert.include(unsupportedReason({ minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ["deletionVectors"], writerFeatures: [] }, undefined), "deletionVectors")
    assert.include(unsupportedReason({ minReaderVersion: 1, minWriterVersion: 4 }, undefined), "writer version 4")
    assert.include(unsupportedReason({ minReaderVersion: 2, minWriterVersion: 5 }, undefined), "column mapping")
    assert.strictEqual(parseInterval("interval 30 days"), 30 * 86_400_000)
    assert.strictEqual(parseInterval("interval 1 hour"), 3_600_000)
  })
})

describe("replay of Spark-written tables", () => {
  it.effect("basic_partitioned, multi_partitioned, with_schema_change", () =>
    Effect.gen(function*() {
      const partitioned = Option.getOrThrow(yield* readSnapshot(localStorage(fixture("basic_partitioned"))))
      assert.strictEqual(partitioned.version, 1)
      assert.strictEqual(partitioned.files.size, 6)
      assert.deepStrictEqual(partitioned.metadata.partitionColumns, ["letter"])
      const multi = Option.getOrThrow(yield* readSnapshot(localStorage(fixture("multi_partitioned"))))
      assert.strictEqual(multi.version, 2)
      assert.strictEqual(multi.files.size, 2)
      assert.strictEqual(multi.tombstones.size, 5)
      const changed = Option.getOrThrow(yield* readSnapshot(localStorage(fixture("with_schema_change"))))
      assert.deepStrictEqual(changed.schema.fields.map((f) => f.name), ["num1", "num2"])
      assert.strictEqual(changed.files.size, 1)
      assert.isTrue(Option.isNone(yield* readSnapshot(localStorage("/nonexistent/table"))))
    }))
})
