/**
 * Scenarios 2 and 3 of the fault suite: the process SIGKILLs itself (KAFKA_DELTA_FAULT) before any Parquet write,
 * after the Parquet files are written but before the Delta commit, during the commit (the commit file written but
 * not yet published) and after the commit but before the checkpoint's commit mark; a restart then drains the topic
 * and delta-rs finds every produced (partition, offset) exactly once. Files of the batch that never committed are
 * not in the table and are what `kafka-delta vacuum --dry-run` lists. And a deleted checkpoint directory: the
 * restart resumes from the table's txn versions.
 */
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "vitest"
import { assertExactlyOnce, check, dataFiles, produce, reportCheck, runArgs, runToEnd, scenario, vacuumDryRun } from "./support/harness.ts"

const points = ["before-parquet", "after-parquet", "during-commit", "after-commit"] as const

describe("SIGKILL at each named point of an append", () => {
  for (const point of points) {
    it(`${point}: the restart drains without loss or duplicates; an uncommitted batch's files are only vacuum's`, async () => {
      const started = Date.now()
      const s = scenario(`kill-${point}`, { stream: { maxBatchRecords: 500 } })
      await produce(s, { count: 1500, partitions: 3 })
      const first = await runToEnd(runArgs(s, "available-now"))
      assert.strictEqual(first.status, 0, first.stderr)
      const before = await check(s)
      assertExactlyOnce(before)

      await produce(s, { count: 3000, start: 1500, partitions: 3 })
      // the table already has commits; the first append of this run dies at the fault point
      const killed = await runToEnd(runArgs(s, "available-now"), { KAFKA_DELTA_FAULT: point })
      assert.strictEqual(killed.signal, "SIGKILL", `the fault point ${point} was reached: ${killed.stderr}`)
      assert.notMatch(killed.stderr, /drained:/)

      const afterKill = await check(s)
      assert.strictEqual(afterKill.duplicates, 0)
      const onDisk = dataFiles(s.table).map((f) => NodePath.basename(f))
      const orphans = onDisk.filter((f) => !afterKill.files.includes(f))
      // a kill mid-write also leaves the temp file of that write (`.<name>.<uuid>.tmp`), which vacuum lists too
      const temps = (Fs.readdirSync(s.table, { recursive: true }) as Array<string>).map((f) => NodePath.basename(f))
        .filter((f) => f.startsWith(".") && f.endsWith(".tmp"))
      if (point === "during-commit") assert.strictEqual(temps.length, 1, "the log entry's temp file")
      const listed = (await vacuumDryRun(s.table)).map((f) => NodePath.basename(f))
      assert.deepStrictEqual(listed.sort(), [...orphans, ...temps].sort(), "vacuum --dry-run lists exactly the files no commit references and the temp files")
      if (point === "after-parquet" || point === "during-commit") assert.isAbove(orphans.length, 0, "the killed batch left Parquet files")
      else assert.strictEqual(orphans.length, 0, "no orphan files")
      if (point === "after-commit") {
        const commits = Fs.existsSync(NodePath.join(s.checkpoint, "commits")) ? Fs.readdirSync(NodePath.join(s.checkpoint, "commits")).filter((f) => /^\d+$/.test(f)) : []
        const plans = Fs.readdirSync(NodePath.join(s.checkpoint, "offsets")).filter((f) => /^\d+$/.test(f))
        assert.isAbove(Math.max(...plans.map(Number)), Math.max(-1, ...commits.map(Number)), "the killed batch's plan has no commit mark")
      }

      const restart = await runToEnd(runArgs(s, "available-now"))
      assert.strictEqual(restart.status, 0, restart.stderr)
      assert.match(restart.stderr, /drained:/)
      const after = await check(s)
      assertExactlyOnce(after)
      for (const orphan of orphans) assert.notInclude(after.files, orphan, "an uncommitted batch's file never joins the table")
      const listedAfter = (await vacuumDryRun(s.table)).map((f) => NodePath.basename(f))
      assert.deepStrictEqual(listedAfter.sort(), [...orphans, ...temps].sort(), "after the restart vacuum still lists the crashed batch's files, and only them")
      reportCheck(s, after, 1, started, `${orphans.length} orphan file(s) listed by vacuum --dry-run`)
    })
  }
})

describe("checkpoint directory deleted between runs", () => {
  it("resumes from the table's txn versions, without duplicates", async () => {
    const started = Date.now()
    const s = scenario("checkpoint-deleted", { stream: { maxBatchRecords: 500 } })
    await produce(s, { count: 3000, partitions: 3 })
    const first = await runToEnd(runArgs(s, "available-now"))
    assert.strictEqual(first.status, 0, first.stderr)
    assertExactlyOnce(await check(s))
    assert.isTrue(Fs.existsSync(s.checkpoint))
    Fs.rmSync(s.checkpoint, { recursive: true, force: true })

    await produce(s, { count: 1500, start: 3000, partitions: 3 })
    const second = await runToEnd(runArgs(s, "available-now"))
    assert.strictEqual(second.status, 0, second.stderr)
    assert.match(second.stderr, /drained: \d+ commits, 1500 records/, "only the new records are read")
    const after = await check(s)
    assertExactlyOnce(after)
    reportCheck(s, after, 1, started, "checkpoint removed; start came from txn versions")
  })
})
