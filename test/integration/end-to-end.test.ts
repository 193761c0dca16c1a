/**
 * End to end against the real local services: records produced by someone else's client (confluent-kafka's
 * AvroSerializer, registering with the real registry) are streamed by the real `kafka-delta` process into a
 * Delta table that delta-rs reads back — every record and every `_kafka` field. Also over SASL_SSL (PLAIN and
 * SCRAM-SHA-512) with the registry behind TLS and basic auth, and the failures a person must be able to act on.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import * as NodePath from "node:path"
import { beforeAll } from "vitest"
import { servicesEnv } from "./support/services-env.ts"
import { localEnvironment, produce, readTable, runCli, tempDir, writeEnvironment } from "./support/run-cli.ts"
import { appIdsOf, assertStreamedOnce, type ProducedRecord } from "./support/streamed-table.ts"

const orderSchema = {
  type: "record",
  name: "Order",
  namespace: "it",
  fields: [
    { name: "id", type: "long" },
    { name: "customer", type: "string" },
    { name: "status", type: { type: "enum", name: "Status", symbols: ["NEW", "PAID", "SHIPPED"] } },
    { name: "amount", type: { type: "bytes", logicalType: "decimal", precision: 12, scale: 2 } },
    { name: "placed_at", type: { type: "long", logicalType: "timestamp-millis" } },
    { name: "note", type: ["null", "string"], default: null },
    {
      name: "address",
      type: { type: "record", name: "Address", fields: [{ name: "city", type: "string" }, { name: "zip", type: ["null", "int"], default: null }] }
    },
    { name: "items", type: { type: "array", items: "string" } },
    { name: "attrs", type: { type: "map", values: "long" } }
  ]
}

const evolvedSchema = { ...orderSchema, fields: [...orderSchema.fields, { name: "channel", type: ["null", "string"], default: null }] }

beforeAll(() => {
  servicesEnv()
})

/** The micros-since-epoch text delta-rs's reader prints, for an ISO timestamp the producer printed. */
const micros = (iso: string): string => String(BigInt(Date.parse(iso)) * 1000n)

/** Compares one produced value with the row delta-rs read, field by field. */
const assertRowMatches = (produced: Record<string, unknown>, row: Record<string, unknown>) => {
  assert.strictEqual(row["id"], String(produced["id"]))
  assert.strictEqual(row["customer"], produced["customer"])
  assert.strictEqual(row["status"], produced["status"])
  assert.strictEqual(row["amount"], produced["amount"])
  assert.strictEqual(row["placed_at"], micros(produced["placed_at"] as string))
  assert.strictEqual(row["note"], produced["note"])
  const address = produced["address"] as { city: string; zip: number | null }
  assert.deepStrictEqual(row["address"], { city: address.city, zip: address.zip === null ? null : String(address.zip) })
  assert.deepStrictEqual(row["items"], produced["items"])
  const attrs = Object.fromEntries((row["attrs"] as Array<[string, string]>).map(([k, v]) => [k, v]))
  assert.deepStrictEqual(attrs, Object.fromEntries(Object.entries(produced["attrs"] as Record<string, number>).map(([k, v]) => [k, String(v)])))
}

const checkTable = (location: string, topic: string, produced: ReadonlyArray<ProducedRecord>, partitions: number) => {
  const table = readTable(location, appIdsOf(topic, partitions))
  assertStreamedOnce(table, topic, produced, partitions, (record, row) => {
    assertRowMatches(record.value, row)
    const kafka = row["_kafka"] as { topic: string; key: string; timestamp: string }
    assert.strictEqual(kafka.topic, topic)
    assert.strictEqual(Buffer.from(kafka.key, "hex").toString(), record.key)
    expect(Number(kafka.timestamp)).toBeGreaterThan(0)
  })
  return table
}

describe("kafka-delta run against the local Kafka and registry", () => {
  it("streams what confluent-kafka produced, appends only new records on a second run, and evolves the schema", () => {
    const dir = tempDir("e2e")
    const topic = `e2e_${randomUUID().slice(0, 8)}`
    const environments = writeEnvironment(dir, "It", localEnvironment(dir))
    const args = ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now"]
    const location = NodePath.join(dir, "lakehouse", "it", "raw", topic)

    const first = produce({ topic, schema: orderSchema, count: 300, partitions: 3, dir })
    const run1 = runCli(args)
    assert.strictEqual(run1.status, 0, run1.stderr)
    expect(run1.stderr).toContain("300 records")
    checkTable(location, topic, first.records, 3)

    const second = produce({ topic, schema: orderSchema, count: 50, start: 300, partitions: 3, dir })
    const run2 = runCli(args)
    assert.strictEqual(run2.status, 0, run2.stderr)
    expect(run2.stderr).toContain("drained: 1 commits, 50 records")
    checkTable(location, topic, [...first.records, ...second.records], 3)

    const evolved = produce({ topic, schema: evolvedSchema, count: 30, start: 350, partitions: 3, dir })
    const run3 = runCli(args)
    assert.strictEqual(run3.status, 0, run3.stderr)
    const table = checkTable(location, topic, [...first.records, ...second.records, ...evolved.records], 3)
    expect(table.schema.some((field) => field.startsWith("channel:"))).toBe(true)
    const channels = new Map(table.rows.map((row) => [String((row["_kafka"] as { partition: string; offset: string }).partition) + ":" + String((row["_kafka"] as { offset: string }).offset), row["channel"]]))
    for (const record of first.records.slice(0, 20)) assert.strictEqual(channels.get(`${record.partition}:${record.offset}`), null)
    for (const record of evolved.records) assert.strictEqual(channels.get(`${record.partition}:${record.offset}`), record.value["channel"])
  })

  for (const mechanism of ["PLAIN", "SCRAM-SHA-512"] as const) {
    it(`streams over SASL_SSL with ${mechanism}, the registry behind TLS and basic auth, secrets from the environment`, () => {
      const services = servicesEnv()
      const dir = tempDir("sasl")
      const topic = `sasl_${randomUUID().slice(0, 8)}`
      const environments = writeEnvironment(dir, "It", localEnvironment(dir, {
        kafka: {
          bootstrapServers: services.kafkaSaslSslBootstrap,
          securityProtocol: "SASL_SSL",
          saslMechanism: mechanism,
          username: { secret: "kafka-user" },
          password: { secret: "kafka-password" },
          caFile: services.kafkaCaFile
        },
        schemaRegistry: {
          url: services.schemaRegistrySecureUrl,
          username: { secret: "sr-user" },
          password: { secret: "sr-password" },
          caFile: services.schemaRegistryCaFile
        }
      }))
      const secrets = {
        KAFKA_DELTA_SECRET_IT_KAFKA_USER: mechanism === "PLAIN" ? services.kafkaPlainUser : services.kafkaScramUser,
        KAFKA_DELTA_SECRET_IT_KAFKA_PASSWORD: mechanism === "PLAIN" ? services.kafkaPlainPassword : services.kafkaScramPassword,
        KAFKA_DELTA_SECRET_IT_SR_USER: services.schemaRegistryUser,
        KAFKA_DELTA_SECRET_IT_SR_PASSWORD: services.schemaRegistryPassword
      }
      const produced = produce({ topic, schema: orderSchema, count: 60, partitions: 2, dir })
      const run = runCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now"], secrets)
      assert.strictEqual(run.status, 0, run.stderr)
      checkTable(NodePath.join(dir, "lakehouse", "it", "raw", topic), topic, produced.records, 2)
      for (const value of Object.values(secrets).filter((v) => v.includes("secret"))) {
        expect(run.stderr).not.toContain(value)
      }

      // a wrong password fails fast, with the user, the broker and the mechanism in one line
      const wrong = runCli(
        ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now"],
        { ...secrets, KAFKA_DELTA_SECRET_IT_KAFKA_PASSWORD: "not-the-password" },
        90_000
      )
      assert.strictEqual(wrong.status, 1, wrong.stderr)
      const user = secrets.KAFKA_DELTA_SECRET_IT_KAFKA_USER
      expect(wrong.stderr).toContain(`authentication failed for user ${user} on ${services.kafkaSaslSslBootstrap}`)
      expect(wrong.stderr).toContain(mechanism === "PLAIN" ? "SASL PLAIN" : "SCRAM-SHA-512")
      expect(wrong.stderr).not.toContain("not-the-password")
      expect(wrong.stderr.trim().split("\n").filter((line) => line.startsWith("kafka-delta:"))).toHaveLength(1)
      expect(wrong.ms).toBeLessThan(60_000)
    })
  }

  it("a registry with the wrong password fails with exit 1 and says so", () => {
    const services = servicesEnv()
    const dir = tempDir("sr-auth")
    const topic = `srauth_${randomUUID().slice(0, 8)}`
    produce({ topic, schema: orderSchema, count: 5, partitions: 1, dir })
    const environments = writeEnvironment(dir, "It", localEnvironment(dir, {
      schemaRegistry: { url: services.schemaRegistrySecureUrl, username: { secret: "sr-user" }, password: { secret: "sr-password" }, caFile: services.schemaRegistryCaFile }
    }))
    const run = runCli(
      ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now"],
      { KAFKA_DELTA_SECRET_IT_SR_USER: services.schemaRegistryUser, KAFKA_DELTA_SECRET_IT_SR_PASSWORD: "wrong" }
    )
    assert.strictEqual(run.status, 1, run.stderr)
    expect(run.stderr).toMatch(/schema registry at .* refused the request for user kd-registry \(HTTP 401\)/)
  })

  it("an unreachable broker is retried on the schedule, then fails with one clear line", () => {
    const dir = tempDir("down")
    const environments = writeEnvironment(dir, "It", localEnvironment(dir, {
      kafka: { bootstrapServers: "127.0.0.1:1" },
      stream: { retry: { initialDelay: "100 millis", maxDelay: "200 millis", maxAttempts: 3 } }
    }))
    const run = runCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", "nothing", "--trigger", "available-now"], {}, 120_000)
    assert.strictEqual(run.status, 1, run.stderr)
    expect(run.stderr).toContain("127.0.0.1:1")
    expect(run.stderr).toMatch(/retrying/)
    expect(run.stderr.split("\n").filter((line) => line.startsWith("kafka-delta:"))).toHaveLength(1)
  })
})
