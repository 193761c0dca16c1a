/**
 * A commit whose outcome the sink could not tell (the log entry landed, then storage failed, and reading it back
 * failed too), seen from the whole pipeline: its retry of the append must recognise the commit, not stop.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { makeWith } from "../../layers/delta-sink/filesystem.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { type DeltaStorage, makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { avroCodec } from "../../src/pipeline/avro-codec.ts"
import { runStream } from "../../src/pipeline/stream.ts"
import { DeltaSink, DeltaStorageError } from "../../src/services/DeltaSink.ts"
import { testJob, World } from "../support/memory-pipeline.ts"

describe("an ambiguous commit in a running stream", () => {
  it.live("the append's retry recognises its own commit: the run drains, each offset once", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(900)
      const job = testJob()
      const files = makeMemoryFiles()
      let commits = 0
      let unreadable = ""
      const storageFor = (table: { readonly name: string; readonly location: string }): DeltaStorage => {
        const inner = memoryStorage(table.name, table.location, files)
        if (table.location !== job.table.location) return inner
        const flaky = (path: string) => new DeltaStorageError({ table: table.name, path, reason: "EIO injected", transient: true })
        return {
          ...inner,
          read: (path) => path === unreadable ? (unreadable = "", Effect.fail(flaky(path))) : inner.read(path),
          putIfAbsent: (path, data, options) =>
            Effect.gen(function*() {
              const created = yield* inner.putIfAbsent(path, data, options)
              // the second commit lands, and then its put and its read-back fail
              if (!created || !path.startsWith("_delta_log/") || ++commits !== 2) return created
              unreadable = path
              return yield* flaky(path)
            })
        }
      }
      const sink = yield* makeWith(storageFor)
      const summary = yield* runStream({ codec: avroCodec }).pipe(
        Effect.provide(Layer.succeed(DeltaSink, sink)),
        Effect.provide(world.layers(job))
      )
      assert.strictEqual(summary.stoppedBy, "drained")
      assert.isAbove(commits, 2)
      const table = Option.getOrThrow(yield* readSnapshot(memoryStorage(job.table.name, job.table.location, files)))
      let rows = 0
      for (const add of table.files.values()) rows += (JSON.parse(add.stats ?? "{}") as { numRecords: number }).numRecords
      assert.strictEqual(rows, 900, "every record once")
      for (const [partition, range] of world.kafka.offsets(world.topic).entries()) {
        assert.strictEqual(table.txns.get(`Test_orders-p${partition}`)?.version, range.latest)
      }
    }))
})
