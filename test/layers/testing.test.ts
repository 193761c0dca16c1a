/**
 * `kafka-delta/testing` as a library user's unit test uses it: a job with in-memory defaults, Avro records
 * produced Confluent-framed into the in-memory Kafka, the stream run, the rows read back. The set-up stays under
 * ten lines, as the README shows it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { encodeFrame, parseFrame, runStream, silentReporter } from "../../src/index.ts"
import { DeltaSinkMemory, KafkaMemory, produceAvro, SchemaRegistryMemory, testJob, testLayers } from "../../layers/testing.ts"

const schema = { type: "record", name: "Reading", fields: [{ name: "sensor", type: "string" }, { name: "celsius", type: "double" }] }

describe("kafka-delta/testing", () => {
  it.effect("testJob and produceAvro: a pipeline test in a few lines", () =>
    Effect.gen(function*() {
      const kafka = new KafkaMemory.MemoryKafka(), registry = new SchemaRegistryMemory.MemoryRegistry(), delta = new DeltaSinkMemory.MemoryDelta()
      produceAvro({ kafka, registry, topic: "readings", schema, records: [{ sensor: "a", celsius: 21.5 }, { sensor: "b", celsius: -3 }] })
      const job = testJob({ topic: "readings" })
      yield* runStream({ reporter: silentReporter }).pipe(Effect.provide(testLayers(job, { kafka, registry, delta })))
      const rows = delta.rows(job.table.location).map(({ sensor, celsius }) => ({ sensor, celsius }))
      assert.deepStrictEqual(rows, [{ sensor: "a", celsius: 21.5 }, { sensor: "b", celsius: -3 }])
    }))

  it.effect("a schema id above 255 is framed as magic byte 0 and a 4-byte big-endian id, and its records land", () =>
    Effect.gen(function*() {
      const kafka = new KafkaMemory.MemoryKafka(), registry = new SchemaRegistryMemory.MemoryRegistry(), delta = new DeltaSinkMemory.MemoryDelta()
      // push the registry's ids past one byte
      for (let i = 0; i < 300; i++) registry.register("other-value", JSON.stringify({ type: "record", name: `R${i}`, fields: [] }))
      const { schemaId } = produceAvro({ kafka, registry, topic: "wide-ids", schema, records: [{ sensor: "a", celsius: 1 }] })
      assert.isAbove(schemaId, 255)
      assert.deepStrictEqual([...kafka.fetch("wide-ids", 0, 0, 1)[0]!.value!.subarray(0, 5)], [0, 0, 0, schemaId >> 8, schemaId & 0xff])
      const job = testJob({ topic: "wide-ids" })
      yield* runStream({ reporter: silentReporter }).pipe(Effect.provide(testLayers(job, { kafka, registry, delta })))
      assert.deepStrictEqual(delta.rows(job.table.location).map((row) => row["sensor"]), ["a"])
    }))

  it("encodeFrame and parseFrame agree on ids of every width", () => {
    for (const id of [0, 1, 255, 256, 70_000, 2 ** 31 - 1]) {
      const frame = parseFrame(encodeFrame(id, new Uint8Array([9])))
      assert.deepStrictEqual(frame, { _tag: "Frame", schemaId: id, bodyOffset: 5 })
    }
  })
})
