/**
 * Helpers of the table-maintenance tests: where a table lives (local filesystem, S3 on moto, Azure on Azurite) and
 * how the CLI and delta-rs reach it, the CLI in the background, and the exactly-once check of a table by delta-rs.
 */
import { CreateBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3"
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { assert, expect } from "@effect/vitest"
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as NodePath from "node:path"
import { makeS3Client } from "../../../layers/storage/s3.ts"
import { localEnvironment, type ProducedSummary, readTable, root, writeEnvironment } from "./run-cli.ts"
import { testS3Settings } from "./s3.ts"

const endpoint = testS3Settings.endpoint!
const accessKeyId = process.env["KAFKA_DELTA_TEST_S3_ACCESS_KEY_ID"] ?? "kd-test"
const secretAccessKey = process.env["KAFKA_DELTA_TEST_S3_SECRET_ACCESS_KEY"] ?? "kd-test-secret"
/** What delta-rs needs to read from the local S3 server. */
export const deltaRsOptions = { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: "us-east-1", AWS_ALLOW_HTTP: "true" }
/** The secrets of the environment's `storage.s3` section. */
export const s3Secrets = { KAFKA_DELTA_SECRET_IT_S3_KEY: accessKeyId, KAFKA_DELTA_SECRET_IT_S3_SECRET: secretAccessKey }
/** How `--table s3://...` reaches the local server: the AWS default chain's variables. */
export const awsVariables = { AWS_ENDPOINT_URL_S3: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: "us-east-1" }

export const newBucket = async (hint: string) => {
  const client = makeS3Client(testS3Settings)
  const bucket = `kd-${hint}-${randomUUID().slice(0, 8)}`
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  client.destroy()
  return bucket
}

/** The keys under `prefix` in `bucket`. */
export const listKeys = async (bucket: string, prefix: string) => {
  const client = makeS3Client(testS3Settings)
  const keys: Array<string> = []
  let token: string | undefined
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
    keys.push(...(page.Contents ?? []).map((object) => object.Key!))
    token = page.NextContinuationToken
  } while (token !== undefined)
  client.destroy()
  return keys
}

/** Small batches, committed often: many small files. */
const smallBatches = { maxBatchRecords: 10, maxBatchInterval: "200 millis" }

/** Azurite's address and account, from `scripts/services.sh env`. */
const azurite = {
  endpoint: process.env["KAFKA_DELTA_TEST_AZURE_ENDPOINT"] ?? "",
  account: process.env["KAFKA_DELTA_TEST_AZURE_ACCOUNT"] ?? "",
  key: process.env["KAFKA_DELTA_TEST_AZURE_KEY"] ?? ""
}

/** Where a test's table lives: the environment file, the secrets of a run, how `--table` and delta-rs reach it. */
export interface Store {
  readonly environments: string
  readonly secrets: Record<string, string>
  readonly location: (topic: string) => string
  /** The variables `optimize --table` / `vacuum --table` reach the store with. */
  readonly variables: Record<string, string>
  readonly deltaRs: Record<string, string> | undefined
  /** The S3 bucket, on S3. */
  readonly bucket?: string
}

/** The local filesystem, S3 (a fresh bucket) or Azure (a fresh container); `delta` entries added to the environment. */
export const storeFor = async (kind: "local" | "s3" | "azure", dir: string, delta: object = {}): Promise<Store> => {
  const base = localEnvironment(dir, { stream: smallBatches })
  if (kind === "local") {
    return {
      environments: writeEnvironment(dir, "It", { ...base, delta: { ...base.delta, ...delta } }),
      secrets: {},
      location: (topic) => NodePath.join(dir, "lakehouse", "it", "raw", topic),
      variables: {},
      deltaRs: undefined
    }
  }
  if (kind === "s3") {
    const bucket = await newBucket("maint")
    return {
      environments: writeEnvironment(dir, "It", {
        ...base,
        delta: { warehouse: `s3://${bucket}/lakehouse`, catalog: "it", schema: "raw", ...delta },
        checkpoints: `s3://${bucket}/checkpoints`,
        storage: { s3: { accessKeyId: { secret: "s3-key" }, secretAccessKey: { secret: "s3-secret" }, endpoint, region: "us-east-1", forcePathStyle: true } }
      }),
      secrets: s3Secrets,
      location: (topic) => `s3://${bucket}/lakehouse/it/raw/${topic}`,
      variables: awsVariables,
      deltaRs: deltaRsOptions,
      bucket
    }
  }
  assert.notStrictEqual(azurite.key, "", "Azure tests need Azurite: the KAFKA_DELTA_TEST_AZURE_* variables of `scripts/services.sh env`")
  const container = `kd-maint-${randomUUID().slice(0, 8)}`
  await new BlobServiceClient(azurite.endpoint, new StorageSharedKeyCredential(azurite.account, azurite.key)).getContainerClient(container).create()
  return {
    environments: writeEnvironment(dir, "It", {
      ...base,
      delta: { warehouse: `az://${container}/lakehouse`, catalog: "it", schema: "raw", ...delta },
      checkpoints: `az://${container}/checkpoints`,
      storage: { azure: { accountKey: { secret: "azure-key" }, endpoint: azurite.endpoint } }
    }),
    secrets: { KAFKA_DELTA_SECRET_IT_AZURE_KEY: azurite.key },
    location: (topic) => `az://${container}/lakehouse/it/raw/${topic}`,
    variables: { AZURE_STORAGE_ENDPOINT: azurite.endpoint, AZURE_STORAGE_KEY: azurite.key },
    deltaRs: { account_name: azurite.account, account_key: azurite.key, azure_storage_endpoint: azurite.endpoint, allow_http: "true" }
  }
}

/** Starts `kafka-delta <args>` in the background; `stop` sends SIGTERM and waits for the exit status. */
export const startCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), ...args], {
    cwd: root,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env }
  })
  let stderr = ""
  child.stderr.on("data", (chunk) => (stderr += String(chunk)))
  child.stdout.resume()
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return {
    stderr: () => stderr,
    running: () => child.exitCode === null && child.signalCode === null,
    /** Waits until the run has logged `count` batch commits (or exited, or timed out). */
    commits: async (count: number, timeoutMs = 90_000) => {
      const deadline = Date.now() + timeoutMs
      while ((stderr.match(/batch \d+ -> version/g) ?? []).length < count && child.exitCode === null && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      return (stderr.match(/batch \d+ -> version/g) ?? []).length
    },
    stop: async () => {
      child.kill("SIGTERM")
      return exited
    }
  }
}

/** `kafka-delta <args>` in a child process, without blocking the event loop (a background run's output keeps flowing). */
export const runAsync = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), ...args], {
      cwd: root,
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env }
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += String(chunk)))
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    child.once("exit", (status) => resolve({ status, stdout, stderr }))
  })

/** Every produced (partition, offset) is in the table exactly once, nothing else is; the txn versions follow the last. */
export const checkExactlyOnce = (
  location: string,
  topic: string,
  produced: ReadonlyArray<ProducedSummary["records"][number]>,
  partitions: number,
  storageOptions?: Record<string, string>
) => {
  const appIds = Array.from({ length: partitions }, (_, p) => `It_${topic}-p${p}`)
  const table = readTable(location, appIds, storageOptions)
  const seen = new Map<string, number>()
  for (const row of table.rows) {
    const kafka = row["_kafka"] as { partition: string; offset: string }
    const key = `${kafka.partition}:${kafka.offset}`
    seen.set(key, (seen.get(key) ?? 0) + 1)
  }
  const twice = [...seen].filter(([, n]) => n > 1).map(([key]) => key)
  assert.deepStrictEqual(twice, [], "no (partition, offset) twice")
  const missing = produced.filter((r) => !seen.has(`${r.partition}:${r.offset}`)).map((r) => `${r.partition}:${r.offset}`)
  assert.deepStrictEqual(missing, [], "every produced offset is in the table")
  assert.strictEqual(table.numRows, produced.length)
  const ids = new Map(produced.map((r) => [`${r.partition}:${r.offset}`, String(r.value["id"])]))
  for (const row of table.rows) {
    const kafka = row["_kafka"] as { partition: string; offset: string }
    assert.strictEqual(row["id"], ids.get(`${kafka.partition}:${kafka.offset}`))
  }
  for (let p = 0; p < partitions; p++) {
    const last = Math.max(...produced.filter((r) => r.partition === p).map((r) => r.offset))
    assert.strictEqual(table.txn[`It_${topic}-p${p}`], last + 1, `txn version of partition ${p}`)
  }
  return table as typeof table & { readonly files: number }
}

/** The stream's log has no failure: no error line, no final `kafka-delta:` line, no warning but those `allowed`. */
export const assertStreamHealthy = (stderr: string, allowed?: RegExp) => {
  expect(stderr).not.toMatch(/^\d\d:\d\d:\d\d (ERROR|FATAL) /m)
  expect(stderr).not.toMatch(/^kafka-delta: /m)
  const warnings = stderr.split("\n").filter((line) => /^\d\d:\d\d:\d\d WARN(ING)? /.test(line) && (allowed === undefined || !allowed.test(line)))
  assert.deepStrictEqual(warnings, [], "no warning")
}
