/**
 * The Spark checkpoint reader and the migration plan, on checkpoints written here in Spark's format (as
 * OffsetSeqLog, CommitLog and KafkaSourceInitialOffsetWriter write them).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodePath from "node:path"
import { localStorage } from "../../layers/delta-sink/filesystem.ts"
import { makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { describePlan, MigrationRefusedError, planMigration } from "../../src/migrate/plan.ts"
import { readSparkCheckpoint, SparkCheckpointError } from "../../src/migrate/spark-checkpoint.ts"

const queryId = "5f3c2a1e-0000-4000-8000-000000000001"
const topic = "uat.orders"
const batchMeta = `{"batchWatermarkMs":0,"batchTimestampMs":1733500000000,"conf":{"spark.sql.shuffle.partitions":"200"}}`

/** A checkpoint directory: `offsets` per planned batch id, `committed` batch ids. */
const checkpoint = (options: {
  readonly offsets: ReadonlyArray<Record<string, Record<string, number>>>
  readonly committed: ReadonlyArray<number>
  readonly extra?: Record<string, string>
}) => {
  const files = makeMemoryFiles()
  const storage = memoryStorage("checkpoint", "/ckpt", files)
  const put = (path: string, text: string) => files.files.set(`/ckpt/${path}`, { data: new TextEncoder().encode(text), modificationTime: 0 })
  put("metadata", `{"id":"${queryId}"}\n`)
  put("sources/0/0", `\u0000v1\n${JSON.stringify({ [topic]: { "0": 0, "1": 0 } })}`)
  options.offsets.forEach((offsets, batchId) => {
    put(`offsets/${batchId}`, `v1\n${batchMeta}\n${JSON.stringify(offsets)}`)
    put(`offsets/.${batchId}.crc`, "crc")
  })
  for (const batchId of options.committed) put(`commits/${batchId}`, `v1\n{"nextBatchWatermarkMs":0}`)
  for (const [path, text] of Object.entries(options.extra ?? {})) put(path, text)
  return storage
}

const plan = (storage: ReturnType<typeof checkpoint>, txnVersions: ReadonlyMap<string, number>, kafkaTopic = topic) =>
  Effect.map(readSparkCheckpoint(storage), (read) => planMigration({ checkpoint: read, kafkaTopic, streamId: "UAT_orders", table: "main.uat.orders", txnVersions }))

const twoBatches = [{ [topic]: { "0": 10, "1": 7 } }, { [topic]: { "0": 25, "1": 9 } }]

describe("readSparkCheckpoint", () => {
  it.effect("reads the query id, planned and committed batches, and the offsets of the last committed batch", () =>
    Effect.gen(function*() {
      const read = yield* readSparkCheckpoint(checkpoint({ offsets: twoBatches, committed: [0, 1] }))
      assert.strictEqual(read.queryId, queryId)
      assert.deepStrictEqual(read.planned, [0, 1])
      assert.deepStrictEqual(read.committed, [0, 1])
      assert.deepStrictEqual([...read.entries.keys()], [1])
      assert.deepStrictEqual([...read.entries.get(1)!.offsets.get(topic)!], [[0, 25], [1, 9]])
      assert.deepStrictEqual([...read.initial!.get(topic)!], [[0, 0], [1, 0]])
    }))

  const malformed: ReadonlyArray<[string, Record<string, string>, string]> = [
    ["metadata without an id", { metadata: `{"name":"x"}` }, "metadata"],
    ["an offsets file without a version line", { "offsets/1": `${batchMeta}\n{"${topic}":{"0":3}}` }, "offsets/1"],
    ["an offsets file with two sources", { "offsets/1": `v1\n${batchMeta}\n{"${topic}":{"0":3}}\n{"other":{"0":1}}` }, "offsets/1"],
    ["an unresolved offset", { "offsets/1": `v1\n${batchMeta}\n{"${topic}":{"0":-1}}` }, "offsets/1"],
    ["a commit file that is not Spark's", { "commits/1": "hello" }, "commits/1"],
    ["initial offsets that are not JSON", { "sources/0/0": "v1\n{oops" }, "sources/0/0"]
  ]
  for (const [name, extra, file] of malformed) {
    it.effect(`${name}: SparkCheckpointError naming ${file}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(readSparkCheckpoint(checkpoint({ offsets: twoBatches, committed: [0, 1], extra })))
        assert.instanceOf(error, SparkCheckpointError)
        assert.strictEqual(error.file, file)
        assert.include(error.message, `/ckpt: ${file}:`)
      }))
  }

  it.effect("a missing metadata file and a commit without its offsets are errors", () =>
    Effect.gen(function*() {
      const storage = checkpoint({ offsets: twoBatches, committed: [0, 1, 2] })
      const error = yield* Effect.flip(readSparkCheckpoint(storage))
      assert.strictEqual(error.file, "commits/2")
      const empty = yield* Effect.flip(readSparkCheckpoint(memoryStorage("c", "/nothing")))
      assert.strictEqual(empty.file, "metadata")
    }))
})

describe("planMigration", () => {
  it.effect("continues at the end offsets of the last committed batch the table holds", () =>
    Effect.gen(function*() {
      const result = yield* plan(checkpoint({ offsets: twoBatches, committed: [0, 1] }), new Map([[queryId, 1]]))
      assert.notInstanceOf(result, MigrationRefusedError)
      const ok = result as Exclude<typeof result, MigrationRefusedError>
      assert.strictEqual(ok.batchId, 1)
      assert.deepStrictEqual(ok.txns, [
        { appId: "UAT_orders-p0", version: 25, expected: undefined },
        { appId: "UAT_orders-p1", version: 9, expected: undefined }
      ])
      assert.strictEqual(ok.operationParameters["sparkBatchId"], "1")
      assert.strictEqual(ok.operationParameters["sparkQueryId"], queryId)
      assert.strictEqual(ok.operationParameters["sparkCheckpoint"], "/ckpt")
      assert.include(describePlan(ok, "UAT_orders").join("\n"), "partition 0: continue at offset 25")
    }))

  it.effect("a planned batch without a commit that the table does not hold is not written: positions are the batch before", () =>
    Effect.gen(function*() {
      const offsets = [...twoBatches, { [topic]: { "0": 40, "1": 12 } }]
      const result = yield* plan(checkpoint({ offsets, committed: [0, 1] }), new Map([[queryId, 1]]))
      const ok = result as Exclude<typeof result, MigrationRefusedError>
      assert.strictEqual(ok.batchId, 1)
      assert.deepStrictEqual(ok.unwritten, [2])
      assert.deepStrictEqual([...ok.positions], [[0, 25], [1, 9]])
    }))

  it.effect("a planned batch the table holds (Spark stopped between the Delta commit and commits/N) counts as written", () =>
    Effect.gen(function*() {
      const offsets = [...twoBatches, { [topic]: { "0": 40, "1": 12 } }]
      const result = yield* plan(checkpoint({ offsets, committed: [0, 1] }), new Map([[queryId, 2]]))
      const ok = result as Exclude<typeof result, MigrationRefusedError>
      assert.strictEqual(ok.batchId, 2)
      assert.deepStrictEqual([...ok.positions], [[0, 40], [1, 12]])
    }))

  const refusals: ReadonlyArray<[string, ReadonlyMap<string, number>, string, string]> = [
    ["the table lacks the last committed batch", new Map([[queryId, 0]]), topic, "table-behind"],
    ["the table has no txn of the query", new Map(), topic, "table-behind"],
    ["the table is ahead of the checkpoint", new Map([[queryId, 5]]), topic, "table-ahead"],
    ["the checkpoint reads another topic", new Map([[queryId, 1]]), "prod.orders", "topic"],
    ["our stream already has positions", new Map([[queryId, 1], ["UAT_orders-p0", 3]]), topic, "own-positions"]
  ]
  for (const [name, txns, kafkaTopic, kind] of refusals) {
    it.effect(`refuses when ${name}`, () =>
      Effect.gen(function*() {
        const result = yield* plan(checkpoint({ offsets: twoBatches, committed: [0, 1] }), txns, kafkaTopic)
        assert.instanceOf(result, MigrationRefusedError)
        assert.strictEqual((result as MigrationRefusedError).kind, kind)
      }))
  }

  it.effect("refuses a checkpoint with no committed batch", () =>
    Effect.gen(function*() {
      const result = yield* plan(checkpoint({ offsets: twoBatches.slice(0, 1), committed: [] }), new Map())
      assert.strictEqual((result as MigrationRefusedError).kind, "no-batch")
    }))
})

describe("a checkpoint written by Spark 4.2", () => {
  it.effect("reads its query id, batches and the Kafka source's offsets", () =>
    Effect.gen(function*() {
      const location = NodePath.resolve(import.meta.dirname, "../fixtures/spark-checkpoint")
      const read = yield* readSparkCheckpoint(localStorage(location))
      assert.strictEqual(read.queryId, "2ab53328-5f7c-440c-8948-f711bb75bf30")
      assert.deepStrictEqual(read.planned, [0, 1, 2])
      assert.deepStrictEqual(read.committed, [0, 1, 2])
      assert.deepStrictEqual([...read.entries.get(2)!.offsets.get("mig-probe-13589")!], [[0, 30], [1, 30]])
      assert.deepStrictEqual([...read.initial!.get("mig-probe-13589")!], [[0, 0], [1, 0]])
      const result = planMigration({
        checkpoint: read,
        kafkaTopic: "mig-probe-13589",
        streamId: "Mig_orders",
        table: "t",
        txnVersions: new Map([[read.queryId, 2]])
      })
      assert.deepStrictEqual((result as Exclude<typeof result, MigrationRefusedError>).txns.map((t) => [t.appId, t.version]), [["Mig_orders-p0", 30], ["Mig_orders-p1", 30]])
    }))
})
