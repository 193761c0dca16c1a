/**
 * The in-memory KafkaSource's consumer groups: what `commitOffsets` stores is what the test reads back, and
 * `joinGroup` members split a topic's partitions and take over a leaver's.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as KafkaMemory from "../../layers/kafka/memory.ts"
import type { GroupAssignment } from "../../src/services/KafkaSource.ts"

describe("in-memory KafkaSource commitOffsets", () => {
  it.effect("stores a group's offsets per topic; a later commit moves only the partitions it names", () =>
    Effect.gen(function*() {
      const kafka = new KafkaMemory.MemoryKafka()
      kafka.createTopic("orders", 3)
      const source = KafkaMemory.make(kafka)
      yield* source.commitOffsets("g", "orders", new Map([[0, 4], [1, 10], [2, 0]]))
      yield* source.commitOffsets("g", "orders", new Map([[0, 7]]))
      assert.deepStrictEqual([...kafka.committedOffsets("g", "orders")], [[0, 7], [1, 10], [2, 0]])
      assert.strictEqual(kafka.committedOffsets("other", "orders").size, 0)
      const missing = yield* Effect.flip(source.commitOffsets("g", "absent", new Map([[0, 1]])))
      assert.strictEqual(missing._tag, "TopicNotFoundError")
    }))
})

/** Lets the forked members run until `done` holds. */
const until = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100 && !done(); i++) yield* Effect.yieldNow
    assert.isTrue(done(), "the members saw the rebalance")
  })

describe("in-memory KafkaSource joinGroup", () => {
  it.effect("two members split the partitions; when one leaves, the other is assigned them all", () =>
    Effect.gen(function*() {
      const kafka = new KafkaMemory.MemoryKafka()
      kafka.createTopic("orders", 4)
      const source = KafkaMemory.make(kafka)
      const first: Array<GroupAssignment> = []
      const second: Array<GroupAssignment> = []
      const a = yield* source.joinGroup("g", "orders").pipe(Stream.runForEach((e) => Effect.sync(() => first.push(e))), Effect.forkChild)
      yield* until(() => first.length === 1)
      const b = yield* source.joinGroup("g", "orders").pipe(Stream.runForEach((e) => Effect.sync(() => second.push(e))), Effect.forkChild)
      yield* until(() => second.length === 1 && first.length === 3)
      const owned = (events: ReadonlyArray<GroupAssignment>) => events.filter((e) => e._tag === "Assigned").at(-1)?.partitions
      assert.deepStrictEqual(owned(first), [0, 1])
      assert.deepStrictEqual(owned(second), [2, 3])
      assert.deepStrictEqual(first.map((e) => e._tag), ["Assigned", "Revoked", "Assigned"])
      yield* Fiber.interrupt(b)
      yield* until(() => first.length === 5)
      assert.deepStrictEqual(owned(first), [0, 1, 2, 3])
      yield* Fiber.interrupt(a)
    }))
})
