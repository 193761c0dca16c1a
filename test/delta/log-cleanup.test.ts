import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { appendBatch } from "../../src/delta/table.ts"

const schema = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true)])

describe("log checkpoints and expired-log cleanup (in-memory storage)", () => {
  it.effect("commits older than the retention before a checkpoint are deleted; replay starts at the checkpoint", () =>
    Effect.gen(function*() {
      let clock = 1_767_225_600_000
      const now = () => clock
      const storage = memoryStorage("cleanup", "mem/cleanup", makeMemoryFiles(), now)
      const append = (v: number) =>
        appendBatch(storage, {
          schema,
          data: [tableOf(schema, [{ id: BigInt(v) }])],
          partitionBy: [],
          txns: [{ appId: "s-0", version: v + 1, expected: v === 0 ? undefined : v }],
          operationParameters: {}
        }, { now })
      for (let v = 0; v <= 10; v++) yield* append(v)
      clock += 31 * 86_400_000
      for (let v = 11; v <= 20; v++) yield* append(v)
      const log = (yield* storage.list("_delta_log")).map((file) => file.path.replace("_delta_log/", ""))
      assert.notInclude(log, "00000000000000000000.json")
      assert.notInclude(log, "00000000000000000009.json")
      assert.include(log, "00000000000000000010.json")
      assert.include(log, "00000000000000000010.checkpoint.parquet")
      assert.include(log, "00000000000000000020.checkpoint.parquet")
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      assert.strictEqual(snapshot.version, 20)
      assert.strictEqual(snapshot.files.size, 21)
      assert.strictEqual(snapshot.txns.get("s-0")?.version, 21)
      const last = JSON.parse(new TextDecoder().decode(Option.getOrThrow(yield* storage.read("_delta_log/_last_checkpoint"))))
      assert.deepInclude(last, { version: 20, size: 24, numOfAddFiles: 21 })
    }))
})
