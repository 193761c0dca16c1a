/**
 * The object-store CheckpointStore on Azure (Azurite): the storage's conditional replace (`If-Match` on the blob's
 * ETag) and the lease it makes race-free — of two processes taking over one stale lease, exactly one wins.
 */
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { assert, describe, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { Effect, Option, Redacted, Result } from "effect"
import { makeAzureStorage, parseAzureUrl } from "../../layers/storage/azure.ts"
import { assertOneHolderAtATime, assertOneTakerWins, bytes } from "./support/checkpoint-lease.ts"

const endpoint = process.env["KAFKA_DELTA_TEST_AZURE_ENDPOINT"] ?? ""
const account = process.env["KAFKA_DELTA_TEST_AZURE_ACCOUNT"] ?? ""
const key = process.env["KAFKA_DELTA_TEST_AZURE_KEY"] ?? ""

/** A checkpoint location in a fresh container on Azurite; missing Azurite variables fail the test. */
const checkpointStorage = (hint: string) =>
  Effect.promise(async () => {
    if (endpoint === "" || account === "" || key === "") throw new Error("Azure tests need Azurite's KAFKA_DELTA_TEST_AZURE_* variables (scripts/services.sh env)")
    const container = `kd-${hint}-${randomUUID().slice(0, 8)}`
    await new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, key)).getContainerClient(container).create()
    const location = parseAzureUrl(`az://${container}/checkpoints/UAT_orders`)
    if (Result.isFailure(location)) throw new Error(location.failure)
    return makeAzureStorage(location.success, { table: "checkpoint", endpoint, accountKey: Redacted.make(key) })
  })

describe("object-store CheckpointStore (Azure)", () => {
  it.live("replaceIfVersion replaces only the version read (If-Match on the ETag), and not a deleted blob", () =>
    Effect.gen(function*() {
      const storage = yield* checkpointStorage("ck-ver")
      assert.isTrue(Option.isNone(yield* storage.versioned.readVersion("lock")))
      yield* storage.write("lock", bytes("first"))
      const read = Option.getOrThrow(yield* storage.versioned.readVersion("lock"))
      assert.strictEqual(new TextDecoder().decode(read.data), "first")
      assert.isTrue(yield* storage.versioned.replaceIfVersion("lock", bytes("second"), read.version))
      assert.isFalse(yield* storage.versioned.replaceIfVersion("lock", bytes("third"), read.version))
      assert.deepStrictEqual(Option.map(yield* storage.read("lock"), (d) => new TextDecoder().decode(d)), Option.some("second"))
      const now = Option.getOrThrow(yield* storage.versioned.readVersion("lock"))
      yield* storage.delete("lock")
      assert.isFalse(yield* storage.versioned.replaceIfVersion("lock", bytes("fourth"), now.version))
      assert.isTrue(Option.isNone(yield* storage.read("lock")))
    }))

  it.live("one holder at a time: a second acquire is refused naming the holder; release frees the lock", () =>
    Effect.flatMap(checkpointStorage("ck-lock"), assertOneHolderAtATime))

  it.live("of two processes taking over one stale lease at the same moment, exactly one wins (If-Match)", () =>
    Effect.flatMap(checkpointStorage("ck-race"), assertOneTakerWins))
})
