/**
 * The stream's identity is `<environment>_<topic>`: two environment files with different names writing the same
 * topic into one table are two streams. The second must stop before writing instead of copying the topic again.
 * Runs the real CLI against the local Kafka and registry.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import * as NodePath from "node:path"
import { beforeAll } from "vitest"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, produce, readTable, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"

const schema = { type: "record", name: "Event", namespace: "it", fields: [{ name: "id", type: "long" }] }

beforeAll(() => {
  servicesEnv()
})

describe("one stream per topic and table", () => {
  it("a second environment writing the same topic into the same table exits 2 naming the first; adopting goes on", () => {
    const dir = tempDir("second-stream")
    const topic = `second-stream-${randomUUID().slice(0, 8)}`
    produce({ topic, schema, count: 40, partitions: 2, dir })
    // both files write under the same warehouse: the same table, the same topic, two environment names
    const environments = writeEnvironment(dir, "Blue", { ...localEnvironment(dir), environment: "Blue" })
    writeEnvironment(dir, "Green", { ...localEnvironment(dir), environment: "Green" })
    const args = (environment: string) => ["run", "--environment", environment, "--topic", topic, "--environments-dir", environments, "--trigger", "available-now"]
    const first = runCli(args("blue"))
    assert.strictEqual(first.status, 0, first.stderr)
    const table = NodePath.join(dir, "lakehouse/it/raw", topic.replaceAll("-", "_"))
    assert.strictEqual(readTable(table).numRows, 40)

    const second = runCli(args("green"))
    assert.strictEqual(second.status, 2, second.stderr)
    expect(second.stderr).toContain(`stream "Blue_${topic}"`)
    expect(second.stderr).toContain(`Green_${topic}`)
    expect(second.stderr).toContain("stream.adoptPositionsFrom")
    expect(second.stderr).toContain("stream.allowSecondStream")
    expect(second.stderr).not.toMatch(/\bat .*\.ts:\d+/)
    assert.strictEqual(readTable(table).numRows, 40, "the second stream wrote nothing")

    produce({ topic, schema, count: 10, start: 40, partitions: 2, dir })
    const adopted = runCli(args("green"), { KAFKA_DELTA_STREAM_ADOPTPOSITIONSFROM: `Blue_${topic}` })
    assert.strictEqual(adopted.status, 0, adopted.stderr)
    expect(adopted.stderr).toContain(`adopting the positions of stream Blue_${topic}`)
    assert.strictEqual(readTable(table).numRows, 50, "only the new records")
  })
})
