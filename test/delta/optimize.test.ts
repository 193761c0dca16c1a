import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import * as path from "node:path"
import { localStorage } from "../../layers/delta-sink/filesystem.ts"
import { commitPath, serializeActions } from "../../src/delta/actions.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { optimize } from "../../src/delta/optimize.ts"
import { decodeParquet } from "../../src/delta/parquet.ts"
import { decodeAddPath } from "../../src/delta/partition.ts"
import { computeStats } from "../../src/delta/stats.ts"
import { type DeltaStorage, makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { appendBatch } from "../../src/delta/table.ts"
import { allTypesBatch, allTypesCanonical, readWithDeltaRs, sortBy, tempDir } from "./support.ts"
import { allTypesSchema } from "./support.ts"

const idSchema = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true)])

const appendIds = (storage: DeltaStorage, from: number, count: number) =>
  appendBatch(storage, {
    schema: idSchema,
    data: [tableOf(idSchema, Array.from({ length: count }, (_, i) => ({ id: BigInt(from + i) })))],
    partitionBy: [],
    txns: [],
    operationParameters: {}
  })

/** Every id in the table's live files, sorted. */
const idsOf = (storage: DeltaStorage) =>
  Effect.gen(function*() {
    const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
    const ids: Array<bigint> = []
    for (const add of snapshot.files.values()) {
      const bytes = Option.getOrThrow(yield* storage.read(decodeAddPath(add.path)))
      for (const row of decodeParquet(bytes)) ids.push(row["id"] as bigint)
    }
    return ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  })

describe("optimize", () => {
  it.live("300 small commits, every type, partitioned: one file per partition value, rows identical in delta-rs", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "optimize")
      const storage = localStorage(location, "optimize")
      const commits = 300
      for (let n = 0; n < commits; n++) {
        yield* appendBatch(storage, {
          schema: allTypesSchema,
          data: [allTypesBatch(n, n + 1)],
          partitionBy: ["dt"],
          txns: [{ appId: "opt-0", version: n + 1, expected: n === 0 ? undefined : n }],
          operationParameters: {}
        })
      }
      const before = readWithDeltaRs(location)
      assert.strictEqual(before.files, commits)
      const result = yield* optimize(storage, { targetFileSize: 1 << 30 })
      // four partition values (three strings and null), each one bin
      assert.strictEqual(result.bins.length, 4)
      assert.strictEqual(result.filesRemoved, commits)
      assert.strictEqual(result.rows, commits)
      const after = readWithDeltaRs(location, ["opt-0"])
      assert.strictEqual(after.files, 4)
      assert.strictEqual(after.version, commits)
      assert.strictEqual(after.history[0]?.operation, "OPTIMIZE")
      assert.strictEqual(after.txn["opt-0"], commits)
      const expected = Array.from({ length: commits }, (_, n) => allTypesCanonical(n))
      const key = (row: Record<string, unknown>) => BigInt(row["id"] as string)
      assert.deepStrictEqual(sortBy(after.rows, key), sortBy(expected, key))

      // the merged stats of each new file equal the stats of its rows computed in one pass
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      const dataSchema = { type: "struct" as const, fields: snapshot.schema.fields.filter((f) => f.name !== "dt") }
      for (const add of snapshot.files.values()) {
        assert.isFalse(add.dataChange)
        const rows = decodeParquet(Option.getOrThrow(yield* storage.read(decodeAddPath(add.path))))
        assert.deepStrictEqual(JSON.parse(add.stats!), JSON.parse(computeStats(rows, dataSchema)))
      }

      // a later append and read still work
      yield* appendBatch(storage, {
        schema: allTypesSchema,
        data: [allTypesBatch(commits, commits + 5)],
        partitionBy: ["dt"],
        txns: [{ appId: "opt-0", version: commits + 5, expected: commits }],
        operationParameters: {}
      })
      const later = readWithDeltaRs(location, ["opt-0"])
      assert.strictEqual(later.numRows, commits + 5)
      assert.strictEqual(later.txn["opt-0"], commits + 5)
    }), 180_000)

  it.effect("bins hold the oldest files up to the target size; a remainder of one file is left alone", () =>
    Effect.gen(function*() {
      const storage = memoryStorage("bins", "mem/bins", makeMemoryFiles())
      for (let n = 0; n < 25; n++) yield* appendIds(storage, n * 10, 10)
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      const sizes = [...snapshot.files.values()].map((file) => file.size)
      const largest = Math.max(...sizes)
      const target = Math.floor(largest * 10.5)
      // every file is within 5% of the largest, so exactly ten fit a bin
      assert.isTrue(Math.min(...sizes) * 11 > target)
      const result = yield* optimize(storage, { targetFileSize: target })
      assert.deepStrictEqual(result.bins.map((bin) => bin.files.length), [10, 10, 5])
      const after = Option.getOrThrow(yield* readSnapshot(storage))
      assert.strictEqual(after.files.size, 3)
      assert.deepStrictEqual(yield* idsOf(storage), Array.from({ length: 250 }, (_, i) => BigInt(i)))
    }))

  it.effect("a row group larger than a read slice is read in slices: every row once", () =>
    Effect.gen(function*() {
      const storage = memoryStorage("slices", "mem/slices", makeMemoryFiles())
      // two files of 300,000 rows, each a single row group (more than two 128 Ki-row slices)
      for (let n = 0; n < 2; n++) yield* appendIds(storage, n * 300_000, 300_000)
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      for (const add of snapshot.files.values()) {
        assert.strictEqual(JSON.parse(add.stats!).numRecords, 300_000)
      }
      const result = yield* optimize(storage, { targetFileSize: 1 << 30 })
      assert.strictEqual(result.rows, 600_000)
      const ids = yield* idsOf(storage)
      assert.strictEqual(ids.length, 600_000)
      assert.isTrue(ids.every((id, i) => id === BigInt(i)))
      const after = Option.getOrThrow(yield* readSnapshot(storage))
      const stats = JSON.parse([...after.files.values()][0]!.stats!)
      assert.deepStrictEqual(stats, { numRecords: 600_000, minValues: { id: 0 }, maxValues: { id: 599_999 }, nullCount: { id: 0 } })
    }))

  it.effect("--dry-run plans without writing", () =>
    Effect.gen(function*() {
      const files = makeMemoryFiles()
      const storage = memoryStorage("dry", "mem/dry", files)
      for (let n = 0; n < 5; n++) yield* appendIds(storage, n, 1)
      const count = files.files.size
      const result = yield* optimize(storage, { dryRun: true })
      assert.strictEqual(result.bins.length, 1)
      assert.strictEqual(result.version, undefined)
      assert.strictEqual(files.files.size, count)
    }))

  // live clock: the optimize's commit loses the version to the append and backs off before its next attempt
  it.live("appends that land between plan and commit are kept: the optimize commits after them", () =>
    Effect.gen(function*() {
      const storage = memoryStorage("race", "mem/race", makeMemoryFiles())
      for (let n = 0; n < 10; n++) yield* appendIds(storage, n, 1)
      const result = yield* optimize(storage, { beforeCommit: Effect.orDie(appendIds(storage, 100, 3)) })
      assert.strictEqual(result.version, 11)
      const after = Option.getOrThrow(yield* readSnapshot(storage))
      // one compacted file and the racing append's file
      assert.strictEqual(after.files.size, 2)
      assert.deepStrictEqual(yield* idsOf(storage), [...Array.from({ length: 10 }, (_, i) => BigInt(i)), 100n, 101n, 102n])
    }))

  it.effect("of two optimizes over the same files, the loser stops with OptimizeConflictError and leaves no files", () =>
    Effect.gen(function*() {
      const files = makeMemoryFiles()
      const storage = memoryStorage("two", "mem/two", files)
      for (let n = 0; n < 10; n++) yield* appendIds(storage, n, 1)
      const dataFiles = () => [...files.files.keys()].filter((key) => !key.includes("_delta_log")).length
      let winner: number | undefined
      const loser = yield* optimize(storage, {
        beforeCommit: optimize(storage).pipe(Effect.orDie, Effect.map((r) => void (winner = r.version)))
      }).pipe(Effect.flip)
      assert.strictEqual(winner, 10)
      assert.strictEqual(loser._tag, "OptimizeConflictError")
      assert.strictEqual((loser as { version: number }).version, 10)
      assert.match(loser.message, /lost to version 10, which already removed .*run optimize again/)
      // ten inputs (kept until vacuum) and the winner's file; the loser's file was deleted
      assert.strictEqual(dataFiles(), 11)
      const after = Option.getOrThrow(yield* readSnapshot(storage))
      assert.strictEqual(after.version, 10)
      assert.deepStrictEqual(yield* idsOf(storage), Array.from({ length: 10 }, (_, i) => BigInt(i)))
    }))

  it.effect("a table replaced between plan and commit stops the optimize with OptimizeConflictError", () =>
    Effect.gen(function*() {
      const storage = memoryStorage("replaced", "mem/replaced", makeMemoryFiles())
      for (let n = 0; n < 3; n++) yield* appendIds(storage, n, 1)
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      const replace = storage.putIfAbsent(
        commitPath(3),
        new TextEncoder().encode(serializeActions([{ metaData: { ...snapshot.metadata, id: "another-table" } }]))
      )
      const error = yield* optimize(storage, { beforeCommit: Effect.orDie(replace) }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "OptimizeConflictError")
      assert.match(error.message, /lost to version 3, which replaced or repartitioned the table/)
      assert.strictEqual(Option.getOrThrow(yield* readSnapshot(storage)).version, 3)
    }))
})
