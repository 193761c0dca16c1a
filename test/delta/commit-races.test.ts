/**
 * What lands between a sink's plan and its commit: a winner that changes the table's layout (in memory, the
 * competing commit written just before ours is published).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import { makeWith } from "../../layers/delta-sink/filesystem.ts"
import { type Action, commitPath, serializeActions } from "../../src/delta/actions.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { type DeltaStorage, makeMemoryFiles, type MemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import type { Metadata } from "../../src/delta/actions.ts"

const schema = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true), new Arrow.Field("k", new Arrow.Utf8(), true)])
const batch = (from: number, n: number) =>
  tableOf(schema, Array.from({ length: n }, (_, i) => ({ id: BigInt(from + i), k: `k${(from + i) % 2}` })))
const table = { name: "races", location: "mem/races" }

/**
 * Storage over `files` whose next commit attempt first lets `winner` commit at the same version (armed by
 * setting `race.next`).
 */
const racingStorage = (files: MemoryFiles) => {
  const race: { next: ((metadata: Metadata) => Metadata) | undefined } = { next: undefined }
  const inner = memoryStorage(table.name, table.location, files)
  const storage: DeltaStorage = {
    ...inner,
    putIfAbsent: (path, data, options) =>
      Effect.gen(function*() {
        const change = race.next
        if (change !== undefined && path.startsWith("_delta_log/") && path.endsWith(".json")) {
          race.next = undefined
          const current = Option.getOrThrow(yield* Effect.orDie(readSnapshot(inner)))
          const winner: Array<Action> = [
            { commitInfo: { operation: "WRITE", engineInfo: "winner" } },
            { metaData: change(current.metadata) },
            ...[...current.files.keys()].map((file): Action => ({ remove: { path: file, deletionTimestamp: 0, dataChange: true } }))
          ]
          assert.strictEqual(path, commitPath(current.version + 1))
          yield* inner.putIfAbsent(path, new TextEncoder().encode(serializeActions(winner)))
        }
        return yield* inner.putIfAbsent(path, data, options)
      })
  }
  return { storage, race }
}

const append = (sink: Effect.Success<ReturnType<typeof makeWith>>, from: number, version: number) =>
  sink.append({
    table,
    schema,
    data: [batch(from, 4)],
    partitionBy: [],
    txns: [{ appId: "s-0", version, expected: version === 1 ? undefined : version - 1 }],
    operationParameters: {}
  })

describe("a re-plan after a lost race", () => {
  const cases = [
    { name: "changes the partition columns", change: (m: Metadata) => ({ ...m, partitionColumns: ["k"] }), says: "partition columns [] -> [k]" },
    { name: "replaces the table (new metaData.id)", change: (m: Metadata) => ({ ...m, id: crypto.randomUUID() }), says: "the table was replaced" }
  ]
  for (const c of cases) {
    it.live(`a winner that ${c.name}: ConcurrentTableChangeError, our files are not committed`, () =>
      Effect.gen(function*() {
        const files = makeMemoryFiles()
        const { race, storage } = racingStorage(files)
        const sink = yield* makeWith(() => storage)
        yield* append(sink, 0, 1)
        race.next = c.change
        const error = yield* Effect.flip(append(sink, 10, 2))
        assert.strictEqual(error._tag, "ConcurrentTableChangeError")
        assert.include(error.message, c.says)
        assert.include(error.message, "races")
        const after = Option.getOrThrow(yield* readSnapshot(memoryStorage(table.name, table.location, files)))
        assert.strictEqual(after.version, 1, "only the winner's commit after ours")
        assert.strictEqual(after.files.size, 0)
        assert.strictEqual(after.txns.get("s-0")?.version, 1)
      }))
  }

  it.live("a winner that changes only the configuration is re-planned and committed on", () =>
    Effect.gen(function*() {
      const files = makeMemoryFiles()
      const { race, storage } = racingStorage(files)
      const sink = yield* makeWith(() => storage)
      yield* append(sink, 0, 1)
      race.next = (m) => ({ ...m, configuration: { ...m.configuration, "delta.checkpointInterval": "50" } })
      const result = yield* append(sink, 10, 2)
      assert.strictEqual(result.version, 2)
    }))
})
