/**
 * Scenarios 1 and 10 of the fault suite. SIGKILL at random moments: a continuous run is killed ten times while
 * records are being produced (200,000 in all by default; FAULTS_RECORDS changes it, FAULTS_SEED fixes the kill
 * moments), restarted each time, then drained with available-now; delta-rs finds every produced offset once and
 * txn versions at the next offsets. Graceful stop: SIGTERM during a busy run exits 0 within the grace period,
 * leaving the table an exact prefix (the last batch committed or never started, no half-written files).
 */
import { assert, describe, it } from "vitest"
import { assertExactlyOnce, batchLines, check, produce, reportCheck, runArgs, runToEnd, scenario, sleep, start, vacuumDryRun } from "./support/harness.ts"

const records = Number(process.env["FAULTS_RECORDS"] ?? "200000")
const kills = 10

/** A small deterministic generator (mulberry32), so a failing run can be replayed with FAULTS_SEED. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("SIGKILL at random moments of a continuous run", () => {
  it(`${kills} kills and restarts while ${records} records arrive, then a drain: exactly once`, async () => {
    const started = Date.now()
    const seed = Number(process.env["FAULTS_SEED"] ?? String(Date.now() % 1_000_000))
    const next = random(seed)
    const s = scenario("random-sigkill", { stream: { maxBatchRecords: 2000, maxBatchInterval: "200 millis" } })
    const perRound = Math.ceil(records / kills)
    let killedAfterCommits = 0
    const moments: Array<number> = []
    for (let round = 0; round < kills; round++) {
      const count = Math.min(perRound, records - round * perRound)
      const running = start(runArgs(s, "continuous"))
      // produce while the stream runs, so kills land in fetches, decoding, Parquet writes and commits alike
      const producing = produce(s, { count, start: round * perRound, partitions: 3 })
      await running.waitFor(/starting /, 60_000)
      const moment = Math.round(200 + next() * 2500)
      moments.push(moment)
      await sleep(moment)
      assert.strictEqual(running.child.exitCode, null, `the stream is still running when killed: ${running.stderr()}`)
      running.child.kill("SIGKILL")
      const exit = await running.exited
      assert.strictEqual(exit.signal, "SIGKILL")
      if (batchLines(running.stderr()) > 0) killedAfterCommits++
      await producing
      const mid = await check(s, { uptoTxn: true })
      assert.strictEqual(mid.duplicates, 0, `round ${round} (seed ${seed}): duplicates after the kill, e.g. ${JSON.stringify(mid.duplicateSample)}`)
      assert.strictEqual(mid.missing, 0, `round ${round} (seed ${seed}): the table is not the exact prefix its txn versions claim`)
    }
    const drain = await runToEnd(runArgs(s, "available-now"))
    assert.strictEqual(drain.status, 0, drain.stderr)
    assert.match(drain.stderr, /drained:/)
    const final = await check(s)
    assertExactlyOnce(final)
    assert.strictEqual(final.rows, records)
    assert.isAbove(killedAfterCommits, 0, "some kills landed after commits of the same run")
    reportCheck(s, final, kills + 1, started, `seed ${seed}; kill moments ${moments.join(",")} ms after start; ${killedAfterCommits} kills after a commit of that run`)
  })
})

describe("graceful stop", () => {
  it("SIGTERM during a busy run exits 0 within the grace period; the last batch is committed or not started", async () => {
    const started = Date.now()
    const graceMs = 10_000
    const s = scenario("sigterm-busy", { stream: { maxBatchRecords: 2000, maxBatchInterval: "200 millis", gracePeriod: `${graceMs} millis` } })
    await produce(s, { count: 20_000, partitions: 3 })
    const running = start(runArgs(s, "continuous"))
    const producing = produce(s, { count: 60_000, start: 20_000, partitions: 3 })
    await running.waitFor(/batch \d+ -> version \d+/, 60_000)
    const signalled = Date.now()
    running.child.kill("SIGTERM")
    const exit = await running.exited
    const stopMs = Date.now() - signalled
    await producing
    assert.strictEqual(exit.code, 0, `exit status after SIGTERM: ${running.stderr().slice(-2000)}`)
    assert.isBelow(stopMs, graceMs, "stopped within the grace period")
    const stopped = await check(s, { uptoTxn: true })
    assert.strictEqual(stopped.duplicates, 0)
    assert.strictEqual(stopped.missing, 0, "the table holds exactly the records below its txn versions")
    assert.strictEqual(stopped.unexpected, 0)
    assert.deepStrictEqual(await vacuumDryRun(s.table), [], "no files of a half-done batch")

    const drain = await runToEnd(runArgs(s, "available-now"))
    assert.strictEqual(drain.status, 0, drain.stderr)
    const final = await check(s)
    assertExactlyOnce(final)
    reportCheck(s, final, 1, started, `stopped ${stopMs} ms after SIGTERM with ${stopped.rows} rows committed (grace ${graceMs} ms)`)
  })
})
