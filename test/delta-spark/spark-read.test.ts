/**
 * The slow lane (`npm run test:spark`, its own vitest config): Apache Spark + delta-spark (local[1])
 * reads a table we wrote (every type, partitioned, 26 commits with log checkpoints) and every value must match.
 * Skipped in the default `vitest run` because starting Spark takes a minute.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { Effect } from "effect"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { allTypesBatch, allTypesCanonical, allTypesSchema, python, sortBy, tempDir } from "../delta/support.ts"


describe("Spark reads tables we write", () => {
  it.live("every type, partitioned, 26 commits with log checkpoints", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "spark")
      const sink = yield* DeltaSink
      const commits = 26
      const per = 30
      for (let c = 0; c < commits; c++) {
        yield* sink.append({
          table: { name: "spark", location },
          schema: allTypesSchema,
          data: [allTypesBatch(c * per, (c + 1) * per)],
          partitionBy: ["dt"],
          txns: [{ appId: "spark-0", version: (c + 1) * per, expected: c === 0 ? undefined : c * per }],
          operationParameters: {}
        })
      }
      const started = Date.now()
      const out = execFileSync(python(), [path.resolve(import.meta.dirname, "../../scripts/delta-readers/spark_read.py"), location], {
        encoding: "utf8",
        maxBuffer: 1 << 30,
        stdio: ["ignore", "pipe", "pipe"]
      })
      const seconds = (Date.now() - started) / 1000
      const read = JSON.parse(out) as {
        numRows: number
        rows: Array<Record<string, unknown>>
        history: Array<unknown>
        partitionColumns: Array<string>
        seconds: number
      }
      console.log(`Spark read of ${commits} commits took ${seconds.toFixed(1)} s (reader's own clock: ${read.seconds} s)`)
      assert.strictEqual(read.numRows, commits * per)
      assert.strictEqual(read.history.length, commits)
      assert.deepStrictEqual(read.partitionColumns, ["dt"])
      const actual = sortBy(read.rows, (row) => BigInt(row["id"] as string))
      for (let n = 0; n < commits * per; n++) assert.deepStrictEqual(actual[n], allTypesCanonical(n), `row ${n}`)
    }).pipe(Effect.provide(FilesystemSink.layer())), 900_000)
})
