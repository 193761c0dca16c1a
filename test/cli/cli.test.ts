import { assert, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"

import { describeStorageFailure } from "../../src/cli/report.ts"

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

/** A directory with `cli.json`: the shipped local environment changed by `edit`. */
const environmentsWith = (edit: (file: Record<string, any>) => void): string => {
  const dir = tempDir()
  const file = JSON.parse(Fs.readFileSync(NodePath.join(root, "environments/local.json"), "utf8")) as Record<string, any>
  file["environment"] = "Cli"
  edit(file)
  Fs.writeFileSync(NodePath.join(dir, "cli.json"), JSON.stringify(file))
  return dir
}

const runCli = (environmentsDir: string, env: Record<string, string> = {}) =>
  cli(["run", "--environment", "cli", "--topic", "orders", "--environments-dir", environmentsDir, "--trigger", "available-now"], env)

/** Asserts a run stopped at once on configuration: exit 2, one line, no stack, every `parts` in it. */
const assertConfigStop = (result: ReturnType<typeof cli>, parts: ReadonlyArray<string>) => {
  assert.strictEqual(result.status, 2, result.stderr)
  expect(result.stderr.trim().split("\n")).toHaveLength(1)
  expect(result.stderr).not.toMatch(/\bat .*\.ts:\d+/)
  for (const part of parts) expect(result.stderr).toContain(part)
}

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

  it("--otlp-endpoint that is not an http(s) URL exits 2 naming the value, before anything connects", () => {
    const result = cli(["run", "--environment", "cli", "--topic", "orders", "--environments-dir", environmentsWith(() => {}), "--otlp-endpoint", "collector:4318"])
    assert.strictEqual(result.status, 2, result.stderr)
    expect(result.stdout + result.stderr).toContain(`Invalid value for flag --otlp-endpoint: "collector:4318"`)
    expect(result.stdout + result.stderr).not.toMatch(/\bat .*\.ts:\d+/)
  })

  it("unknown keys in an environment file exit 2 naming the nearest valid key", () => {
    const cases: ReadonlyArray<readonly [(file: Record<string, any>) => void, string]> = [
      [(f) => (f["stream"]["maxBatchRecord"] = 10), "stream.maxBatchRecord: unknown key; did you mean stream.maxBatchRecords?"],
      [(f) => (f["stream"]["onBadRecords"] = "skip"), "stream.onBadRecords: unknown key; did you mean stream.onBadRecord?"],
      [(f) => (f["kafka"]["bootstrapServer"] = "h:9092"), "kafka.bootstrapServer: unknown key; did you mean kafka.bootstrapServers?"],
      [(f) => (f["delta"]["partitionby"] = ["day"]), "delta.partitionby: unknown key; did you mean delta.partitionBy?"]
    ]
    for (const [edit, message] of cases) assertConfigStop(runCli(environmentsWith(edit)), [message])
  })

  it("startingOffsets of another topic, or malformed as JSON in its variable, exit 2 saying which", () => {
    const other = environmentsWith((f) => (f["stream"]["startingOffsets"] = { payments: { "0": 5 } }))
    assertConfigStop(runCli(other), ["stream.startingOffsets", `names topic "payments"`, `this job reads "orders"`])
    // the retry override on a file without a retry section is not reported as missing retry keys
    const malformed = runCli(environmentsWith(() => {}), { KAFKA_DELTA_STREAM_STARTINGOFFSETS: `{"orders": {"0": 5}`, KAFKA_DELTA_STREAM_RETRY_MAXATTEMPTS: "2" })
    assertConfigStop(malformed, ["KAFKA_DELTA_STREAM_STARTINGOFFSETS is not valid JSON", "position"])
    expect(malformed.stderr).not.toContain("missing key")
  })

  it("a malformed or unsupported warehouse or checkpoints URL exits 2 naming the key and the accepted forms, and writes nothing", () => {
    const dir = environmentsWith((f) => {
      f["delta"]["warehouse"] = "s3://Lake_WH/wh"
      f["checkpoints"] = "gs://bucket/checkpoints"
    })
    const result = cli(["run", "--environment", "cli", "--topic", "orders", "--environments-dir", dir], {})
    assertConfigStop(result, [
      `delta.warehouse: "Lake_WH" is not an S3 bucket name`,
      `"s3://Lake_WH/wh"`,
      "checkpoints: the scheme gs:// is not supported",
      "expected a local path, s3://bucket/prefix, s3a://bucket/prefix, abfss://container@account.dfs.core.windows.net/prefix or az://container/prefix"
    ])
    assert.isFalse(Fs.existsSync(NodePath.join(root, "s3:")))
    assert.isFalse(Fs.existsSync(NodePath.join(root, "gs:")))
  })

  it("a checkpoint path that is a file exits 2 saying checkpoints must be directories, not just ENOTDIR", () => {
    const output = tempDir()
    Fs.mkdirSync(NodePath.join(output, "checkpoints"))
    Fs.writeFileSync(NodePath.join(output, "checkpoints/Demo_orders"), "")
    const result = cli(["demo", "--output", output, "--records", "100"])
    assertConfigStop(result, [
      `${NodePath.join(output, "checkpoints/Demo_orders")} is a file, but checkpoints must be directories`,
      "move the file away or set checkpoints to another path"
    ])
  })

  it("a table directory without write permission exits 2 naming the directory and the user", () => {
    const output = tempDir()
    Fs.chmodSync(output, 0o777)
    Fs.mkdirSync(NodePath.join(output, "lakehouse"), { mode: 0o555 })
    Fs.chmodSync(NodePath.join(output, "lakehouse"), 0o555)
    // root may write anywhere: the run goes as an unprivileged user then, so the permission is really missing
    const asRoot = process.getuid?.() === 0
    const result = spawnSync(process.execPath, [bin, "demo", "--output", output, "--records", "100"], {
      cwd: root,
      env: { PATH: process.env["PATH"] ?? "", HOME: Os.tmpdir() },
      encoding: "utf8",
      timeout: 120_000,
      ...(asRoot ? { uid: 65534, gid: 65534 } : {})
    })
    assert.strictEqual(result.status, 2, result.stderr)
    const line = result.stderr.trim().split("\n").at(-1) ?? ""
    expect(line).toContain("permission denied (EACCES)")
    expect(line).toContain(`make ${NodePath.join(output, "lakehouse")} writable by user`)
    expect(line).toContain("or set delta.warehouse to a directory that is")
  })

  it("EPERM and EROFS on a table or checkpoint path name the path and the key to change (unit)", () => {
    const eperm = describeStorageFailure({ _tag: "DeltaStorageError", path: "/wh/t/part-0.parquet", reason: "EPERM EPERM: operation not permitted, open '/wh/t/part-0.parquet'" })
    expect(eperm).toContain("cannot write the table at /wh/t/part-0.parquet: permission denied (EPERM)")
    expect(eperm).toContain("or set delta.warehouse to a directory that is")
    const erofs = describeStorageFailure({ _tag: "CheckpointIoError", path: "/ro/cp", reason: "EROFS: EROFS: read-only file system, mkdir '/ro/cp/offsets'" })
    expect(erofs).toContain("read-only (EROFS); set checkpoints to a directory on a writable disk")
    assert.isUndefined(describeStorageFailure({ _tag: "DeltaStorageError", path: "/wh", reason: "EIO: i/o error" }))
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

  it("SIGTERM stops a continuous run with exit 0, the summary line and the checkpoint lock released", async () => {
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
    expect(stderr).toMatch(/stopped: \d+ commits, \d+ records, [\d.]+ MB in [\d.]+ s/)
    assert.isFalse(Fs.existsSync(NodePath.join(output, "checkpoints/Demo_orders/lock")))
  })


})
