import { assert, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"

const root = NodePath.resolve(import.meta.dirname, "../..")
const bin = NodePath.join(root, "src/cli/bin.ts")

const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env },
    encoding: "utf8",
    timeout: 120_000
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

const tempDir = () => Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "kd-cli-"))

describe("kafka-delta command line", () => {
  it("an unknown environment exits 2 with one line listing the available ones, no stack", () => {
    const { status, stderr } = cli(["run", "--environment", "staging", "--topic", "orders"])
    assert.strictEqual(status, 2)
    expect(stderr.trim().split("\n")).toHaveLength(1)
    expect(stderr).toContain("available: local, production, uat")
    expect(stderr).not.toMatch(/\bat .*\.ts:\d+/)
  })

  it("a bad value exits 2 naming the file, key and value; --verbose adds the cause", () => {
    const { status, stderr } = cli(["run", "--environment", "UAT", "--topic", "orders"], { KAFKA_DELTA_STREAM_ONBADRECORD: "ignore" })
    assert.strictEqual(status, 2)
    expect(stderr).toContain("environments/uat.json")
    expect(stderr).toContain("stream.onBadRecord")
    expect(stderr).toContain(`"ignore"`)
    const verbose = cli(["run", "--environment", "UAT", "--topic", "orders", "--verbose"], { KAFKA_DELTA_STREAM_ONBADRECORD: "ignore" })
    assert.strictEqual(verbose.status, 2)
    assert.isAbove(verbose.stderr.trim().split("\n").length, 1)
  })

  it("a missing secret exits 2 naming the variable to set", () => {
    const { status, stderr } = cli(["run", "--environment", "production", "--topic", "orders"])
    assert.strictEqual(status, 2)
    expect(stderr).toContain("KAFKA_DELTA_SECRET_KAFKA_PROD_KAFKA_API_KEY")
  })

  it("a missing flag is a usage error (exit 2)", () => {
    const { status, stderr } = cli(["run", "--topic", "orders"])
    assert.strictEqual(status, 2)
    expect(stderr).toContain("--environment")
  })

  it("bad flag values exit 2 naming the flag and what is allowed", () => {
    const records = cli(["demo", "--records", "0"])
    assert.strictEqual(records.status, 2)
    expect(records.stderr).toContain("--records")
    const trigger = cli(["run", "--environment", "uat", "--topic", "o", "--trigger", "sometimes"])
    assert.strictEqual(trigger.status, 2)
    expect(trigger.stderr).toContain(`"continuous" | "available-now"`)
  })

  it("vacuum without a table, or of a path that holds none, exits 2 and says what to give", () => {
    const none = cli(["vacuum", "--dry-run"])
    assert.strictEqual(none.status, 2)
    expect(none.stderr).toContain("--table <path>, or --environment and --topic")
    const missing = cli(["vacuum", "--table", NodePath.join(tempDir(), "nothing"), "--dry-run"])
    assert.strictEqual(missing.status, 2)
    expect(missing.stderr).toContain("no Delta table at")
  })

  it("vacuum --dry-run lists a data file no commit references, and deletes nothing", () => {
    const output = tempDir()
    assert.strictEqual(cli(["demo", "--output", output, "--records", "500"]).status, 0)
    const table = NodePath.join(output, "lakehouse/demo/kafka_raw/orders")
    Fs.writeFileSync(NodePath.join(table, "part-99999-orphan.c000.snappy.parquet"), "not referenced")
    const listed = cli(["vacuum", "--table", table, "--dry-run"])
    assert.strictEqual(listed.status, 0, listed.stderr)
    expect(listed.stdout).toContain("would delete part-99999-orphan.c000.snappy.parquet")
    expect(listed.stdout.split("\n").filter((line) => line.startsWith("would delete"))).toHaveLength(1)
    assert.isTrue(Fs.existsSync(NodePath.join(table, "part-99999-orphan.c000.snappy.parquet")))
  })

  it("demo writes a table with every record, and a second run writes nothing", () => {
    const output = tempDir()
    const first = cli(["demo", "--output", output, "--records", "3000"])
    assert.strictEqual(first.status, 0, first.stderr)
    expect(first.stderr).toContain("3000 records")
    expect(first.stderr).toContain("3 dead-lettered")
    const log = Fs.readdirSync(NodePath.join(output, "lakehouse/demo/kafka_raw/orders/_delta_log"))
    expect(log).toContain("00000000000000000000.json")
    const second = cli(["demo", "--output", output, "--records", "3000"])
    assert.strictEqual(second.status, 0, second.stderr)
    expect(second.stderr).toContain("drained: 0 commits, 0 records")
  })

  it("SIGTERM stops a continuous run with exit 0 and the checkpoint lock released", async () => {
    const output = tempDir()
    const child = spawn(process.execPath, [bin, "demo", "--output", output, "--records", "2000", "--trigger", "continuous"], { cwd: root })
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    const deadline = Date.now() + 60_000
    while (!stderr.includes("2000 records") && !/batch \d+ -> version/.test(stderr) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    child.kill("SIGTERM")
    const status = await new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    assert.strictEqual(status, 0, stderr)
    assert.isFalse(Fs.existsSync(NodePath.join(output, "checkpoints/Demo_orders/lock")))
  })


})
