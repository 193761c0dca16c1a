/**
 * An unreachable schema registry through the real CLI: one retry loop for the failure, one warning per retry
 * (lookups were once retried inside the session's retry and per partition: 293 warnings for 10 attempts).
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { beforeAll } from "vitest"
import { closedPort } from "../support/closed-port.ts"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, produce, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"

const schema = { type: "record", name: "Event", namespace: "it", fields: [{ name: "id", type: "long" }] }

beforeAll(() => {
  servicesEnv()
})

describe("registry unreachable", () => {
  it("maxAttempts 3 over 3 partitions: 2 warnings, then exit 1 naming the registry", async () => {
    const dir = tempDir("registry-unreachable")
    const topic = `registry-unreachable-${randomUUID().slice(0, 8)}`
    produce({ topic, schema, count: 30, partitions: 3, dir })
    const port = await closedPort()
    const environments = writeEnvironment(dir, "It", localEnvironment(dir, {
      schemaRegistry: { url: `http://127.0.0.1:${port}` },
      stream: { retry: { initialDelay: "50 millis", maxDelay: "100 millis", maxAttempts: 3 } }
    }))
    const result = runCli(["run", "--environment", "it", "--topic", topic, "--environments-dir", environments, "--trigger", "available-now"])
    assert.strictEqual(result.status, 1, result.stderr)
    const warnings = result.stderr.split("\n").filter((line) => / WARN /.test(line))
    assert.strictEqual(warnings.length, 2, result.stderr)
    for (const warning of warnings) expect(warning).toContain(`127.0.0.1:${port}`)
    expect(result.stderr.trim().split("\n").at(-1)).toContain(`schema registry at http://127.0.0.1:${port} is unavailable`)
  })
})
