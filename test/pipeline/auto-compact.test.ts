import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { Effect, Fiber, Option, Queue } from "effect"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { readCommit, readSnapshot } from "../../src/delta/log.ts"
import { compactSmallFiles } from "../../src/delta/optimize.ts"
import { makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { appendBatch } from "../../src/delta/table.ts"
import { autoCompactSettings, type Compact, makeCommittedSignal, runAutoCompact } from "../../src/pipeline/auto-compact.ts"
import { testJob as memoryTestJob, World } from "../support/memory-pipeline.ts"

const schema = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true)])

const operations = (storage: ReturnType<typeof memoryStorage>) =>
  Effect.gen(function*() {
    const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
    const out: Array<string> = []
    for (let v = 0; v <= snapshot.version; v++) {
      const actions = Option.getOrThrow(yield* readCommit(storage, v))
      const info = actions.find((action) => "commitInfo" in action)
      out.push(info !== undefined && "commitInfo" in info ? String(info.commitInfo["operation"]) : "?")
    }
    return out
  })

describe("auto-compaction fiber", () => {
  it.live("compacts every N versions once enough small files exist, beside the appends", () =>
    Effect.gen(function*() {
      const storage = memoryStorage("auto", "mem/auto", makeMemoryFiles())
      const signal = yield* makeCommittedSignal
      const compact: Compact = (options) => compactSmallFiles(storage, options)
      const fiber = yield* runAutoCompact(compact, { everyCommits: 5, minSmallFiles: 8, maxInputBytes: 1 << 30 }, signal).pipe(
        Effect.forkChild
      )
      const append = (n: number) =>
        appendBatch(storage, {
          schema,
          data: [tableOf(schema, [{ id: BigInt(n) }])],
          partitionBy: [],
          txns: [],
          operationParameters: {}
        }).pipe(
          Effect.flatMap(({ result }) => Queue.offer(signal, result.version)),
          // the fiber sees every version here (the signal keeps only the newest), so when it checks is deterministic
          Effect.andThen(Effect.gen(function*() {
            for (let i = 0; i < 2000 && (yield* Queue.size(signal)) > 0; i++) yield* Effect.sleep("2 millis")
          }))
        )
      for (let n = 0; n < 5; n++) yield* append(n)
      yield* Effect.sleep("300 millis")
      // five versions passed, but only five small files: nothing yet
      assert.notInclude(yield* operations(storage), "OPTIMIZE")
      for (let n = 5; n < 10; n++) yield* append(n)
      for (let i = 0; i < 300 && !(yield* operations(storage)).includes("OPTIMIZE"); i++) yield* Effect.sleep("50 millis")
      const ops = yield* operations(storage)
      assert.deepStrictEqual(ops.filter((op) => op === "OPTIMIZE").length, 1)
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      assert.strictEqual(snapshot.files.size, 1)
      yield* Fiber.interrupt(fiber)
    }))

  it.live("a failed compaction is logged and tried again at the next interval", () =>
    Effect.gen(function*() {
      const signal = yield* makeCommittedSignal
      let calls = 0
      const compact: Compact = () =>
        Effect.suspend(() => ++calls === 1 ? Effect.fail({ message: "disk full" }) : Effect.succeed(undefined))
      const fiber = yield* runAutoCompact(compact, { everyCommits: 2, minSmallFiles: 1, maxInputBytes: 1 }, signal).pipe(Effect.forkChild)
      for (const version of [0, 1, 2, 3]) {
        yield* Queue.offer(signal, version)
        yield* Effect.sleep("20 millis")
      }
      assert.strictEqual(calls, 2)
      yield* Fiber.interrupt(fiber)
    }))

  it.live("the committer's signal never waits, even while a compaction runs", () =>
    Effect.gen(function*() {
      const signal = yield* makeCommittedSignal
      const fiber = yield* runAutoCompact(() => Effect.never, { everyCommits: 1, minSmallFiles: 1, maxInputBytes: 1 }, signal).pipe(
        Effect.forkChild
      )
      yield* Effect.sleep("10 millis")
      for (let version = 0; version < 100; version++) yield* Queue.offer(signal, version)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.timeout("2 seconds")))

  it("delta.autoCompact: off unless set; true takes the defaults; settings override them", () => {
    assert.isUndefined(autoCompactSettings(undefined))
    assert.isUndefined(autoCompactSettings(false))
    assert.deepStrictEqual(autoCompactSettings(true), { everyCommits: 10, minSmallFiles: 50, maxInputBytes: 1024 ** 3 })
    assert.deepStrictEqual(autoCompactSettings({ minSmallFiles: 5 }), { everyCommits: 10, minSmallFiles: 5, maxInputBytes: 1024 ** 3 })
  })
})

describe("auto-compaction in the stream", () => {
  /** Runs a continuous stream over 1,500 records (6 commits of 250) and returns the tables the sink was asked to compact. */
  const compactionsOf = (autoCompact: boolean | { readonly everyCommits: number; readonly minSmallFiles: number } | undefined) =>
    Effect.gen(function*() {
      const world = new World(3)
      const asked: Array<string> = []
      world.compact = (table) => Effect.sync(() => void asked.push(table.location)).pipe(Effect.as(undefined))
      const base = memoryTestJob({ trigger: "continuous" })
      const job = { ...base, writer: { ...base.writer, ...(autoCompact === undefined ? {} : { autoCompact }) } }
      world.produce(1500)
      const run = yield* Effect.forkChild(world.run(job))
      for (let i = 0; i < 1000 && world.offsetsIn("/mem/orders").length < 1500; i++) yield* Effect.sleep("2 millis")
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(run)
      assert.strictEqual(world.offsetsIn("/mem/orders").length, 1500)
      return asked
    })

  it.live("delta.autoCompact: the stream's committer drives the sink's compaction of the main table", () =>
    Effect.gen(function*() {
      const asked = yield* compactionsOf({ everyCommits: 2, minSmallFiles: 1 })
      assert.isAbove(asked.length, 0)
      assert.isTrue(asked.every((location) => location === "/mem/orders"))
    }))

  it.live("off by default: no compaction without delta.autoCompact", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* compactionsOf(undefined), [])
      assert.deepStrictEqual(yield* compactionsOf(false), [])
    }))
})
