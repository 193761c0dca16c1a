/**
 * The session's schema cache and ids the registry does not know: the "unknown" answer is kept for a while, so
 * the fetches holding such an id do not each ask the registry (and wait for its retries) again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as RegistryMemory from "../../layers/schema-registry/memory.ts"
import { avroCodec } from "../../src/pipeline/avro-codec.ts"
import { makeSchemaCache } from "../../src/pipeline/decoding.ts"
import { testJob, World } from "../support/memory-pipeline.ts"

/** A Confluent-framed value with schema id `id` and a one-byte body. */
const framed = (id: number): Uint8Array => {
  const value = new Uint8Array(6)
  new DataView(value.buffer).setInt32(1, id)
  return value
}

describe("unknown schema ids", () => {
  it.live("are asked of the registry once per session, not once per fetch that holds them", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.fetchSize = 10
      for (let i = 0; i < 50; i++) {
        world.produce(1)
        world.produceRaw(0, framed(999))
      }
      yield* world.run(testJob({ onBadRecord: "skip" }))
      assert.strictEqual(world.offsetsIn("/mem/orders").length, 50)
      assert.strictEqual(world.registry.lookups, 2, "one lookup for the good id, one for the unknown one")
    }))

  it.effect("are asked again once the unknown answer is 30 seconds old", () =>
    Effect.gen(function*() {
      const registry = new RegistryMemory.MemoryRegistry()
      const cache = yield* makeSchemaCache(avroCodec).pipe(Effect.provide(RegistryMemory.layer(registry)))
      assert.isTrue("unknownId" in (yield* cache.lookup(999)))
      assert.isTrue("unknownId" in (yield* cache.lookup(999)))
      assert.isTrue(cache.get(999) !== undefined && "unknownId" in cache.get(999)!)
      assert.strictEqual(registry.lookups, 1)
      yield* TestClock.adjust("31 seconds")
      assert.isUndefined(cache.get(999))
      yield* cache.lookup(999)
      assert.strictEqual(registry.lookups, 2)
    }))
})
