/**
 * kafka-delta against the real local Kafka, registry and Azurite (Microsoft's Azure Storage emulator): a table
 * and its checkpoint on `az://` with the account key from the secret scope, read back by delta-rs with every
 * value equal; a second writer of the stream refused while the first runs; a restart after a SIGKILL exactly
 * once (the same on `abfss://`, with `storage.azure.endpoint` at Azurite); vacuum of an `az://` table by URL.
 */
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { assert, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { beforeAll } from "vitest"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, readTable, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"
import { appIdsOf, assertOrderRow, assertStreamedOnce, type ProducedRecord, refusedThenResumed, streamTwice } from "./support/streamed-table.ts"

/** Azurite's address and account, from `scripts/services.sh env`; missing ones fail the test, never skip it. */
const azurite = () => {
  const endpoint = process.env["KAFKA_DELTA_TEST_AZURE_ENDPOINT"] ?? ""
  const account = process.env["KAFKA_DELTA_TEST_AZURE_ACCOUNT"] ?? ""
  const key = process.env["KAFKA_DELTA_TEST_AZURE_KEY"] ?? ""
  if (endpoint === "" || account === "" || key === "") {
    throw new Error("Azure tests need Azurite: `set -a; eval \"$(bash scripts/services.sh env)\"; set +a` (KAFKA_DELTA_TEST_AZURE_ENDPOINT/ACCOUNT/KEY)")
  }
  return { endpoint, account, key }
}
const env = azurite()
/** What delta-rs needs to read from Azurite. */
const deltaRsOptions = { account_name: env.account, account_key: env.key, azure_storage_endpoint: env.endpoint, allow_http: "true" }
/** The secret of the environment's `storage.azure` section, as the env secret provider reads it. */
const secrets = { KAFKA_DELTA_SECRET_IT_AZURE_KEY: env.key }

beforeAll(() => {
  servicesEnv()
})

const newContainer = async (hint: string) => {
  const service = new BlobServiceClient(env.endpoint, new StorageSharedKeyCredential(env.account, env.key))
  const container = `kd-${hint}-${randomUUID().slice(0, 8)}`
  await service.getContainerClient(container).create()
  return container
}

/** The root URL of a container: `az://<container>`, or `abfss://<container>@<account>.dfs.core.windows.net` as Spark writes it. */
const rootOf = (container: string, scheme: "az" | "abfss") =>
  scheme === "az" ? `az://${container}` : `abfss://${container}@${env.account}.dfs.core.windows.net`

/** An environment on Azurite: `storage.azure.endpoint` points either form of URL at the emulator. */
const azureEnvironment = (dir: string, container: string, scheme: "az" | "abfss" = "az") =>
  writeEnvironment(dir, "It", {
    ...localEnvironment(dir),
    delta: { warehouse: `${rootOf(container, scheme)}/lakehouse`, catalog: "it", schema: "raw" },
    checkpoints: `${rootOf(container, scheme)}/checkpoints`,
    storage: { azure: { accountKey: { secret: "azure-key" }, endpoint: env.endpoint } }
  })

const checkTable = (location: string, topic: string, produced: ReadonlyArray<ProducedRecord>, partitions: number) =>
  assertStreamedOnce(readTable(location, appIdsOf(topic, partitions), deltaRsOptions), topic, produced, partitions, assertOrderRow)

describe("tables and checkpoints on Azure (Azurite)", () => {
  it("streams into an az:// table that delta-rs reads back, value for value; the account key stays hidden; vacuum --table az://", async () => {
    const dir = tempDir("az-e2e")
    const container = await newContainer("e2e")
    const topic = `aze2e_${randomUUID().slice(0, 8)}`
    const environments = azureEnvironment(dir, container)
    const location = `az://${container}/lakehouse/it/raw/${topic}`
    const args = ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic]
    const { run1, run2 } = streamTwice({ dir, topic, args, secrets, check: (produced, partitions) => checkTable(location, topic, produced, partitions) })
    expect(run1.stdout + run1.stderr + run2.stdout + run2.stderr).not.toContain(env.key)

    // vacuum by URL: an orphan data file (a batch that crashed before its commit) is found, the table's are not;
    // the account and key come from the Azure variables of the environment
    const service = new BlobServiceClient(env.endpoint, new StorageSharedKeyCredential(env.account, env.key))
    await service.getContainerClient(container).getBlockBlobClient(`lakehouse/it/raw/${topic}/part-00000-orphan.snappy.parquet`).upload("x", 1)
    const byUrl = runCli(["vacuum", "--table", location, "--dry-run"], { AZURE_STORAGE_ENDPOINT: env.endpoint, AZURE_STORAGE_KEY: env.key })
    assert.strictEqual(byUrl.status, 0, byUrl.stderr)
    expect(byUrl.stdout.trim().split("\n")).toEqual(["would delete part-00000-orphan.snappy.parquet (1 bytes)"])
    expect(byUrl.stdout + byUrl.stderr).not.toContain(env.key)
  })

  it("abfss:// (endpoint at Azurite): a second writer of the stream is refused while the first runs; after a SIGKILL of the first a restart resumes exactly once", async () => {
    const dir = tempDir("az-two")
    const container = await newContainer("two")
    const topic = `aztwo_${randomUUID().slice(0, 8)}`
    const environments = azureEnvironment(dir, container, "abfss")
    const args = ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic]
    // read back by delta-rs through the az:// form of the same place
    const location = `az://${container}/lakehouse/it/raw/${topic}`
    await refusedThenResumed(
      { dir, topic, args, secrets, check: (produced, partitions) => checkTable(location, topic, produced, partitions) },
      /stream already running: checkpoint abfss:\/\/.*\/checkpoints\/It_.* is held by process \d+/
    )
  })
})
