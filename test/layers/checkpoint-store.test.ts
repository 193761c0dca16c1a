import { assert, describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import { spawn, spawnSync } from "node:child_process"
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

  const writeLock = (dir: string, fields: Record<string, unknown>) =>
    Effect.promise(() => Fs.writeFile(NodePath.join(dir, "lock"), JSON.stringify({ version: 1, token: "old", acquiredAt: 0, renewedAt: 0, ...fields })))
  const readLock = (dir: string) =>
    Effect.promise(async () => JSON.parse(await Fs.readFile(NodePath.join(dir, "lock"), "utf8")) as { token: string; renewedAt: number; expiresAt: number })

  it.effect("a lock naming our own pid and host (an earlier incarnation, like a restarted container's pid 1) is taken over", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const now = yield* Clock.currentTimeMillis
      yield* writeLock(dir, { pid: process.pid, host: Os.hostname(), expiresAt: now + 3_600_000 })
      const store = CheckpointStoreFile.make(dir)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* store.acquire
        assert.notStrictEqual((yield* readLock(dir)).token, "old")
        // while this run holds it, another run in this same process is refused, although the pid is the same
        const error = yield* Effect.flip(Effect.scoped(CheckpointStoreFile.make(dir).acquire))
        assert.strictEqual(error._tag, "StreamAlreadyRunningError")
      }))
    }))

  it.effect("a lock from another host is taken over once its lease expired, and refused naming the holder while it runs", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const now = yield* Clock.currentTimeMillis
      yield* writeLock(dir, { pid: 4242, host: "other-host", expiresAt: now - 1 })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* CheckpointStoreFile.make(dir).acquire
        assert.notStrictEqual((yield* readLock(dir)).token, "old")
      }))
      yield* writeLock(dir, { pid: 4242, host: "other-host", expiresAt: now + 30_000 })
      const error = yield* Effect.flip(Effect.scoped(CheckpointStoreFile.make(dir).acquire))
      assert.strictEqual(error._tag, "StreamAlreadyRunningError")
      expect(error.message).toContain("process 4242 on other-host (lease expires in 30s")
    }))

  it.live("an empty lock file is not removed as stale until it is a lease old", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.promise(() => Fs.writeFile(NodePath.join(dir, "lock"), ""))
      const error = yield* Effect.flip(Effect.scoped(CheckpointStoreFile.make(dir).acquire))
      assert.strictEqual(error._tag, "StreamAlreadyRunningError")
      const old = new Date(Date.now() - 60_000)
      yield* Effect.promise(() => Fs.utimes(NodePath.join(dir, "lock"), old, old))
      yield* Effect.scoped(CheckpointStoreFile.make(dir).acquire)
    }))

  it.live("the lock is never seen empty or partial: another process reading it meanwhile sees whole leases only", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const lock = NodePath.join(dir, "lock")
      // a reader in its own process, so its reads interleave with every step of the writer's system calls
      const reader = spawn(process.execPath, ["-e", `
        const fs = require("node:fs")
        const partial = []
        let seen = 0
        const until = Date.now() + 60000
        while (!fs.existsSync(${JSON.stringify(NodePath.join(dir, "stop"))}) && Date.now() < until) {
          let text
          try { text = fs.readFileSync(${JSON.stringify(lock)}, "utf8") } catch { continue }
          seen++
          try { JSON.parse(text) } catch { partial.push(text) }
        }
        process.stdout.write(JSON.stringify({ seen, partial }))
      `])
      let out = ""
      reader.stdout.on("data", (chunk) => (out += String(chunk)))
      const exited = new Promise((resolve) => reader.on("exit", resolve))
      const store = CheckpointStoreFile.make(dir)
      for (let round = 0; round < 200; round++) yield* Effect.scoped(store.acquire)
      yield* Effect.promise(() => Fs.writeFile(NodePath.join(dir, "stop"), ""))
      yield* Effect.promise(() => exited)
      const { seen, partial } = JSON.parse(out) as { seen: number; partial: Array<string> }
      assert.isAbove(seen, 0)
      assert.deepStrictEqual(partial, [])
    }))

  it.effect("the holder renews its lease; a lost lease stops plan and commit, and release leaves the new holder's lock", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = CheckpointStoreFile.make(dir, { renewInterval: "1 second", leaseDuration: "3 seconds" })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* store.acquire
        const start = yield* Clock.currentTimeMillis
        const first = yield* readLock(dir)
        assert.strictEqual(first.expiresAt, start + 3000)
        yield* TestClock.adjust("1 second")
        const renewed = yield* readLock(dir)
        assert.strictEqual(renewed.token, first.token)
        assert.strictEqual(renewed.renewedAt, start + 1000)
        assert.strictEqual(renewed.expiresAt, start + 4000)
        yield* store.plan(plan(0))
        // another process takes the lock over (say this one stalled past its lease)
        yield* writeLock(dir, { token: "usurper", pid: 4242, host: "other-host", expiresAt: start + 60_000 })
        yield* TestClock.adjust("1 second")
        const error = yield* Effect.flip(store.plan(plan(1)))
        assert.strictEqual(error._tag, "CheckpointLeaseLostError")
        expect(error.message).toContain("process 4242 on other-host")
        assert.strictEqual((yield* Effect.flip(store.commit({ batchId: 0, deltaVersion: 0, committedAt: 1 })))._tag, "CheckpointLeaseLostError")
        assert.strictEqual((yield* Effect.flip(store.read))._tag, "CheckpointLeaseLostError")
      }))
      assert.strictEqual((yield* readLock(dir)).token, "usurper")
      const files = yield* Effect.promise(() => Fs.readdir(NodePath.join(dir, "offsets")))
      assert.deepStrictEqual(files, ["0"])
    }))

  it.effect("a lock file removed under its holder is a lost lease, once a second look finds it still gone", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = CheckpointStoreFile.make(dir, { renewInterval: "1 second", leaseDuration: "3 seconds" })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* store.acquire
        yield* Effect.promise(() => Fs.rm(NodePath.join(dir, "lock")))
        yield* TestClock.adjust("1 second")
        yield* store.plan(plan(0))
        yield* TestClock.adjust("100 millis")
        const error = yield* Effect.flip(store.plan(plan(1)))
        assert.strictEqual(error._tag, "CheckpointLeaseLostError")
        expect(error.message).toContain("the lock file is gone")
      }))
    }))

  it.live("processes racing to take over one stale lock: exactly one wins", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* writeLock(dir, { pid: 4242, host: "other-host", expiresAt: Date.now() - 1 })
      const go = NodePath.join(dir, "go")
      // each contender starts, says it is ready, waits for `go` without yielding, then races for the lock
      const contender = `
        import * as Fs from "node:fs"
        import { Effect } from "effect"
        import * as Store from ${JSON.stringify(NodePath.join(import.meta.dirname, "../../layers/checkpoint-store/filesystem.ts"))}
        await new Promise((resolve) => process.stdout.write("ready\\n", resolve))
        while (!Fs.existsSync(${JSON.stringify(go)})) {}
        const outcome = await Effect.runPromise(Effect.scoped(
          Store.make(${JSON.stringify(dir)}).acquire.pipe(Effect.andThen(Effect.sleep("1500 millis")), Effect.as("won"), Effect.catchTag("StreamAlreadyRunningError", () => Effect.succeed("refused")))
        ))
        process.stdout.write("\\n" + outcome)
      `
      const outcomes = yield* Effect.promise(async () => {
        const children = Array.from({ length: 4 }, () => {
          const child = spawn(process.execPath, ["--input-type=module", "-e", contender], { cwd: NodePath.join(import.meta.dirname, "../..") })
          let out = ""
          let err = ""
          child.stderr.on("data", (chunk) => (err += String(chunk)))
          const done = new Promise<string>((resolve) => child.on("exit", () => resolve(out.trim().split("\n").at(-1) ?? `failed: ${err}`)))
          // a contender that fails before it is ready must not hang the test
          const ready = new Promise<void>((resolve) => {
            child.stdout.on("data", (chunk) => {
              out += String(chunk)
              if (out.includes("ready")) resolve()
            })
            void done.then(() => resolve())
          })
          return { ready, done }
        })
        await Promise.all(children.map((c) => c.ready))
        Fs.writeFile(go, "")
        return Promise.all(children.map((c) => c.done))
      })
      assert.deepStrictEqual([...outcomes].sort(), ["refused", "refused", "refused", "won"])
    }))
})
