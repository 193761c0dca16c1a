/**
 * `kafka.client` through the real `kafka-delta` process: each value reads the topic with its own live KafkaSource
 * layer (the run logs which), end to end into a Delta table that delta-rs reads back, from per-partition
 * startingOffsets; an unknown value is refused before anything connects, naming the allowed ones.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import * as NodePath from "node:path"
import { beforeAll } from "vitest"
import { localEnvironment, produce, readTable, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"
import { servicesEnv } from "./support/services-env.ts"

const schema = {
  type: "record",
  name: "Reading",
  namespace: "it",
  fields: [{ name: "id", type: "long" }, { name: "label", type: "string" }]
}

beforeAll(() => {
  servicesEnv()
})

describe("kafka.client selects the live KafkaSource layer", () => {
  for (const client of ["kafkajs", "platformatic"] as const) {
    it(`kafka.client "${client}" reads with ${client}, from per-partition startingOffsets, into the table`, () => {
      const dir = tempDir(`client-${client}`)
      const topic = `kd-it-client-${client}-${randomUUID().slice(0, 8)}`
      const produced = produce({ topic, schema, count: 40, partitions: 2, dir })
      const environments = writeEnvironment(dir, "It", localEnvironment(dir, {
        kafka: { client },
        // partition 0 from offset 5, partition 1 from its earliest
        stream: { startingOffsets: { [topic]: { "0": 5, "1": -2 } } }
      }))
      const result = runCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now"], {
        KAFKA_DELTA_SERVICES: "skip"
      })
      assert.strictEqual(result.status, 0, result.stderr)
      const output = result.stdout + result.stderr
      expect(output).toContain(`kafka client: ${client}`)
      const expected = produced.records.filter((record) => record.partition === 1 || record.offset >= 5)
      const table = readTable(NodePath.join(dir, "lakehouse/it/raw", topic.toLowerCase().replace(/[^a-z0-9_]/g, "_")))
      assert.strictEqual(table.numRows, expected.length)
      const ids = table.rows.map((row) => Number(row["id"])).sort((a, b) => a - b)
      assert.deepStrictEqual(ids, expected.map((record) => Number(record.value["id"])).sort((a, b) => a - b))
    }, 120_000)
  }

  it("an unknown kafka.client exits 2 naming the key, the value and the allowed clients", () => {
    const dir = tempDir("client-bad")
    const environments = writeEnvironment(dir, "It", localEnvironment(dir, { kafka: { client: "librdkafka" } }))
    const result = runCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", "t", "--trigger", "available-now"])
    assert.strictEqual(result.status, 2, result.stderr)
    expect(result.stderr).toContain("kafka.client")
    expect(result.stderr).toContain("librdkafka")
    expect(result.stderr).toContain(`"kafkajs"`)
    expect(result.stderr).toContain(`"platformatic"`)
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })
})
