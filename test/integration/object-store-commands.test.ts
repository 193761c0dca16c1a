/**
 * The commands about one job's table and checkpoint on an object store (Azurite): `offsets`, `offsets set`,
 * `check`, `optimize --dry-run` and `migrate` each open the `az://` table and checkpoint by location, with the
 * environment's `storage.azure` credentials (or, for `--table`, the AZURE_STORAGE_* variables), as `run` does.
 */
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { Effect, Option, Redacted } from "effect"
import { beforeAll } from "vitest"
import * as DeltaSinkByLocation from "../../layers/delta-sink/by-location.ts"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, produce, readTable, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"

const schema = { type: "record", name: "Tick", namespace: "objcmd", fields: [{ name: "id", type: "long" }] }

const endpoint = process.env["KAFKA_DELTA_TEST_AZURE_ENDPOINT"] ?? ""
const account = process.env["KAFKA_DELTA_TEST_AZURE_ACCOUNT"] ?? ""
const key = process.env["KAFKA_DELTA_TEST_AZURE_KEY"] ?? ""
const secrets = { KAFKA_DELTA_SECRET_IT_AZURE_KEY: key }
const deltaRsOptions = { account_name: account, account_key: key, azure_storage_endpoint: endpoint, allow_http: "true" }

beforeAll(() => {
  servicesEnv()
  if (endpoint === "" || account === "" || key === "") throw new Error("Azure tests need Azurite's KAFKA_DELTA_TEST_AZURE_* variables (scripts/services.sh env)")
})

const newContainer = async (hint: string) => {
  const container = `kd-${hint}-${randomUUID().slice(0, 8)}`
  await new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, key)).getContainerClient(container).create()
  return container
}

const azureStorage = { azure: { accountKey: { secret: "azure-key" }, endpoint } }

describe("job commands on an az:// table and checkpoint", () => {
  // one run's table and checkpoint, shared by the tests below in order (offsets set last: it moves a position)
  const it_ = { container: "", topic: "", job: [] as Array<string>, location: "", tableVersion: 0 }
  beforeAll(async () => {
    const dir = tempDir("az-cmd")
    it_.container = await newContainer("cmd")
    it_.topic = `azcmd_${randomUUID().slice(0, 8)}`
    const environments = writeEnvironment(dir, "It", {
      ...localEnvironment(dir),
      delta: { warehouse: `az://${it_.container}/lakehouse`, catalog: "it", schema: "raw" },
      checkpoints: `az://${it_.container}/checkpoints`,
      storage: azureStorage
    })
    it_.job = ["--environment", "It", "--environments-dir", environments, "--topic", it_.topic]
    it_.location = `az://${it_.container}/lakehouse/it/raw/${it_.topic}`
    produce({ topic: it_.topic, schema, count: 300, partitions: 2, dir })
    const run = runCli(["run", ...it_.job, "--trigger", "available-now"], secrets)
    if (run.status !== 0) throw new Error(run.stderr)
  })

  it("offsets shows the table's positions", () => {
    const shown = runCli(["offsets", ...it_.job, "--json"], secrets)
    assert.strictEqual(shown.status, 0, shown.stderr)
    const standing = JSON.parse(shown.stdout)
    expect(typeof standing.tableVersion).toBe("number")
    it_.tableVersion = standing.tableVersion
    expect(standing.partitions).toEqual([
      { partition: 0, position: 150, earliest: 0, latest: 150, lag: 0 },
      { partition: 1, position: 150, earliest: 0, latest: 150, lag: 0 }
    ])
  })

  it("optimize --dry-run --table az://... lists a plan (key and endpoint from AZURE_STORAGE_*)", () => {
    const plan = runCli(["optimize", "--table", it_.location, "--dry-run"], { AZURE_STORAGE_ENDPOINT: endpoint, AZURE_STORAGE_KEY: key })
    assert.strictEqual(plan.status, 0, plan.stderr)
    expect(plan.stdout).toMatch(/^would compact \d+ files \(\d+ bytes\) in \(table root\) into 1$/m)
  })

  it("check exits 0, having read the table and taken the checkpoint's lock", () => {
    const check = runCli(["check", ...it_.job], secrets)
    assert.strictEqual(check.status, 0, check.stdout + check.stderr)
    expect(check.stdout).toMatch(/^ok   table \S+ version \d+: protocol reader/m)
    expect(check.stdout).toContain(`ok   checkpoint az://${it_.container}/checkpoints/It_${it_.topic} is free`)
    expect(check.stdout).toContain("partition 0: start at 150 (from the table), 0 records to read now")
    expect(check.stdout + check.stderr).not.toContain(key)
  })

  it("offsets set --yes moves a position under the checkpoint's lock", () => {
    const set = runCli(["offsets", "set", ...it_.job, "--partition", "0", "--offset", "100", "--yes"], secrets)
    assert.strictEqual(set.status, 0, set.stderr)
    expect(set.stdout).toContain(`written as table version ${it_.tableVersion + 1}`)
    assert.strictEqual(readTable(it_.location, [`It_${it_.topic}-p0`], deltaRsOptions).txn[`It_${it_.topic}-p0`], 100)
  })

  it.live("migrate continues a Spark checkpoint (local) into an az:// table", () =>
    Effect.gen(function*() {
      const dir = tempDir("az-migrate")
      const container = yield* Effect.promise(() => newContainer("mig"))
      const queryId = "0b6c8a52-5d2e-4a8e-9d1c-3f0e2b7a9c11"
      const environments = writeEnvironment(dir, "It", {
        ...localEnvironment(dir, { kafka: { topicPrefix: "uat." } }),
        delta: { warehouse: `az://${container}/lake`, catalog: "it", schema: "raw" },
        checkpoints: `az://${container}/checkpoints`,
        storage: azureStorage
      })
      const location = `az://${container}/lake/it/raw/orders`
      // the notebook's table, holding Spark batch 1
      const sink = yield* DeltaSinkByLocation.make({ storage: { s3: {}, azure: { accountKey: Redacted.make(key), endpoint } } })
      yield* sink.append({
        table: { name: "notebook", location },
        schema: new Arrow.Schema([new Arrow.Field("value", new Arrow.Struct([new Arrow.Field("id", new Arrow.Int64(), true)]), true)]),
        data: [],
        partitionBy: [],
        txns: [{ appId: queryId, version: 1, expected: undefined }],
        operationParameters: {}
      })
      const checkpoint = NodePath.join(dir, "spark-checkpoint")
      const put = (path: string, text: string) => {
        Fs.mkdirSync(NodePath.dirname(NodePath.join(checkpoint, path)), { recursive: true })
        Fs.writeFileSync(NodePath.join(checkpoint, path), text)
      }
      put("metadata", `{"id":"${queryId}"}`)
      put("sources/0/0", `v1\n{"uat.orders":{"0":0,"1":0}}`)
      for (const batch of [0, 1]) {
        put(`offsets/${batch}`, `v1\n{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}\n{"uat.orders":{"0":${10 * (batch + 1)},"1":${5 * (batch + 1)}}}`)
        put(`commits/${batch}`, `v1\n{"nextBatchWatermarkMs":0}`)
      }
      const result = runCli(["migrate", "--environment", "It", "--environments-dir", environments, "--topic", "orders", "--from-spark-checkpoint", checkpoint, "--no-watch"], secrets)
      assert.strictEqual(result.status, 0, result.stderr)
      expect(result.stdout).toContain("migrated: commit 1 of")
      const txns = yield* sink.txnVersions({ name: "notebook", location }, "")
      assert.deepStrictEqual([...txns].sort(), [[queryId, 1], ["It_orders-p0", 20], ["It_orders-p1", 10]])
      assert.isTrue(Option.isSome(yield* sink.schema({ name: "notebook", location })))
    }).pipe(Effect.scoped), 120_000)
})
