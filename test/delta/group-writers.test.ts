/**
 * Writers of one stream's partitions in group mode, at the protocol level: members commit different partitions'
 * txns side by side, and a member whose table was widened by another (an added nullable column) commits its
 * narrower batch into the wider table.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import * as MemorySink from "../../layers/delta-sink/memory-storage.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"

const narrow = new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), true)])
const wide = new Arrow.Schema([...narrow.fields, new Arrow.Field("channel", new Arrow.Utf8(), true)])

describe("group members on one table", () => {
  it.live("a member whose table another member widened commits its narrower batch; each keeps its partitions' txns", () =>
    Effect.gen(function*() {
      const files = makeMemoryFiles()
      const table = { name: "group", location: "mem/group" }
      const a = yield* MemorySink.make({ files })
      const b = yield* MemorySink.make({ files })
      const append = (sink: typeof a, schema: Arrow.Schema, rows: Array<Record<string, unknown>>, appId: string, version: number, expected: number | undefined) =>
        sink.append({ table, schema, data: [tableOf(schema, rows)], partitionBy: [], txns: [{ appId, version, expected }], operationParameters: {} })
      yield* append(a, narrow, [{ id: 1n }], "s-p0", 1, undefined)
      yield* append(b, wide, [{ id: 2n, channel: "web" }], "s-p1", 1, undefined)
      // the first member still decodes with the old writer schema
      yield* append(a, narrow, [{ id: 3n }], "s-p0", 2, 1)
      yield* append(b, wide, [{ id: 4n, channel: "app" }], "s-p1", 2, 1)
      const snapshot = Option.getOrThrow(yield* readSnapshot(memoryStorage("group", "mem/group", files)))
      assert.strictEqual(snapshot.version, 3)
      assert.deepStrictEqual(snapshot.schema.fields.map((f) => f.name), ["id", "channel"])
      assert.strictEqual(snapshot.txns.get("s-p0")?.version, 2)
      assert.strictEqual(snapshot.txns.get("s-p1")?.version, 2)
    }))
})
