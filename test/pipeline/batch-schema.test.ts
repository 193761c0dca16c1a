/** Writer schemas within one batch: each must fit the table and the batch's other writer schemas. */
import { assert, describe, expect, it } from "@effect/vitest"
import avro from "avsc"
import { Effect } from "effect"
import { twosComplementFromBigInt } from "../../src/avro/decoder.ts"
import { demoEvent, demoEventSchema } from "../../src/demo/events.ts"
import { testJob, World } from "../support/memory-pipeline.ts"

/** The demo schema plus a nullable field `coupon` of `type`. */
const withNote = (type: string) => ({ ...demoEventSchema, fields: [...demoEventSchema.fields, { name: "coupon", type: ["null", type], default: null }] })

/** Registers `schema` and produces one record of it to `partition`. */
const produceWith = (world: World, schema: ReturnType<typeof withNote>, coupon: unknown, partition: number) => {
  const id = world.registry.register("test.orders-value", JSON.stringify(schema))
  const { amountCents, ...event } = demoEvent(7, 100 + partition)
  const body = avro.Type.forSchema(schema as never).toBuffer({ ...event, amount: twosComplementFromBigInt(amountCents), coupon })
  const header = Buffer.alloc(5)
  header.writeUInt32BE(id, 1)
  world.produceRaw(partition, Buffer.concat([header, body]))
  return id
}

describe("writer schemas in one batch", () => {
  it.live("two writer schemas that each fit the table but not each other stop the run with SchemaMismatchError", () =>
    Effect.gen(function*() {
      const world = new World(2)
      world.produce(10)
      yield* world.run(testJob())
      const asInt = produceWith(world, withNote("int"), 1, 0)
      const asString = produceWith(world, withNote("string"), "one", 1)
      const error = yield* Effect.flip(world.run(testJob()))
      assert.strictEqual(error._tag, "SchemaMismatchError")
      expect(error.message).toContain("coupon")
      expect(error.message).toMatch(new RegExp(`writer schema id (${asInt}|${asString})`))
      assert.strictEqual(world.delta.tables.get("/mem/orders")!.commits.length, 1) // nothing of the batch committed
    }))
})
