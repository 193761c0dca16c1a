/**
 * Table maintenance against the real local services: `kafka-delta optimize` run while a continuous `kafka-delta run`
 * appends small batches from the real broker (every offset exactly once afterwards, the stream never fails), on the
 * local filesystem, S3 (moto) and Azure (Azurite); `delta.autoCompact` compacting inside a real run, also against a
 * manual optimize over the same files; optimize of partition values that need escaping on the object stores; optimize
 * then vacuum on an S3 table. Each table is read back by delta-rs.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { beforeAll } from "vitest"
import { servicesEnv } from "./support/services-env.ts"
import { produce, type ProducedSummary, python, readTable, root, runCli, tempDir } from "./support/run-cli.ts"
import { assertStreamHealthy, awsVariables, checkExactlyOnce, deltaRsOptions, listKeys, runAsync, s3Secrets, startCli, storeFor } from "./support/stores.ts"
import { exitAfterOutput } from "../support/python-exit.ts"

const schema = {
  type: "record",
  name: "Tick",
  namespace: "maint",
  fields: [{ name: "id", type: "long" }, { name: "customer", type: "string" }, { name: "note", type: ["null", "string"], default: null }]
}

beforeAll(() => {
  servicesEnv()
})

const optimizeWhileStreaming = async (kind: "local" | "s3" | "azure") => {
  const dir = tempDir("opt-stream")
  const topic = `optstream_${randomUUID().slice(0, 8)}`
  const store = await storeFor(kind, dir)
  const { environments, secrets } = store
  const location = store.location(topic)
  const args = ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic]
  const produced: Array<ProducedSummary["records"][number]> = []
  const more = (count: number) => produced.push(...produce({ topic, schema, count, start: produced.length, partitions: 2, dir }).records)

  more(60)
  const run = startCli([...args, "--trigger", "continuous"], secrets)
  const optimizes: Array<{ status: number | null; stdout: string; stderr: string }> = []
  try {
    expect(await run.commits(3)).toBeGreaterThanOrEqual(3)
    for (let round = 0; round < 3; round++) {
      // records arrive, and the stream commits them in small batches, while optimize plans, rewrites and commits
      const optimizing = runAsync(["optimize", "--table", location], store.variables)
      more(600)
      const before = (run.stderr().match(/batch \d+ -> version/g) ?? []).length
      optimizes.push(await optimizing)
      await run.commits(before + 2)
      assert.isTrue(run.running(), run.stderr())
    }
    more(20)
    await run.commits((run.stderr().match(/batch \d+ -> version/g) ?? []).length + 1)
  } finally {
    const status = await run.stop()
    assert.strictEqual(status, 0, run.stderr())
  }
  for (const optimized of optimizes) assert.strictEqual(optimized.status, 0, optimized.stderr)
  expect(optimizes.filter((o) => /compacted \d+ files/.test(o.stdout)).length).toBeGreaterThanOrEqual(2)
  assertStreamHealthy(run.stderr())

  // what the continuous run had not committed when it stopped, drained by an available-now run
  more(15)
  const drain = runCli([...args, "--trigger", "available-now"], secrets)
  assert.strictEqual(drain.status, 0, drain.stderr)
  const table = checkExactlyOnce(location, topic, produced, 2, store.deltaRs)
  const optimized = table.history.filter((h) => h.operation === "OPTIMIZE").map((h) => h.version)
  expect(optimized.length).toBeGreaterThanOrEqual(2)
  // the stream kept committing after an optimize landed: the two interleaved
  const streamed = table.history.filter((h) => h.operation === "STREAMING UPDATE").map((h) => h.version)
  expect(streamed.some((v) => v > Math.min(...optimized) && v < table.version)).toBe(true)
}

describe("optimize while a stream appends (real broker)", () => {
  it("on the local filesystem: every delivered offset exactly once, OPTIMIZE in the history, the stream unharmed", async () => {
    await optimizeWhileStreaming("local")
  }, 240_000)

  it("on S3: every delivered offset exactly once, OPTIMIZE in the history, the stream unharmed", async () => {
    await optimizeWhileStreaming("s3")
  }, 240_000)

  it("on Azure: every delivered offset exactly once, OPTIMIZE in the history, the stream unharmed", async () => {
    await optimizeWhileStreaming("azure")
  }, 240_000)
})

const autoCompactInARun = async (kind: "local" | "s3") => {
  const dir = tempDir("autocompact")
  const topic = `autocompact_${randomUUID().slice(0, 8)}`
  const store = await storeFor(kind, dir, { autoCompact: { everyCommits: 3, minSmallFiles: 3 } })
  const { environments, secrets } = store
  const location = store.location(topic)
  const args = ["run", "--environment", "It", "--environments-dir", environments, "--topic", topic]
  const produced: Array<ProducedSummary["records"][number]> = []
  const more = (count: number) => produced.push(...produce({ topic, schema, count, start: produced.length, partitions: 2, dir }).records)

  more(40)
  const run = startCli([...args, "--trigger", "continuous"], secrets)
  try {
    expect(await run.commits(3)).toBeGreaterThanOrEqual(3)
    for (let round = 0; round < 4; round++) {
      more(30)
      await run.commits((run.stderr().match(/batch \d+ -> version/g) ?? []).length + 2)
    }
    const deadline = Date.now() + 30_000
    while (!/auto-compaction: \d+ small file/.test(run.stderr()) && run.running() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  } finally {
    const status = await run.stop()
    assert.strictEqual(status, 0, run.stderr())
  }
  assertStreamHealthy(run.stderr())
  expect(run.stderr()).toMatch(/auto-compaction: \d+ small file\(s\) became \d+ at version \d+/)

  const drain = runCli([...args, "--trigger", "available-now"], secrets)
  assert.strictEqual(drain.status, 0, drain.stderr)
  const table = checkExactlyOnce(location, topic, produced, 2, store.deltaRs)
  expect(table.history.some((h) => h.operation === "OPTIMIZE")).toBe(true)
  const commits = table.history.filter((h) => h.operation === "STREAMING UPDATE").length
  expect(table.files).toBeLessThan(commits)
}

describe("delta.autoCompact in a real run", () => {
  it("compacts while streaming: OPTIMIZE in the history, every offset once, fewer active files than commits", async () => {
    await autoCompactInARun("local")
  }, 240_000)

  it("on S3: compacts while streaming, every offset once, fewer active files than commits", async () => {
    await autoCompactInARun("s3")
  }, 240_000)
})

describe("optimize beside delta.autoCompact", () => {
  it("two compactors over the same files: a loser stops cleanly, the stream goes on, every offset once", async () => {
    const dir = tempDir("opt-auto")
    const topic = `optauto_${randomUUID().slice(0, 8)}`
    const store = await storeFor("local", dir, { autoCompact: { everyCommits: 2, minSmallFiles: 2 } })
    const location = store.location(topic)
    const args = ["run", "--environment", "It", "--environments-dir", store.environments, "--topic", topic]
    const produced: Array<ProducedSummary["records"][number]> = []
    const more = (count: number) => produced.push(...produce({ topic, schema, count, start: produced.length, partitions: 2, dir }).records)

    more(40)
    const run = startCli([...args, "--trigger", "continuous"])
    const optimizes: Array<{ status: number | null; stdout: string; stderr: string }> = []
    try {
      expect(await run.commits(3)).toBeGreaterThanOrEqual(3)
      for (let round = 0; round < 3; round++) {
        const optimizing = runAsync(["optimize", "--table", location])
        more(300)
        optimizes.push(await optimizing)
        assert.isTrue(run.running(), run.stderr())
      }
    } finally {
      const status = await run.stop()
      assert.strictEqual(status, 0, run.stderr())
    }
    for (const optimized of optimizes) {
      // a manual optimize either commits or, having lost its files to auto-compaction, stops without committing
      if (optimized.status !== 0) {
        assert.strictEqual(optimized.status, 1, optimized.stderr)
        expect(optimized.stderr).toMatch(/optimize of .* lost to version \d+, which already removed .*; nothing was committed: run optimize again/)
      }
    }
    assertStreamHealthy(run.stderr(), /auto-compaction skipped: optimize of .* lost to version \d+, which already removed /)
    expect(run.stderr()).toMatch(/auto-compaction: \d+ small file\(s\) became \d+ at version \d+/)

    const drain = runCli([...args, "--trigger", "available-now"])
    assert.strictEqual(drain.status, 0, drain.stderr)
    const table = checkExactlyOnce(location, topic, produced, 2)
    expect(table.history.filter((h) => h.operation === "OPTIMIZE").length).toBeGreaterThanOrEqual(2)
  }, 240_000)
})

describe("optimize of a partitioned table on an object store", () => {
  for (const kind of ["s3", "azure"] as const) {
    it(`on ${kind}: partition values with spaces, slashes, percent signs and accents: every partition compacted, every row kept`, async () => {
      const dir = tempDir("opt-part")
      const topic = `optpart_${randomUUID().slice(0, 8)}`
      const store = await storeFor(kind, dir, { partitionBy: ["customer"] })
      const location = store.location(topic)
      const customers = ["a b", "x/y", "50% off", "café=ü", "plain"]
      const lines = Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: i, customer: customers[i % customers.length], note: i % 3 === 0 ? null : `n${i}` }))
      Fs.writeFileSync(NodePath.join(dir, "records.jsonl"), lines.join("\n") + "\n")
      Fs.writeFileSync(NodePath.join(dir, "schema.avsc"), JSON.stringify(schema))
      const producer = spawnSync(python(), [
        NodePath.join(root, "scripts/produce_avro.py"), "--topic", topic, "--schema", NodePath.join(dir, "schema.avsc"),
        "--input", NodePath.join(dir, "records.jsonl"), "--partitions", "2", "--summary", NodePath.join(dir, "summary.json")
      ], { encoding: "utf8", timeout: 120_000 })
      assert.strictEqual(producer.status, 0, producer.stderr)
      const produced = (JSON.parse(Fs.readFileSync(NodePath.join(dir, "summary.json"), "utf8")) as ProducedSummary).records
        .map((record, i) => ({ ...record, value: JSON.parse(lines[i]!) as Record<string, unknown> }))

      const run = runCli(["run", "--environment", "It", "--environments-dir", store.environments, "--topic", topic, "--trigger", "available-now"], store.secrets)
      assert.strictEqual(run.status, 0, run.stderr)
      const before = checkExactlyOnce(location, topic, produced, 2, store.deltaRs)
      expect(before.files).toBeGreaterThan(customers.length)

      const optimized = runCli(["optimize", "--table", location], store.variables)
      assert.strictEqual(optimized.status, 0, optimized.stderr)
      expect(optimized.stdout.trim().split("\n")).toHaveLength(customers.length)
      const after = checkExactlyOnce(location, topic, produced, 2, store.deltaRs)
      assert.strictEqual(after.files, customers.length, "one file per partition value")
      const customerOf = new Map(produced.map((r) => [`${r.partition}:${r.offset}`, r.value["customer"]]))
      for (const row of after.rows) {
        const kafka = row["_kafka"] as { partition: string; offset: string }
        assert.strictEqual(row["customer"], customerOf.get(`${kafka.partition}:${kafka.offset}`))
      }
    }, 240_000)
  }
})

describe("optimize and vacuum on S3", () => {
  it("optimize --table s3://... commits OPTIMIZE, delta-rs reads the same rows; vacuum finds exactly the removed files once expired", async () => {
    const dir = tempDir("opt-s3")
    const topic = `opts3_${randomUUID().slice(0, 8)}`
    const store = await storeFor("s3", dir)
    const { environments, bucket } = store
    const location = store.location(topic)
    const produced = produce({ topic, schema, count: 80, partitions: 2, dir }).records
    // batches of 10 records: many small files
    const run = runCli(["run", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now"], s3Secrets)
    assert.strictEqual(run.status, 0, run.stderr)
    const before = checkExactlyOnce(location, topic, produced, 2, deltaRsOptions)
    expect(before.files).toBeGreaterThan(4)

    // delta-rs (another writer) sets a zero retention for removed files, so vacuum may take optimize's inputs at once
    const alter = spawnSync(python(), ["-c", [
      "import json, os, sys",
      "from deltalake import DeltaTable",
      "dt = DeltaTable(sys.argv[1], storage_options=json.loads(os.environ['DELTA_STORAGE_OPTIONS']))",
      "dt.alter.set_table_properties({'delta.deletedFileRetentionDuration': 'interval 0 seconds'})"
    ].join("\n") + exitAfterOutput, location], { encoding: "utf8", env: { ...process.env, DELTA_STORAGE_OPTIONS: JSON.stringify(deltaRsOptions) } })
    assert.strictEqual(alter.status, 0, alter.stderr)
    const dataFiles = (await listKeys(bucket!, `lakehouse/it/raw/${topic}/`)).filter((key) => !key.includes("/_delta_log/"))
    assert.strictEqual(dataFiles.length, before.files)

    // the job's form reaches the store with the environment file's storage.s3 and its secrets
    const plan = runCli(["optimize", "--environment", "It", "--environments-dir", environments, "--topic", topic, "--dry-run"], s3Secrets)
    assert.strictEqual(plan.status, 0, plan.stderr)
    expect(plan.stdout).toMatch(new RegExp(`^would compact ${before.files} files \\(\\d+ bytes\\) in \\(table root\\) into 1$`, "m"))
    assert.strictEqual(readTable(location, [], deltaRsOptions).version, before.version + 1, "a dry run commits nothing")

    const optimized = runCli(["optimize", "--table", location], awsVariables)
    assert.strictEqual(optimized.status, 0, optimized.stderr)
    expect(optimized.stdout).toMatch(/compacted \d+ files/)
    const after = checkExactlyOnce(location, topic, produced, 2, deltaRsOptions)
    assert.deepStrictEqual(
      [...after.rows].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1),
      [...before.rows].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)
    )
    assert.strictEqual(after.history.find((h) => h.version === after.version)?.operation, "OPTIMIZE")
    expect(after.files).toBeLessThan(before.files)

    // vacuum: exactly the files optimize removed are unreferenced now; none is older than the retention-hours (the
    // CLI's least is 1 hour), so a real vacuum deletes nothing yet and the table still reads
    const dry = runCli(["vacuum", "--table", location, "--dry-run"], awsVariables)
    assert.strictEqual(dry.status, 0, dry.stderr)
    const listed = dry.stdout.trim().split("\n").map((line) => /^would delete (\S+) /.exec(line)?.[1])
    assert.deepStrictEqual(listed.sort(), dataFiles.map((key) => key.slice(`lakehouse/it/raw/${topic}/`.length)).sort())
    const vacuum = runCli(["vacuum", "--table", location], awsVariables)
    assert.strictEqual(vacuum.status, 0, vacuum.stderr)
    const vacuumed = checkExactlyOnce(location, topic, produced, 2, deltaRsOptions)
    assert.strictEqual(vacuumed.numRows, produced.length)
  }, 240_000)
})
