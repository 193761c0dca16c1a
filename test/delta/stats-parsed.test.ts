import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"
import { tableOf } from "../../src/delta/arrow-values.ts"
import { readSnapshot } from "../../src/delta/log.ts"
import { exitAfterOutput } from "../support/python-exit.ts"
import { python, tempDir } from "./support.ts"

// delta-rs writes three commits and a checkpoint whose file stats are only in stats_parsed
const createWithDeltaRs = `
import sys, datetime, decimal
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
config = {"delta.checkpoint.writeStatsAsStruct": "true", "delta.checkpoint.writeStatsAsJson": "false"}
for i in range(3):
    t = pa.table({
        "id": pa.array([i, 9_007_199_254_740_993 + i], pa.int64()),
        "s": ["a%d" % i, None],
        "day": pa.array([datetime.date(2020, 1, 1 + i), None]),
        "at": pa.array([datetime.datetime(2020, 1, 1, 0, 0, i, 123000, tzinfo=datetime.timezone.utc), None]),
        "amount": pa.array([decimal.Decimal("12.34"), decimal.Decimal("-0.01")], pa.decimal128(10, 2)),
        "p": ["x", "y"],
    })
    write_deltalake(sys.argv[1], t, mode="append", partition_by=["p"], configuration=config if i == 0 else None)
DeltaTable(sys.argv[1]).create_checkpoint()
`

// our checkpoint as files see it: stats JSON must be absent, stats_parsed present, delta-rs must see stats
const inspect = `
import sys, json, glob
import pyarrow.parquet as pq
from deltalake import DeltaTable
checkpoint = sorted(glob.glob(sys.argv[1] + "/_delta_log/*.checkpoint.parquet"))[-1]
adds = [r["add"] for r in pq.read_table(checkpoint).to_pylist() if r["add"] is not None]
import pyarrow as pa
actions = pa.table(DeltaTable(sys.argv[1]).get_add_actions(flatten=True)).to_pylist()
print(json.dumps({
    "checkpoint": checkpoint.rsplit("/", 1)[1],
    "files": len(adds),
    "statsJson": sum(1 for a in adds if a.get("stats") is not None),
    "statsParsed": sum(1 for a in adds if (a.get("stats_parsed") or {}).get("numRecords") is not None),
    "partitionValuesParsed": sorted(str((a.get("partitionValues_parsed") or {}).get("p")) for a in adds),
    "minIds": sorted(str(a["stats_parsed"]["minValues"]["id"]) for a in adds if a.get("stats_parsed")),
    "deltaRsWithStats": sum(1 for a in actions if a.get("num_records") is not None),
}, default=str))
`

describe("stats_parsed in log checkpoints", () => {
  it.live("stats that delta-rs kept only in stats_parsed survive into our checkpoint, written as the table asks", () =>
    Effect.gen(function*() {
      const location = path.join(tempDir(), "stats-parsed")
      execFileSync(python(), ["-c", createWithDeltaRs + exitAfterOutput, location], { encoding: "utf8" })
      // replay from delta-rs's checkpoint alone recovers every file's stats JSON, exact longs included
      const before = Option.getOrThrow(yield* readSnapshot(FilesystemSink.localStorage(location)))
      assert.strictEqual(before.files.size, 6)
      for (const add of before.files.values()) {
        const stats = JSON.parse(add.stats ?? "null")
        assert.strictEqual(stats?.numRecords, 1, add.path)
      }
      const idsText = [...before.files.values()].map((add) => add.stats!).join("\n")
      assert.include(idsText, `"id":9007199254740994`)
      assert.include(idsText, `"amount":-0.01`)
      assert.include(idsText, `"at":"2020-01-01T00:00:02.123Z"`)
      assert.include(idsText, `"day":"2020-01-03"`)
      const sink = yield* FilesystemSink.make({ checkpointInterval: 1 })
      const schema = Option.getOrThrow(yield* sink.schema({ name: "stats-parsed", location }))
      const row = { id: 7n, s: "ours", day: 19_000, at: 1_700_000_000_000_000n, amount: 5n, p: "z" }
      yield* sink.append({
        table: { name: "stats-parsed", location },
        schema,
        data: [tableOf(new Arrow.Schema(schema.fields), [row])],
        partitionBy: [],
        txns: [],
        operationParameters: {}
      })
      const seen = JSON.parse(execFileSync(python(), ["-c", inspect + exitAfterOutput, location], { encoding: "utf8" }))
      assert.strictEqual(seen.checkpoint, "00000000000000000003.checkpoint.parquet")
      assert.strictEqual(seen.files, 7)
      assert.strictEqual(seen.statsJson, 0)
      assert.strictEqual(seen.statsParsed, 7)
      assert.deepStrictEqual(seen.partitionValuesParsed, ["x", "x", "x", "y", "y", "y", "z"])
      assert.include(seen.minIds, "9007199254740995")
      assert.strictEqual(seen.deltaRsWithStats, 7)
      // and our own checkpoint reads back into the same stats
      const after = Option.getOrThrow(yield* readSnapshot(FilesystemSink.localStorage(location)))
      for (const [file, add] of before.files) {
        assert.deepStrictEqual(JSON.parse(after.files.get(file)?.stats ?? "null"), JSON.parse(add.stats!))
      }
    }), 120_000)
})
