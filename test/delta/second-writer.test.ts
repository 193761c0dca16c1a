/**
 * delta-rs as a second writer of a table the sink is writing: it changes the protocol, the features or the
 * partitioning while the same sink instance keeps its cached snapshot, and the sink must notice before it commits.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Arrow from "apache-arrow"
import { Effect } from "effect"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"
import type { DeltaStorage } from "../../src/delta/storage.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { python, tempDir } from "./support.ts"
import { exitAfterOutput } from "../support/python-exit.ts"

const schema = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true), new Arrow.Field("k", new Arrow.Utf8(), true)])
const batch = (ids: ReadonlyArray<number>) => tableOf(schema, ids.map((id) => ({ id: BigInt(id), k: `k${id % 2}` })))

/** Runs `code` with deltalake imported and `DeltaTable`, `write_deltalake`, `pa` and `path` bound. */
const deltaRs = (location: string, code: string) =>
  execFileSync(python(), ["-c", `import sys, pyarrow as pa\nfrom deltalake import DeltaTable, write_deltalake\npath = sys.argv[1]\n${code}${exitAfterOutput}`, location], {
    encoding: "utf8"
  })

const commits = (location: string) => fs.readdirSync(path.join(location, "_delta_log")).filter((f) => f.endsWith(".json")).length

describe("a protocol change by delta-rs while the sink runs", () => {
  const cases = [
    { name: "a CHECK constraint (writer version 3)", code: `DeltaTable(path).alter.add_constraint({"id_lt": "id < 1050"})`, reason: "writer version 3" },
    {
      name: "deletion vectors enabled",
      code: `DeltaTable(path).alter.set_table_properties({"delta.enableDeletionVectors": "true"})`,
      reason: "deletionVectors"
    },
    {
      name: "txn retention set (delta.setTransactionRetentionDuration)",
      code: `DeltaTable(path).alter.set_table_properties({"delta.setTransactionRetentionDuration": "interval 1 days"})`,
      reason: "delta.setTransactionRetentionDuration=interval 1 days lets the txn entries"
    }
  ]
  for (const c of cases) {
    it.live(`${c.name}: the same sink instance stops with UnsupportedTableError and commits nothing`, () =>
      Effect.gen(function*() {
        const location = path.join(tempDir(), "t")
        const table = { name: "second-writer", location }
        const sink = yield* FilesystemSink.make()
        const append = (ids: ReadonlyArray<number>, version: number) =>
          sink.append({
            table,
            schema,
            data: [batch(ids)],
            partitionBy: [],
            txns: [{ appId: "s-0", version, expected: version === 1 ? undefined : version - 1 }],
            operationParameters: {}
          })
        yield* append([1000, 1001], 1)
        deltaRs(location, c.code)
        const before = commits(location)
        const error = yield* Effect.flip(append([1100, 1101], 2))
        assert.strictEqual(error._tag, "UnsupportedTableError")
        assert.include(error.message, c.reason)
        assert.strictEqual(commits(location), before)
        // and the cached snapshot stays refused: a retry fails the same way
        assert.strictEqual((yield* Effect.flip(append([1100, 1101], 2)))._tag, "UnsupportedTableError")
        // and a stream starting on the table refuses it at once
        const fresh = yield* FilesystemSink.make()
        assert.strictEqual((yield* Effect.flip(fresh.txnVersions(table, "s-")))._tag, "UnsupportedTableError")
      }), 60_000)
  }
})

describe("delta-rs re-partitions the table between the sink's write and its commit", () => {
  it.live("the sink stops with ConcurrentTableChangeError and does not commit its files", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "t")
      const table = { name: "repartitioned", location }
      let armed = false
      const sink = yield* FilesystemSink.makeWith(() => {
        const inner = FilesystemSink.localStorage(location, table.name)
        const storage: DeltaStorage = {
          ...inner,
          putIfAbsent: (file, data, options) =>
            Effect.suspend(() => {
              if (armed && file.startsWith("_delta_log/") && file.endsWith(".json")) {
                armed = false
                deltaRs(
                  location,
                  `write_deltalake(path, pa.table({"id": pa.array([7], pa.int64()), "k": ["k7"]}), mode="overwrite", partition_by=["k"], schema_mode="overwrite")`
                )
              }
              return inner.putIfAbsent(file, data, options)
            })
        }
        return storage
      })
      const append = (from: number, version: number) =>
        sink.append({
          table,
          schema,
          data: [batch([from, from + 1])],
          partitionBy: [],
          txns: [{ appId: "s-0", version, expected: version === 1 ? undefined : version - 1 }],
          operationParameters: {}
        })
      yield* append(0, 1)
      armed = true
      const error = yield* Effect.flip(append(10, 2))
      assert.strictEqual(error._tag, "ConcurrentTableChangeError")
      assert.include(error.message, "partition columns [] -> [k]")
      assert.strictEqual(commits(location), 2, "ours, then delta-rs's overwrite; not ours again")
      const read = JSON.parse(deltaRs(location, `import json\nt = DeltaTable(path)\nprint(json.dumps({"parts": t.metadata().partition_columns, "ids": sorted(t.to_pyarrow_table()["id"].to_pylist())}))`))
      assert.deepStrictEqual(read, { parts: ["k"], ids: [7] })
    }), 60_000)
})
