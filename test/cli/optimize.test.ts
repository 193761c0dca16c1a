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

describe("kafka-delta optimize", () => {
  it.live("--dry-run prints the plan and writes nothing; a real run commits OPTIMIZE", () =>
    Effect.gen(function*() {
      const table = NodePath.join(tempDir(), "t")
      for (let n = 0; n < 6; n++) {
        yield* appendBatch(localStorage(table), {
          schema,
          data: [tableOf(schema, [{ id: BigInt(n), k: n % 2 === 0 ? "a" : "b" }])],
          partitionBy: ["k"],
          txns: [],
          operationParameters: {}
        })
      }
      const logBefore = Fs.readdirSync(NodePath.join(table, "_delta_log"))
      const planned = cli(["optimize", "--table", table, "--dry-run"])
      assert.strictEqual(planned.status, 0, planned.stderr)
      expect(planned.stdout).toMatch(/would compact 3 files \(\d+ bytes\) in k=a into 1/)
      expect(planned.stdout).toMatch(/would compact 3 files \(\d+ bytes\) in k=b into 1/)
      assert.deepStrictEqual(Fs.readdirSync(NodePath.join(table, "_delta_log")), logBefore)

      const done = cli(["optimize", "--table", table])
      assert.strictEqual(done.status, 0, done.stderr)
      expect(done.stdout).toMatch(/^compacted 3 files .* in k=a into 1$/m)
      const commit = Fs.readFileSync(NodePath.join(table, "_delta_log/00000000000000000006.json"), "utf8")
      expect(commit).toContain(`"operation":"OPTIMIZE"`)
      expect(commit).toContain(`"isBlindAppend":false`)
      expect(done.stderr).toContain("6 file(s)")
    }), 60_000)

  it.live("without a table, or at a path with no table, says what to give", () =>
    Effect.sync(() => {
      const none = cli(["optimize"])
      assert.notStrictEqual(none.status, 0)
      expect(none.stderr).toContain("optimize needs --table <path>, or --environment and --topic")
      const empty = cli(["optimize", "--table", tempDir()])
      assert.notStrictEqual(empty.status, 0)
      expect(empty.stderr).toContain("no Delta table at")
      expect(empty.stderr).not.toMatch(/\n\s+at /)
    }), 60_000)
})
