import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { localStorage } from "../../layers/delta-sink/filesystem.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { appendBatch } from "../../src/delta/table.ts"
import { python, readWithDeltaRs, tempDir } from "./support.ts"
import { exitAfterOutput } from "../support/python-exit.ts"

const schema = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true)])

describe("log checkpoints and expired-log cleanup (in-memory storage)", () => {
  it.effect("commits older than the retention before a checkpoint are deleted; replay starts at the checkpoint", () =>
    Effect.gen(function*() {
      let clock = 1_767_225_600_000
      const now = () => clock
      const storage = memoryStorage("cleanup", "mem/cleanup", makeMemoryFiles(), now)
      const append = (v: number) =>
        appendBatch(storage, {
          schema,
          data: [tableOf(schema, [{ id: BigInt(v) }])],
          partitionBy: [],
          txns: [{ appId: "s-0", version: v + 1, expected: v === 0 ? undefined : v }],
          operationParameters: {}
        }, { now })
      for (let v = 0; v <= 10; v++) yield* append(v)
      clock += 31 * 86_400_000
      for (let v = 11; v <= 20; v++) yield* append(v)
      const log = (yield* storage.list("_delta_log")).map((file) => file.path.replace("_delta_log/", ""))
      assert.notInclude(log, "00000000000000000000.json")
      assert.notInclude(log, "00000000000000000009.json")
      assert.include(log, "00000000000000000010.json")
      assert.include(log, "00000000000000000010.checkpoint.parquet")
      assert.include(log, "00000000000000000020.checkpoint.parquet")
      const snapshot = Option.getOrThrow(yield* readSnapshot(storage))
      assert.strictEqual(snapshot.version, 20)
      assert.strictEqual(snapshot.files.size, 21)
      assert.strictEqual(snapshot.txns.get("s-0")?.version, 21)
      const last = JSON.parse(new TextDecoder().decode(Option.getOrThrow(yield* storage.read("_delta_log/_last_checkpoint"))))
      assert.deepInclude(last, { version: 20, size: 24, numOfAddFiles: 21 })
    }))
})

describe("expired-log cleanup, read back by delta-rs (filesystem)", () => {
  it.live("the latest version and the oldest retained one read; an expired version is refused", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "retention")
      const storage = localStorage(location, "retention")
      const append = (v: number) =>
        appendBatch(storage, {
          schema,
          data: [tableOf(schema, [{ id: BigInt(v) }])],
          partitionBy: [],
          txns: [],
          operationParameters: {}
        })
      for (let v = 0; v <= 10; v++) yield* append(v)
      // the log so far (commits 0-10 and the checkpoint at 10) is 40 days old: past the 30-day default
      const old = new Date(Date.now() - 40 * 86_400_000)
      for (const name of fs.readdirSync(path.join(location, "_delta_log"))) {
        fs.utimesSync(path.join(location, "_delta_log", name), old, old)
      }
      for (let v = 11; v <= 20; v++) yield* append(v)
      const log = fs.readdirSync(path.join(location, "_delta_log"))
      assert.notInclude(log, "00000000000000000009.json")
      assert.include(log, "00000000000000000010.json")
      assert.include(log, "00000000000000000010.checkpoint.parquet")

      const read = (version: number) =>
        spawnSync(python(), ["-c", [
          "import sys, json",
          "from deltalake import DeltaTable",
          "dt = DeltaTable(sys.argv[1], version=int(sys.argv[2]))",
          "print(json.dumps({'version': dt.version(), 'rows': dt.to_pyarrow_table().num_rows}))"
        ].join("\n") + exitAfterOutput, location, String(version)], { encoding: "utf8" })
      const latest = readWithDeltaRs(location)
      assert.strictEqual(latest.version, 20)
      assert.strictEqual(latest.numRows, 21)
      const oldest = read(10)
      assert.strictEqual(oldest.status, 0, oldest.stderr)
      assert.deepStrictEqual(JSON.parse(oldest.stdout), { version: 10, rows: 11 })
      const expired = read(5)
      assert.notStrictEqual(expired.status, 0)
      // delta-rs's own words for a version whose commits are gone
      assert.match(expired.stderr, /TableNotFoundError: .*No files in log segment/)
    }), 120_000)
})
