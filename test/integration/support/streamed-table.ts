/**
 * Checks shared by the tests that run the real `kafka-delta` process into a table: that delta-rs reads back every
 * produced record exactly once with the txn version of each partition, and a continuous run started in the
 * background (to be refused a second writer, then killed as a crash would), and the runs the object-store suites
 * make with them: two runs appending, a second writer refused and a restart after a crash.
 */
import { assert, expect } from "@effect/vitest"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as NodePath from "node:path"
import { produce, type ProducedSummary, root, runCli, type TableRead } from "./run-cli.ts"

/** An order with a decimal and a nullable field: the schema of the object-store runs. */
export const orderSchema = {
  type: "record",
  name: "Order",
  namespace: "it",
  fields: [
    { name: "id", type: "long" },
    { name: "customer", type: "string" },
    { name: "amount", type: { type: "bytes", logicalType: "decimal", precision: 12, scale: 2 } },
    { name: "note", type: ["null", "string"], default: null }
  ]
}

/** One record a producer reported. */
export type ProducedRecord = ProducedSummary["records"][number]

/** Asserts that an `orderSchema` row holds the record's values. */
export const assertOrderRow = (record: ProducedRecord, row: Record<string, unknown>): void => {
  assert.strictEqual(row["id"], String(record.value["id"]))
  assert.strictEqual(row["customer"], record.value["customer"])
  assert.strictEqual(row["amount"], record.value["amount"])
  assert.strictEqual(row["note"], record.value["note"])
}

/**
 * Asserts that `table` (of job `It`, topic `topic`) holds each produced record once, at its partition and offset,
 * its row checked by `assertRow`, and that the txn version of each of the `partitions` is one past its last offset.
 */
export const assertStreamedOnce = <R extends { readonly partition: number; readonly offset: number }>(
  table: TableRead,
  topic: string,
  produced: ReadonlyArray<R>,
  partitions: number,
  assertRow: (record: R, row: Record<string, unknown>) => void
): void => {
  assert.strictEqual(table.numRows, produced.length)
  const rows = new Map(table.rows.map((row) => {
    const kafka = row["_kafka"] as { partition: string; offset: string }
    return [`${kafka.partition}:${kafka.offset}`, row] as const
  }))
  assert.strictEqual(rows.size, produced.length, "no (partition, offset) twice")
  for (const record of produced) {
    const row = rows.get(`${record.partition}:${record.offset}`)
    assert.isDefined(row, `partition ${record.partition} offset ${record.offset} is in the table`)
    assertRow(record, row!)
  }
  for (let p = 0; p < partitions; p++) {
    const last = Math.max(...produced.filter((r) => r.partition === p).map((r) => r.offset))
    assert.strictEqual(table.txn[`It_${topic}-p${p}`], last + 1, `txn version of partition ${p}`)
  }
}

/** The txn app ids of topic `topic`'s `partitions` partitions in job `It`. */
export const appIdsOf = (topic: string, partitions: number): Array<string> =>
  Array.from({ length: partitions }, (_, p) => `It_${topic}-p${p}`)

/** A `kafka-delta` process running in the background, and what it wrote to stderr so far. */
export interface Background {
  readonly child: ChildProcessWithoutNullStreams
  readonly stderr: () => string
}

/** Starts `kafka-delta <args> --trigger continuous` and resolves once it committed a batch (asserting it runs on). */
export const startContinuous = async (args: ReadonlyArray<string>, env: Record<string, string>): Promise<Background> => {
  const child = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), ...args, "--trigger", "continuous"], {
    cwd: root, env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env }
  })
  let stderr = ""
  child.stderr.on("data", (chunk) => (stderr += String(chunk)))
  const deadline = Date.now() + 90_000
  while (!/batch \d+ -> version/.test(stderr) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  assert.isNull(child.exitCode, stderr)
  return { child, stderr: () => stderr }
}

/** Kills the process with SIGKILL (a crash: nothing is released) and waits until it is gone. */
export const killHard = async (background: Background): Promise<void> => {
  const { child } = background
  child.kill("SIGKILL")
  await new Promise((resolve) => child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.on("exit", resolve))
}

/** A job's `run` arguments without the trigger, the secrets it reads, and how its table is checked. */
export interface RunCase {
  readonly dir: string
  readonly topic: string
  /** `run --environment … --topic …`, without `--trigger`. */
  readonly args: ReadonlyArray<string>
  readonly secrets: Record<string, string>
  /** Asserts that the table holds exactly `produced` of the topic's `partitions`. */
  readonly check: (produced: ReadonlyArray<ProducedRecord>, partitions: number) => void
}

/**
 * 300 `orderSchema` records over 3 partitions streamed by an available-now run, then 50 more by a second run that
 * appends only those; the table is checked after each. Returns both runs' output.
 */
export const streamTwice = (run: RunCase) => {
  const args = [...run.args, "--trigger", "available-now"]
  const first = produce({ topic: run.topic, schema: orderSchema, count: 300, partitions: 3, dir: run.dir })
  const run1 = runCli(args, run.secrets)
  assert.strictEqual(run1.status, 0, run1.stderr)
  expect(run1.stderr).toContain("300 records")
  run.check(first.records, 3)

  const second = produce({ topic: run.topic, schema: orderSchema, count: 50, start: 300, partitions: 3, dir: run.dir })
  const run2 = runCli(args, run.secrets)
  assert.strictEqual(run2.status, 0, run2.stderr)
  expect(run2.stderr).toContain("drained: 1 commits, 50 records")
  run.check([...first.records, ...second.records], 3)
  return { run1, run2 }
}

/**
 * A continuous run holds the stream: a second writer is refused naming the held checkpoint (`refusal`); after a
 * SIGKILL of the first, a restart resumes exactly once (200 records over 2 partitions, then 20 more).
 */
export const refusedThenResumed = async (run: RunCase, refusal: RegExp): Promise<void> => {
  const produced = produce({ topic: run.topic, schema: orderSchema, count: 200, partitions: 2, dir: run.dir })
  const first = await startContinuous(run.args, run.secrets)
  const second = runCli([...run.args, "--trigger", "available-now"], run.secrets, 90_000)
  assert.notStrictEqual(second.status, 0, second.stderr)
  expect(second.stderr).toMatch(refusal)
  await killHard(first)
  const more = produce({ topic: run.topic, schema: orderSchema, count: 20, start: 200, partitions: 2, dir: run.dir })
  const restart = runCli([...run.args, "--trigger", "available-now"], run.secrets, 90_000)
  assert.strictEqual(restart.status, 0, restart.stderr)
  run.check([...produced.records, ...more.records], 2)
}
