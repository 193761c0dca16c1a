import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as CheckpointMemory from "../../layers/checkpoint-store/memory.ts"
import { appIdOf, otherStreamsOf, partitionOfAppId, planStart } from "../../src/pipeline/positions.ts"
import type { JobConfig, StreamOptions } from "../../src/services/Config.ts"
import { duplicates, sorted, testJob, World } from "../support/memory-pipeline.ts"

const partitions = [
  { partition: 0, earliest: 0, latest: 100 },
  { partition: 1, earliest: 50, latest: 80 },
  { partition: 2, earliest: 10, latest: 10 }
]

describe("planStart", () => {
  it("appIds round-trip and other streams' appIds are not ours", () => {
    assert.strictEqual(appIdOf("UAT_orders", 3), "UAT_orders-p3")
    assert.strictEqual(partitionOfAppId("UAT_orders", "UAT_orders-p3"), 3)
    assert.strictEqual(partitionOfAppId("UAT_orders", "UAT_orders-x-p3"), undefined)
    assert.strictEqual(partitionOfAppId("UAT_orders", "UAT_orders-p03"), undefined)
  })

  it("a new stream starts at startingOffsets", () => {
    const earliest = planStart({ streamId: "s", topics: ["t"], txnVersions: new Map(), partitions, startingOffsets: "earliest" })
    assert.deepStrictEqual([...earliest.positions], [[0, 0], [1, 50], [2, 10]])
    assert.deepStrictEqual(earliest.lost, [])
    const latest = planStart({ streamId: "s", topics: ["t"], txnVersions: new Map(), partitions, startingOffsets: "latest" })
    assert.deepStrictEqual([...latest.positions], [[0, 100], [1, 80], [2, 10]])
    const json = planStart({ streamId: "s", topics: ["uat.t", "t"], txnVersions: new Map(), partitions, startingOffsets: { t: { "0": 42, "1": -1 } } })
    assert.deepStrictEqual([...json.positions], [[0, 42], [1, 80], [2, 10]])
  })

  it("the table's txn versions win over startingOffsets", () => {
    const plan = planStart({ streamId: "s", topics: ["t"], txnVersions: new Map([["s-p0", 60], ["other-p1", 70]]), partitions, startingOffsets: "latest" })
    assert.deepStrictEqual([...plan.positions], [[0, 60], [1, 80], [2, 10]])
    assert.deepStrictEqual([...plan.committed], [[0, 60]])
    assert.strictEqual(plan.origins.get(0), "table")
    assert.strictEqual(plan.origins.get(1), "startingOffsets")
  })

  it("positions below the log start, beyond the end, or in a vanished partition are data loss", () => {
    const plan = planStart({
      streamId: "s",
      topics: ["t"],
      txnVersions: new Map([["s-p1", 20], ["s-p2", 15], ["s-p7", 5]]),
      partitions,
      startingOffsets: "earliest"
    })
    assert.deepStrictEqual(plan.lost.map((l) => [l.partition, l.expected, l.resumeAt, l.lostOffsets]), [
      [1, 20, 50, 30],
      [2, 15, 10, 10], // beyond the end (a recreated topic): its offsets below the log start were never read
      [7, 5, undefined, 0]
    ])
    assert.strictEqual(plan.positions.get(1), 50)
  })
})

describe("one stream per topic and table (the stream id is <environment>_<topic>)", () => {
  /** The test job under another environment's name: another stream id, the same topic and table. */
  const otherEnvironment = (environment: string, stream: Partial<StreamOptions> = {}): JobConfig => {
    const job = testJob(stream)
    return { ...job, environment, streamId: `${environment}_${job.topic}`, checkpointLocation: `/mem/checkpoints/${environment}_${job.topic}` }
  }
  /** Runs `job` with a checkpoint of its own (each environment has its own checkpoint directory). */
  const runAs = (world: World, job: JobConfig) =>
    Effect.suspend(() => {
      world.checkpoint = CheckpointMemory.empty()
      return world.run(job)
    })

  it("other streams' ids of the same topic are found among the appIds", () => {
    const appIds = ["Test_orders-p0", "Uat_orders-p1", "Uat_orders-p2", "my_env_orders-p0", "Uat_payments-p0", "Uat_orders-x"]
    assert.deepStrictEqual(otherStreamsOf("Test_orders", "orders", appIds), ["Uat_orders", "my_env_orders"])
  })

  it.effect("a second environment writing the same topic into the table stops, naming the first stream and the options", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(60)
      yield* runAs(world, testJob())
      const rows = world.offsetsIn("/mem/orders").length
      assert.strictEqual(rows, 60)
      const error = yield* Effect.flip(runAs(world, otherEnvironment("Uat")))
      assert.strictEqual(error._tag, "SecondStreamError")
      assert.include(error.message, `stream "Test_orders"`)
      assert.include(error.message, "Uat_orders")
      assert.include(error.message, `stream.adoptPositionsFrom to "Test_orders"`)
      assert.include(error.message, "stream.allowSecondStream")
      assert.strictEqual(world.offsetsIn("/mem/orders").length, rows, "nothing written twice")
      // the first stream itself goes on as before
      world.produce(30)
      yield* runAs(world, testJob())
      assert.deepStrictEqual(duplicates(world.offsetsIn("/mem/orders")), [])
    }))

  it.effect("stream.adoptPositionsFrom continues where the other stream stopped, without duplicates", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(60)
      yield* runAs(world, testJob())
      world.produce(30)
      yield* runAs(world, otherEnvironment("Uat", { adoptPositionsFrom: "Test_orders" }))
      assert.deepStrictEqual(sorted(world.offsetsIn("/mem/orders")), sorted(world.goodOffsets()))
      assert.deepStrictEqual(duplicates(world.offsetsIn("/mem/orders")), [])
      // from now on the stream has positions of its own and needs the option no more
      world.produce(30)
      yield* runAs(world, otherEnvironment("Uat"))
      assert.deepStrictEqual(sorted(world.offsetsIn("/mem/orders")), sorted(world.goodOffsets()))
      const unknown = yield* Effect.flip(runAs(world, otherEnvironment("Prod", { adoptPositionsFrom: "Staging_orders" })))
      assert.strictEqual(unknown._tag, "SecondStreamError")
      assert.include(unknown.message, `"Staging_orders"`)
      assert.include(unknown.message, `"Test_orders", "Uat_orders"`)
    }))

  it.effect("stream.allowSecondStream writes a second copy deliberately", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(30)
      yield* runAs(world, testJob())
      yield* runAs(world, otherEnvironment("Uat", { allowSecondStream: true }))
      assert.strictEqual(world.offsetsIn("/mem/orders").length, 60)
      assert.strictEqual(duplicates(world.offsetsIn("/mem/orders")).length, 30)
    }))
})
