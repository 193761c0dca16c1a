import { assert, describe, it } from "@effect/vitest"
import { appIdOf, partitionOfAppId, planStart } from "../../src/pipeline/positions.ts"

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
