import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import fsModule from "node:fs"
import { syncBuiltinESMExports } from "node:module"
import * as path from "node:path"
import * as Arrow from "apache-arrow"
import { Effect, Exit, Option } from "effect"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"
import * as MemorySink from "../../layers/delta-sink/memory-storage.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { vacuumDryRun } from "../../src/delta/vacuum.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { allTypesBatch, allTypesSchema, fixture, readWithDeltaRs, tempDir } from "./support.ts"

const simple = new Arrow.Schema([
  new Arrow.Field("id", new Arrow.Int64(), true),
  new Arrow.Field("writer", new Arrow.Utf8(), true)
])
const simpleBatch = (writer: string, from: number, n: number) =>
  tableOf(simple, Array.from({ length: n }, (_, i) => ({ id: BigInt(from + i), writer })))

describe("concurrent writers", () => {
  it.live("two processes' worth of writers append many rounds: nothing lost or duplicated", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "t")
      const table = { name: "concurrent", location }
      const a = yield* FilesystemSink.make({ checkpointInterval: 5 })
      const b = yield* FilesystemSink.make({ checkpointInterval: 5 })
      const rounds = 20
      const writer = (sink: typeof a, name: string) =>
        Effect.forEach(Array.from({ length: rounds }, (_, r) => r), (r) =>
          sink.append({
            table,
            schema: simple,
            data: [simpleBatch(name, r * 10, 10)],
            partitionBy: [],
            txns: [{ appId: `${name}-0`, version: r + 1, expected: r === 0 ? undefined : r }],
            operationParameters: {}
          }), { concurrency: 1 })
      const [ra, rb] = yield* Effect.all([writer(a, "a"), writer(b, "b")], { concurrency: 2 })
      const versions = [...ra, ...rb].map((r) => r.version).sort((x, y) => x - y)
      assert.deepStrictEqual(versions, Array.from({ length: 2 * rounds }, (_, i) => i))
      const read = readWithDeltaRs(location, ["a-0", "b-0"])
      assert.strictEqual(read.numRows, 2 * rounds * 10)
      assert.strictEqual(read.history.length, 2 * rounds)
      assert.strictEqual(read.txn["a-0"], rounds)
      assert.strictEqual(read.txn["b-0"], rounds)
      const keys = new Set(read.rows.map((row) => `${row["writer"]}:${row["id"]}`))
      assert.strictEqual(keys.size, 2 * rounds * 10)
    }), 120_000)

  it.live("two writers of the same stream: one stops with ConcurrentStreamError", () =>
    Effect.gen(function*() {
      const files = makeMemoryFiles()
      const table = { name: "same-stream", location: "mem/t" }
      const a = yield* MemorySink.make({ files })
      const b = yield* MemorySink.make({ files })
      const append = (sink: typeof a) =>
        sink.append({
          table,
          schema: simple,
          data: [simpleBatch("x", 0, 3)],
          partitionBy: [],
          txns: [{ appId: "stream-0", version: 3, expected: undefined }],
          operationParameters: {}
        }).pipe(Effect.exit)
      const [ea, eb] = yield* Effect.all([append(a), append(b)], { concurrency: 2 })
      const failures = [ea, eb].filter(Exit.isFailure)
      assert.strictEqual(failures.length, 1)
      assert.include(String(failures[0]!.cause), "ConcurrentStreamError")
      const snapshot = Option.getOrThrow(yield* readSnapshot(memoryStorage("t", "mem/t", files)))
      assert.strictEqual(snapshot.version, 0)
    }))
})

describe("schema evolution and errors", () => {
  it.live("adds nullable columns in the same commit; refuses a type change naming the column", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "evolve")
      const table = { name: "evolve", location }
      const sink = yield* DeltaSink
      yield* sink.append({ table, schema: simple, data: [simpleBatch("a", 0, 5)], partitionBy: [], txns: [], operationParameters: {} })
      const wider = new Arrow.Schema([...simple.fields, new Arrow.Field("extra", new Arrow.Float64(), true)])
      const result = yield* sink.append({
        table,
        schema: wider,
        data: [tableOf(wider, [{ id: 99n, writer: "b", extra: 1.5 }]), simpleBatch("c", 100, 2)],
        partitionBy: [],
        txns: [],
        operationParameters: {}
      })
      assert.isTrue(result.schemaChanged)
      const read = readWithDeltaRs(location)
      assert.strictEqual(read.numRows, 8)
      assert.include(read.schema, "extra:double")
      const changed = new Arrow.Schema([new Arrow.Field("id", new Arrow.Utf8(), true)])
      const error = yield* Effect.flip(sink.append({
        table,
        schema: changed,
        data: [tableOf(changed, [{ id: "x" }])],
        partitionBy: [],
        txns: [],
        operationParameters: {}
      }))
      assert.strictEqual(error._tag, "SchemaMismatchError")
      assert.include(error.message, "id: type long in the table, string in the batch")
      const schema = Option.getOrThrow(yield* sink.schema(table))
      assert.deepStrictEqual(schema.fields.map((f) => f.name), ["id", "writer", "extra"])
    }).pipe(Effect.provide(FilesystemSink.layer())))

  it.live("timestamp_ntz gets protocol (3,7) with the timestampNtz feature", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "ntz")
      const schema = new Arrow.Schema([new Arrow.Field("t", new Arrow.TimestampMicrosecond(), true)])
      const sink = yield* DeltaSink
      yield* sink.append({
        table: { name: "ntz", location },
        schema,
        data: [tableOf(schema, [{ t: 1_700_000_000_123_456n }, { t: null }])],
        partitionBy: [],
        txns: [],
        operationParameters: {}
      })
      const read = readWithDeltaRs(location)
      assert.deepStrictEqual(read.protocol, [3, 7])
      assert.deepStrictEqual(read.rows, [{ t: "1700000000123456" }, { t: null }])
    }).pipe(Effect.provide(FilesystemSink.layer())))
})

describe("appending to Spark-written tables", () => {
  for (const name of ["basic_append", "basic_partitioned", "multi_partitioned", "with_schema_change"]) {
    it.live(name, () =>
      Effect.gen(function*() {
        const location = fixture(name, path.join(tempDir(), name))
        const before = readWithDeltaRs(location)
        const sink = yield* DeltaSink
        const table = { name, location }
        const schema = Option.getOrThrow(yield* sink.schema(table))
        const row = Object.fromEntries(schema.fields.map((f) => {
          const t = String(f.type)
          const value = t === "Utf8" ? "zz" : t === "Int64" ? 42n : t === "Float64" ? 4.5 : t.startsWith("Date") ? 20000 : t === "Binary" ? new Uint8Array([1]) : null
          return [f.name, value]
        }))
        yield* sink.append({ table, schema, data: [tableOf(schema, [row])], partitionBy: [], txns: [{ appId: "ours", version: 1, expected: undefined }], operationParameters: {} })
        const after = readWithDeltaRs(location, ["ours"])
        assert.strictEqual(after.version, before.version + 1)
        assert.strictEqual(after.numRows, before.numRows + 1)
        assert.strictEqual(after.txn["ours"], 1)
      }).pipe(Effect.provide(FilesystemSink.layer())))
  }
})

describe("crashes", () => {
  const node = process.execPath
  const writer = path.join(import.meta.dirname, "crash-writer.ts")
  const run = (location: string, n: number, expected: number | undefined, fault?: string) =>
    spawnSync(node, [writer, location, String(n), expected === undefined ? "none" : String(expected)], {
      env: { ...process.env, ...(fault === undefined ? {} : { KAFKA_DELTA_FAULT: fault }) },
      encoding: "utf8"
    })
  for (const fault of ["before-parquet", "after-parquet", "during-commit", "after-commit"]) {
    it.live(`killed at ${fault}: the table reads at the previous or next version`, () =>
      Effect.gen(function*() {
        const location = path.join(tempDir(), "crash")
        for (let n = 0; n < 3; n++) assert.strictEqual(run(location, n, n === 0 ? undefined : n * 10).status, 0)
        const killed = run(location, 3, 30, fault)
        assert.strictEqual(killed.signal, "SIGKILL", killed.stderr)
        const read = readWithDeltaRs(location, ["crash-0"])
        const committed = fault === "after-commit"
        assert.strictEqual(read.version, committed ? 3 : 2)
        assert.strictEqual(read.numRows, committed ? 40 : 30)
        assert.strictEqual(read.txn["crash-0"], committed ? 40 : 30)
        const orphans = yield* vacuumDryRun(FilesystemSink.localStorage(location))
        const dataOrphans = orphans.filter((file) => !file.path.startsWith("_delta_log/"))
        assert.strictEqual(dataOrphans.length, fault === "after-parquet" || fault === "during-commit" ? 1 : 0)
        const leftovers = fs.readdirSync(path.join(location, "_delta_log")).filter((f) => f.endsWith(".tmp"))
        assert.strictEqual(leftovers.length, fault === "during-commit" ? 1 : 0)
        // the log entry's temp file the kill left behind is a vacuum candidate too
        assert.deepStrictEqual(orphans.filter((file) => file.path.startsWith("_delta_log/")).map((file) => file.path), leftovers.map((f) => `_delta_log/${f}`))
        // The stream restarts from the table's txn version and carries on.
        const resume = run(location, committed ? 4 : 3, committed ? 40 : 30)
        assert.strictEqual(resume.status, 0, resume.stderr)
        assert.strictEqual(readWithDeltaRs(location).numRows, committed ? 50 : 40)
      }), 60_000)
  }
})

describe("durability of names on the local filesystem", () => {
  it.live("the log directory is flushed after a commit's link, and a data file's directory after its rename", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "t")
      const storage = FilesystemSink.localStorage(location, "durable")
      // which paths were opened, and which of those descriptors were flushed
      const opened = new Map<number, string>()
      const flushed: Array<string> = []
      // spied on the module object, then copied to the ESM bindings the layer imports (syncBuiltinESMExports)
      const openSync = fsModule.openSync
      const fsyncSync = fsModule.fsyncSync
      const open = vi.spyOn(fsModule, "openSync").mockImplementation(((...args: Parameters<typeof fs.openSync>) => {
        const fd = openSync(...args)
        opened.set(fd, String(args[0]))
        return fd
      }) as typeof fs.openSync)
      const fsync = vi.spyOn(fsModule, "fsyncSync").mockImplementation((fd: number) => {
        flushed.push(opened.get(fd) ?? `fd ${fd}`)
        fsyncSync(fd)
      })
      syncBuiltinESMExports()
      try {
        yield* storage.putIfAbsent("_delta_log/00000000000000000000.json", new TextEncoder().encode("{}\n"))
        yield* storage.write("part=1/part-00000.parquet", new Uint8Array([1, 2, 3]))
      } finally {
        open.mockRestore()
        fsync.mockRestore()
        syncBuiltinESMExports()
      }
      assert.include(flushed, path.join(location, "_delta_log"))
      assert.include(flushed, path.join(location, "part=1"))
      // the log directory is flushed after the link, not only the temp file before it
      const logFlush = flushed.lastIndexOf(path.join(location, "_delta_log"))
      assert.isAbove(logFlush, flushed.findIndex((p) => p.includes("00000000000000000000.json")))
    }))

  it.live("directories created for a commit or a data file are flushed into their parents before the name is published", () =>
    Effect.gen(function*() {
      const root = tempDir()
      const location = path.join(root, "t")
      const storage = FilesystemSink.localStorage(location, "durable-dirs")
      const opened = new Map<number, string>()
      const flushed: Array<string> = []
      const links: Array<number> = []
      const openSync = fsModule.openSync
      const fsyncSync = fsModule.fsyncSync
      const linkSync = fsModule.linkSync
      const open = vi.spyOn(fsModule, "openSync").mockImplementation(((...args: Parameters<typeof fs.openSync>) => {
        const fd = openSync(...args)
        opened.set(fd, String(args[0]))
        return fd
      }) as typeof fs.openSync)
      const fsync = vi.spyOn(fsModule, "fsyncSync").mockImplementation((fd: number) => {
        flushed.push(opened.get(fd) ?? `fd ${fd}`)
        fsyncSync(fd)
      })
      const link = vi.spyOn(fsModule, "linkSync").mockImplementation((from, to) => {
        links.push(flushed.length)
        linkSync(from, to)
      })
      syncBuiltinESMExports()
      try {
        yield* storage.putIfAbsent("_delta_log/00000000000000000000.json", new TextEncoder().encode("{}\n"))
        yield* storage.write("a=1/b=2/part-00000.parquet", new Uint8Array([1, 2, 3]))
      } finally {
        open.mockRestore()
        fsync.mockRestore()
        link.mockRestore()
        syncBuiltinESMExports()
      }
      // `t` and `t/_delta_log` were created for the commit: their parents are flushed before the link
      const beforeLink = flushed.slice(0, links[0])
      assert.include(beforeLink, root)
      assert.include(beforeLink, location)
      // `a=1` and `a=1/b=2` were created for the data file: `t` and `a=1` are flushed (before its rename)
      const forData = flushed.slice(links[0])
      assert.include(forData, location)
      assert.include(forData, path.join(location, "a=1"))
    }))
})
