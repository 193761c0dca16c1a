import { assert, describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import * as Arrow from "apache-arrow"
import { Effect } from "effect"
import { localStorage } from "../../layers/delta-sink/filesystem.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { appendBatch } from "../../src/delta/table.ts"
import { tempDir } from "../delta/support.ts"

const root = NodePath.resolve(import.meta.dirname, "../..")
const cli = (args: ReadonlyArray<string>) =>
  spawnSync(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), ...args], {
    cwd: root,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" },
    encoding: "utf8",
    timeout: 120_000
  })

const schema = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true), new Arrow.Field("k", new Arrow.Utf8(), true)])

describe("kafka-delta vacuum and temp files left by a crash", () => {
  it.live("--dry-run shows them; a real run deletes those older than the retention, keeps a fresh one", () =>
    Effect.gen(function*() {
      const table = NodePath.join(tempDir(), "t")
      yield* appendBatch(localStorage(table), {
        schema,
        data: [tableOf(schema, [{ id: 1n, k: "a" }])],
        partitionBy: ["k"],
        txns: [],
        operationParameters: {}
      })
      const uuid = "0b9c2f5e-4f3a-4c1d-9e8b-7a6f5e4d3c2b"
      const old = [`_delta_log/.00000000000000000001.json.${uuid}.tmp`, `k=a/.part-00001-x.c000.snappy.parquet.${uuid}.tmp`]
      const fresh = `_delta_log/.00000000000000000002.json.${uuid}.tmp`
      const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000)
      for (const file of [...old, fresh]) Fs.writeFileSync(NodePath.join(table, file), "partial")
      for (const file of old) Fs.utimesSync(NodePath.join(table, file), twoHoursAgo, twoHoursAgo)

      const listed = cli(["vacuum", "--table", table, "--dry-run"])
      assert.strictEqual(listed.status, 0, listed.stderr)
      for (const file of [...old, fresh]) expect(listed.stdout).toContain(`would delete ${file} (7 bytes, temp file of an interrupted write)`)
      for (const file of [...old, fresh]) assert.isTrue(Fs.existsSync(NodePath.join(table, file)))

      const deleted = cli(["vacuum", "--table", table, "--retention-hours", "1"])
      assert.strictEqual(deleted.status, 0, deleted.stderr)
      for (const file of old) assert.isFalse(Fs.existsSync(NodePath.join(table, file)), file)
      assert.isTrue(Fs.existsSync(NodePath.join(table, fresh)))
      expect(Fs.readdirSync(NodePath.join(table, "_delta_log"))).toContain("00000000000000000000.json")
    }), 60_000)
})
