/**
 * The fault suite's delta-rs checker (scripts/faults/check_table.py) on a table that does not exist yet, as after
 * a kill before the first commit: zero rows where none is expected (`--upto-txn`: the prefix of a table without
 * txn versions is empty), a failure with one line where records are expected.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"

const root = NodePath.resolve(import.meta.dirname, "../..")
const python = process.env["PYTHON"] ?? NodePath.join(root, ".cache/venv/bin/python")

const checkAbsentTable = (extra: ReadonlyArray<string>) => {
  const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "kd-check-table-"))
  const produced = NodePath.join(dir, "produced.json")
  const records = [0, 1, 2].map((offset) => ({ partition: 0, offset }))
  Fs.writeFileSync(produced, JSON.stringify({ topic: "faults.orders", records }))
  return spawnSync(python, [
    NodePath.join(root, "scripts/faults/check_table.py"),
    "--table", NodePath.join(dir, "table"), "--environment", "Faults", "--produced", produced, ...extra
  ], { encoding: "utf8" })
}

describe("check_table.py on a table that does not exist yet", () => {
  it("with --upto-txn counts it as zero rows and no txn versions", () => {
    const result = checkAbsentTable(["--upto-txn"])
    assert.strictEqual(result.status, 0, result.stderr)
    const out = JSON.parse(result.stdout) as Record<string, unknown>
    assert.deepInclude(out, { rows: 0, expected: 0, duplicates: 0, missing: 0, unexpected: 0, files: [], version: null })
    assert.deepStrictEqual(out["txn"], { "faults.orders/0": null })
  })

  it("fails with one line when records are expected in it", () => {
    const result = checkAbsentTable([])
    assert.strictEqual(result.status, 2)
    assert.match(result.stderr.trim(), /^table .*table does not exist, but 3 records are expected in it$/)
  })
})
