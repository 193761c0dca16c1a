/**
 * What lands between a sink's plan and its commit: a winner that changes the table's layout (in memory, the
 * competing commit written just before ours is published); and a commit whose outcome is unknown because storage
 * failed after the log entry became visible.
 */
import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import type * as fs from "node:fs"
import fsModule from "node:fs"
import { syncBuiltinESMExports } from "node:module"
import * as path from "node:path"
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import { localStorage, makeWith } from "../../layers/delta-sink/filesystem.ts"
import { DeltaStorageError } from "../../src/services/DeltaSink.ts"
import { tempDir } from "./support.ts"
import { type Action, commitPath, serializeActions } from "../../src/delta/actions.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { type DeltaStorage, makeMemoryFiles, type MemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import type { Metadata, Protocol } from "../../src/delta/actions.ts"

const schema = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true), new Arrow.Field("k", new Arrow.Utf8(), true)])
const batch = (from: number, n: number) =>
  tableOf(schema, Array.from({ length: n }, (_, i) => ({ id: BigInt(from + i), k: `k${(from + i) % 2}` })))
const table = { name: "races", location: "mem/races" }

/**
 * Storage over `files` whose next commit attempt first lets `winner` commit at the same version (armed by
 * setting `race.next`).
 */
const racingStorage = (files: MemoryFiles) => {
  const race: { next: ((metadata: Metadata) => Metadata) | undefined; protocol: Protocol | undefined } = { next: undefined, protocol: undefined }
  const inner = memoryStorage(table.name, table.location, files)
  const storage: DeltaStorage = {
    ...inner,
    putIfAbsent: (path, data, options) =>
      Effect.gen(function*() {
        const change = race.next
        if (change !== undefined && path.startsWith("_delta_log/") && path.endsWith(".json")) {
          race.next = undefined
          const current = Option.getOrThrow(yield* Effect.orDie(readSnapshot(inner)))
          const winner: Array<Action> = [
            { commitInfo: { operation: "WRITE", engineInfo: "winner" } },
            { metaData: change(current.metadata) },
            ...(race.protocol === undefined ? [] : [{ protocol: race.protocol }]),
            ...[...current.files.keys()].map((file): Action => ({ remove: { path: file, deletionTimestamp: 0, dataChange: true } }))
          ]
          assert.strictEqual(path, commitPath(current.version + 1))
          yield* inner.putIfAbsent(path, new TextEncoder().encode(serializeActions(winner)))
        }
        return yield* inner.putIfAbsent(path, data, options)
      })
  }
  return { storage, race }
}

const append = (sink: Effect.Success<ReturnType<typeof makeWith>>, from: number, version: number) =>
  sink.append({
    table,
    schema,
    data: [batch(from, 4)],
    partitionBy: [],
    txns: [{ appId: "s-0", version, expected: version === 1 ? undefined : version - 1 }],
    operationParameters: {}
  })

describe("a re-plan after a lost race", () => {
  const cases = [
    { name: "changes the partition columns", change: (m: Metadata) => ({ ...m, partitionColumns: ["k"] }), says: "partition columns [] -> [k]" },
    { name: "replaces the table (new metaData.id)", change: (m: Metadata) => ({ ...m, id: crypto.randomUUID() }), says: "the table was replaced" }
  ]
  for (const c of cases) {
    it.live(`a winner that ${c.name}: ConcurrentTableChangeError, our files are not committed`, () =>
      Effect.gen(function*() {
        const files = makeMemoryFiles()
        const { race, storage } = racingStorage(files)
        const sink = yield* makeWith(() => storage)
        yield* append(sink, 0, 1)
        race.next = c.change
        const error = yield* Effect.flip(append(sink, 10, 2))
        assert.strictEqual(error._tag, "ConcurrentTableChangeError")
        assert.include(error.message, c.says)
        assert.include(error.message, "races")
        const after = Option.getOrThrow(yield* readSnapshot(memoryStorage(table.name, table.location, files)))
        assert.strictEqual(after.version, 1, "only the winner's commit after ours")
        assert.strictEqual(after.files.size, 0)
        assert.strictEqual(after.txns.get("s-0")?.version, 1)
      }))
  }

  it.live("a winner that turns on deletion vectors: UnsupportedTableError, nothing committed", () =>
    Effect.gen(function*() {
      const files = makeMemoryFiles()
      const { race, storage } = racingStorage(files)
      const sink = yield* makeWith(() => storage)
      yield* append(sink, 0, 1)
      race.protocol = { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ["deletionVectors"], writerFeatures: ["deletionVectors"] }
      race.next = (m) => ({ ...m, configuration: { ...m.configuration, "delta.enableDeletionVectors": "true" } })
      const error = yield* Effect.flip(append(sink, 10, 2))
      assert.strictEqual(error._tag, "UnsupportedTableError")
      assert.include(error.message, "deletionVectors")
      // the winner took version 1; ours was not written at 2
      assert.isTrue(files.files.has(`${table.location}/${commitPath(1)}`))
      assert.isFalse(files.files.has(`${table.location}/${commitPath(2)}`))
    }))

  it.live("a winner that changes only the configuration is re-planned and committed on", () =>
    Effect.gen(function*() {
      const files = makeMemoryFiles()
      const { race, storage } = racingStorage(files)
      const sink = yield* makeWith(() => storage)
      yield* append(sink, 0, 1)
      race.next = (m) => ({ ...m, configuration: { ...m.configuration, "delta.checkpointInterval": "50" } })
      const result = yield* append(sink, 10, 2)
      assert.strictEqual(result.version, 2)
    }))
})

describe("an ambiguous commit: the log entry landed, then storage failed", () => {
  it.live("the directory flush after the link fails: the commit is recognised as ours and succeeds", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "t")
      const sink = yield* makeWith(() => localStorage(location, table.name))
      const on = { ...table, location }
      const appendTo = (from: number, version: number) =>
        sink.append({
          table: on,
          schema,
          data: [batch(from, 4)],
          partitionBy: [],
          txns: [{ appId: "s-0", version, expected: version === 1 ? undefined : version - 1 }],
          operationParameters: {}
        })
      yield* appendTo(0, 1)
      const logDir = path.join(location, "_delta_log")
      const directories = new Set<number>()
      let failures = 0
      const openSync = fsModule.openSync
      const fsyncSync = fsModule.fsyncSync
      const open = vi.spyOn(fsModule, "openSync").mockImplementation(((...args: Parameters<typeof fs.openSync>) => {
        const fd = openSync(...args)
        if (String(args[0]) === logDir) directories.add(fd)
        return fd
      }) as typeof fs.openSync)
      const fsync = vi.spyOn(fsModule, "fsyncSync").mockImplementation((fd: number) => {
        if (directories.has(fd) && failures++ === 0) throw Object.assign(new Error("EAGAIN: resource temporarily unavailable, fsync"), { code: "EAGAIN" })
        fsyncSync(fd)
      })
      syncBuiltinESMExports()
      const result = yield* appendTo(10, 2).pipe(
        Effect.ensuring(Effect.sync(() => {
          open.mockRestore()
          fsync.mockRestore()
          syncBuiltinESMExports()
        }))
      )
      assert.strictEqual(failures, 1, "the log directory's flush failed once")
      assert.strictEqual(result.version, 1)
      assert.strictEqual(result.rows, 4)
      assert.strictEqual((yield* appendTo(20, 3)).version, 2)
    }))

  it.live("the read-back fails too: the retry of the same append finds its own commit instead of ConcurrentStreamError", () =>
    Effect.gen(function*() {
      const files = makeMemoryFiles()
      const inner = memoryStorage(table.name, table.location, files)
      const fault = { armed: false, unreadable: "" }
      const flaky = (file: string) =>
        new DeltaStorageError({ table: table.name, path: file, reason: "EAGAIN injected", transient: true })
      const storage: DeltaStorage = {
        ...inner,
        read: (file) => file === fault.unreadable ? (fault.unreadable = "", Effect.fail(flaky(file))) : inner.read(file),
        putIfAbsent: (file, data, options) =>
          Effect.gen(function*() {
            const created = yield* inner.putIfAbsent(file, data, options)
            if (!fault.armed || !file.startsWith("_delta_log/")) return created
            fault.armed = false
            fault.unreadable = file
            return yield* flaky(file)
          })
      }
      const sink = yield* makeWith(() => storage)
      yield* append(sink, 0, 1)
      fault.armed = true
      const failed = yield* Effect.flip(append(sink, 10, 2))
      assert.strictEqual(failed._tag, "DeltaStorageError")
      const retried = yield* append(sink, 10, 2)
      assert.strictEqual(retried.version, 1)
      assert.strictEqual(retried.rows, 4)
      const after = Option.getOrThrow(yield* readSnapshot(inner))
      assert.strictEqual(after.version, 1, "committed once")
      assert.strictEqual(after.files.size, 2)
      assert.strictEqual((yield* append(sink, 20, 3)).version, 2)
    }))

  it.live("another writer's commit with the same txns is not taken for ours", () =>
    Effect.gen(function*() {
      const files = makeMemoryFiles()
      const a = yield* makeWith(() => memoryStorage(table.name, table.location, files))
      const b = yield* makeWith(() => memoryStorage(table.name, table.location, files))
      yield* append(a, 0, 1)
      yield* append(b, 10, 2)
      const error = yield* Effect.flip(append(a, 10, 2))
      assert.strictEqual(error._tag, "ConcurrentStreamError")
    }))
})
