/**
 * kafka-delta against the real local Kafka, registry and S3-compatible server (moto, which enforces conditional
 * writes): a table and its checkpoint on S3, read back by delta-rs with every value equal; a second writer of the
 * stream refused while the first runs; a restart after a SIGKILL; vacuum on an S3 table.
 */
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3"
import { assert, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { beforeAll } from "vitest"
import { makeS3Client } from "../../layers/storage/s3.ts"
import { testS3Settings } from "./support/s3.ts"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, readTable, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"
import { appIdsOf, assertOrderRow, assertStreamedOnce, type ProducedRecord, refusedThenResumed, streamTwice } from "./support/streamed-table.ts"

const endpoint = testS3Settings.endpoint!
const accessKeyId = process.env["KAFKA_DELTA_TEST_S3_ACCESS_KEY_ID"] ?? "kd-test"
const secretAccessKey = process.env["KAFKA_DELTA_TEST_S3_SECRET_ACCESS_KEY"] ?? "kd-test-secret"
/** What delta-rs needs to read from the local server: its endpoint over plain HTTP, any keys. */
const deltaRsOptions = { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: "us-east-1", AWS_ALLOW_HTTP: "true" }
/** The secrets of the environment's `storage.s3` section, as the env secret provider reads them. */
const secrets = { KAFKA_DELTA_SECRET_IT_S3_KEY: accessKeyId, KAFKA_DELTA_SECRET_IT_S3_SECRET: secretAccessKey }

beforeAll(() => {
  servicesEnv()
})

const newBucket = async (hint: string) => {
  const client = makeS3Client(testS3Settings)
  const bucket = `kd-${hint}-${randomUUID().slice(0, 8)}`
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  client.destroy()
  return bucket
}

const s3Environment = (dir: string, bucket: string) =>
  writeEnvironment(dir, "It", {
    ...localEnvironment(dir),
    delta: { warehouse: `s3://${bucket}/lakehouse`, catalog: "it", schema: "raw" },
    checkpoints: `s3a://${bucket}/checkpoints`,
    storage: { s3: { accessKeyId: { secret: "s3-key" }, secretAccessKey: { secret: "s3-secret" }, endpoint, region: "us-east-1", forcePathStyle: true } }
  })

const checkTable = (location: string, topic: string, produced: ReadonlyArray<ProducedRecord>, partitions: number) =>
  assertStreamedOnce(readTable(location, appIdsOf(topic, partitions), deltaRsOptions), topic, produced, partitions, assertOrderRow)

describe("tables and checkpoints on S3 (local S3-compatible server)", () => {
  it("streams into an S3 table that delta-rs reads back, value for value; a second run appends only new records; secrets stay hidden", async () => {
    const dir = tempDir("s3-e2e")
    const bucket = await newBucket("e2e")
    const topic = `s3e2e_${randomUUID().slice(0, 8)}`
    const environments = s3Environment(dir, bucket)
    const location = `s3://${bucket}/lakehouse/it/raw/${topic}`
    const args = ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic]
    const { run1, run2 } = streamTwice({ dir, topic, args, secrets, check: (produced, partitions) => checkTable(location, topic, produced, partitions) })
    expect(run1.stderr + run2.stderr).not.toContain(secretAccessKey)

    // vacuum on S3: an orphan data file (a batch that crashed before its commit) is found, the table's are not
    const client = makeS3Client(testS3Settings)
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `lakehouse/it/raw/${topic}/part-00000-orphan.snappy.parquet`, Body: "x" }))
    client.destroy()
    const dry = runCli(["vacuum", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--dry-run"], secrets)
    assert.strictEqual(dry.status, 0, dry.stderr)
    expect(dry.stdout.trim().split("\n")).toEqual(["would delete part-00000-orphan.snappy.parquet (1 bytes)"])
    // --table with a URL reaches the store through the AWS default chain (here its environment variables)
    const byUrl = runCli(["vacuum", "--table", location, "--dry-run"], {
      AWS_ENDPOINT_URL_S3: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: "us-east-1"
    })
    assert.strictEqual(byUrl.status, 0, byUrl.stderr)
    expect(byUrl.stdout).toContain("would delete part-00000-orphan.snappy.parquet")
    const bad = runCli(["vacuum", "--table", "gs://lake/t", "--dry-run"])
    assert.strictEqual(bad.status, 2, bad.stderr)
    expect(bad.stderr).toContain("the scheme gs:// is not supported")
  })

  it("a missing bucket stops the run at once (exit 1, not retried), naming the bucket and the fix", () => {
    const dir = tempDir("s3-nobucket")
    const environments = s3Environment(dir, "kd-missing-bucket-xyz")
    const run = runCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", `nb_${randomUUID().slice(0, 8)}`, "--trigger", "available-now"], secrets, 90_000)
    assert.strictEqual(run.status, 1, run.stderr)
    expect(run.stderr).not.toMatch(/retrying/)
    expect(run.stderr).toContain("bucket kd-missing-bucket-xyz does not exist (NoSuchBucket): create it, or correct the bucket in the location")
  })

  it("a second writer of the stream is refused while the first runs; after a SIGKILL of the first a restart resumes exactly once", async () => {
    const dir = tempDir("s3-two")
    const bucket = await newBucket("two")
    const topic = `s3two_${randomUUID().slice(0, 8)}`
    const environments = s3Environment(dir, bucket)
    const args = ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic]
    const location = `s3://${bucket}/lakehouse/it/raw/${topic}`
    await refusedThenResumed(
      { dir, topic, args, secrets, check: (produced, partitions) => checkTable(location, topic, produced, partitions) },
      /stream already running: checkpoint s3a:\/\/.*\/checkpoints\/It_.* is held by process \d+/
    )
  })
})

describe("an unreachable S3 endpoint", () => {
  it("is retried on stream.retry, then fails with one line naming the endpoint", () => {
    const dir = tempDir("s3-down")
    const environments = writeEnvironment(dir, "It", {
      ...localEnvironment(dir, { stream: { retry: { initialDelay: "100 millis", maxDelay: "200 millis", maxAttempts: 3 } } }),
      delta: { warehouse: "s3://kd-down/lakehouse", catalog: "it", schema: "raw" },
      checkpoints: "s3://kd-down/checkpoints",
      storage: { s3: { endpoint: "http://127.0.0.1:1", forcePathStyle: true, region: "us-east-1" } }
    })
    const run = runCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", "nothing", "--trigger", "available-now"], {
      AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y"
    }, 120_000)
    assert.strictEqual(run.status, 1, run.stderr)
    expect(run.stderr).toMatch(/opening checkpoint s3:\/\/kd-down\/checkpoints\/It_nothing failed \(attempt 1\), retrying/)
    expect(run.stderr).toContain("cannot reach http://127.0.0.1:1 (ECONNREFUSED")
    expect(run.stderr.split("\n").filter((line) => line.startsWith("kafka-delta:"))).toHaveLength(1)
  })
})
