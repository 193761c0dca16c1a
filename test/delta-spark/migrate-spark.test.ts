/**
 * The slow lane: taking over from the notebook. A real PySpark query (scripts/delta-readers/notebook_pipeline.py:
 * Kafka source, from_avro after the Confluent header, `.alias("value")`, Delta sink, availableNow) reads the
 * first part of a topic and stops; more is produced; `kafka-delta migrate` continues its checkpoint and
 * `kafka-delta run` drains the rest into the same table. delta-rs must then see every produced record exactly
 * once in the `value` column. Also each refusal, against copies of the real checkpoint, and a batch Spark
 * planned but never committed. Needs the local services and Maven Central (Spark's Kafka, Avro and Delta jars).
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { servicesEnv } from "../integration/support/services-env.ts"
import { localEnvironment, produce, python, readTable, root, runCli, tempDir, writeEnvironment } from "../integration/support/run-cli.ts"

const schema = {
  type: "record",
  name: "Order",
  namespace: "migrate",
  fields: [{ name: "id", type: "long" }, { name: "name", type: "string" }]
}

/** Runs the notebook's query to the end of what the topic holds; returns its query id. */
const runNotebook = (options: { bootstrap: string; topic: string; dir: string; table: string; checkpoint: string }): string => {
  const schemaFile = NodePath.join(options.dir, "order.avsc")
  Fs.writeFileSync(schemaFile, JSON.stringify(schema))
  const result = spawnSync(python(), [
    NodePath.join(root, "scripts/delta-readers/notebook_pipeline.py"),
    options.bootstrap, options.topic, schemaFile, options.table, options.checkpoint, "25"
  ], { cwd: root, encoding: "utf8", timeout: 900_000, maxBuffer: 64 * 1024 * 1024 })
  if (result.status !== 0) throw new Error(`the notebook's Spark query failed (status ${result.status}): ${result.stderr.slice(-4000)}`)
  return (JSON.parse(result.stdout.trim().split("\n").at(-1)!) as { queryId: string }).queryId
}

const copyCheckpoint = (from: string, to: string) => {
  Fs.cpSync(from, to, { recursive: true })
  return to
}

const put = (path: string, text: string) => Fs.writeFileSync(path, text)

/** The one-line refusal: exit 2, no stack trace, every part in it. */
const assertRefused = (result: ReturnType<typeof runCli>, parts: ReadonlyArray<string>) => {
  assert.strictEqual(result.status, 2, result.stderr)
  const lines = result.stderr.trim().split("\n").filter((line) => !/^\d\d:\d\d:\d\d /.test(line))
  expect(lines).toHaveLength(1)
  expect(lines[0]).not.toMatch(/\bat .*\.ts:\d+/)
  for (const part of parts) expect(lines[0]).toContain(part)
}

describe("switching from the notebook", () => {
  it.live("Spark reads the first part, kafka-delta continues its checkpoint: every record once, in `value`", () =>
    Effect.gen(function*() {
      const services = servicesEnv()
      const dir = tempDir("migrate-spark")
      const topic = `migrate-spark-${randomUUID().slice(0, 8)}`
      const first = produce({ topic, schema, count: 60, partitions: 2, dir })
      const environment = { ...localEnvironment(dir), environment: "Mig" }
      // the table name is fixed, so `--topic other` still names the notebook's table (the topic refusal below)
      const environments = writeEnvironment(dir, "Mig", { ...environment, delta: { ...environment.delta, table: "notebook" } })
      const table = NodePath.join(dir, "lakehouse/it/raw/notebook")
      const checkpoint = NodePath.join(dir, "spark-checkpoint")
      const queryId = runNotebook({ bootstrap: services.kafkaBootstrap, topic, dir, table, checkpoint })
      const spark = readTable(table, [queryId])
      assert.strictEqual(spark.numRows, 60)
      assert.strictEqual(spark.txn[queryId], 2, "Spark wrote batches 0, 1 and 2 (maxOffsetsPerTrigger 25)")
      const sparkFiles = Fs.readdirSync(checkpoint, { recursive: true }).map(String).sort()

      const second = produce({ topic, schema, count: 40, start: 60, partitions: 2, dir })
      // Spark planned batch 3 (offsets/3, written before a batch runs) and stopped before writing it
      const offsets2 = Fs.readFileSync(NodePath.join(checkpoint, "offsets/2"), "utf8").split("\n")
      put(NodePath.join(checkpoint, "offsets/3"), [offsets2[0], offsets2[1], JSON.stringify({ [topic]: { "0": 45, "1": 45 } })].join("\n"))

      const args = (ckpt: string, ...extra: ReadonlyArray<string>) =>
        ["migrate", "--environment", "mig", "--topic", topic, "--environments-dir", environments, "--from-spark-checkpoint", ckpt, ...extra]

      // refusals, each against a copy of the real checkpoint
      const otherTopic = runCli(["migrate", "--environment", "mig", "--topic", "other", "--environments-dir", environments, "--from-spark-checkpoint", checkpoint, "--no-watch"])
      assertRefused(otherTopic, [`read topic ${topic}`, "topic is other"])
      const behind = copyCheckpoint(checkpoint, NodePath.join(dir, "behind"))
      put(NodePath.join(behind, "commits/3"), "v1\n{\"nextBatchWatermarkMs\":0}")
      assertRefused(runCli(args(behind, "--no-watch")), ["last committed batch is 3", "at batch 2"])
      const alive = copyCheckpoint(checkpoint, NodePath.join(dir, "alive"))
      // the query plans another batch once the watch has begun
      const watched = yield* Effect.promise(() =>
        new Promise<ReturnType<typeof runCli>>((resolve) => {
          const child = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), ...args(alive, "--watch-seconds", "5")], { cwd: root })
          let stdout = ""
          let stderr = ""
          child.stdout.on("data", (d) => (stdout += d))
          child.stderr.on("data", (d) => {
            stderr += d
            if (stderr.includes("watching")) put(NodePath.join(alive, "offsets/4"), Fs.readFileSync(NodePath.join(alive, "offsets/3"), "utf8"))
          })
          child.on("close", (status) => resolve({ status, stdout, stderr, ms: 0 }))
        })
      )
      assertRefused(watched, ["planned batch 4 during the 5 s watch", "still running"])
      assert.strictEqual(readTable(table).version, spark.version, "no refusal wrote to the table")

      const dry = runCli(args(checkpoint, "--dry-run", "--no-watch"))
      assert.strictEqual(dry.status, 0, dry.stderr)
      expect(dry.stdout).toContain(`Spark query ${queryId}: the table holds batch 2`)
      expect(dry.stdout).toContain("planned but not in the table (read again by kafka-delta): batch 3")
      expect(dry.stdout).toContain(`partition 0: continue at offset 30 (txn Mig_${topic}-p0=30)`)
      assert.strictEqual(readTable(table).version, spark.version)

      const migrated = runCli(args(checkpoint, "--watch-seconds", "2"))
      assert.strictEqual(migrated.status, 0, migrated.stderr)
      assertRefused(runCli(args(checkpoint, "--no-watch")), [`already holds positions of stream Mig_${topic}`])
      const ran = runCli(["run", "--environment", "mig", "--topic", topic, "--environments-dir", environments, "--trigger", "available-now"])
      assert.strictEqual(ran.status, 0, ran.stderr)

      const after = readTable(table, [queryId, `Mig_${topic}-p0`, `Mig_${topic}-p1`])
      assert.deepStrictEqual(after.schema.map((f) => f.split(":")[0]), ["value"])
      const ids = after.rows.map((row) => (row["value"] as { id: string }).id).sort()
      const produced = [...first.records, ...second.records].map((r) => String(r.value["id"])).sort()
      assert.strictEqual(ids.length, 100)
      assert.deepStrictEqual(ids, produced, "every produced record exactly once")
      assert.strictEqual(after.txn[`Mig_${topic}-p0`], 50)
      assert.strictEqual(after.txn[`Mig_${topic}-p1`], 50)
      const checkpointNow = Fs.readdirSync(checkpoint, { recursive: true }).map(String).sort()
      assert.deepStrictEqual(checkpointNow, [...sparkFiles, "offsets/3"].sort(), "migrate left the Spark checkpoint as it was")
    }), 1_200_000)
})
