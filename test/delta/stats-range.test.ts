import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { deltaSchemaOf } from "../../src/delta/schema.ts"
import { computeStats } from "../../src/delta/stats.ts"

describe("stats of dates and timestamps outside years 1-9999", () => {
  it("leave min and max out rather than writing text readers cannot parse", () => {
    const schema = new Arrow.Schema([
      new Arrow.Field("day", new Arrow.DateDay(), true),
      new Arrow.Field("at", new Arrow.TimestampMicrosecond("UTC"), true),
      new Arrow.Field("local", new Arrow.TimestampMicrosecond(), true),
      new Arrow.Field("ok", new Arrow.DateDay(), true)
    ])
    const rows = [
      // year 0 (-0001 in ISO), year 10000, and a timestamp past Date's range
      { day: -719_163, at: 253_402_300_800_000_000n, local: -9_000_000_000_000_000_000n, ok: 0 },
      { day: 2_932_897, at: 0n, local: 0n, ok: 2_932_896 }
    ]
    const stats = JSON.parse(computeStats(tableOf(schema, rows), deltaSchemaOf(schema)))
    assert.deepStrictEqual(stats.minValues, { ok: "1970-01-01" })
    assert.deepStrictEqual(stats.maxValues, { ok: "9999-12-31" })
    assert.deepStrictEqual(stats.nullCount, { day: 0, at: 0, local: 0, ok: 0 })
  })
})
