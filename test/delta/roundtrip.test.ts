import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { allTypesBatch, allTypesCanonical, allTypesSchema, readWithDeltaRs, sortBy, tempDir } from "./support.ts"

describe("tables we write, read by delta-rs", () => {
  it.live("every type round-trips, partitioned, 27 commits with log checkpoints, txn versions and history", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "orders")
      const sink = yield* DeltaSink
      const table = { name: "test.orders", location }
      const commits = 27
      const per = 40
      for (let c = 0; c < commits; c++) {
        const result = yield* sink.append({
          table,
          schema: allTypesSchema,
          data: [allTypesBatch(c * per, (c + 1) * per)],
          partitionBy: ["dt"],
          txns: [{ appId: "stream-1-0", version: (c + 1) * per, expected: c === 0 ? undefined : c * per }],
          operationParameters: { batchId: String(c) }
        })
        assert.strictEqual(result.version, c)
        assert.strictEqual(result.rows, per)
      }
      const logFiles = fs.readdirSync(path.join(location, "_delta_log"))
      assert.include(logFiles, "00000000000000000010.checkpoint.parquet")
      assert.include(logFiles, "00000000000000000020.checkpoint.parquet")
      assert.include(logFiles, "_last_checkpoint")
      const read = readWithDeltaRs(location, ["stream-1-0", "missing"])
      assert.strictEqual(read.version, commits - 1)
      assert.strictEqual(read.numRows, commits * per)
      assert.deepStrictEqual(read.partitionColumns, ["dt"])
      assert.deepStrictEqual(read.protocol, [1, 2])
      assert.strictEqual(read.txn["stream-1-0"], commits * per)
      assert.strictEqual(read.txn["missing"], null)
      assert.strictEqual(read.history.length, commits)
      const expected = Array.from({ length: commits * per }, (_, n) => allTypesCanonical(n))
      const actual = sortBy(read.rows, (row) => BigInt(row["id"] as string))
      for (let n = 0; n < expected.length; n++) assert.deepStrictEqual(actual[n], expected[n], `row ${n}`)
      const txns = yield* sink.txnVersions(table, "stream-1-")
      assert.strictEqual(txns.get("stream-1-0"), commits * per)
    }).pipe(Effect.provide(FilesystemSink.layer({ compression: "snappy" }))), 120_000)
})
