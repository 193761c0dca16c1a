import { assert, describe, expect, it } from "@effect/vitest"
import avro from "avsc"
import { Cause, Duration, Effect, Exit, Fiber, Latch, Option } from "effect"
import { twosComplementFromBigInt } from "../../src/avro/decoder.ts"
import { demoEvent, demoEventSchema, encodeDemoEvent } from "../../src/demo/events.ts"
import * as CheckpointMemory from "../../layers/checkpoint-store/memory.ts"
import type { CrashPoint } from "../../layers/delta-sink/memory.ts"
import { duplicates, sorted, testJob, World } from "../support/memory-pipeline.ts"

const orders = "/mem/orders"
const deadLetters = "/mem/orders_dead_letter"

describe("pipeline on the in-memory layers", () => {
  it.live("available-now drains every partition, one commit per batch, and exits", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(1000, { gapEvery: 7 })
      const summary = yield* world.run(testJob())
      assert.strictEqual(summary.stoppedBy, "drained")
      assert.strictEqual(summary.records, 1000)
      const offsets = world.offsetsIn(orders)
      assert.deepStrictEqual(sorted(offsets), sorted(world.goodOffsets()))
      assert.deepStrictEqual(duplicates(offsets), [])
      const table = world.delta.tables.get(orders)!
      assert.isAtLeast(table.commits.length, 4)
      assert.strictEqual(table.commits.length, summary.batches)
      // the txn version of each partition is its next offset (gaps included)
      for (const [partition, range] of world.kafka.offsets(world.topic).entries()) {
        assert.strictEqual(table.txns.get(`Test_orders-p${partition}`), range.latest)
      }
      assert.isTrue(Option.isSome(world.checkpoint.lastCommit))
      // the source is told it drains (so kafkajs keeps its fetch wait, and the stop after the last batch, short)
      assert.isAbove(world.consumeRequests.length, 0)
      assert.isTrue(world.consumeRequests.every((request) => request.drain === true))
    }))

  it.live("rows carry the decoded values and the _kafka struct", () =>
    Effect.gen(function*() {
      const world = new World(2)
      world.produce(10)
      yield* world.run(testJob())
      const rows = world.delta.rows(orders)
      const row = rows.find((r) => (r["_kafka"] as { partition: number; offset: bigint }).partition === 1 && Number((r["_kafka"] as { offset: bigint }).offset) === 2)!
      const expected = demoEvent(7, 5) // index 5 -> partition 1, offset 2
      assert.strictEqual(Number(row["order_id"]), expected.order_id)
      assert.strictEqual(row["customer_id"], expected.customer_id)
      assert.strictEqual(row["status"], expected.status)
      assert.strictEqual(row["quantity"], expected.quantity)
      const kafka = row["_kafka"] as { topic: string; key: Uint8Array | null }
      assert.strictEqual(kafka.topic, "test.orders")
      assert.strictEqual(Buffer.from(kafka.key!).toString(), expected.customer_id)
    }))

  it.live("a second run reads nothing again; new records are appended once", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(300)
      yield* world.run(testJob())
      const again = yield* world.run(testJob())
      assert.strictEqual(again.records, 0)
      world.produce(200)
      const third = yield* world.run(testJob())
      assert.strictEqual(third.records, 200)
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
    }))

  for (const point of ["before-write", "after-files", "after-commit"] as const satisfies ReadonlyArray<CrashPoint>) {
    it.live(`a crash ${point} then a restart yields every offset exactly once`, () =>
      Effect.gen(function*() {
        const world = new World(3)
        world.produce(900)
        // one batch lands, the second append crashes
        world.delta.crashAt = point
        world.delta.crashOnAppend = 2
        const exit = yield* Effect.exit(world.run(testJob()))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), `expected the simulated crash, got ${Exit.isSuccess(exit) ? "success" : Cause.pretty(exit.cause)}`)
        assert.strictEqual(world.delta.tables.get(orders)!.commits.length, point === "after-commit" ? 2 : 1)
        world.checkpoint.held = false // the crashed process's lock dies with it
        const before = world.offsetsIn(orders).length
        assert.isBelow(before, 900)
        const summary = yield* world.run(testJob())
        assert.strictEqual(summary.stoppedBy, "drained")
        const offsets = world.offsetsIn(orders)
        assert.deepStrictEqual(duplicates(offsets), [])
        assert.deepStrictEqual(sorted(offsets), sorted(world.goodOffsets()))
      }))
  }

  it.live("a lost checkpoint resumes from the table's txn versions without duplicates", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(500)
      yield* world.run(testJob())
      world.checkpoint = CheckpointMemory.empty()
      world.produce(100)
      const summary = yield* world.run(testJob())
      assert.strictEqual(summary.records, 100)
      assert.deepStrictEqual(duplicates(world.offsetsIn(orders)), [])
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
    }))

  it.live("failOnDataLoss=true stops with DataLossError naming topic, partition and offsets", () =>
    Effect.gen(function*() {
      const world = new World(2)
      world.produce(100)
      yield* world.run(testJob())
      world.produce(100)
      world.kafka.deleteRecords(world.topic, 1, 80)
      const error = yield* Effect.flip(world.run(testJob()))
      assert.strictEqual(error._tag, "DataLossError")
      expect(error.message).toContain("test.orders partition 1")
      expect(error.message).toContain("next offset to read is 50")
      expect(error.message).toContain("failOnDataLoss=false")
    }))

  it.live("failOnDataLoss=false continues from the earliest offset, counts what was lost, duplicates nothing", () =>
    Effect.gen(function*() {
      const world = new World(2)
      world.produce(100)
      yield* world.run(testJob({ failOnDataLoss: false }))
      world.produce(100)
      world.kafka.deleteRecords(world.topic, 1, 80)
      const summary = yield* world.run(testJob({ failOnDataLoss: false }))
      assert.strictEqual(summary.lostOffsets, 30)
      const offsets = world.offsetsIn(orders)
      assert.deepStrictEqual(duplicates(offsets), [])
      const expected = world.goodOffsets().filter((o) => !(o.startsWith("1:") && Number(o.slice(2)) >= 50 && Number(o.slice(2)) < 80))
      assert.deepStrictEqual(sorted(offsets), sorted(expected))
    }))

  it.live("retention that overtakes a running stream is data loss too", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(50)
      const kafka = world.kafka
      // deletes records the stream has not read yet, after it has started
      const job = testJob({ failOnDataLoss: true, trigger: "continuous" })
      const fiber = yield* Effect.forkChild(world.run(job))
      yield* Effect.sleep("30 millis")
      world.produce(500)
      kafka.deleteRecords(world.topic, 0, 540)
      const exit = yield* Fiber.join(fiber).pipe(Effect.timeout("5 seconds"), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) expect(Cause.pretty(exit.cause)).toContain("DataLossError")
    }))

  const poison = (world: World) => {
    const valid = encodeDemoEvent(world.schemaId, demoEvent(7, 999))
    const badMagic = Buffer.from(valid)
    badMagic[0] = 1
    const unknownId = encodeDemoEvent(world.schemaId + 40, demoEvent(7, 998))
    return [
      { name: "bad magic byte", value: badMagic },
      { name: "unknown schema id", value: unknownId },
      { name: "truncated Avro", value: valid.subarray(0, 20) },
      { name: "null value", value: null }
    ]
  }

  it.live("onBadRecord=fail stops at the first bad record with its topic, partition and offset", () =>
    Effect.gen(function*() {
      for (const kind of poison(new World(1))) {
        const world = new World(2)
        world.produce(10)
        const offset = world.produceRaw(1, kind.value === null ? null : Buffer.from(kind.value))
        world.produce(10)
        const error = yield* Effect.flip(world.run(testJob({ onBadRecord: "fail" })))
        assert.strictEqual(error._tag, "BadRecordError", kind.name)
        expect(error.message, kind.name).toContain(`test.orders partition 1 offset ${offset}`)
        // nothing of the failing batch is committed
        assert.deepStrictEqual(duplicates(world.offsetsIn(orders)), [])
      }
    }))

  it.live("onBadRecord=skip counts bad records and writes every good one once", () =>
    Effect.gen(function*() {
      const world = new World(2)
      world.produce(50)
      for (const kind of poison(world)) world.produceRaw(0, kind.value === null ? null : Buffer.from(kind.value))
      world.produce(50)
      const summary = yield* world.run(testJob({ onBadRecord: "skip" }))
      assert.strictEqual(summary.skipped, 4)
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
      assert.strictEqual(world.delta.tables.get(deadLetters), undefined)
    }))

  it.live("onBadRecord=dead-letter writes each bad record, with its error and _kafka, to <table>_dead_letter", () =>
    Effect.gen(function*() {
      const world = new World(2)
      world.produce(50)
      const kinds = poison(world)
      const badOffsets = kinds.map((kind) => `0:${world.produceRaw(0, kind.value === null ? null : Buffer.from(kind.value))}`)
      world.produce(50)
      const summary = yield* world.run(testJob({ onBadRecord: "dead-letter" }))
      assert.strictEqual(summary.deadLettered, 4)
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
      assert.deepStrictEqual(sorted(world.offsetsIn(deadLetters)), sorted(badOffsets))
      const rows = world.delta.rows(deadLetters)
      const errors = rows.map((row) => String(row["error"]))
      expect(errors.join("\n")).toMatch(/magic/i)
      expect(errors.join("\n")).toMatch(/schema id/i)
      expect(errors.join("\n")).toMatch(/null/i)
      const truncated = rows.find((row) => Number((row["_kafka"] as { offset: bigint }).offset) === Number(badOffsets[2]!.slice(2)))!
      assert.strictEqual(Buffer.from(truncated["value"] as Uint8Array).length, 20)
    }))

  it.live("a full batch is sealed while the previous one commits, so decoding goes on by one more batch", () =>
    Effect.gen(function*() {
      // how far the run reads while its first commit is held, with and without a batch sealed ahead
      const readWhileHeld = (sealedAhead: number) =>
        Effect.gen(function*() {
          const world = new World(1)
          world.produce(2000)
          const release = yield* Latch.make(false)
          world.beforeAppend = release.await
          const fiber = yield* Effect.forkChild(world.run(testJob({ maxBatchRecords: 100 }), { sealedAhead }))
          yield* Effect.sleep("300 millis")
          const read = world.recordsDelivered
          const commitsWhileHeld = world.delta.tables.get(orders)?.commits.length ?? 0
          yield* release.open
          const summary = yield* Fiber.join(fiber)
          // nothing lost or repeated either way
          assert.strictEqual(summary.records, 2000)
          assert.deepStrictEqual(duplicates(world.offsetsIn(orders)), [])
          assert.strictEqual(commitsWhileHeld, 0)
          return read
        })
      const ahead = yield* readWhileHeld(1)
      const inLockstep = yield* readWhileHeld(0)
      // with 1 partition, 100-record fetches and batches: 600 against 500 (the rest is mailbox and router)
      assert.isBelow(ahead, 2000) // bounded: the held commit stops the reading after a few batches
      assert.isAtLeast(ahead - inLockstep, 100) // one batch more was decoded while the commit was held
    }))

  it.live("a sealedAhead that is not a whole number of batches stops the run with a message naming it", () =>
    Effect.gen(function*() {
      for (const sealedAhead of [-1, 0.5, Number.NaN]) {
        const world = new World(1)
        world.produce(10)
        const exit = yield* Effect.exit(world.run(testJob(), { sealedAhead }))
        assert.isTrue(Exit.isFailure(exit))
        const defect = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isDieReason)?.defect : undefined
        assert.include(String(defect), `RunOptions.sealedAhead must be a whole number of batches, 0 or more; got ${sealedAhead}`)
        assert.deepStrictEqual(world.offsetsIn(orders), []) // nothing read or written
      }
    }))

  it.live("continuous runs commit as records arrive and stop cleanly when interrupted", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(100)
      const fiber = yield* Effect.forkChild(world.run(testJob({ trigger: "continuous" })))
      for (let i = 0; i < 500 && world.offsetsIn(orders).length < 100; i++) yield* Effect.sleep("2 millis")
      world.produce(100)
      for (let i = 0; i < 500 && world.offsetsIn(orders).length < 200; i++) yield* Effect.sleep("2 millis")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
      assert.isFalse(world.checkpoint.held)
      assert.isTrue(world.consumeRequests.every((request) => request.drain === undefined)) // it waits for new records
    }))

  it.live("a second run of the same stream while one runs stops with StreamAlreadyRunningError", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(10)
      const first = yield* Effect.forkChild(world.run(testJob({ trigger: "continuous" })))
      yield* Effect.sleep("20 millis")
      const error = yield* Effect.flip(world.run(testJob()))
      assert.strictEqual(error._tag, "StreamAlreadyRunningError")
      yield* Fiber.interrupt(first)
    }))

  it.live("a partition added while running is read from its earliest offset", () =>
    Effect.gen(function*() {
      const world = new World(2)
      world.produce(20)
      const fiber = yield* Effect.forkChild(world.run(testJob({ trigger: "continuous" })))
      yield* Effect.sleep("30 millis")
      world.kafka.addPartitions(world.topic, 3)
      world.produce(30)
      for (let i = 0; i < 500 && world.offsetsIn(orders).length < 50; i++) yield* Effect.sleep("2 millis")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
      assert.isTrue(world.offsetsIn(orders).some((o) => o.startsWith("2:")))
    }))

  it.live("a registry outage is waited out on the retry schedule; no record is dead-lettered because of it", () =>
    Effect.gen(function*() {
      const world = new World(2)
      world.produce(100)
      world.registry.available = false
      const job = testJob({ onBadRecord: "dead-letter", retry: { initialDelay: Duration.millis(20), maxDelay: Duration.millis(50), maxAttempts: 20 } })
      const fiber = yield* Effect.forkChild(world.run(job))
      yield* Effect.sleep("150 millis")
      assert.deepStrictEqual(world.offsetsIn(orders), [])
      world.registry.available = true
      const summary = yield* Fiber.join(fiber)
      assert.strictEqual(summary.deadLettered, 0)
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
      assert.strictEqual(world.delta.tables.get(deadLetters), undefined)
    }))

  it.live("an outage longer than the retry schedule stops the run with the registry's error", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(10)
      world.registry.available = false
      const error = yield* Effect.flip(world.run(testJob()))
      assert.strictEqual(error._tag, "RegistryUnavailableError")
    }))

  it.live("a writer schema whose field changes type stops the stream naming the field, before anything is written", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(10)
      yield* world.run(testJob())
      const changed = {
        ...demoEventSchema,
        fields: demoEventSchema.fields.map((f) => (f.name === "quantity" ? { name: "quantity", type: "string" } : f))
      }
      const id = world.registry.register("test.orders-value", JSON.stringify(changed))
      const avsc = avro.Type.forSchema(changed as never)
      const { amountCents, ...event } = demoEvent(7, 50)
      const body = avsc.toBuffer({ ...event, quantity: "many", amount: twosComplementFromBigInt(amountCents) })
      world.produceRaw(0, Buffer.concat([Buffer.from([0, 0, 0, 0, id]), body]))
      const error = yield* Effect.flip(world.run(testJob({ onBadRecord: "dead-letter" })))
      assert.strictEqual(error._tag, "SchemaMismatchError")
      expect(error.message).toContain("quantity")
      assert.strictEqual(world.delta.tables.get(orders)!.commits.length, 1)
      assert.strictEqual(world.delta.tables.get(deadLetters), undefined)
    }))

  it.live("batches hold at most maxBatchRecords rows, and every row of a commit is below the txn version committed with it", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(400)
      for (let i = 0; i < 30; i++) world.produceRaw(i % 3, Buffer.from("not avro"))
      world.produce(400)
      // a 1 ms interval makes the timer seal at every suspension point, bad records included
      yield* world.run(testJob({ maxBatchRecords: 70, maxBatchInterval: Duration.millis(1), onBadRecord: "dead-letter" }))
      const table = world.delta.tables.get(orders)!
      for (const commit of table.commits) {
        const rows = commit.data.reduce((n, segment) => n + segment.numRows, 0)
        assert.isAtMost(rows, 70)
        for (const segment of commit.data) {
          for (const row of segment.toArray()) {
            const kafka = (row.toJSON() as { _kafka: { partition: number; offset: bigint } })._kafka
            const version = commit.txns.get(`Test_orders-p${kafka.partition}`)
            assert.isDefined(version, `commit ${commit.version} has a txn for partition ${kafka.partition}`)
            assert.isBelow(Number(kafka.offset), version!, `commit ${commit.version}: row ${kafka.partition}@${kafka.offset} below its txn version`)
          }
        }
      }
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
      assert.strictEqual(world.offsetsIn(deadLetters).length, 30)
      assert.deepStrictEqual(duplicates(world.offsetsIn(deadLetters)), [])
    }))

  it.live("schema ids are looked up once per id, not per record", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(600)
      yield* world.run(testJob())
      assert.strictEqual(world.registry.lookups, 1)
    }))
})
