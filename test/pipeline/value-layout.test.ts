/**
 * The notebook's table layout: a table whose only column is the struct `value` gets `value` rows (and `_kafka`
 * only when the table has it); `delta.layout` overrides; dead letters stay in kafka-delta's flat layout.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { Effect } from "effect"
import { kafkaField } from "../../src/avro/index.ts"
import { demoEventSchema } from "../../src/demo/events.ts"
import { avroCodec } from "../../src/pipeline/avro-codec.ts"
import { codecForJob, layoutOfSchema } from "../../src/pipeline/value-layout.ts"
import { runStream } from "../../src/pipeline/stream.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { testJob, World } from "../support/memory-pipeline.ts"

/** The demo record's fields, all nullable, as Spark's Delta sink leaves a `from_avro(...)` struct. */
const recordFields = (): Array<Arrow.Field> => {
  const writer = avroCodec.writerSchema(1, JSON.stringify(demoEventSchema))
  if ("reason" in writer) throw new Error(writer.reason)
  return writer.arrowSchema.fields.filter((f) => f.name !== "_kafka").map((f) => new Arrow.Field(f.name, f.type, true))
}

const notebookSchema = (withKafka: boolean) =>
  new Arrow.Schema([
    new Arrow.Field("value", new Arrow.Struct(recordFields()), true),
    ...(withKafka ? [new Arrow.Field("_kafka", kafkaField().type, true)] : [])
  ])

/** Creates the job's table with `schema` and no rows (as a migration leaves a notebook's table). */
const createTable = (world: World, job: ReturnType<typeof testJob>, schema: Arrow.Schema) =>
  Effect.gen(function*() {
    const sink = yield* DeltaSink
    yield* sink.append({ table: job.table, schema, data: [], partitionBy: [], txns: [], operationParameters: {} })
  }).pipe(Effect.provide(world.layers(job)))

const runWithTableCodec = (world: World, job: ReturnType<typeof testJob>) =>
  Effect.gen(function*() {
    const codec = yield* codecForJob(avroCodec)
    return yield* runStream({ codec })
  }).pipe(Effect.provide(world.layers(job)))

describe("the value layout", () => {
  it("is read from the table schema", () => {
    assert.strictEqual(layoutOfSchema(notebookSchema(false)), "value")
    assert.strictEqual(layoutOfSchema(notebookSchema(true)), "value")
    assert.strictEqual(layoutOfSchema(new Arrow.Schema(recordFields())), "columns")
    assert.strictEqual(layoutOfSchema(undefined), "columns")
  })

  it.live("a notebook table gets `value` rows and no `_kafka` column", () =>
    Effect.gen(function*() {
      const world = new World(2)
      const job = testJob()
      yield* createTable(world, job, notebookSchema(false))
      world.produce(300)
      yield* runWithTableCodec(world, job)
      const rows = world.delta.rows(job.table.location)
      assert.strictEqual(rows.length, 300)
      assert.deepStrictEqual(Object.keys(rows[0]!), ["value"])
      const ids = rows.map((row) => Number((row["value"] as { order_id: number }).order_id)).sort((a, b) => a - b)
      const produced = [...world.produced.values()].flatMap((m) => [...m.values()]).map(Number).sort((a, b) => a - b)
      assert.deepStrictEqual(ids, produced)
      const schema = yield* Effect.gen(function*() {
        return yield* (yield* DeltaSink).schema(job.table)
      }).pipe(Effect.provide(world.layers(job)))
      assert.deepStrictEqual(schema._tag === "Some" ? schema.value.fields.map((f) => f.name) : [], ["value"])
    }))

  it.live("a notebook table with `_kafka` (migrate --add-kafka-column) gets it filled", () =>
    Effect.gen(function*() {
      const world = new World(2)
      const job = testJob()
      yield* createTable(world, job, notebookSchema(true))
      world.produce(50)
      yield* runWithTableCodec(world, job)
      assert.deepStrictEqual(Object.keys(world.delta.rows(job.table.location)[0]!).sort(), ["_kafka", "value"])
      assert.deepStrictEqual(world.offsetsIn(job.table.location).sort(), world.goodOffsets().sort())
    }))

  it.live("delta.layout: value creates a new table in the value layout; dead letters stay flat", () =>
    Effect.gen(function*() {
      const world = new World(1)
      const job = { ...testJob({ onBadRecord: "dead-letter" }), layout: "value" as const }
      world.produce(10)
      world.produceRaw(0, new Uint8Array([1, 2, 3]))
      yield* runWithTableCodec(world, job)
      const rows = world.delta.rows(job.table.location)
      assert.strictEqual(rows.length, 10)
      assert.deepStrictEqual(Object.keys(rows[0]!), ["value"])
      const letters = world.delta.rows(job.deadLetterTable.location)
      assert.strictEqual(letters.length, 1)
      assert.include(Object.keys(letters[0]!), "error")
    }))
})
