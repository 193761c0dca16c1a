/**
 * The slow lane (`npm run test:spark`): Spark + delta-spark reads a table after `optimize` compacted it: every
 * row and value, and OPTIMIZE in its history.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { Effect } from "effect"
import { localStorage } from "../../layers/delta-sink/filesystem.ts"
import { optimize } from "../../src/delta/optimize.ts"
import { appendBatch } from "../../src/delta/table.ts"
import { allTypesBatch, allTypesCanonical, allTypesSchema, python, sortBy, tempDir } from "../delta/support.ts"

describe("Spark reads a table optimize compacted", () => {
  it.live("every type, partitioned, 40 commits then OPTIMIZE", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "spark-optimize")
      const storage = localStorage(location, "spark-optimize")
      const commits = 40
      const per = 10
      for (let c = 0; c < commits; c++) {
        yield* appendBatch(storage, {
          schema: allTypesSchema,
          data: [allTypesBatch(c * per, (c + 1) * per)],
          partitionBy: ["dt"],
          txns: [],
          operationParameters: {}
        })
      }
      const result = yield* optimize(storage)
      assert.strictEqual(result.bins.length, 4)
      const out = execFileSync(python(), [path.resolve(import.meta.dirname, "../../scripts/delta-readers/spark_read.py"), location], {
        encoding: "utf8",
        maxBuffer: 1 << 30,
        stdio: ["ignore", "pipe", "pipe"]
      })
      const read = JSON.parse(out) as {
        numRows: number
        rows: Array<Record<string, unknown>>
        history: Array<{ version: number; operation: string }>
      }
      assert.strictEqual(read.numRows, commits * per)
      assert.strictEqual(read.history.find((h) => h.version === commits)?.operation, "OPTIMIZE")
      const actual = sortBy(read.rows, (row) => BigInt(row["id"] as string))
      for (let n = 0; n < commits * per; n++) assert.deepStrictEqual(actual[n], allTypesCanonical(n), `row ${n}`)
    }), 900_000)
})
