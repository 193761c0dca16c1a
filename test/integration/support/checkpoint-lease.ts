/**
 * The lease checks every object store's CheckpointStore must pass (S3 and Azure alike): one holder at a time, and
 * of two processes taking over one stale lease at the same moment exactly one wins.
 */
import { assert, expect } from "@effect/vitest"
import { Deferred, Effect, Option } from "effect"
import * as Os from "node:os"
import * as ObjectStore from "../../../layers/checkpoint-store/object-store.ts"
import { encodeLease } from "../../../src/checkpoint/lease.ts"
import type { DeltaStorage } from "../../../src/delta/storage.ts"
import type { DeltaStorageError } from "../../../src/services/DeltaSink.ts"

/** The text as bytes. */
export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

/** A lock held by process 4242 on another host (token `old`) whose lease ends at `expiresAt` (default: just ended). */
export const otherHostLease = (expiresAt = Date.now() - 1): Uint8Array =>
  bytes(encodeLease({ pid: 4242, host: "other-host", token: "old", acquiredAt: 0, renewedAt: 0, expiresAt }))

/** A second acquire is refused naming this process while the first holds the lock; release frees it for the next. */
export const assertOneHolderAtATime = (storage: DeltaStorage): Effect.Effect<void, unknown> =>
  Effect.gen(function*() {
    yield* Effect.scoped(Effect.gen(function*() {
      yield* ObjectStore.make(storage).acquire
      const error = yield* Effect.flip(Effect.scoped(ObjectStore.make(storage).acquire))
      assert.strictEqual(error._tag, "StreamAlreadyRunningError")
      expect(error.message).toContain(`process ${process.pid} on ${Os.hostname()}`)
    }))
    assert.isTrue(Option.isNone(yield* storage.read("lock")))
    yield* Effect.scoped(ObjectStore.make(storage).acquire)
  })

/**
 * Of two takers of one stale lease, exactly one wins. Both read the stale lease (by whichever read the store
 * offers) before either acts on it; the second then lets the first finish its takeover before it acts on what
 * it read (the window a real race has).
 */
export const assertOneTakerWins = (storage: DeltaStorage): Effect.Effect<void, DeltaStorageError> =>
  Effect.gen(function*() {
    yield* storage.write("lock", otherHostLease())
    const bothRead = yield* Deferred.make<void>()
    let reads = 0
    const rendezvous = Effect.suspend(() =>
      ++reads === 2
        ? Effect.andThen(Deferred.succeed(bothRead, undefined), Effect.sleep("300 millis"))
        : reads < 2
        ? Deferred.await(bothRead)
        : Effect.void
    )
    const versioned = storage.versioned
    const racing: DeltaStorage = {
      ...storage,
      read: (path) => Effect.tap(storage.read(path), () => (path === "lock" ? rendezvous : Effect.void)),
      // as the store has it: without conditional replace the lease falls back to delete-then-create
      versioned: versioned === undefined ? undefined : {
        ...versioned,
        readVersion: (path) => Effect.tap(versioned.readVersion(path), () => rendezvous)
      }
    }
    const taker = Effect.scoped(Effect.as(Effect.andThen(ObjectStore.make(racing).acquire, Effect.sleep("500 millis")), "won"))
    const outcomes = yield* Effect.all([Effect.exit(taker), Effect.exit(taker)], { concurrency: 2 })
    assert.strictEqual(outcomes.filter((exit) => exit._tag === "Success").length, 1, JSON.stringify(outcomes))
  })
