/**
 * Table maintenance against the real local services: `kafka-delta optimize` run while a continuous `kafka-delta run`
 * appends small batches from the real broker (every offset exactly once afterwards, the stream never fails), on the
 * local filesystem, S3 (moto) and Azure (Azurite); `delta.autoCompact` compacting inside a real run; optimize then
 * vacuum on an S3 table. Each table is read back by delta-rs.
 */
import { CreateBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3"
import { assert, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as NodePath from "node:path"
import { beforeAll } from "vitest"
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { makeS3Client } from "../../layers/storage/s3.ts"
import { testS3Settings } from "./support/s3.ts"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, produce, type ProducedSummary, python, readTable, root, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"

const schema = {
  type: "record",
  name: "Tick",
  namespace: "maint",
  fields: [{ name: "id", type: "long" }, { name: "customer", type: "string" }, { name: "note", type: ["null", "string"], default: null }]
}

const endpoint = testS3Settings.endpoint!
const accessKeyId = process.env["KAFKA_DELTA_TEST_S3_ACCESS_KEY_ID"] ?? "kd-test"
const secretAccessKey = process.env["KAFKA_DELTA_TEST_S3_SECRET_ACCESS_KEY"] ?? "kd-test-secret"
/** What delta-rs needs to read from the local S3 server. */
const deltaRsOptions = { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: "us-east-1", AWS_ALLOW_HTTP: "true" }
/** The secrets of the environment's `storage.s3` section. */
const s3Secrets = { KAFKA_DELTA_SECRET_IT_S3_KEY: accessKeyId, KAFKA_DELTA_SECRET_IT_S3_SECRET: secretAccessKey }
/** How `--table s3://...` reaches the local server: the AWS default chain's variables. */
const awsVariables = { AWS_ENDPOINT_URL_S3: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: "us-east-1" }

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

/** The keys under `prefix` in `bucket`. */
const listKeys = async (bucket: string, prefix: string) => {
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
interface Store {
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
const storeFor = async (kind: "local" | "s3" | "azure", dir: string, delta: object = {}): Promise<Store> => {
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
const startCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
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
const runAsync = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
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
const checkExactlyOnce = (
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

/** The stream's log has no failure: no retried or failed commit, no error line. */
const assertStreamHealthy = (stderr: string) => {
  expect(stderr).not.toMatch(/level=(ERROR|FATAL)/i)
  expect(stderr).not.toMatch(/^kafka-delta: /m)
}

const optimizeWhileStreaming = async (kind: "local" | "s3" | "azure") => {
  const dir = tempDir("opt-stream")
  const topic = `optstream_${randomUUID().slice(0, 8)}`
  const store = await storeFor(kind, dir)
  const { environments, secrets } = store
  const location = store.location(topic)
  const args = ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic]
  const produced: Array<ProducedSummary["records"][number]> = []
  const more = (count: number) => produced.push(...produce({ topic, schema, count, start: produced.length, partitions: 2, dir }).records)

  more(60)
  const run = startCli([...args, "--trigger", "continuous"], secrets)
  const optimizes: Array<{ status: number | null; stdout: string; stderr: string }> = []
  try {
    expect(await run.commits(3)).toBeGreaterThanOrEqual(3)
    for (let round = 0; round < 3; round++) {
      // records arrive, and the stream commits them in small batches, while optimize plans, rewrites and commits
      const optimizing = runAsync(["optimize", "--table", location], store.variables)
      more(600)
      const before = (run.stderr().match(/batch \d+ -> version/g) ?? []).length
      optimizes.push(await optimizing)
      await run.commits(before + 2)
      assert.isTrue(run.running(), run.stderr())
    }
    more(20)
    await run.commits((run.stderr().match(/batch \d+ -> version/g) ?? []).length + 1)
  } finally {
    const status = await run.stop()
    assert.strictEqual(status, 0, run.stderr())
  }
  for (const optimized of optimizes) assert.strictEqual(optimized.status, 0, optimized.stderr)
  expect(optimizes.filter((o) => /compacted \d+ files/.test(o.stdout)).length).toBeGreaterThanOrEqual(2)
  assertStreamHealthy(run.stderr())

  // what the continuous run had not committed when it stopped, drained by an available-now run
  more(15)
  const drain = runCli([...args, "--trigger", "available-now"], secrets)
  assert.strictEqual(drain.status, 0, drain.stderr)
  const table = checkExactlyOnce(location, topic, produced, 2, store.deltaRs)
  const optimized = table.history.filter((h) => h.operation === "OPTIMIZE").map((h) => h.version)
  expect(optimized.length).toBeGreaterThanOrEqual(2)
  // the stream kept committing after an optimize landed: the two interleaved
  const streamed = table.history.filter((h) => h.operation === "STREAMING UPDATE").map((h) => h.version)
  expect(streamed.some((v) => v > Math.min(...optimized) && v < table.version)).toBe(true)
}

describe("optimize while a stream appends (real broker)", () => {
  it("on the local filesystem: every delivered offset exactly once, OPTIMIZE in the history, the stream unharmed", async () => {
    await optimizeWhileStreaming("local")
  }, 240_000)

  it("on S3: every delivered offset exactly once, OPTIMIZE in the history, the stream unharmed", async () => {
    await optimizeWhileStreaming("s3")
  }, 240_000)

  it("on Azure: every delivered offset exactly once, OPTIMIZE in the history, the stream unharmed", async () => {
    await optimizeWhileStreaming("azure")
  }, 240_000)
})

const autoCompactInARun = async (kind: "local" | "s3") => {
  const dir = tempDir("autocompact")
  const topic = `autocompact_${randomUUID().slice(0, 8)}`
  const store = await storeFor(kind, dir, { autoCompact: { everyCommits: 3, minSmallFiles: 3 } })
  const { environments, secrets } = store
  const location = store.location(topic)
  const args = ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic]
  const produced: Array<ProducedSummary["records"][number]> = []
  const more = (count: number) => produced.push(...produce({ topic, schema, count, start: produced.length, partitions: 2, dir }).records)

  more(40)
  const run = startCli([...args, "--trigger", "continuous"], secrets)
  try {
    expect(await run.commits(3)).toBeGreaterThanOrEqual(3)
    for (let round = 0; round < 4; round++) {
      more(30)
      await run.commits((run.stderr().match(/batch \d+ -> version/g) ?? []).length + 2)
    }
    const deadline = Date.now() + 30_000
    while (!/auto-compaction: \d+ small file/.test(run.stderr()) && run.running() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  } finally {
    const status = await run.stop()
    assert.strictEqual(status, 0, run.stderr())
  }
  assertStreamHealthy(run.stderr())
  expect(run.stderr()).toMatch(/auto-compaction: \d+ small file\(s\) became \d+ at version \d+/)

  const drain = runCli([...args, "--trigger", "available-now"], secrets)
  assert.strictEqual(drain.status, 0, drain.stderr)
  const table = checkExactlyOnce(location, topic, produced, 2, store.deltaRs)
  expect(table.history.some((h) => h.operation === "OPTIMIZE")).toBe(true)
  const commits = table.history.filter((h) => h.operation === "STREAMING UPDATE").length
  expect(table.files).toBeLessThan(commits)
}

describe("delta.autoCompact in a real run", () => {
  it("compacts while streaming: OPTIMIZE in the history, every offset once, fewer active files than commits", async () => {
    await autoCompactInARun("local")
  }, 240_000)

  it("on S3: compacts while streaming, every offset once, fewer active files than commits", async () => {
    await autoCompactInARun("s3")
  }, 240_000)
})

describe("optimize beside delta.autoCompact", () => {
  it("two compactors over the same files: a loser stops cleanly, the stream goes on, every offset once", async () => {
    const dir = tempDir("opt-auto")
    const topic = `optauto_${randomUUID().slice(0, 8)}`
    const store = await storeFor("local", dir, { autoCompact: { everyCommits: 2, minSmallFiles: 2 } })
    const location = store.location(topic)
    const args = ["run", "--environment", "It", "--environments-dir", store.environments, "--topic", topic]
    const produced: Array<ProducedSummary["records"][number]> = []
    const more = (count: number) => produced.push(...produce({ topic, schema, count, start: produced.length, partitions: 2, dir }).records)

    more(40)
    const run = startCli([...args, "--trigger", "continuous"])
    const optimizes: Array<{ status: number | null; stdout: string; stderr: string }> = []
    try {
      expect(await run.commits(3)).toBeGreaterThanOrEqual(3)
      for (let round = 0; round < 3; round++) {
        const optimizing = runAsync(["optimize", "--table", location])
        more(300)
        optimizes.push(await optimizing)
        assert.isTrue(run.running(), run.stderr())
      }
    } finally {
      const status = await run.stop()
      assert.strictEqual(status, 0, run.stderr())
    }
    for (const optimized of optimizes) {
      // a manual optimize either commits or, having lost its files to auto-compaction, stops without committing
      if (optimized.status !== 0) {
        assert.strictEqual(optimized.status, 1, optimized.stderr)
        expect(optimized.stderr).toMatch(/optimize of .* lost to version \d+, which already removed .*; nothing was committed: run optimize again/)
      }
    }
    assertStreamHealthy(run.stderr())
    expect(run.stderr()).toMatch(/auto-compaction: \d+ small file\(s\) became \d+ at version \d+/)

    const drain = runCli([...args, "--trigger", "available-now"])
    assert.strictEqual(drain.status, 0, drain.stderr)
    const table = checkExactlyOnce(location, topic, produced, 2)
    expect(table.history.filter((h) => h.operation === "OPTIMIZE").length).toBeGreaterThanOrEqual(2)
  }, 240_000)
})

describe("optimize and vacuum on S3", () => {
  it("optimize --table s3://... commits OPTIMIZE, delta-rs reads the same rows; vacuum finds exactly the removed files once expired", async () => {
    const dir = tempDir("opt-s3")
    const topic = `opts3_${randomUUID().slice(0, 8)}`
    const store = await storeFor("s3", dir)
    const { environments, bucket } = store
    const location = store.location(topic)
    const produced = produce({ topic, schema, count: 80, partitions: 2, dir }).records
    // batches of 10 records: many small files
    const run = runCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now"], s3Secrets)
    assert.strictEqual(run.status, 0, run.stderr)
    const before = checkExactlyOnce(location, topic, produced, 2, deltaRsOptions)
    expect(before.files).toBeGreaterThan(4)

    // delta-rs (another writer) sets a zero retention for removed files, so vacuum may take optimize's inputs at once
    const alter = spawnSync(python(), ["-c", [
      "import json, os, sys",
      "from deltalake import DeltaTable",
      "dt = DeltaTable(sys.argv[1], storage_options=json.loads(os.environ['DELTA_STORAGE_OPTIONS']))",
      "dt.alter.set_table_properties({'delta.deletedFileRetentionDuration': 'interval 0 seconds'})"
    ].join("\n"), location], { encoding: "utf8", env: { ...process.env, DELTA_STORAGE_OPTIONS: JSON.stringify(deltaRsOptions) } })
    assert.strictEqual(alter.status, 0, alter.stderr)
    const dataFiles = (await listKeys(bucket!, `lakehouse/it/raw/${topic}/`)).filter((key) => !key.includes("/_delta_log/"))
    assert.strictEqual(dataFiles.length, before.files)

    // the job's form reaches the store with the environment file's storage.s3 and its secrets
    const plan = runCli(["optimize", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--dry-run"], s3Secrets)
    assert.strictEqual(plan.status, 0, plan.stderr)
    expect(plan.stdout).toMatch(new RegExp(`^would compact ${before.files} files \\(\\d+ bytes\\) in \\(table root\\) into 1$`, "m"))
    assert.strictEqual(readTable(location, [], deltaRsOptions).version, before.version + 1, "a dry run commits nothing")

    const optimized = runCli(["optimize", "--table", location], awsVariables)
    assert.strictEqual(optimized.status, 0, optimized.stderr)
    expect(optimized.stdout).toMatch(/compacted \d+ files/)
    const after = checkExactlyOnce(location, topic, produced, 2, deltaRsOptions)
    assert.deepStrictEqual(
      [...after.rows].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1),
      [...before.rows].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)
    )
    assert.strictEqual(after.history.find((h) => h.version === after.version)?.operation, "OPTIMIZE")
    expect(after.files).toBeLessThan(before.files)

    // vacuum: exactly the files optimize removed are unreferenced now; none is older than the retention-hours (the
    // CLI's least is 1 hour), so a real vacuum deletes nothing yet and the table still reads
    const dry = runCli(["vacuum", "--table", location, "--dry-run"], awsVariables)
    assert.strictEqual(dry.status, 0, dry.stderr)
    const listed = dry.stdout.trim().split("\n").map((line) => /^would delete (\S+) /.exec(line)?.[1])
    assert.deepStrictEqual(listed.sort(), dataFiles.map((key) => key.slice(`lakehouse/it/raw/${topic}/`.length)).sort())
    const vacuum = runCli(["vacuum", "--table", location], awsVariables)
    assert.strictEqual(vacuum.status, 0, vacuum.stderr)
    const vacuumed = checkExactlyOnce(location, topic, produced, 2, deltaRsOptions)
    assert.strictEqual(vacuumed.numRows, produced.length)
  }, 240_000)
})
