/**
 * `--otlp-endpoint`: a real run against the real broker exports its batch traces and its metrics to an OTLP/HTTP
 * endpoint of the test's own, which records what it receives.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as NodePath from "node:path"
import { beforeAll } from "vitest"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, produce, root, tempDir, writeEnvironment } from "./support/run-cli.ts"

const schema = { type: "record", name: "Ping", namespace: "otlp", fields: [{ name: "id", type: "long" }] }

beforeAll(() => {
  servicesEnv()
})

/** An OTLP/HTTP receiver: every request's path and JSON body. */
const receiver = async () => {
  const received: Array<{ path: string; body: any }> = []
  const server = Http.createServer((request, response) => {
    let body = ""
    request.on("data", (chunk) => (body += String(chunk)))
    request.on("end", () => {
      received.push({ path: request.url ?? "", body: JSON.parse(body) })
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { url: `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`, received, close: () => server.close() }
}

/** Runs the CLI to its end without blocking the event loop (the receiver lives in this process). */
const runAsync = (args: ReadonlyArray<string>) =>
  new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), ...args], {
      cwd: root,
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" }
    })
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    child.once("exit", (status) => resolve({ status, stderr }))
  })

describe("kafka-delta run --otlp-endpoint", () => {
  it("exports one trace per batch (batch and commit spans) and the kafka_delta_ metrics", async () => {
    const otlp = await receiver()
    try {
      const dir = tempDir("otlp")
      const topic = `otlp_${randomUUID().slice(0, 8)}`
      const environments = writeEnvironment(dir, "It", localEnvironment(dir, { stream: { maxBatchRecords: 25 } }))
      produce({ topic, schema, count: 50, partitions: 1, dir })
      const result = await runAsync([
        "run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now",
        "--otlp-endpoint", otlp.url
      ])
      assert.strictEqual(result.status, 0, result.stderr)

      const spans = otlp.received.filter((r) => r.path === "/v1/traces")
        .flatMap((r) => r.body.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)))
      const batches = spans.filter((s: any) => s.name === "kafka-delta.batch")
      expect(batches.length).toBe(2)
      expect(new Set(batches.map((s: any) => s.traceId)).size).toBe(2)
      for (const batch of batches) {
        const commit = spans.find((s: any) => s.name === "kafka-delta.commit" && s.traceId === batch.traceId)
        assert.isDefined(commit, "each batch trace has a commit span")
        expect(commit.parentSpanId).toBe(batch.spanId)
        const topicAttribute = batch.attributes.find((a: any) => a.key === "messaging.destination.name")
        expect(topicAttribute.value.stringValue).toBe(topic)
      }
      const resource = otlp.received.find((r) => r.path === "/v1/traces")!.body.resourceSpans[0].resource
      expect(resource.attributes.find((a: any) => a.key === "service.name").value.stringValue).toBe("kafka-delta")

      const metricNames = new Set(otlp.received.filter((r) => r.path === "/v1/metrics")
        .flatMap((r) => r.body.resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics.map((m: any) => m.name)))))
      expect(metricNames).toContain("kafka_delta_records_written_total")
      expect(metricNames).toContain("kafka_delta_lag_records")
      expect(metricNames).toContain("kafka_delta_commit_latency_seconds")
    } finally {
      otlp.close()
    }
  }, 120_000)
})
