/**
 * `kafka-delta check` through the real CLI against the real broker and registry: 0 and what a run would do when
 * a run could start (secrets resolved, never printed), 2 for configuration, 1 when Kafka cannot be reached.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as NodePath from "node:path"
import * as Net from "node:net"
import { beforeAll } from "vitest"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, produce, root, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"

const schema = { type: "record", name: "Probe", namespace: "check", fields: [{ name: "id", type: "long" }] }

beforeAll(() => {
  servicesEnv()
})

const closedPort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = Net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

describe("kafka-delta check", () => {
  it("exits 0 and says what a run would do, resolving secrets without printing them", () => {
    const dir = tempDir("check")
    const topic = `check_${randomUUID().slice(0, 8)}`
    const environments = writeEnvironment(dir, "It", localEnvironment(dir, {
      kafka: { username: { secret: "kafka-user" }, password: { secret: "kafka-password" } }
    }))
    const secrets = { KAFKA_DELTA_SECRET_IT_KAFKA_USER: "checker", KAFKA_DELTA_SECRET_IT_KAFKA_PASSWORD: "s3cret-Never-Printed" }
    const job = ["--environment", "It", "--environments-dir", environments, "--topic", topic]
    produce({ topic, schema, count: 30, partitions: 2, dir })

    const fresh = runCli(["check", ...job], secrets)
    assert.strictEqual(fresh.status, 0, fresh.stderr)
    expect(fresh.stdout).toContain("secret it/kafka-password (kafka.password) resolved")
    expect(fresh.stdout).toContain(`topic ${topic} has 2 partitions`)
    expect(fresh.stdout).toContain(`subject ${topic}-value at schema id`)
    expect(fresh.stdout).toContain("does not exist yet")
    expect(fresh.stdout).toContain(`partition 0: start at 0 (from startingOffsets "earliest"), 15 records to read now`)
    expect(fresh.stdout + fresh.stderr).not.toContain("s3cret-Never-Printed")

    assert.strictEqual(runCli(["run", ...job, "--trigger", "available-now"], secrets).status, 0)
    produce({ topic, schema, count: 4, start: 30, partitions: 2, dir })
    const after = runCli(["check", ...job], secrets)
    assert.strictEqual(after.status, 0, after.stderr)
    expect(after.stdout).toMatch(/table it\.raw\.check_\w+ version 0: protocol reader \d writer \d/)
    expect(after.stdout).toContain("partition 1: start at 15 (from the table), 2 records to read now")
  }, 120_000)

  it("exits 2 for a missing secret or a bad environment file, 1 when Kafka cannot be reached", async () => {
    const dir = tempDir("check-bad")
    const missing = writeEnvironment(dir, "It", localEnvironment(dir, { kafka: { password: { secret: "absent" } } }))
    const noSecret = runCli(["check", "--environment", "It", "--environments-dir", missing, "--topic", "t"])
    assert.strictEqual(noSecret.status, 2, noSecret.stderr)
    expect(noSecret.stderr).toContain(`secret "absent" not found`)

    const typo = writeEnvironment(tempDir("check-typo"), "It", { ...localEnvironment(dir), stream: { ...localEnvironment(dir).stream, maxBatchRecord: 5 } })
    const badFile = runCli(["check", "--environment", "It", "--environments-dir", typo, "--topic", "t"])
    assert.strictEqual(badFile.status, 2, badFile.stderr)
    expect(badFile.stderr).toContain("stream.maxBatchRecord: unknown key")

    const unreachable = writeEnvironment(tempDir("check-closed"), "It", localEnvironment(dir, { kafka: { bootstrapServers: `127.0.0.1:${await closedPort()}` } }))
    const noKafka = runCli(["check", "--environment", "It", "--environments-dir", unreachable, "--topic", "t"], {}, 60_000)
    assert.strictEqual(noKafka.status, 1, noKafka.stderr)
    expect(noKafka.stderr).toContain("unavailable")
  }, 120_000)

  it("exits 1 while a run holds the stream's checkpoint", async () => {
    const dir = tempDir("check-lock")
    const topic = `check_${randomUUID().slice(0, 8)}`
    const environments = writeEnvironment(dir, "It", localEnvironment(dir))
    const job = ["--environment", "It", "--environments-dir", environments, "--topic", topic]
    produce({ topic, schema, count: 5, partitions: 1, dir })
    const env = { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" }
    const child = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), "run", ...job], { cwd: root, env })
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    const exited = new Promise((resolve) => child.once("exit", resolve))
    try {
      const deadline = Date.now() + 60_000
      while (!stderr.includes("batch 0") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
      const checked = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const check = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), "check", ...job], { cwd: root, env })
        let out = ""
        let err = ""
        check.stdout.on("data", (chunk) => (out += String(chunk)))
        check.stderr.on("data", (chunk) => (err += String(chunk)))
        check.once("exit", (status) => resolve({ status, stdout: out, stderr: err }))
      })
      expect(checked.stdout).toContain("ok   table")
      assert.strictEqual(checked.status, 1, checked.stderr)
      expect(checked.stderr).toContain("stream already running")
    } finally {
      child.kill("SIGTERM")
      await exited
    }
  }, 120_000)
})
