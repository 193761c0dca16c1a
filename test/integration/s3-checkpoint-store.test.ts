import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { spawn } from "node:child_process"
import * as NodePath from "node:path"
import * as ObjectStore from "../../layers/checkpoint-store/object-store.ts"
import { s3Storage } from "../../layers/storage/s3.ts"
import { encodeLease } from "../../src/checkpoint/lease.ts"
import { assertOneHolderAtATime, assertOneTakerWins, bytes, otherHostLease } from "./support/checkpoint-lease.ts"
import { freshBucket, testS3Client, testS3Settings } from "./support/s3.ts"

const plan = (batchId: number) => ({ batchId, topic: "t", ranges: [{ partition: 0, from: batchId * 10, until: batchId * 10 + 10 }], plannedAt: 1 })

const checkpointStorage = (hint: string) =>
  Effect.gen(function*() {
    const client = yield* testS3Client
    const bucket = yield* freshBucket(client, hint)
    return s3Storage({ _tag: "S3", scheme: "s3", bucket, prefix: "checkpoints/UAT_orders" }, { table: "checkpoint", client })
  })

const lockOf = (storage: ReturnType<typeof s3Storage>) =>
  Effect.map(storage.read("lock"), (data) => Option.map(data, (d) => JSON.parse(new TextDecoder().decode(d)) as { token: string; expiresAt: number; renewedAt: number }))

describe("object-store CheckpointStore (S3)", () => {
  it.live("plans and commits are read back, the latest by batch id, after reopening", () =>
    Effect.gen(function*() {
      const storage = yield* checkpointStorage("ck-rw")
      const store = ObjectStore.make(storage)
      assert.isTrue(Option.isNone((yield* store.read).lastPlan))
      for (let id = 0; id < 12; id++) {
        yield* store.plan(plan(id))
        yield* store.commit({ batchId: id, deltaVersion: id + 1, committedAt: 2 })
      }
      yield* store.plan(plan(12))
      const state = yield* ObjectStore.make(storage).read
      assert.strictEqual(Option.getOrThrow(state.lastPlan).batchId, 12)
      assert.strictEqual(Option.getOrThrow(state.lastCommit).deltaVersion, 12)
      yield* storage.write("commits/13", bytes("{not json"))
      const error = yield* Effect.flip(store.read)
      assert.strictEqual(error._tag, "CheckpointCorruptError")
      expect(error.message).toContain(`${storage.location}/commits/13 is corrupt`)
    }))

  it.live("one holder at a time: a second acquire is refused naming the holder; release frees the lock", () =>
    Effect.flatMap(checkpointStorage("ck-lock"), assertOneHolderAtATime))

  it.live("a lease of another host is taken over once expired (conditionally), refused while it runs", () =>
    Effect.gen(function*() {
      const storage = yield* checkpointStorage("ck-stale")
      yield* storage.write("lock", otherHostLease(Date.now() + 30_000))
      const error = yield* Effect.flip(Effect.scoped(ObjectStore.make(storage).acquire))
      expect(error.message).toContain("process 4242 on other-host (lease expires in 30s")
      yield* storage.write("lock", otherHostLease())
      yield* Effect.scoped(Effect.gen(function*() {
        yield* ObjectStore.make(storage).acquire
        assert.notStrictEqual(Option.getOrThrow(yield* lockOf(storage)).token, "old")
      }))
    }))

  it.live("of two processes taking over one stale lease at the same moment, exactly one wins (If-Match)", () =>
    Effect.flatMap(checkpointStorage("ck-race"), assertOneTakerWins))

  it.live("the holder renews its lease; a lost lease stops plan and commit", () =>
    Effect.gen(function*() {
      const storage = yield* checkpointStorage("ck-renew")
      const store = ObjectStore.make(storage, { renewInterval: "300 millis", leaseDuration: "900 millis" })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* store.acquire
        const first = Option.getOrThrow(yield* lockOf(storage))
        yield* Effect.sleep("800 millis")
        const renewed = Option.getOrThrow(yield* lockOf(storage))
        assert.strictEqual(renewed.token, first.token)
        assert.isAbove(renewed.expiresAt, first.expiresAt)
        yield* store.plan(plan(0))
        yield* storage.write("lock", bytes(encodeLease({ pid: 4242, host: "other-host", token: "usurper", acquiredAt: 0, renewedAt: 0, expiresAt: Date.now() + 60_000 })))
        yield* Effect.sleep("700 millis")
        const error = yield* Effect.flip(store.plan(plan(1)))
        assert.strictEqual(error._tag, "CheckpointLeaseLostError")
        expect(error.message).toContain("it is now held by process 4242 on other-host")
      }))
      // release left the new holder's lock alone
      assert.strictEqual(Option.getOrThrow(yield* lockOf(storage)).token, "usurper")
    }))

  it.live("after a SIGKILL of the holder on this host, a restart takes the lock at once (its pid is dead)", () =>
    Effect.gen(function*() {
      const storage = yield* checkpointStorage("ck-kill")
      const bucket = storage.location.slice("s3://".length).split("/")[0]!
      const child = spawn(process.execPath, [NodePath.join(import.meta.dirname, "support/hold-s3-lease.ts"), bucket, "checkpoints/UAT_orders"], {
        env: { ...process.env, KAFKA_DELTA_TEST_S3_ENDPOINT: testS3Settings.endpoint }, stdio: ["ignore", "pipe", "inherit"]
      })
      yield* Effect.promise(() => new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk) => String(chunk).includes("held") && resolve())
        child.on("exit", (code) => reject(new Error(`holder exited ${code}`)))
      }))
      const error = yield* Effect.flip(Effect.scoped(ObjectStore.make(storage).acquire))
      assert.strictEqual(error._tag, "StreamAlreadyRunningError")
      child.kill("SIGKILL")
      yield* Effect.promise(() => new Promise((resolve) => child.on("exit", resolve)))
      const started = Date.now()
      // the lease still has ~20 s to run: the takeover is at once because the holder's pid is gone
      yield* Effect.scoped(ObjectStore.make(storage).acquire)
      assert.isBelow(Date.now() - started, 5_000)
    }), 30_000)
})
