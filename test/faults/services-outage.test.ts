/**
 * Scenarios 4 and 5 of the fault suite. The shared broker is stopped mid-stream (SIGTERM: controlled shutdown;
 * SIGKILL: a crash), while batches commit back to back, and restarted with its data: the stream retries on its
 * schedule and goes on, nothing lost or duplicated. The registry goes down just as records with a new schema id
 * arrive: the stream waits and retries (records behind them in the same partition wait too) and, once the
 * registry is back, goes on; nothing goes to the dead-letter table because of the outage. The registry scenario
 * runs a private Apicurio (own ports, schemas in an H2 file) so other users of the shared one are not disturbed;
 * the broker scenario restarts the shared broker (KAFKA_KEEP_DATA=1) and leaves it up.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { afterAll, assert, describe, it } from "vitest"
import {
  assertExactlyOnce,
  batchLines,
  type Check,
  check,
  eventSchema,
  produce,
  produceFramed,
  reportCheck,
  root,
  runArgs,
  runToEnd,
  type Running,
  type Scenario,
  scenario,
  services,
  sleep,
  start
} from "./support/harness.ts"

/** Polls the table until every produced record is in it (or `timeoutMs` passes); the stream must stay up. */
const waitForAll = async (s: Scenario, running: Running, timeoutMs: number): Promise<Check> => {
  const deadline = Date.now() + timeoutMs
  let last = await check(s)
  while (last.missing > 0 && Date.now() < deadline) {
    assert.strictEqual(running.child.exitCode, null, `the stream stopped: ${running.stderr().slice(-3000)}`)
    await sleep(1000)
    last = await check(s)
  }
  return last
}

const kafkaPidFile = NodePath.join(root, ".cache/services/run/kafka/kafka.pid")

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Stops the shared broker: `services.sh down kafka` (SIGTERM, controlled shutdown), or SIGKILL of its pid. */
const stopKafka = async (how: "SIGTERM" | "SIGKILL") => {
  if (how === "SIGTERM") {
    services(["down", "kafka"])
    return
  }
  const pid = Number(Fs.readFileSync(kafkaPidFile, "utf8").trim())
  process.kill(pid, "SIGKILL")
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100)
}

/** Starts the shared broker again with its data (KAFKA_KEEP_DATA=1). */
const startKafka = () => services(["up", "kafka"], { KAFKA_KEEP_DATA: "1" })

// once per Kafka client (`kafka.client`, chosen through its environment override): each must ride out the outage
for (const client of ["kafkajs", "platformatic"] as const) {
  describe(`broker stopped and restarted mid-stream (${client})`, () => {
    const clientEnv = { KAFKA_DELTA_KAFKA_CLIENT: client }
    afterAll(() => {
      // whatever happened, leave the shared broker up with its data
      startKafka()
    })

    it("SIGTERM and SIGKILL of the broker while batches commit: the stream retries and goes on, exactly once", async () => {
      const started = Date.now()
      const s = scenario(`broker-restart-${client}`, {
        stream: { maxBatchRecords: 2000, maxBatchInterval: "200 millis", retry: { initialDelay: "500 millis", maxDelay: "3 seconds", maxAttempts: 60 } }
      })
      await produce(s, { count: 60_000, partitions: 3 })
      const running = start(runArgs(s, "continuous"), clientEnv)
      let produced = 60_000
      const notes: Array<string> = []
      for (const how of ["SIGTERM", "SIGKILL"] as const) {
        // counted before the backlog is produced: the stream may commit all of it while the producer still runs
        const seen = batchLines(running.stderr())
        if (how === "SIGKILL") {
          // a fresh backlog, so batches are being read and committed when the broker dies
          await produce(s, { count: 40_000, start: produced, partitions: 3 })
          produced += 40_000
        }
        // stop the broker as soon as a batch commits: the next batch is being read, sealed or committed
        // counting lines, not one regex repeated over all of stderr: that one backtracks exponentially as stderr grows
        await running.waitFor((stderr) => batchLines(stderr) > seen, 60_000)
        const stoppedAt = Date.now()
        const batchesAtStop = batchLines(running.stderr())
        await stopKafka(how)
        await sleep(3000)
        assert.strictEqual(running.child.exitCode, null, `the stream survives the broker's ${how}: ${running.stderr().slice(-3000)}`)
        // commits that finished while the broker was gone were in flight (or already fetched) when it stopped
        const committedWhileDown = batchLines(running.stderr()) - batchesAtStop
        startKafka()
        const downMs = Date.now() - stoppedAt
        await produce(s, { count: 20_000, start: produced, partitions: 3 })
        produced += 20_000
        const caughtUp = await waitForAll(s, running, 150_000)
        assert.strictEqual(caughtUp.missing, 0, `after the broker's ${how} the stream caught up`)
        assert.strictEqual(caughtUp.duplicates, 0)
        notes.push(`${how}: broker down ${Math.round(downMs / 1000)} s, ${committedWhileDown} commit(s) finished while it was down`)
      }
      assert.include(running.stderr(), `kafka client: ${client}`)
    assert.match(running.stderr(), /failed \(attempt \d+\), retrying/, "the outage was retried on the schedule")
      running.child.kill("SIGTERM")
      assert.strictEqual((await running.exited).code, 0, running.stderr().slice(-3000))
      const drain = await runToEnd(runArgs(s, "available-now"), clientEnv)
      assert.strictEqual(drain.status, 0, drain.stderr)
      const final = await check(s)
      assertExactlyOnce(final)
      const retries = (running.stderr().match(/failed \(attempt \d+\), retrying/g) ?? []).length
      reportCheck(s, final, 0, started, `${notes.join("; ")}; ${retries} retry warnings; no process restart needed`)
    })
  })
}

describe("registry down while a new schema id arrives", () => {
  const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "kd-faults-registry-"))
  const port = 18_100 + Math.floor(Math.random() * 800)
  const env = {
    SERVICES_CACHE: dir,
    REGISTRY_PORT: String(port),
    REGISTRY_MGMT_PORT: String(port + 1000),
    REGISTRY_DATASOURCE_URL: `jdbc:h2:file:${dir}/h2db`
  }
  const url = `http://127.0.0.1:${port}/apis/ccompat/v7`

  afterAll(() => {
    services(["down", "registry"], env)
  })

  it("waits and retries, then goes on when the registry is back; no dead letters from the outage", async () => {
    const started = Date.now()
    // a private registry that shares the downloaded Apicurio: SERVICES_CACHE with dl/ linked to the shared downloads
    Fs.symlinkSync(NodePath.join(root, ".cache/services/dl"), NodePath.join(dir, "dl"))
    services(["up", "registry"], env)
    const s = scenario("registry-outage", { registryUrl: url, stream: { onBadRecord: "dead-letter", maxBatchInterval: "200 millis" } })
    await produce(s, { count: 3000, partitions: 3, registryUrl: url })
    const running = start(runArgs(s, "continuous"))
    await running.waitFor(/batch \d+ -> version \d+/, 60_000)

    const evolved = { ...eventSchema, fields: [...eventSchema.fields, { name: "channel", type: ["null", "string"], default: null }] }
    const registered = await fetch(`${url}/subjects/${s.topic}-value/versions`, {
      method: "POST",
      headers: { "Content-Type": "application/vnd.schemaregistry.v1+json" },
      body: JSON.stringify({ schema: JSON.stringify(evolved) })
    })
    assert.isTrue(registered.ok, `registering the new schema: ${registered.status}`)
    const newId = ((await registered.json()) as { id: number }).id
    const firstId = Number((await (await fetch(`${url}/subjects/${s.topic}-value/versions/1`)).json() as { id: number }).id)
    assert.notStrictEqual(newId, firstId)

    services(["down", "registry"], env)
    const downAt = Date.now()
    const fresh = await produceFramed(s, { count: 1500, start: 3000, partitions: 3, schema: evolved, schemaId: newId })
    // records with the known id behind the new ones: they wait for the new id's records in their partition
    await produceFramed(s, { count: 1500, start: 4500, partitions: 3, schema: eventSchema, schemaId: firstId })
    // a lookup is not retried on its own: the session's retry is the one loop, its warning names the lookup's URL
    await running.waitFor(new RegExp(`stream session failed \\(attempt \\d+\\), retrying: .*/schemas/ids/${newId}\\b`), 60_000)
    await sleep(3000)
    assert.strictEqual(running.child.exitCode, null, `the stream waits for the registry: ${running.stderr().slice(-3000)}`)
    const during = await check(s, { uptoTxn: true })
    assert.strictEqual(during.duplicates + during.missing + during.unexpected, 0)
    for (const p of [0, 1, 2]) {
      const firstNew = Math.min(...fresh.records.filter((r) => r.partition === p).map((r) => r.offset))
      assert.isAtMost(during.txn[`${s.topic}/${p}`] ?? 0, firstNew, `partition ${p} did not pass a record it cannot decode`)
    }

    services(["up", "registry"], env)
    const downMs = Date.now() - downAt
    const caughtUp = await waitForAll(s, running, 120_000)
    assert.strictEqual(caughtUp.missing, 0, "every record landed after the registry came back")
    running.child.kill("SIGTERM")
    assert.strictEqual((await running.exited).code, 0, running.stderr().slice(-3000))
    assert.notMatch(running.stderr(), /dead-lettered bad record/, "nothing was dead-lettered because of the outage")
    assert.isFalse(Fs.existsSync(s.deadLetterTable), "no dead-letter table")
    const final = await check(s)
    assertExactlyOnce(final)
    const retries = (running.stderr().match(new RegExp(`stream session failed \\(attempt \\d+\\), retrying: .*/schemas/ids/${newId}\\b`, "g")) ?? []).length
    reportCheck(s, final, 0, started, `registry down ${Math.round(downMs / 1000)} s; ${retries} lookup retries of the new id ${newId}; 0 dead letters`)
  })
})
