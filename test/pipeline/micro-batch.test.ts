/** The micro-batch and the router as partitions come and go while a stream runs (the base of the group mode). */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, FiberSet } from "effect"
import type { SourceEvent } from "../../src/services/KafkaSource.ts"
import { avroCodec } from "../../src/pipeline/avro-codec.ts"
import { applyBadRecord } from "../../src/pipeline/bad-records.ts"
import { BatchSchema } from "../../src/pipeline/batch-schema.ts"
import { MicroBatch } from "../../src/pipeline/micro-batch.ts"
import type { PartitionBatch } from "../../src/pipeline/partition.ts"
import { makeRouter } from "../../src/pipeline/route.ts"

const makeBatch = (recorded: ReadonlyMap<number, number> = new Map()) =>
  new MicroBatch({
    maxBatchRecords: 3,
    maxBatchBytes: 1_000_000,
    drains: false,
    nextBatchId: 7,
    codec: avroCodec,
    schema: new BatchSchema(avroCodec, "orders", undefined),
    recorded
  })

/** Dead-letters the record at `offset` of `batch`, as the decode stage does (a dead letter counts as a row). */
const deadLetter = (micro: MicroBatch, batch: PartitionBatch, offset: number) => {
  applyBadRecord("dead-letter", batch, { topic: "orders", record: { offset, timestamp: 0, key: null, value: new Uint8Array([1]) }, schemaId: undefined, reason: "bad" })
  micro.rows++
}

const fetched = (partition: number, offset: number): SourceEvent => ({
  _tag: "RecordsFetched",
  topic: "orders",
  partition,
  records: [{ offset, timestamp: 0, key: null, value: null }],
  nextOffset: offset + 1,
  highWatermark: offset + 1
})

describe("MicroBatch", () => {
  it("a partition added while the stream runs is sealed from its position; a removed one leaves the batch and its row count", () => {
    const micro = makeBatch(new Map([[0, 10], [1, 20]]))
    const p0 = micro.addPartition(0, 10)
    const p1 = micro.addPartition(1, 20)
    assert.strictEqual(micro.addPartition(0, 99), p0) // a known partition keeps its batch
    deadLetter(micro, p0, 10)
    deadLetter(micro, p1, 20)
    deadLetter(micro, p1, 21)
    assert.isTrue(micro.isFull())
    const dropped = micro.removePartition(1)
    assert.strictEqual(dropped, p1)
    assert.strictEqual(micro.rows, 1)
    assert.isFalse(micro.isFull())
    const p2 = micro.addPartition(2, 5)
    p2.until = 8
    const sealed = micro.seal()
    assert.strictEqual(sealed.batchId, 7)
    assert.deepStrictEqual(sealed.partitions.map(({ partition, from, until }) => ({ partition, from, until })), [
      { partition: 0, from: 10, until: 11 },
      { partition: 2, from: 5, until: 8 }
    ])
    assert.deepStrictEqual([...sealed.deadLetters!.lastOffsets], [[0, 10]])
    assert.strictEqual(micro.rows, 0)
    assert.deepStrictEqual([...micro.partitions()].map((p) => p.partition), [0, 2])
  })

  it("a seal that moves no offset keeps the batch id for the next", () => {
    const micro = makeBatch(new Map([[0, 10]]))
    const p0 = micro.addPartition(0, 10)
    const idle = micro.seal()
    assert.strictEqual(idle.batchId, 7)
    assert.strictEqual(idle.partitions.length, 0) // a recorded partition that did not move is left out
    p0.until = 12
    assert.strictEqual(micro.seal().batchId, 7)
    p0.until = 13
    assert.strictEqual(micro.seal().batchId, 8)
  })
})

describe("router", () => {
  it.effect("starts an actor with a partition's first event and stops one without failing the session", () =>
    Effect.scoped(Effect.gen(function*() {
      const fibers = yield* FiberSet.make<void, never>()
      const micro = makeBatch()
      const applied: Array<string> = []
      const router = makeRouter({
        fibers,
        batch: micro,
        mailboxSize: 1,
        apply: (batch, event) => Effect.sync(() => applied.push(`${batch.partition}@${event._tag === "RecordsFetched" ? event.records[0]!.offset : -1}`)),
        accepts: (partition) => partition !== 9
      })
      yield* router.route(fetched(0, 4))
      yield* router.route(fetched(1, 6))
      yield* router.route(fetched(9, 1)) // not accepted: no actor, no batch
      yield* Effect.yieldNow
      assert.deepStrictEqual([...router.partitions()].sort(), [0, 1])
      assert.deepStrictEqual([...micro.partitions()].map((p) => [p.partition, p.from]), [[0, 4], [1, 6]])
      yield* router.stop(0)
      assert.deepStrictEqual(router.partitions(), [1])
      yield* router.route(fetched(1, 7))
      yield* Effect.yieldNow
      assert.deepStrictEqual(applied, ["0@4", "1@6", "1@7"])
      // the stopped actor's interruption is not a failure of the set: joining it still waits
      const joined = yield* Effect.forkChild(FiberSet.join(fibers))
      yield* Effect.yieldNow
      assert.isUndefined(joined.pollUnsafe())
      yield* Fiber.interrupt(joined)
    })))
})
