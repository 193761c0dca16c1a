/**
 * Group mode with real processes (issue 15): `kafka-delta run` processes with `stream.scaleOut: "group"` share a
 * 6-partition topic through the consumer group while records are produced; one is SIGKILLed and restarted, one is
 * stopped with SIGSTOP past the session timeout (a zombie) and resumed. Afterwards delta-rs finds every produced
 * offset exactly once, and Kafka's own `kafka-consumer-groups.sh` reports lag 0 for the group the positions are
 * mirrored to.
 */
import { assert, describe, it } from "vitest"
import { assertExactlyOnce, check, kafkaAdmin, produce, reportCheck, runArgs, type Running, scenario, sleep, start } from "./support/harness.ts"

const partitions = 6

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
    await c.waitFor(/batch \d+ -> version \d+/, 90_000)

    // a zombie: stopped past the session timeout (10 s), its partitions move to the other member, then resumed
    a.child.kill("SIGSTOP")
    await produce(s, { count: 12_000, start: 60_000, partitions })
    await sleep(14_000)
    a.child.kill("SIGCONT")
    await produce(s, { count: 6_000, start: 72_000, partitions })

    const settled = await waitForRows(s, 78_000, 90_000)
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
    assert.strictEqual(final.rows, 78_000)
    assert.strictEqual(lag, 0, `kafka-consumer-groups.sh lag of ${group}`)
    reportCheck(s, final, 1, started, `2 group members on ${partitions} partitions; one SIGKILLed and replaced, one SIGSTOPped 14 s (zombie) and resumed; the zombie's commits refused by the txn check: ${refused}`)
  }, 300_000)
})
