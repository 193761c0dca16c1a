/**
 * Scenarios 6, 7 and 8 of the fault suite: retention deleting records the stream has not read (failOnDataLoss
 * true stops with a DataLossError naming partition and offsets; false goes on from the earliest offset, counting
 * the loss, without duplicates); a partition added while a continuous run is going (its records arrive from its
 * earliest offset); two processes for one stream (one keeps writing, the other stops with "stream already
 * running"); and two streams writing one table (both land, no commit lost).
 */
import { assert, describe, it } from "vitest"
import {
  assertExactlyOnce,
  check,
  kafkaAdmin,
  produce,
  reportCheck,
  runArgs,
  runToEnd,
  scenario,
  sleep,
  start
} from "./support/harness.ts"

describe("retention removes unread records while the stream is stopped", () => {
  it("failOnDataLoss=true stops naming partition and offsets; false continues, counts the loss, no duplicates", async () => {
    const started = Date.now()
    const s = scenario("data-loss")
    const first = await produce(s, { count: 2000, partitions: 2 })
    const run1 = await runToEnd(runArgs(s, "available-now"))
    assert.strictEqual(run1.status, 0, run1.stderr)
    const second = await produce(s, { count: 2000, start: 2000, partitions: 2 })
    const next0 = Math.max(...first.records.filter((r) => r.partition === 0).map((r) => r.offset)) + 1
    const unread0 = second.records.filter((r) => r.partition === 0).map((r) => r.offset).sort((a, b) => a - b)
    assert.strictEqual(unread0[0], next0)
    const cut = unread0[500]! // delete the first 500 unread records of partition 0
    kafkaAdmin(["delete-records-to", s.topic, "0", String(cut)])

    const strict = await runToEnd(runArgs(s, "available-now"))
    assert.strictEqual(strict.status, 1, strict.stderr)
    assert.match(strict.stderr, /DataLoss|data loss/i)
    assert.match(strict.stderr, new RegExp(`partition 0: next offset to read is ${next0} but the partition holds offsets ${cut}\\b`))
    const untouched = await check(s, { uptoTxn: true })
    assert.strictEqual(untouched.rows, 2000, "nothing written by the failed run")

    const lenient = await runToEnd(runArgs(s, "available-now"), { KAFKA_DELTA_STREAM_FAILONDATALOSS: "false" })
    assert.strictEqual(lenient.status, 0, lenient.stderr)
    assert.match(lenient.stderr, new RegExp(`partition 0: expected offset ${next0}.*continuing from ${cut} \\(failOnDataLoss=false, ${cut - next0} offsets lost\\)`))
    assert.match(lenient.stderr, new RegExp(`drained: .*, ${cut - next0} offsets lost`))
    const final = await check(s, { lost: { [`${s.topic}/0`]: [next0, cut] } })
    assertExactlyOnce(final)
    const again = await runToEnd(runArgs(s, "available-now"), { KAFKA_DELTA_STREAM_FAILONDATALOSS: "false" })
    assert.strictEqual(again.status, 0, again.stderr)
    assertExactlyOnce(await check(s, { lost: { [`${s.topic}/0`]: [next0, cut] } }))
    reportCheck(s, final, 3, started, `${cut - next0} offsets deleted (partition 0 ${next0}..${cut - 1}); strict run exit 1, lenient run reported them`)
  })
})

describe("a partition added while the stream runs", () => {
  it("its records arrive, from its earliest offset", async () => {
    const started = Date.now()
    const s = scenario("partition-added")
    await produce(s, { count: 1000, partitions: 2 })
    const running = start(runArgs(s, "continuous"))
    await running.waitFor(/batch \d+ -> version \d+/, 60_000)
    const added = await produce(s, { count: 2000, start: 1000, partitions: 4 })
    assert.isTrue(added.records.some((r) => r.partition === 3 && r.offset === 0), "the new partition starts at offset 0")
    // kafkajs sees added partitions on its metadata refresh (metadataMaxAge, 30 s by default)
    let last = await check(s)
    const deadline = Date.now() + 120_000
    while (last.missing > 0 && Date.now() < deadline && running.child.exitCode === null) {
      await sleep(2000)
      last = await check(s)
    }
    assert.strictEqual(running.child.exitCode, null, running.stderr())
    running.child.kill("SIGTERM")
    const exit = await running.exited
    assert.strictEqual(exit.code, 0, running.stderr())
    assertExactlyOnce(last, "the continuous run's table")
    const final = await check(s)
    assertExactlyOnce(final)
    reportCheck(s, final, 0, started, `partitions 2 -> 4 while running; new partitions landed ${Math.round((Date.now() - started) / 1000)} s into the test`)
  })
})

describe("two processes for the same stream", () => {
  it("exactly one keeps writing; the other stops with \"stream already running\"", async () => {
    const started = Date.now()
    const s = scenario("two-processes")
    await produce(s, { count: 3000, partitions: 3 })
    const a = start(runArgs(s, "continuous"))
    const b = start(runArgs(s, "continuous"))
    const loser = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)])
    const winner = loser === a ? b : a
    const lost = await loser.exited
    assert.strictEqual(lost.code, 1, loser.stderr())
    assert.match(loser.stderr(), /stream already running: checkpoint .* is held by process \d+/)
    assert.notMatch(loser.stderr(), /batch \d+ -> version/, "the loser wrote nothing")
    await produce(s, { count: 3000, start: 3000, partitions: 3 })
    let last = await check(s)
    for (let i = 0; i < 30 && last.missing > 0; i++) {
      await sleep(1000)
      last = await check(s)
    }
    assert.strictEqual(winner.child.exitCode, null, "the winner keeps running")
    winner.child.kill("SIGTERM")
    assert.strictEqual((await winner.exited).code, 0, winner.stderr())
    const final = await check(s)
    assertExactlyOnce(final)
    reportCheck(s, final, 0, started, "second process exited 1: stream already running")
  })

  it("two streams (two topics) writing one table: both land, no commit lost", async () => {
    const started = Date.now()
    const s = scenario("two-streams-one-table", { delta: { table: "shared" }, stream: { maxBatchRecords: 500, maxBatchInterval: "100 millis" } })
    const other = `${s.topic}_b`
    await produce(s, { count: 500, partitions: 2 })
    await produce(s, { count: 500, partitions: 2, topic: other })
    const a = start(runArgs(s, "continuous"))
    const b = start(runArgs(s, "continuous", other))
    await Promise.all([a.waitFor(/batch \d+ -> version/), b.waitFor(/batch \d+ -> version/)])
    // both streams commit many small batches at the same time, racing for the same table versions
    for (let round = 0; round < 5; round++) {
      await Promise.all([
        produce(s, { count: 2000, start: 500 + round * 2000, partitions: 2 }),
        produce(s, { count: 2000, start: 500 + round * 2000, partitions: 2, topic: other })
      ])
    }
    let last = await check(s)
    for (let i = 0; i < 30 && last.missing > 0; i++) {
      await sleep(1000)
      last = await check(s)
    }
    for (const p of [a, b]) {
      assert.strictEqual(p.child.exitCode, null, p.stderr())
      p.child.kill("SIGTERM")
    }
    assert.strictEqual((await a.exited).code, 0, a.stderr())
    assert.strictEqual((await b.exited).code, 0, b.stderr())
    assertExactlyOnce(last, "while both ran")
    for (const topic of [s.topic, other]) {
      const drain = await runToEnd(runArgs(s, "available-now", topic))
      assert.strictEqual(drain.status, 0, drain.stderr)
    }
    const final = await check(s)
    assertExactlyOnce(final)
    reportCheck(s, final, 0, started, `two topics into one table, ${(final.version ?? -1) + 1} table versions`)
  })
})
