/** The in-memory KafkaSource's group-offset mirror: what `commitOffsets` stores is what the test reads back. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as KafkaMemory from "../../layers/kafka/memory.ts"

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
