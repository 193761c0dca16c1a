/**
 * Operating a run, through the real CLI against the real broker: `/metrics` scraped while it streams (counters
 * move, the lag reaches 0 after the drain), `/healthz` and `/readyz`, and `/readyz` unready while the broker
 * cannot be reached (a closed port: the shared broker is never stopped).
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Net from "node:net"
import * as NodePath from "node:path"
import { beforeAll } from "vitest"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, produce, root, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"

const schema = {
  type: "record",
  name: "Reading",
  namespace: "ops",
  fields: [{ name: "id", type: "long" }, { name: "sensor", type: "string" }]
}

beforeAll(() => {
  servicesEnv()
})

/** A port nothing listens on (taken, then released). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** Starts `kafka-delta <args>` in the background; `stop` sends SIGTERM and waits for the exit. */
const startCli = (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), ...args], {
    cwd: root,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" }
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk) => (stdout += String(chunk)))
  child.stderr.on("data", (chunk) => (stderr += String(chunk)))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return {
    output: () => ({ stdout, stderr }),
    stop: async () => {
      child.kill("SIGTERM")
      return exited
    }
  }
}

const get = async (port: number, path: string): Promise<{ status: number; text: string } | undefined> => {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: response.status, text: await response.text() }
  } catch {
    return undefined
  }
}

/** The value of the sample of `name` whose labels include all of `labels`, from Prometheus text. */
const sample = (text: string, name: string, labels: Record<string, string>): number | undefined => {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(" ") + 1))
  }
  return undefined
}

const waitFor = async <A>(what: string, probe: () => Promise<A | undefined>, timeoutMs = 60_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await probe()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe("operating kafka-delta run", () => {
  it("serves /metrics whose counters move and whose lag reaches 0 after the drain, with /healthz and /readyz", async () => {
    const dir = tempDir("metrics")
    const topic = `metrics_${randomUUID().slice(0, 8)}`
    const environments = writeEnvironment(dir, "It", localEnvironment(dir, { stream: { maxBatchRecords: 50 } }))
    produce({ topic, schema, count: 120, partitions: 2, dir })
    const port = await freePort()
    const run = startCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--metrics-port", String(port)])
    try {
      const labels = { topic, table: `it.raw.${topic}` }
      const first = await waitFor("120 records in /metrics", async () => {
        const scraped = await get(port, "/metrics")
        return scraped !== undefined && sample(scraped.text, "kafka_delta_records_written_total", labels) === 120 ? scraped.text : undefined
      })
      expect(sample(first, "kafka_delta_lag_records", labels)).toBe(0)
      for (const partition of ["0", "1"]) {
        expect(sample(first, "kafka_delta_partition_lag_records", { ...labels, partition })).toBe(0)
        expect(sample(first, "kafka_delta_committed_offset", { ...labels, partition })).toBe(60)
      }
      expect(sample(first, "kafka_delta_batches_committed_total", labels)).toBeGreaterThanOrEqual(3)
      expect(sample(first, "kafka_delta_table_version", labels)).toBeGreaterThanOrEqual(2)
      expect(sample(first, "kafka_delta_process_resident_memory_bytes", {})).toBeGreaterThan(0)
      expect(first).toContain("# TYPE kafka_delta_commit_latency_seconds histogram")
      expect(first).toContain("kafka_delta_batch_records_bucket")
      for (const name of ["kafka_delta_dead_letters_total", "kafka_delta_skipped_records_total", "kafka_delta_lost_offsets_total", "kafka_delta_commit_conflicts_total"]) {
        expect(first, name).toContain(name)
      }
      expect((await get(port, "/healthz"))?.status).toBe(200)
      expect((await get(port, "/readyz"))?.status).toBe(200)

      // more records: the counter moves on, and the lag is back to 0 once they are committed
      produce({ topic, schema, count: 30, start: 120, partitions: 2, dir })
      const second = await waitFor("150 records in /metrics", async () => {
        const scraped = await get(port, "/metrics")
        return scraped !== undefined && sample(scraped.text, "kafka_delta_records_written_total", labels) === 150 ? scraped.text : undefined
      })
      expect(sample(second, "kafka_delta_lag_records", labels)).toBe(0)
      expect(sample(second, "kafka_delta_committed_offset", { ...labels, partition: "0" })).toBe(75)
      expect(sample(second, "kafka_delta_partition_lag_records", { ...labels, partition: "1" })).toBe(0)
      expect(sample(second, "kafka_delta_seconds_since_last_commit", labels)).toBeLessThan(30)
    } finally {
      const status = await run.stop()
      assert.strictEqual(status, 0, run.output().stderr)
    }
  }, 120_000)

  it("answers /healthz but not /readyz while Kafka cannot be reached", async () => {
    const dir = tempDir("unready")
    const closed = await freePort()
    const environments = writeEnvironment(dir, "It", localEnvironment(dir, {
      kafka: { bootstrapServers: `127.0.0.1:${closed}` },
      stream: { retry: { initialDelay: "1 second", maxDelay: "2 seconds", maxAttempts: 30 } }
    }))
    const port = await freePort()
    const run = startCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", "unreachable", "--metrics-port", String(port)])
    try {
      const healthz = await waitFor("/healthz", () => get(port, "/healthz"))
      expect(healthz.status).toBe(200)
      const readyz = await get(port, "/readyz")
      expect(readyz?.status).toBe(503)
      expect(readyz?.text).toContain("not started")
      const metrics = await get(port, "/metrics")
      expect(metrics?.status).toBe(200)
      expect(metrics?.text).toContain("kafka_delta_process_resident_memory_bytes")
    } finally {
      await run.stop()
    }
  }, 60_000)

  it("refuses a metrics port in use with exit status 2", async () => {
    const dir = tempDir("portinuse")
    const topic = `inuse_${randomUUID().slice(0, 8)}`
    produce({ topic, schema, count: 1, partitions: 1, dir })
    const environments = writeEnvironment(dir, "It", localEnvironment(dir))
    const taken = Net.createServer()
    await new Promise<void>((resolve) => taken.listen(0, resolve))
    try {
      const port = (taken.address() as Net.AddressInfo).port
      const result = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), "run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--metrics-port", String(port)], {
          cwd: root,
          env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" }
        })
        let stderr = ""
        child.stderr.on("data", (chunk) => (stderr += String(chunk)))
        child.once("exit", (status) => resolve({ status, stderr }))
      })
      assert.strictEqual(result.status, 2, result.stderr)
      expect(result.stderr).toContain(`cannot serve metrics on port ${port}: listen EADDRINUSE`)
    } finally {
      taken.close()
    }
  }, 60_000)

  it("refuses a metrics port out of range with exit status 2, from the flag and from the environment file", () => {
    const dir = tempDir("badport")
    const environments = writeEnvironment(dir, "It", { ...localEnvironment(dir), metrics: { port: 70000 } })
    const fromFile = runCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", "t"])
    assert.strictEqual(fromFile.status, 2, fromFile.stderr)
    expect(fromFile.stderr).toContain("metrics.port: Expected a value between 1 and 65535, got 70000")
    const good = writeEnvironment(tempDir("goodport"), "It", localEnvironment(dir))
    const fromFlag = runCli(["run", "--environment", "It", "--environments-dir", good, "--topic", "t", "--metrics-port", "0"])
    assert.strictEqual(fromFlag.status, 2, fromFlag.stderr)
    expect(fromFlag.stderr).toContain(`Invalid value for flag --metrics-port: "0"`)
  })

  it("prints JSON log lines and one StreamingQueryProgress object per commit", () => {
    const dir = tempDir("json")
    const topic = `json_${randomUUID().slice(0, 8)}`
    const environments = writeEnvironment(dir, "It", localEnvironment(dir, { stream: { maxBatchRecords: 40 } }))
    produce({ topic, schema, count: 80, partitions: 2, dir })
    const result = runCli([
      "run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now",
      "--log-format", "json", "--progress", "json"
    ])
    assert.strictEqual(result.status, 0, result.stderr)
    const logs = result.stderr.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
    for (const entry of logs) {
      expect(typeof entry["time"]).toBe("string")
      expect(typeof entry["level"]).toBe("string")
      expect(typeof entry["message"]).toBe("string")
      expect(entry["topic"]).toBe(topic)
    }
    const committed = logs.filter((entry) => typeof entry["batchId"] === "number")
    expect(committed.length).toBeGreaterThanOrEqual(2)
    expect(committed.every((entry) => typeof entry["version"] === "number" && typeof entry["records"] === "number")).toBe(true)
    expect(logs.some((entry) => String(entry["message"]).startsWith("drained: "))).toBe(true)

    const progress = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, any>)
    expect(progress.length).toBe(committed.length)
    expect(progress.reduce((n, p) => n + p["numInputRows"], 0)).toBe(80)
    for (const p of progress) {
      expect(p["id"]).toBe(`It_${topic}`)
      expect(typeof p["runId"]).toBe("string")
      expect(typeof p["batchId"]).toBe("number")
      expect(typeof p["inputRowsPerSecond"]).toBe("number")
      expect(typeof p["processedRowsPerSecond"]).toBe("number")
      expect(typeof p["durationMs"]["triggerExecution"]).toBe("number")
      expect(p["sources"][0]["description"]).toBe(`KafkaV2[Subscribe[${topic}]]`)
      expect(typeof p["sink"]["tableVersion"]).toBe("number")
    }
    expect(new Set(progress.map((p) => p["runId"])).size).toBe(1)
    // the offset ranges per partition chain from 0 to the end of each partition, and add up to what was read
    const position = new Map([["0", 0], ["1", 0]])
    let moved = 0
    for (const p of progress) {
      const start = p["sources"][0]["startOffset"][topic]
      const end = p["sources"][0]["endOffset"][topic]
      expect(Object.keys(start)).toEqual(Object.keys(end))
      for (const partition of Object.keys(end)) {
        expect(start[partition]).toBe(position.get(partition))
        moved += end[partition] - start[partition]
        position.set(partition, end[partition])
      }
    }
    expect(moved).toBe(80)
    expect([...position.values()]).toEqual([40, 40])
  }, 120_000)
})
