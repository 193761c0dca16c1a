/**
 * Dead letters at the edges: a seal while the reporter suspends, a crash between the dead-letter commit and the
 * main commit, batch limits, and a topic that was reset.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit } from "effect"
import { applyBadRecord } from "../../src/pipeline/bad-records.ts"
import { PartitionBatch } from "../../src/pipeline/partition.ts"
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

describe("dead letters after a topic reset (failOnDataLoss=false)", () => {
  const job = testJob({ onBadRecord: "dead-letter", failOnDataLoss: false })
  /** A first run over 50 records and two bad ones, then the topic recreated with its first 3 offsets gone. */
  const resetWorld = () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(50)
      world.produceRaw(0, Buffer.from("not avro"))
      world.produceRaw(0, Buffer.from("not avro"))
      world.produce(10)
      yield* world.run(job)
      assert.deepStrictEqual(world.offsetsIn(deadLetters), ["0:50", "0:51"])
      world.recreateTopic()
      world.produce(10)
      return world
    })

  it.live("bad records of the new topic are dead-lettered and the lost offsets are reported", () =>
    Effect.gen(function*() {
      const world = yield* resetWorld()
      world.produceRaw(0, Buffer.from("not avro")) // offset 10
      world.produce(5)
      world.kafka.deleteRecords(world.topic, 0, 3)
      const summary = yield* world.run(job)
      assert.strictEqual(summary.lostOffsets, 3)
      assert.strictEqual(summary.deadLettered, 1)
      assert.deepStrictEqual(sorted(world.offsetsIn(deadLetters)), sorted(["0:50", "0:51", "0:10"]))
    }))

  it.live("the dead-letter position moves back with the first commit after the reset, also without dead letters", () =>
    Effect.gen(function*() {
      const world = yield* resetWorld()
      yield* world.run(job) // only good records: the dead-letter table gets no row, but its position moves back
      world.produceRaw(0, Buffer.from("not avro")) // offset 10
      const summary = yield* world.run(job)
      assert.strictEqual(summary.deadLettered, 1)
      assert.deepStrictEqual(sorted(world.offsetsIn(deadLetters)), sorted(["0:50", "0:51", "0:10"]))
    }))
})

describe("dead letters and batch limits", () => {
  const rowsPerCommit = (world: World, location: string) =>
    (world.delta.tables.get(location)?.commits ?? []).map((commit) => commit.data.reduce((n, segment) => n + segment.numRows, 0))

  it.live("a batch of only bad records is sealed at maxBatchRecords", () =>
    Effect.gen(function*() {
      const world = new World(1)
      for (let i = 0; i < 50; i++) world.produceRaw(0, Buffer.from("not avro"))
      const summary = yield* world.run(testJob({ onBadRecord: "dead-letter", maxBatchRecords: 10 }))
      assert.strictEqual(summary.deadLettered, 50)
      const rows = rowsPerCommit(world, deadLetters)
      assert.isAtLeast(rows.length, 5)
      assert.isTrue(rows.every((n) => n <= 10), `rows per dead-letter commit: ${rows.join(", ")}`)
    }))

  it.live("a batch of only bad records is sealed at maxBatchBytes", () =>
    Effect.gen(function*() {
      const world = new World(1)
      for (let i = 0; i < 20; i++) world.produceRaw(0, Buffer.from("x".repeat(2000)))
      const summary = yield* world.run(testJob({ onBadRecord: "dead-letter", maxBatchBytes: 5000 }))
      assert.strictEqual(summary.deadLettered, 20)
      const rows = rowsPerCommit(world, deadLetters)
      assert.isTrue(rows.every((n) => n <= 3), `rows per dead-letter commit: ${rows.join(", ")}`)
    }))

  it("a dead letter keeps a copy of its bytes, not a view of the fetch buffer", () => {
    const fetchBuffer = new Uint8Array(1024)
    const record = { offset: 7, timestamp: 0, key: fetchBuffer.subarray(0, 4), value: fetchBuffer.subarray(4, 20) }
    const batch = new PartitionBatch(0, 7)
    applyBadRecord("dead-letter", batch, { topic: "t", record, schemaId: undefined, reason: "bad" })
    const kept = batch.deadLetters[0]!.record
    assert.notStrictEqual(kept.value!.buffer, fetchBuffer.buffer)
    assert.notStrictEqual(kept.key!.buffer, fetchBuffer.buffer)
    assert.deepStrictEqual([...kept.value!], [...record.value])
  })
})
