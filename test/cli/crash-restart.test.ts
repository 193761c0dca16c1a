/**
 * A crashed run must not block the next one. In a container the restarted process has the pid of the crashed
 * one (pid 1), so this runs the real CLI as pid 1 of its own pid namespace (`unshare`, util-linux; needs root)
 * twice: SIGKILLed while it holds the checkpoint's lock, then again to the end.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { exitAfterOutput } from "../support/python-exit.ts"

const root = NodePath.resolve(import.meta.dirname, "../..")
const bin = NodePath.join(root, "src/cli/bin.ts")
const python = process.env["PYTHON"] ?? NodePath.join(root, ".cache/venv/bin/python")
const asPid1 = ["--pid", "--fork", "--mount-proc", process.execPath, bin]

/** Rows and distinct (partition, offset) pairs of the table, as delta-rs reads it. */
const readTable = (location: string): { rows: number; distinct: number } => {
  const script = [
    "import deltalake, json, sys",
    "t = deltalake.DeltaTable(sys.argv[1]).to_pyarrow_table()",
    "k = t.column('_kafka').to_pylist()",
    "print(json.dumps({'rows': t.num_rows, 'distinct': len({(r['partition'], r['offset']) for r in k})}))"
  ].join("\n") + exitAfterOutput
  const result = spawnSync(python, ["-c", script, location], { encoding: "utf8", timeout: 120_000 })
  if (result.status !== 0) throw new Error(`delta-rs could not read ${location}: ${result.stderr}`)
  return JSON.parse(result.stdout) as { rows: number; distinct: number }
}

describe("a crashed run and its restart", () => {
  it("a SIGKILLed run as pid 1 leaves its lock; the restart, pid 1 again, takes it over and completes the table", async () => {
    // fail, not skip: without a pid namespace this test would prove nothing
    const probe = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "true"], { encoding: "utf8" })
    assert.strictEqual(probe.status, 0, `unshare (util-linux, as root) is needed to run the CLI as pid 1: ${probe.error?.message ?? probe.stderr}`)

    const output = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "kd-crash-"))
    const records = 20_000
    const lock = NodePath.join(output, "checkpoints/Demo_orders/lock")
    const first = spawn("unshare", [...asPid1, "demo", "--output", output, "--records", String(records), "--trigger", "continuous"], { cwd: root })
    let stderr = ""
    first.stderr.on("data", (chunk) => (stderr += String(chunk)))
    const exited = new Promise<void>((resolve) => first.on("exit", () => resolve()))
    const deadline = Date.now() + 60_000
    while (!/batch \d+ -> version/.test(stderr) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(stderr).toMatch(/batch \d+ -> version/)
    // the CLI is the unshare process's child; killing it kills the namespace's pid 1, as a crash would
    const children = Fs.readFileSync(`/proc/${first.pid}/task/${first.pid}/children`, "utf8").trim().split(/\s+/)
    assert.lengthOf(children, 1)
    process.kill(Number(children[0]), "SIGKILL")
    await exited
    const left = JSON.parse(Fs.readFileSync(lock, "utf8")) as { pid: number; host: string }
    assert.strictEqual(left.pid, 1)
    assert.strictEqual(left.host, Os.hostname())

    const second = spawnSync("unshare", [...asPid1, "demo", "--output", output, "--records", String(records)], {
      cwd: root,
      encoding: "utf8",
      timeout: 120_000
    })
    assert.strictEqual(second.status, 0, second.stderr)
    expect(second.stderr).toContain("took over the stale lock")
    assert.isFalse(Fs.existsSync(lock))
    assert.deepStrictEqual(readTable(NodePath.join(output, "lakehouse/demo/kafka_raw/orders")), { rows: records, distinct: records })
    Fs.rmSync(output, { recursive: true, force: true })
  })
})
