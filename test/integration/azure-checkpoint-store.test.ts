/**
 * The object-store CheckpointStore on Azure (Azurite): the storage's conditional replace (`If-Match` on the blob's
 * ETag) and the lease it makes race-free — of two processes taking over one stale lease, exactly one wins.
 */
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { assert, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import * as Os from "node:os"
import { Deferred, Effect, Option, Redacted, Result } from "effect"
import * as ObjectStore from "../../layers/checkpoint-store/object-store.ts"
import { makeAzureStorage, parseAzureUrl } from "../../layers/storage/azure.ts"
import { encodeLease } from "../../src/checkpoint/lease.ts"
import type { DeltaStorage } from "../../src/delta/storage.ts"

const endpoint = process.env["KAFKA_DELTA_TEST_AZURE_ENDPOINT"] ?? ""
const account = process.env["KAFKA_DELTA_TEST_AZURE_ACCOUNT"] ?? ""
const key = process.env["KAFKA_DELTA_TEST_AZURE_KEY"] ?? ""

const bytes = (text: string) => new TextEncoder().encode(text)

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

const staleLease = () => bytes(encodeLease({ pid: 4242, host: "other-host", token: "old", acquiredAt: 0, renewedAt: 0, expiresAt: Date.now() - 1 }))

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
    Effect.gen(function*() {
      const storage = yield* checkpointStorage("ck-lock")
      yield* Effect.scoped(Effect.gen(function*() {
        yield* ObjectStore.make(storage).acquire
        const error = yield* Effect.flip(Effect.scoped(ObjectStore.make(storage).acquire))
        assert.strictEqual(error._tag, "StreamAlreadyRunningError")
        expect(error.message).toContain(`process ${process.pid} on ${Os.hostname()}`)
      }))
      assert.isTrue(Option.isNone(yield* storage.read("lock")))
    }))

  it.live("of two processes taking over one stale lease at the same moment, exactly one wins (If-Match)", () =>
    Effect.gen(function*() {
      const storage = yield* checkpointStorage("ck-race")
      yield* storage.write("lock", staleLease())
      // both takers read the stale lease (by whichever read the store offers) before either acts on it; the second
      // then lets the first finish its takeover before it acts on what it read (the window a real race has)
      const bothRead = yield* Deferred.make<void>()
      let reads = 0
      const rendezvous = Effect.suspend(() =>
        ++reads === 2
          ? Effect.andThen(Deferred.succeed(bothRead, undefined), Effect.sleep("300 millis"))
          : reads < 2
          ? Deferred.await(bothRead)
          : Effect.void
      )
      const racing: DeltaStorage = {
        ...storage,
        read: (path) => Effect.tap(storage.read(path), () => (path === "lock" ? rendezvous : Effect.void)),
        // as the store has it: without conditional replace the lease falls back to delete-then-create
        versioned: (storage as DeltaStorage).versioned === undefined ? undefined : {
          ...storage.versioned,
          readVersion: (path) => Effect.tap(storage.versioned.readVersion(path), () => rendezvous)
        }
      }
      const taker = Effect.scoped(Effect.as(Effect.andThen(ObjectStore.make(racing).acquire, Effect.sleep("500 millis")), "won"))
      const outcomes = yield* Effect.all([Effect.exit(taker), Effect.exit(taker)], { concurrency: 2 })
      assert.strictEqual(outcomes.filter((exit) => exit._tag === "Success").length, 1, JSON.stringify(outcomes))
    }))
})
