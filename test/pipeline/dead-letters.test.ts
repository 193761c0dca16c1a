/**
 * Dead letters at the edges: a seal while the reporter suspends, a crash between the dead-letter commit and the
 * main commit, batch limits, and a topic that was reset.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit } from "effect"
import { type ProgressReporter, silentReporter } from "../../src/pipeline/progress.ts"
import { duplicates, sorted, testJob, World } from "../support/memory-pipeline.ts"

const orders = "/mem/orders"
const deadLetters = "/mem/orders_dead_letter"

/** A reporter that suspends on every bad record, as a library user's may (a log shipper, a metrics push). */
const suspending: ProgressReporter = { ...silentReporter, badRecord: () => Effect.sleep("15 millis") }

describe("dead letters", () => {
  it.live("a seal while the reporter suspends drops no dead letter", () =>
    Effect.gen(function*() {
      const world = new World(1)
      const bad = Array.from({ length: 4 }, () => `0:${world.produceRaw(0, Buffer.from("not avro"))}`)
      // a 1 ms interval seals while each bad record is being reported
      const summary = yield* world.run(testJob({ onBadRecord: "dead-letter", maxBatchInterval: Duration.millis(1) }), { reporter: suspending })
      assert.strictEqual(summary.deadLettered, 4)
      assert.deepStrictEqual(sorted(world.offsetsIn(deadLetters)), sorted(bad))
    }))

  it.live("a crash between the dead-letter commit and the main commit writes no dead letter twice", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(10)
      const bad = [`0:${world.produceRaw(0, Buffer.from("not avro"))}`]
      world.produce(10)
      // the first append after the dead-letter table exists is the main commit of that batch: it crashes
      let crashed = false
      world.beforeAppend = Effect.sync(() => {
        if (!crashed && world.delta.tables.has(deadLetters)) {
          crashed = true
          world.delta.crashAt = "before-write"
          world.delta.crashOnAppend = 0
        }
      })
      const job = testJob({ onBadRecord: "dead-letter", maxBatchInterval: Duration.millis(1) })
      const exit = yield* Effect.exit(world.run(job, { reporter: suspending }))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      world.checkpoint.held = false
      yield* world.run(job)
      assert.deepStrictEqual(world.offsetsIn(deadLetters), bad)
      assert.deepStrictEqual(duplicates(world.offsetsIn(orders)), [])
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
    }))
})
