import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { Effect } from "effect"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { optimize } from "../../src/delta/optimize.ts"
import { makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { appendBatch } from "../../src/delta/table.ts"
import { vacuumDryRun } from "../../src/delta/vacuum.ts"

const schema = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true), new Arrow.Field("k", new Arrow.Utf8(), true)])

describe("vacuum", () => {
  it.effect("lists temp files a crash left in _delta_log or a data directory, once older than the cutoff", () =>
    Effect.gen(function*() {
      let clock = 1_000_000
      const storage = memoryStorage("vacuum", "mem/v", makeMemoryFiles(), () => clock)
      yield* appendBatch(storage, {
        schema,
        data: [tableOf(schema, [{ id: 1n, k: "a" }])],
        partitionBy: ["k"],
        txns: [],
        operationParameters: {}
      })
      const uuid = "0b9c2f5e-4f3a-4c1d-9e8b-7a6f5e4d3c2b"
      const put = (path: string) => storage.write(path, new Uint8Array([1]))
      const leftovers = [
        `_delta_log/.00000000000000000001.json.${uuid}.tmp`,
        `_delta_log/.00000000000000000010.checkpoint.parquet.${uuid}.tmp`,
        `k=a/.part-00000-x.c000.snappy.parquet.${uuid}.tmp`
      ]
      for (const path of leftovers) yield* put(path)
      // not ours, or not a temp file, or in another hidden directory: never touched
      yield* put("_delta_log/.00000000000000000001.json.tmp")
      yield* put(`_change_data/.x.parquet.${uuid}.tmp`)
      yield* put(`_delta_log/_staged/.x.json.${uuid}.tmp`)
      const cutoff = clock
      clock += 1000
      // a temp file of a write in progress (newer than the cutoff)
      yield* put(`_delta_log/.00000000000000000002.json.${uuid}.tmp`)
      const found = (yield* vacuumDryRun(storage, cutoff)).map((file) => file.path)
      assert.deepStrictEqual(found, [...leftovers].sort())
    }))
})

describe("vacuum after optimize", () => {
  it.effect("files an optimize removed are kept until their tombstones pass delta.deletedFileRetentionDuration", () =>
    Effect.gen(function*() {
      let clock = 1_800_000_000_000
      const storage = memoryStorage("vacuum-opt", "mem/vo", makeMemoryFiles(), () => clock)
      for (let n = 0; n < 4; n++) {
        yield* appendBatch(storage, {
          schema,
          data: [tableOf(schema, [{ id: BigInt(n), k: "a" }])],
          partitionBy: [],
          txns: [],
          operationParameters: {}
        }, { now: () => clock })
      }
      const result = yield* optimize(storage, { now: () => clock })
      assert.strictEqual(result.filesRemoved, 4)
      const removed = result.bins[0]!.files.map((file) => file.path).sort()
      // six days later the tombstones still hold the files (a reader of the version before may need them)
      clock += 6 * 86_400_000
      assert.deepStrictEqual(yield* vacuumDryRun(storage, clock, clock), [])
      // past seven days they are candidates; the compacted file is not
      clock += 2 * 86_400_000
      const found = (yield* vacuumDryRun(storage, clock, clock)).map((file) => file.path).sort()
      assert.deepStrictEqual(found, removed)
    }))
})
