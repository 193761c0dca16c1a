import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as NodePath from "node:path"
import * as CheckpointStoreFile from "../../layers/checkpoint-store/filesystem.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => Fs.mkdtemp(NodePath.join(Os.tmpdir(), "kd-ckpt-"))),
  (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
)

const plan = (batchId: number) => ({ batchId, topic: "t", ranges: [{ partition: 0, from: batchId * 10, until: batchId * 10 + 10 }], plannedAt: 1 })

describe("file CheckpointStore", () => {
  it.effect("an empty directory reads as no progress", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const state = yield* CheckpointStoreFile.make(NodePath.join(dir, "job")).read
      assert.isTrue(Option.isNone(state.lastPlan))
      assert.isTrue(Option.isNone(state.lastCommit))
    }))

  it.effect("plans and commits are read back, the latest by batch id, after reopening", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = CheckpointStoreFile.make(dir)
      for (let id = 0; id < 12; id++) {
        yield* store.plan(plan(id))
        yield* store.commit({ batchId: id, deltaVersion: id + 1, committedAt: 2 })
      }
      yield* store.plan(plan(12))
      const state = yield* CheckpointStoreFile.make(dir).read
      assert.deepStrictEqual(Option.getOrThrow(state.lastPlan), plan(12))
      assert.strictEqual(Option.getOrThrow(state.lastCommit).batchId, 11)
      assert.strictEqual(Option.getOrThrow(state.lastCommit).deltaVersion, 12)
      const files = yield* Effect.promise(() => Fs.readdir(NodePath.join(dir, "offsets")))
      assert.deepStrictEqual(files.sort(), ["0", "1", "10", "11", "12", "2", "3", "4", "5", "6", "7", "8", "9"])
    }))

  it.effect("a corrupt or half-written file is a typed error naming the file, never a restart from zero", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = CheckpointStoreFile.make(dir)
      yield* store.plan(plan(0))
      yield* store.commit({ batchId: 0, deltaVersion: 0, committedAt: 1 })
      const file = NodePath.join(dir, "offsets", "1")
      yield* Effect.promise(() => Fs.writeFile(file, `{"version":1,"batchId":1,"topic":"t","ran`))
      const error = yield* Effect.flip(store.read)
      assert.strictEqual(error._tag, "CheckpointCorruptError")
      expect(error.message).toContain(file)
      yield* Effect.promise(() => Fs.writeFile(file, ""))
      expect((yield* Effect.flip(store.read)).message).toContain("empty file")
      yield* Effect.promise(() => Fs.writeFile(file, `{"version":1,"batchId":"x"}`))
      assert.strictEqual((yield* Effect.flip(store.read))._tag, "CheckpointCorruptError")
    }))

  it.effect("temp files left by a crash mid-write are ignored", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = CheckpointStoreFile.make(dir)
      yield* store.plan(plan(3))
      yield* Effect.promise(() => Fs.writeFile(NodePath.join(dir, "offsets", ".4.123.456.tmp"), "{garbage"))
      assert.strictEqual(Option.getOrThrow((yield* store.read).lastPlan).batchId, 3)
    }))

  it.effect("a second holder of the checkpoint gets StreamAlreadyRunningError; a stale lock of a dead process is taken over", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = CheckpointStoreFile.make(dir)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* store.acquire
        const error = yield* Effect.flip(Effect.scoped(CheckpointStoreFile.make(dir).acquire))
        assert.strictEqual(error._tag, "StreamAlreadyRunningError")
        expect(error.message).toContain("stream already running")
      }))
      // released: can be taken again
      yield* Effect.scoped(store.acquire)
      // a lock left by a process that no longer exists
      const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString()
      yield* Effect.promise(() => Fs.writeFile(NodePath.join(dir, "lock"), JSON.stringify({ pid: Number(dead), host: Os.hostname() })))
      yield* Effect.scoped(store.acquire)
    }))
})
