import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import { type Action, serializeActions } from "../../src/delta/actions.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { decodeParquet } from "../../src/delta/parquet.ts"
import { type DeltaStorage, makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { parseStatsColumns } from "../../src/delta/stats.ts"
import { appendBatch, tableArrowSchema } from "../../src/delta/table.ts"

const schema = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true)])
const encoder = new TextEncoder()
const logFile = (version: number, suffix = "json") => `_delta_log/${String(version).padStart(20, "0")}.${suffix}`

const fresh = (name: string) => memoryStorage(name, `mem/${name}`, makeMemoryFiles())

/** Commits `0..last` of one row each, with a log checkpoint every `interval` commits. */
const appendRows = (storage: DeltaStorage, last: number, interval: number) =>
  Effect.forEach(Array.from({ length: last + 1 }, (_, v) => v), (v) =>
    appendBatch(storage, {
      schema,
      data: [tableOf(schema, [{ id: BigInt(v) }])],
      partitionBy: [],
      txns: [],
      operationParameters: {}
    }, { checkpointInterval: interval }), { discard: true })

/** Commit 0 of a table with this schema string and configuration, written by hand (as another engine would). */
const createTable = (storage: DeltaStorage, fields: ReadonlyArray<unknown>, configuration: Record<string, string> = {}) => {
  const actions: Array<Action> = [
    { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    {
      metaData: {
        id: "00000000-0000-0000-0000-000000000000",
        format: { provider: "parquet", options: {} },
        schemaString: JSON.stringify({ type: "struct", fields }),
        partitionColumns: [],
        configuration,
        createdTime: 1
      }
    }
  ]
  return storage.putIfAbsent(logFile(0), encoder.encode(serializeActions(actions)))
}

const field = (name: string, type: unknown) => ({ name, type, nullable: true, metadata: {} })

describe("log replay", () => {
  it.effect("a table whose early commits were cleaned up after a V2 checkpoint is refused naming v2Checkpoint", () =>
    Effect.gen(function*() {
      const storage = fresh("v2")
      yield* appendRows(storage, 3, 100)
      yield* storage.write(logFile(2, "checkpoint.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.json"), encoder.encode("{}\n"))
      for (const v of [0, 1, 2]) yield* storage.delete(logFile(v))
      const error = yield* Effect.flip(readSnapshot(storage))
      assert.strictEqual(error._tag, "UnsupportedTableError")
      assert.include(error.message, "v2Checkpoint")
    }))

  it.effect("an incomplete multi-part checkpoint does not hide a complete classic one at the same version", () =>
    Effect.gen(function*() {
      const storage = fresh("multi")
      yield* appendRows(storage, 3, 2)
      yield* storage.write(logFile(2, "checkpoint.0000000001.0000000002.parquet"), new Uint8Array([1, 2, 3]))
      for (const v of [0, 1, 2]) yield* storage.delete(logFile(v))
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      assert.strictEqual(snapshot.version, 3)
      assert.strictEqual(snapshot.files.size, 4)
    }))

  it.effect("a corrupt newest checkpoint falls back to the one before it, or to the commits alone", () =>
    Effect.gen(function*() {
      const storage = fresh("corrupt")
      yield* appendRows(storage, 5, 2)
      yield* storage.write(logFile(4, "checkpoint.parquet"), encoder.encode("not parquet"))
      for (const v of [0, 1]) yield* storage.delete(logFile(v))
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      assert.strictEqual(snapshot.version, 5)
      assert.strictEqual(snapshot.files.size, 6)
      // with every checkpoint corrupt and the commits all there, replay reads the commits
      const whole = fresh("corrupt-all")
      yield* appendRows(whole, 3, 2)
      yield* whole.write(logFile(2, "checkpoint.parquet"), new Uint8Array(0))
      assert.strictEqual(Option.getOrThrow(yield* readSnapshot(whole)).files.size, 4)
    }))

  it.effect("a void column is left out of data files (PROTOCOL.md: readers drop void columns)", () =>
    Effect.gen(function*() {
      const storage = fresh("void")
      yield* createTable(storage, [field("id", "long"), field("nothing", "void")])
      const created = Option.getOrThrow(yield* readSnapshot(storage))
      // the schema the stream writes with (DeltaSink.schema) has no void column, rather than failing
      assert.deepStrictEqual(tableArrowSchema(created).fields.map((f) => f.name), ["id"])
      const nested = fresh("void-nested")
      yield* createTable(nested, [field("s", { type: "struct", fields: [field("x", "void"), field("y", "long")] })])
      const inner = tableArrowSchema(Option.getOrThrow(yield* readSnapshot(nested))).fields[0]!.type as Arrow.Struct
      assert.deepStrictEqual(inner.children.map((f) => f.name), ["y"])
      yield* appendRows(storage, 0, 100).pipe(Effect.andThen(appendRows(storage, 0, 100)))
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      assert.strictEqual(snapshot.files.size, 2)
      const file = [...snapshot.files.values()][0]!
      const bytes = Option.getOrThrow(yield* storage.read(file.path))
      assert.deepStrictEqual(decodeParquet(bytes).schema.fields.map((f) => f.name), ["id"])
      assert.deepStrictEqual(snapshot.schema.fields.map((f) => f.name), ["id", "nothing"])
    }))

  it.effect("delta.dataSkippingStatsColumns picks the columns with stats", () =>
    Effect.gen(function*() {
      const storage = fresh("stats-columns")
      const wide = new Arrow.Schema([
        new Arrow.Field("a", new Arrow.Int64(), true),
        new Arrow.Field("b", new Arrow.Int64(), true),
        new Arrow.Field("st", new Arrow.Struct([new Arrow.Field("x", new Arrow.Int32(), true), new Arrow.Field("y", new Arrow.Int32(), true)]), true)
      ])
      yield* createTable(storage, [
        field("a", "long"),
        field("b", "long"),
        field("st", { type: "struct", fields: [field("x", "integer"), field("y", "integer")] })
      ], { "delta.dataSkippingStatsColumns": "b, st.y", "delta.dataSkippingNumIndexedCols": "1" })
      yield* appendBatch(storage, {
        schema: wide,
        data: [tableOf(wide, [{ a: 1n, b: 2n, st: { x: 3, y: 4 } }])],
        partitionBy: [],
        txns: [],
        operationParameters: {}
      }, {})
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      const stats = JSON.parse([...snapshot.files.values()][0]!.stats!)
      assert.deepStrictEqual(stats.minValues, { b: 2, st: { y: 4 } })
      assert.deepStrictEqual(stats.nullCount, { b: 0, st: { y: 0 } })
      assert.deepStrictEqual(parseStatsColumns("a, `b.c`.d ,`x``y`"), [["a"], ["b.c", "d"], ["x`y"]])
    }))
})
