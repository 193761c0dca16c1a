/**
 * The four crash points of an append (before-parquet, after-parquet, during-commit, after-commit) with the table
 * and the checkpoint on the local S3-compatible server: the process SIGKILLs itself (KAFKA_DELTA_FAULT), delta-rs
 * then reads the table at the previous or the next version with no duplicate, the restart (which takes over the
 * dead process's lease at once) drains exactly once, and an uncommitted batch's data files are only vacuum's.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3"
import { randomUUID } from "node:crypto"
import { assert, describe, expect, it } from "vitest"
import { makeS3Client } from "../../layers/storage/s3.ts"
import { testS3Settings } from "../integration/support/s3.ts"
import { localEnvironment, produce, readTable, runCli, tempDir, writeEnvironment } from "../integration/support/run-cli.ts"

const schema = { type: "record", name: "Row", namespace: "it", fields: [{ name: "id", type: "long" }, { name: "customer", type: "string" }] }
const endpoint = testS3Settings.endpoint!
const keys = { id: process.env["KAFKA_DELTA_TEST_S3_ACCESS_KEY_ID"] ?? "kd-test", secret: process.env["KAFKA_DELTA_TEST_S3_SECRET_ACCESS_KEY"] ?? "kd-test-secret" }
const deltaRsOptions = { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: keys.id, AWS_SECRET_ACCESS_KEY: keys.secret, AWS_REGION: "us-east-1", AWS_ALLOW_HTTP: "true" }
const secrets = { KAFKA_DELTA_SECRET_IT_S3_KEY: keys.id, KAFKA_DELTA_SECRET_IT_S3_SECRET: keys.secret }

/** The (partition, offset) pairs of the table, and how many appear twice. */
const positions = (location: string, appIds: ReadonlyArray<string>) => {
  const table = readTable(location, appIds, deltaRsOptions)
  const seen = new Set<string>()
  let duplicates = 0
  for (const row of table.rows) {
    const kafka = row["_kafka"] as { partition: string; offset: string }
    const key = `${kafka.partition}:${kafka.offset}`
    if (seen.has(key)) duplicates++
    seen.add(key)
  }
  return { table, seen, duplicates }
}

describe("SIGKILL at each named point of an append, on S3", () => {
  for (const point of ["before-parquet", "after-parquet", "during-commit", "after-commit"] as const) {
    it(`${point}: the table reads at a whole version, the restart drains exactly once, orphans are only vacuum's`, async () => {
      const dir = tempDir(`s3-kill-${point}`)
      const client = makeS3Client(testS3Settings)
      const bucket = `kd-kill-${randomUUID().slice(0, 8)}`
      await client.send(new CreateBucketCommand({ Bucket: bucket }))
      client.destroy()
      const topic = `s3kill_${randomUUID().slice(0, 8)}`
      const environments = writeEnvironment(dir, "It", {
        ...localEnvironment(dir, { stream: { maxBatchRecords: 200 } }),
        delta: { warehouse: `s3://${bucket}/wh`, catalog: "it", schema: "raw" },
        checkpoints: `s3://${bucket}/checkpoints`,
        storage: { s3: { accessKeyId: { secret: "s3-key" }, secretAccessKey: { secret: "s3-secret" }, endpoint, forcePathStyle: true } }
      })
      const args = ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now"]
      const location = `s3://${bucket}/wh/it/raw/${topic}`
      const appIds = [0, 1, 2].map((p) => `It_${topic}-p${p}`)

      const first = produce({ topic, schema, count: 300, partitions: 3, dir })
      const run1 = runCli(args, secrets)
      assert.strictEqual(run1.status, 0, run1.stderr)
      const before = positions(location, appIds)

      const second = produce({ topic, schema, count: 600, start: 300, partitions: 3, dir })
      const killed = runCli(args, { ...secrets, KAFKA_DELTA_FAULT: point })
      assert.strictEqual(killed.status, null, `the fault point ${point} was reached: ${killed.stderr}`)
      const afterKill = positions(location, appIds)
      assert.strictEqual(afterKill.duplicates, 0)
      const expectedVersion = point === "after-commit" ? before.table.version + 1 : before.table.version
      assert.strictEqual(afterKill.table.version, expectedVersion, "the table is at the previous version, or the next after the commit")

      const dry = runCli(["vacuum", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--dry-run"], secrets)
      assert.strictEqual(dry.status, 0, dry.stderr)
      const orphans = dry.stdout.split("\n").filter((line) => line.startsWith("would delete"))
      if (point === "after-parquet" || point === "during-commit") assert.isAbove(orphans.length, 0, "the killed batch left Parquet files")
      else assert.deepStrictEqual(orphans, [])

      const restart = runCli(args, secrets)
      assert.strictEqual(restart.status, 0, restart.stderr)
      expect(restart.stderr).toMatch(/drained:/)
      const after = positions(location, appIds)
      assert.strictEqual(after.duplicates, 0)
      assert.strictEqual(after.seen.size, first.records.length + second.records.length)
      for (const record of [...first.records, ...second.records]) assert.isTrue(after.seen.has(`${record.partition}:${record.offset}`))
      const dryAfter = runCli(["vacuum", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--dry-run"], secrets)
      assert.deepStrictEqual(dryAfter.stdout.split("\n").filter((line) => line.startsWith("would delete")).sort(), orphans.sort())
    }, 300_000)
  }
})
