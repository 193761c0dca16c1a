/**
 * Scenario 9 of the fault suite: poison records (bad magic byte, unknown schema id, truncated Avro, null value)
 * produced with a raw confluent_kafka.Producer between good records from the AvroSerializer, under each
 * onBadRecord policy: fail stops at the first poison record naming its topic, partition and offset; skip counts
 * them; dead-letter writes exactly them to the dead-letter table. Every good offset lands in the table once.
 */
import * as Fs from "node:fs"
import { assert, describe, it } from "vitest"
import { assertExactlyOnce, check, type Produced, producePoison, reportCheck, runArgs, runToEnd, scenario } from "./support/harness.ts"

const count = 3000
const every = 7 // every 7th record is poison (428 of 3000), cycling through the four kinds, in both partitions

const poisonOf = (produced: Produced) => produced.records.filter((r) => r.kind !== "good")

describe("poison records under each onBadRecord policy", () => {
  it("fail: stops at the first poison record with its topic/partition/offset; a good prefix only", async () => {
    const started = Date.now()
    const s = scenario("poison-fail", { stream: { onBadRecord: "fail" } })
    const produced = await producePoison(s, { count, partitions: 2, every })
    const run = await runToEnd(runArgs(s, "available-now"))
    assert.strictEqual(run.status, 1, run.stderr)
    const firsts = [0, 1].map((p) => poisonOf(produced).filter((r) => r.partition === p).sort((a, b) => a.offset - b.offset)[0]!)
    assert.strictEqual(firsts.filter((r) => r !== undefined).length, 2, "both partitions hold poison")
    const named = firsts.filter((r) => run.stderr.includes(`bad record at ${s.topic} partition ${r.partition} offset ${r.offset}:`))
    assert.strictEqual(named.length, 1, `the failure names the first poison record of a partition: ${run.stderr.slice(-1500)}`)
    // nothing at or past a poison record was committed: the table holds an exact good prefix below its txn versions
    let rows = 0
    try {
      const c = await check(s, { uptoTxn: true })
      assert.strictEqual(c.duplicates + c.missing + c.unexpected, 0, JSON.stringify(c))
      for (const first of firsts) assert.isAtMost(c.txn[`${s.topic}/${first.partition}`] ?? 0, first.offset)
      rows = c.rows
    } catch (error) {
      // no table at all is also a correct outcome: the first batch held a poison record
      assert.match(String(error), /does not exist|TableNotFound/)
    }
    const skipRun = await runToEnd(runArgs(s, "available-now"), { KAFKA_DELTA_STREAM_ONBADRECORD: "skip" })
    assert.strictEqual(skipRun.status, 0, skipRun.stderr)
    const final = await check(s)
    assertExactlyOnce(final)
    reportCheck(s, final, 1, started, `exit 1 naming ${named[0]!.partition}@${named[0]!.offset}; ${rows} good rows before; resumed with skip`)
  })

  it("skip: counts every poison record and writes each good offset once", async () => {
    const started = Date.now()
    const s = scenario("poison-skip", { stream: { onBadRecord: "skip" } })
    const produced = await producePoison(s, { count, partitions: 2, every })
    const run = await runToEnd(runArgs(s, "available-now"))
    assert.strictEqual(run.status, 0, run.stderr)
    const poison = poisonOf(produced)
    assert.match(run.stderr, new RegExp(`drained: .*, ${poison.length} skipped`))
    for (const kind of ["bad-magic", "unknown-id", "truncated", "null"]) {
      const one = poison.find((r) => r.kind === kind)!
      assert.include(run.stderr, `skipped bad record ${s.topic}/${one.partition}@${one.offset}:`, `${kind} is reported`)
    }
    const final = await check(s)
    assertExactlyOnce(final)
    assert.isFalse(Fs.existsSync(s.deadLetterTable), "skip writes no dead-letter table")
    report(s, final, started, `${poison.length} skipped`)
  })

  it("dead-letter: the poison records, and only they, go to the dead-letter table", async () => {
    const started = Date.now()
    const s = scenario("poison-dead-letter", { stream: { onBadRecord: "dead-letter" } })
    const produced = await producePoison(s, { count, partitions: 2, every })
    const run = await runToEnd(runArgs(s, "available-now"))
    assert.strictEqual(run.status, 0, run.stderr)
    const final = await check(s, { deadLetter: true })
    assertExactlyOnce(final)
    const dl = final.deadLetter!
    assert.strictEqual(dl.duplicates, 0)
    assert.strictEqual(dl.missing, 0, `dead letters missing, e.g. ${JSON.stringify(dl.missingSample)}`)
    assert.strictEqual(dl.unexpected, 0, `good records dead-lettered, e.g. ${JSON.stringify(dl.unexpectedSample)}`)
    assert.strictEqual(dl.rows, poisonOf(produced).length)
    report(s, final, started, `${dl.rows} dead letters, all poison`)
  })
})

const report = (s: Parameters<typeof reportCheck>[0], c: Parameters<typeof reportCheck>[1], started: number, notes: string) =>
  reportCheck(s, c, 0, started, notes)
