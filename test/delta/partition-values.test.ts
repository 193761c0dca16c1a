import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"
import { parseActions } from "../../src/delta/actions.ts"
import { dataOf, tableOf } from "../../src/delta/arrow-values.ts"
import { escapePartitionPathName, partitionValueAt } from "../../src/delta/partition.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { fixture, readWithDeltaRs, sortBy, tempDir } from "./support.ts"

const commitAdds = (location: string, version: number) =>
  parseActions(fs.readFileSync(path.join(location, "_delta_log", `${String(version).padStart(20, "0")}.json`), "utf8"))
    .flatMap((action) => ("add" in action ? [action.add] : []))

describe("partition value serialization (PROTOCOL.md)", () => {
  it("timestamp_ntz with a space and microseconds; timestamp as ISO-8601 in UTC", () => {
    const ntz = dataOf(new Arrow.TimestampMicrosecond(), [1_700_000_000_123_456n, -1n, 0n])
    assert.strictEqual(partitionValueAt(ntz, 0), "2023-11-14 22:13:20.123456")
    assert.strictEqual(partitionValueAt(ntz, 1), "1969-12-31 23:59:59.999999")
    assert.strictEqual(partitionValueAt(ntz, 2), "1970-01-01 00:00:00.000000")
    const utc = dataOf(new Arrow.TimestampMicrosecond("UTC"), [1_700_000_000_123_456n])
    assert.strictEqual(partitionValueAt(utc, 0), "2023-11-14T22:13:20.123456Z")
  })

  it("binary as Spark casts it to a string (UTF-8), NUL and control bytes escaped in the directory", () => {
    const bytes = [new TextEncoder().encode("😈"), new Uint8Array([0, 0x41, 0x0a]), new Uint8Array([0xff, 0x41])]
    const binary = dataOf(new Arrow.Binary(), bytes)
    assert.strictEqual(partitionValueAt(binary, 0), "😈")
    assert.strictEqual(partitionValueAt(binary, 1), "\u0000A\n")
    assert.strictEqual(partitionValueAt(binary, 2), "\ufffdA")
    assert.strictEqual(escapePartitionPathName("\u0000A\n"), "%00A%0A")
  })
})

describe("partition values read back by delta-rs", () => {
  it.live("a table partitioned by timestamp_ntz and timestamp reads back with equal values", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "ntz-partitioned")
      const schema = new Arrow.Schema([
        new Arrow.Field("id", new Arrow.Int64(), true),
        new Arrow.Field("local", new Arrow.TimestampMicrosecond(), true),
        new Arrow.Field("at", new Arrow.TimestampMicrosecond("UTC"), true)
      ])
      const values = [1_700_000_000_123_456n, -1n, 0n, 253_402_300_799_999_999n]
      const rows = values.map((t, i) => ({ id: BigInt(i), local: t, at: t - 7n }))
      const sink = yield* DeltaSink
      yield* sink.append({
        table: { name: "ntz-partitioned", location },
        schema,
        data: [tableOf(schema, [...rows, { id: 9n, local: null, at: null }])],
        partitionBy: ["local", "at"],
        txns: [],
        operationParameters: {}
      })
      const read = readWithDeltaRs(location)
      assert.deepStrictEqual(sortBy(read.rows, (row) => Number(row["id"])), [
        ...rows.map((row) => ({ id: String(row.id), local: String(row.local), at: String(row.at) })),
        { id: "9", local: null, at: null }
      ])
    }).pipe(Effect.provide(FilesystemSink.layer())), 60_000)

  it.live("binary partition values as Spark wrote them in DAT multi_partitioned, read back by delta-rs", () =>
    Effect.gen(function*() {
      const location = fixture("multi_partitioned", path.join(tempDir(), "multi_partitioned"))
      const spark = readWithDeltaRs(location)
      const sink = yield* DeltaSink
      const table = { name: "multi_partitioned", location }
      const schema = Option.getOrThrow(yield* sink.schema(table))
      const utf8 = (text: string) => new TextEncoder().encode(text)
      const added = [
        { letter: "b", date: 0, data: utf8("😈"), number: 100n },
        { letter: "/%20%f", date: 0, data: utf8("hello"), number: 101n },
        { letter: "c", date: 1, data: new Uint8Array([0, 0x41, 0x0a, 0x2f]), number: 102n }
      ]
      yield* sink.append({ table, schema, data: [tableOf(schema, added)], partitionBy: [], txns: [], operationParameters: {} })
      // the same values as Spark's files, and the same directories
      const sparkAdds = commitAdds(location, 2)
      const ours = commitAdds(location, spark.version + 1)
      for (const value of ["😈", "hello"]) {
        const theirs = sparkAdds.find((add) => add.partitionValues["data"] === value)!
        const mine = ours.find((add) => add.partitionValues["data"] === value)!
        assert.deepStrictEqual(mine.partitionValues, theirs.partitionValues)
        assert.strictEqual(mine.path.slice(0, mine.path.lastIndexOf("/")), theirs.path.slice(0, theirs.path.lastIndexOf("/")))
      }
      const nul = ours.find((add) => add.partitionValues["letter"] === "c")!
      assert.strictEqual(nul.partitionValues["data"], "\u0000A\n/")
      assert.include(nul.path, "data=%2500A%250A%252F/")
      const read = readWithDeltaRs(location)
      const byNumber = new Map(read.rows.map((row) => [row["number"], row["data"]]))
      // delta-rs reads Spark's row 7 and our row 100 as the same bytes
      assert.strictEqual(byNumber.get("7"), Buffer.from("😈").toString("hex"))
      assert.strictEqual(byNumber.get("100"), Buffer.from("😈").toString("hex"))
      assert.strictEqual(byNumber.get("101"), Buffer.from("hello").toString("hex"))
      assert.strictEqual(byNumber.get("102"), "00410a2f")
    }).pipe(Effect.provide(FilesystemSink.layer())), 60_000)
})
