/**
 * Group mode with real processes (issue 15): `kafka-delta run` processes with `stream.scaleOut: "group"` share a
 * 6-partition topic through the consumer group while records are produced; one is SIGKILLed and restarted, one is
 * stopped with SIGSTOP past the session timeout (a zombie) and resumed. Afterwards delta-rs finds every produced
 * offset exactly once, and Kafka's own `kafka-consumer-groups.sh` reports lag 0 for the group the positions are
 * mirrored to. And the scaling scenario: members scaled 1 -> 3 -> 2 -> 1 (a SIGKILL, then a SIGTERM) on a
 * 12-partition topic while 500,000 records arrive (FAULTS_GROUP_RECORDS changes the count, FAULTS_SEED fixes the
 * moments).
 */
import { assert, describe, it } from "vitest"
import { assertExactlyOnce, check, kafkaAdmin, produce, reportCheck, runArgs, type Running, scenario, sleep, start } from "./support/harness.ts"

const partitions = 6

/** A small deterministic generator (mulberry32), so a failing run can be replayed with FAULTS_SEED. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** The lag column of `kafka-consumer-groups.sh --describe`, summed over the topic's partitions (undefined: no offsets). */
const groupLag = (group: string, topic: string): number | undefined => {
  const lines = kafkaAdmin(["consumer-groups", "--describe", "--group", group]).split("\n").filter((line) => line.includes(topic))
  if (lines.length === 0) return undefined
  let lag = 0
  for (const line of lines) {
    const columns = line.trim().split(/\s+/)
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
    const value = Number(columns[5])
    if (!Number.isFinite(value)) return undefined
    lag += value
  }
  return lag
}

/** Polls the table (delta-rs) until it holds `rows` rows, or `timeoutMs` passes. */
const waitForRows = async (s: ReturnType<typeof scenario>, rows: number, timeoutMs: number) => {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const now = await check(s, { uptoTxn: true })
    if (now.rows >= rows) return now
    await sleep(2_000)
  }
  return check(s, { uptoTxn: true })
}

const stopAll = async (members: ReadonlyArray<Running>) => {
  for (const member of members) if (member.child.exitCode === null && member.child.signalCode === null) member.child.kill("SIGTERM")
  return Promise.all(members.map((member) => member.exited))
}

describe("group mode: several processes share a topic", () => {
  it("two members while records arrive, one SIGKILLed and restarted, one a SIGSTOP zombie: every offset once, lag 0", async () => {
    const started = Date.now()
    const s = scenario("group-kill", { stream: { scaleOut: "group", maxBatchRecords: 2000, maxBatchInterval: "200 millis", gracePeriod: "10 seconds" } })
    const group = `kd-faults-Faults_${s.topic}`
    await produce(s, { count: 6_000, partitions })
    const a = start(runArgs(s, "continuous"))
    const b = start(runArgs(s, "continuous"))
    const members: Array<Running> = [a, b]
    await a.waitFor(/assigned partitions \[/, 60_000)
    await b.waitFor(/assigned partitions \[/, 60_000)
    const producing = produce(s, { count: 54_000, start: 6_000, partitions })
    await b.waitFor(/batch \d+ -> version \d+/, 60_000)

    // SIGKILL one member mid-stream and start another in its place
    b.child.kill("SIGKILL")
    assert.strictEqual((await b.exited).signal, "SIGKILL")
    const c = start(runArgs(s, "continuous"))
    members.push(c)
    await producing
    // the other member may have drained the killed member's partitions before the new one joined: records that
    // arrive once it owns partitions are what it commits
    await c.waitFor(/assigned partitions \[\d/, 60_000)
    await produce(s, { count: 6_000, start: 60_000, partitions })
    await c.waitFor(/batch \d+ -> version \d+/, 90_000)

    // a zombie: stopped past the session timeout (10 s), its partitions move to the other member, then resumed
    a.child.kill("SIGSTOP")
    await produce(s, { count: 12_000, start: 66_000, partitions })
    await sleep(14_000)
    a.child.kill("SIGCONT")
    await produce(s, { count: 6_000, start: 78_000, partitions })

    const settled = await waitForRows(s, 84_000, 90_000)
    assert.strictEqual(settled.duplicates, 0, `duplicates, e.g. ${JSON.stringify(settled.duplicateSample)}`)
    // the mirror follows each commit; give the last one a moment before asking Kafka for the lag
    let lag = groupLag(group, s.topic)
    for (let i = 0; i < 10 && lag !== 0; i++) {
      await sleep(1_000)
      lag = groupLag(group, s.topic)
    }
    const exits = await stopAll([a, c])
    for (const exit of exits) assert.strictEqual(exit.code, 0, `a member's exit after SIGTERM: ${a.stderr().slice(-1500)}\n${c.stderr().slice(-1500)}`)
    // while the zombie was stopped, its partitions moved to the other member
    assert.include(c.stderr(), `assigned partitions [${Array.from({ length: partitions }, (_, i) => i).join(", ")}]`)
    const refused = (a.stderr().match(/committed first/g) ?? []).length
    const final = await check(s)
    assertExactlyOnce(final)
    assert.strictEqual(final.rows, 84_000)
    assert.strictEqual(lag, 0, `kafka-consumer-groups.sh lag of ${group}`)
    reportCheck(s, final, 1, started, `2 group members on ${partitions} partitions; one SIGKILLed and replaced, one SIGSTOPped 14 s (zombie) and resumed; the zombie's commits refused by the txn check: ${refused}`)
  }, 300_000)

  it("scaled 1 -> 3 -> 2 -> 1 (SIGKILL, then SIGTERM) on 12 partitions while 500,000 records arrive: every offset once, lag 0", async () => {
    const started = Date.now()
    const records = Number(process.env["FAULTS_GROUP_RECORDS"] ?? "500000")
    const seed = Number(process.env["FAULTS_SEED"] ?? String(Date.now() % 1_000_000))
    const next = random(seed)
    const s = scenario("group-scale", { stream: { scaleOut: "group", maxBatchRecords: 20000, maxBatchInterval: "500 millis", gracePeriod: "20 seconds" } })
    const group = `kd-faults-Faults_${s.topic}`
    const first = 12_000
    await produce(s, { count: first, partitions: 12 })
    const one = start(runArgs(s, "continuous"))
    await one.waitFor(/batch \d+ -> version \d+/, 60_000)
    const producing = produce(s, { count: records - first, start: first, partitions: 12 })
    // 1 -> 3
    const two = start(runArgs(s, "continuous"))
    const three = start(runArgs(s, "continuous"))
    await two.waitFor(/batch \d+ -> version \d+/, 90_000)
    await three.waitFor(/batch \d+ -> version \d+/, 90_000)
    // 3 -> 2: SIGKILL at a random moment
    await sleep(Math.round(500 + next() * 3000))
    two.child.kill("SIGKILL")
    assert.strictEqual((await two.exited).signal, "SIGKILL")
    // 2 -> 1: SIGTERM at a random moment, after the group settled
    await sleep(Math.round(12_000 + next() * 3000))
    three.child.kill("SIGTERM")
    assert.strictEqual((await three.exited).code, 0, three.stderr().slice(-2000))
    await producing
    const settled = await waitForRows(s, records, 150_000)
    assert.strictEqual(settled.duplicates, 0, `duplicates (seed ${seed}), e.g. ${JSON.stringify(settled.duplicateSample)}`)
    let lag = groupLag(group, s.topic)
    for (let i = 0; i < 10 && lag !== 0; i++) {
      await sleep(1_000)
      lag = groupLag(group, s.topic)
    }
    const [exit] = await stopAll([one])
    assert.strictEqual(exit!.code, 0, one.stderr().slice(-2000))
    const final = await check(s)
    assertExactlyOnce(final)
    assert.strictEqual(final.rows, records)
    assert.strictEqual(lag, 0, `kafka-consumer-groups.sh lag of ${group}`)
    reportCheck(s, final, 2, started, `seed ${seed}; 12 partitions, members 1 -> 3 -> 2 (SIGKILL) -> 1 (SIGTERM)`)
  }, 300_000)
})
