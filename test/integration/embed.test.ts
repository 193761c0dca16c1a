/**
 * `examples/embed.ts` against the real local services: an application builds its job in code, takes the command
 * line's live wiring with `liveLayers(job)`, produces Confluent-framed records and streams them into a table.
 * tsc covers examples/, so the example also compiles.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { python, root, tempDir } from "./support/run-cli.ts"
import * as NodePath from "node:path"
import { Kafka, logLevel } from "kafkajs"

describe("the embedding example", () => {
  it("runs on liveLayers(job) and writes the 100 records it produced to the real broker", async () => {
    const output = tempDir("embed")
    const result = spawnSync(process.execPath, [NodePath.join(root, "examples/embed.ts"), output], { encoding: "utf8", timeout: 120_000 })
    assert.strictEqual(result.status, 0, result.stderr)
    const summary = JSON.parse(result.stdout) as { topic: string; records: number; table: string }
    assert.strictEqual(summary.records, 100)
    const admin = new Kafka({ brokers: [process.env["KAFKA_BOOTSTRAP"] ?? "127.0.0.1:9092"], logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    const offsets = await admin.fetchTopicOffsets(summary.topic).finally(() => admin.disconnect())
    assert.strictEqual(offsets.reduce((sum, p) => sum + Number(p.high), 0), 100)
    const read = spawnSync(python(), [NodePath.join(root, "scripts/delta-readers/read_table.py"), summary.table], { encoding: "utf8", maxBuffer: 1 << 28 })
    assert.strictEqual(read.status, 0, read.stderr)
    assert.strictEqual((JSON.parse(read.stdout) as { numRows: number }).numRows, 100)
  })
})
