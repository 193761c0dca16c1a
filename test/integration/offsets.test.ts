/**
 * `kafka-delta offsets` and `offsets set` through the real CLI against the real broker, with delta-rs reading
 * the table: a rewind of one partition is re-read exactly (those offsets twice, nothing else), `--to` moves every
 * partition, the plan needs `--yes`, and a running stream's lock refuses the move.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { beforeAll } from "vitest"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, produce, readTable, root, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"

const schema = { type: "record", name: "Tick", namespace: "offsets", fields: [{ name: "id", type: "long" }] }

beforeAll(() => {
  servicesEnv()
})

/** Occurrences of each `partition:offset` in the table. */
const occurrences = (location: string): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const row of readTable(location).rows) {
    const kafka = row["_kafka"] as { partition: string; offset: string }
    const key = `${kafka.partition}:${kafka.offset}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts
}

describe("kafka-delta offsets", () => {
  it("shows positions, and a rewind of one partition is re-read exactly once more by the next run", () => {
    const dir = tempDir("offsets")
    const topic = `offsets_${randomUUID().slice(0, 8)}`
    const environments = writeEnvironment(dir, "It", localEnvironment(dir))
    const job = ["--environment", "It", "--environments-dir", environments, "--topic", topic]
    const location = NodePath.join(dir, "lakehouse", "it", "raw", topic)
    produce({ topic, schema, count: 60, partitions: 2, dir })
    assert.strictEqual(runCli(["run", ...job, "--trigger", "available-now"]).status, 0)

    const shown = runCli(["offsets", ...job, "--json"])
    assert.strictEqual(shown.status, 0, shown.stderr)
    const standing = JSON.parse(shown.stdout)
    expect(standing.tableVersion).toBe(0)
    expect(typeof standing.lastCommitTime).toBe("string")
    expect(standing.partitions).toEqual([
      { partition: 0, position: 30, earliest: 0, latest: 30, lag: 0 },
      { partition: 1, position: 30, earliest: 0, latest: 30, lag: 0 }
    ])

    const dry = runCli(["offsets", "set", ...job, "--partition", "0", "--offset", "10"])
    assert.strictEqual(dry.status, 0, dry.stderr)
    expect(dry.stdout).toContain("partition 0: 30 -> 10 (re-reads 20 records)")
    expect(dry.stdout).toContain("add --yes")
    expect(JSON.parse(runCli(["offsets", ...job, "--json"]).stdout).partitions[0].position).toBe(30)

    const set = runCli(["offsets", "set", ...job, "--partition", "0", "--offset", "10", "--yes"])
    assert.strictEqual(set.status, 0, set.stderr)
    expect(set.stdout).toContain("written as table version 1")
    const human = runCli(["offsets", ...job])
    expect(human.stdout).toMatch(/\n\s+0\s+10\s+0\s+30\s+20\n/)
    const log = readTable(location, [`It_${topic}-p0`, `It_${topic}-p1`])
    expect(log.txn).toEqual({ [`It_${topic}-p0`]: 10, [`It_${topic}-p1`]: 30 })
    expect(log.numRows).toBe(60)
    const commit = Fs.readFileSync(NodePath.join(location, "_delta_log", "00000000000000000001.json"), "utf8").trim().split("\n").map((line) => JSON.parse(line))
    expect(commit.map((action) => Object.keys(action)[0])).toEqual(["commitInfo", "txn"])
    expect(commit[0].commitInfo.operationParameters).toMatchObject({ operation: "SET OFFSETS", target: "partition 0 offset 10" })
    expect(JSON.parse(commit[0].commitInfo.operationParameters.moved)).toEqual([{ partition: 0, from: 30, to: 10 }])

    const rerun = runCli(["run", ...job, "--trigger", "available-now"])
    assert.strictEqual(rerun.status, 0, rerun.stderr)
    expect(rerun.stderr).toContain("20 records")
    const counts = occurrences(location)
    for (let offset = 0; offset < 30; offset++) {
      assert.strictEqual(counts.get(`0:${offset}`), offset >= 10 ? 2 : 1, `partition 0 offset ${offset}`)
      assert.strictEqual(counts.get(`1:${offset}`), 1, `partition 1 offset ${offset}`)
    }
    expect(counts.size).toBe(60)
  }, 180_000)

  it("moves every partition with --to, and refuses bad requests with exit status 2", () => {
    const dir = tempDir("offsets-to")
    const topic = `offsets_${randomUUID().slice(0, 8)}`
    const environments = writeEnvironment(dir, "It", localEnvironment(dir))
    const job = ["--environment", "It", "--environments-dir", environments, "--topic", topic]
    produce({ topic, schema, count: 20, partitions: 2, dir })
    assert.strictEqual(runCli(["run", ...job, "--trigger", "available-now"]).status, 0)

    const earliest = runCli(["offsets", "set", ...job, "--to", "earliest", "--yes"])
    assert.strictEqual(earliest.status, 0, earliest.stderr)
    expect(JSON.parse(runCli(["offsets", ...job, "--json"]).stdout).partitions.map((p: any) => p.position)).toEqual([0, 0])
    // every record is older than a time in the future: each partition moves to its end
    const future = runCli(["offsets", "set", ...job, "--to", "2100-01-01T00:00:00Z", "--yes"])
    assert.strictEqual(future.status, 0, future.stderr)
    expect(JSON.parse(runCli(["offsets", ...job, "--json"]).stdout).partitions.map((p: any) => p.position)).toEqual([10, 10])
    const past = runCli(["offsets", "set", ...job, "--to", "2000-01-01T00:00:00Z", "--yes"])
    assert.strictEqual(past.status, 0, past.stderr)
    expect(JSON.parse(runCli(["offsets", ...job, "--json"]).stdout).partitions.map((p: any) => p.position)).toEqual([0, 0])

    const noPartition = runCli(["offsets", "set", ...job, "--partition", "7", "--offset", "1", "--yes"])
    assert.strictEqual(noPartition.status, 2)
    expect(noPartition.stderr).toContain("has no partition 7")
    const outOfRange = runCli(["offsets", "set", ...job, "--partition", "0", "--offset", "99", "--yes"])
    assert.strictEqual(outOfRange.status, 2)
    expect(outOfRange.stderr).toContain("offset 99 is outside partition 0's offsets 0..10")
    const badTime = runCli(["offsets", "set", ...job, "--to", "yesterday"])
    assert.strictEqual(badTime.status, 2)
    expect(badTime.stderr).toContain(`--to "yesterday" is not earliest, latest or an ISO 8601 time`)
  }, 180_000)

  it("refuses to move positions while a stream holds the checkpoint", async () => {
    const dir = tempDir("offsets-lock")
    const topic = `offsets_${randomUUID().slice(0, 8)}`
    const environments = writeEnvironment(dir, "It", localEnvironment(dir))
    const job = ["--environment", "It", "--environments-dir", environments, "--topic", topic]
    produce({ topic, schema, count: 10, partitions: 1, dir })
    const child = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), "run", ...job], {
      cwd: root,
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" }
    })
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    const exited = new Promise((resolve) => child.once("exit", resolve))
    try {
      const deadline = Date.now() + 60_000
      while (!stderr.includes("batch 0") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
      expect(stderr).toContain("batch 0")
      const refused = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const setter = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), "offsets", "set", ...job, "--to", "earliest", "--yes"], {
          cwd: root,
          env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" }
        })
        let err = ""
        setter.stderr.on("data", (chunk) => (err += String(chunk)))
        setter.once("exit", (status) => resolve({ status, stderr: err }))
      })
      expect(refused.status).not.toBe(0)
      expect(refused.stderr).toContain("stream already running")
    } finally {
      child.kill("SIGTERM")
      await exited
    }
    expect(JSON.parse(runCli(["offsets", ...job, "--json"]).stdout).partitions[0].position).toBe(10)
  }, 120_000)
})
