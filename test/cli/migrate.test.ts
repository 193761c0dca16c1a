/**
 * `kafka-delta migrate` end to end on disk: a notebook-like table (txn appId = the Spark query id) and a Spark
 * checkpoint directory written here in Spark's format; the command's plan, its one commit, and each refusal
 * (exit 2, one line). The real Spark query is in test/delta-spark/migrate-spark.test.ts.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { Effect, Option } from "effect"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"

const root = NodePath.resolve(import.meta.dirname, "../..")
const bin = NodePath.join(root, "src/cli/bin.ts")
const queryId = "0b6c8a52-5d2e-4a8e-9d1c-3f0e2b7a9c11"

const cli = (args: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" },
    encoding: "utf8",
    timeout: 120_000
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

interface Setup {
  readonly dir: string
  readonly environments: string
  readonly table: string
  readonly checkpoint: string
}

const put = (path: string, text: string) => {
  Fs.mkdirSync(NodePath.dirname(path), { recursive: true })
  Fs.writeFileSync(path, text)
}

/** An environment `mig` (topic prefix `uat.`), the notebook's table holding Spark batch `tableBatch`, a checkpoint. */
const setup = (options: { readonly tableBatch?: number; readonly committed?: number; readonly planned?: number; readonly topic?: string } = {}) =>
  Effect.gen(function*() {
    const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "kd-migrate-"))
    const environments = NodePath.join(dir, "environments")
    const file = JSON.parse(Fs.readFileSync(NodePath.join(root, "environments/local.json"), "utf8")) as Record<string, any>
    file["environment"] = "Mig"
    file["kafka"]["topicPrefix"] = "uat."
    file["delta"]["warehouse"] = NodePath.join(dir, "lake")
    file["checkpoints"] = NodePath.join(dir, "checkpoints")
    put(NodePath.join(environments, "mig.json"), JSON.stringify(file))
    const table = NodePath.join(dir, "lake/local/kafka_raw/orders")
    const sink = yield* FilesystemSink.make()
    const schema = new Arrow.Schema([new Arrow.Field("value", new Arrow.Struct([new Arrow.Field("id", new Arrow.Int64(), true)]), true)])
    yield* sink.append({
      table: { name: "notebook", location: table },
      schema,
      data: [],
      partitionBy: [],
      txns: options.tableBatch === undefined ? [] : [{ appId: queryId, version: options.tableBatch, expected: undefined }],
      operationParameters: {}
    })
    const checkpoint = NodePath.join(dir, "spark-checkpoint")
    const topic = options.topic ?? "uat.orders"
    put(NodePath.join(checkpoint, "metadata"), `{"id":"${queryId}"}`)
    put(NodePath.join(checkpoint, "sources/0/0"), `v1\n{"${topic}":{"0":0,"1":0}}`)
    for (let batch = 0; batch <= (options.planned ?? 1); batch++) {
      put(NodePath.join(checkpoint, `offsets/${batch}`), `v1\n{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}\n{"${topic}":{"0":${10 * (batch + 1)},"1":${5 * (batch + 1)}}}`)
    }
    for (let batch = 0; batch <= (options.committed ?? 1); batch++) put(NodePath.join(checkpoint, `commits/${batch}`), `v1\n{"nextBatchWatermarkMs":0}`)
    return { dir, environments, table, checkpoint } satisfies Setup
  }).pipe(Effect.provide(FilesystemSink.layer()))

const migrateArgs = (s: Setup, ...extra: ReadonlyArray<string>) =>
  ["migrate", "--environment", "mig", "--topic", "orders", "--environments-dir", s.environments, "--from-spark-checkpoint", s.checkpoint, ...extra]

const logVersions = (table: string) => Fs.readdirSync(NodePath.join(table, "_delta_log")).filter((f) => f.endsWith(".json")).sort()

const txnsOf = (table: string) =>
  Effect.gen(function*() {
    const sink = yield* FilesystemSink.make()
    return yield* sink.txnVersions({ name: "t", location: table }, "")
  })

/** Exit 2 with one line containing every part. */
const assertRefused = (result: ReturnType<typeof cli>, parts: ReadonlyArray<string>) => {
  assert.strictEqual(result.status, 2, result.stderr)
  const lines = result.stderr.trim().split("\n").filter((line) => !/^\d\d:\d\d:\d\d /.test(line))
  expect(lines).toHaveLength(1)
  for (const part of parts) expect(lines[0]).toContain(part)
}

describe("kafka-delta migrate", () => {
  it.live("--dry-run prints the plan and writes nothing", () =>
    Effect.gen(function*() {
      const s = yield* setup({ tableBatch: 1 })
      const result = cli(migrateArgs(s, "--dry-run", "--no-watch"))
      assert.strictEqual(result.status, 0, result.stderr)
      expect(result.stdout).toContain(`Spark query ${queryId}: the table holds batch 1`)
      expect(result.stdout).toContain("partition 0: continue at offset 20 (txn Mig_orders-p0=20)")
      expect(result.stdout).toContain("layout value")
      expect(result.stdout).toContain("dry run: nothing written")
      assert.deepStrictEqual(logVersions(s.table), ["00000000000000000000.json"])
    }))

  it.live("writes one txn-only commit with our positions, naming the checkpoint and batch; the checkpoint is untouched", () =>
    Effect.gen(function*() {
      const s = yield* setup({ tableBatch: 1, planned: 2 })
      const before = Fs.readdirSync(s.checkpoint, { recursive: true }).map(String).sort()
      const result = cli(migrateArgs(s, "--no-watch"))
      assert.strictEqual(result.status, 0, result.stderr)
      expect(result.stdout).toContain("planned but not in the table (read again by kafka-delta): batch 2")
      assert.deepStrictEqual(logVersions(s.table), ["00000000000000000000.json", "00000000000000000001.json"])
      const actions = Fs.readFileSync(NodePath.join(s.table, "_delta_log/00000000000000000001.json"), "utf8").trim().split("\n").map((l) => JSON.parse(l))
      assert.isFalse(actions.some((a) => "add" in a))
      const info = actions.find((a) => "commitInfo" in a).commitInfo
      assert.strictEqual(info.operationParameters.sparkCheckpoint, s.checkpoint)
      assert.strictEqual(info.operationParameters.sparkBatchId, "1")
      assert.strictEqual(info.operationParameters.sparkQueryId, queryId)
      const txns = yield* txnsOf(s.table)
      assert.deepStrictEqual([...txns].sort(), [[queryId, 1], ["Mig_orders-p0", 20], ["Mig_orders-p1", 10]])
      assert.deepStrictEqual(Fs.readdirSync(s.checkpoint, { recursive: true }).map(String).sort(), before)
      // a second migration finds our positions
      assertRefused(cli(migrateArgs(s, "--no-watch")), ["already holds positions of stream Mig_orders"])
    }).pipe(Effect.provide(FilesystemSink.layer())))

  it.live("--add-kafka-column adds a nullable _kafka column", () =>
    Effect.gen(function*() {
      const s = yield* setup({ tableBatch: 1 })
      assert.strictEqual(cli(migrateArgs(s, "--no-watch", "--add-kafka-column")).status, 0)
      const sink = yield* FilesystemSink.make()
      const schema = Option.getOrThrow(yield* sink.schema({ name: "t", location: s.table }))
      assert.deepStrictEqual(schema.fields.map((f) => [f.name, f.nullable]), [["value", true], ["_kafka", true]])
    }))

  it.live("refusals: another topic, a table without the last batch, a running query, a malformed file, an object store URL", () =>
    Effect.gen(function*() {
      assertRefused(cli(migrateArgs(yield* setup({ tableBatch: 1, topic: "prod.orders" }), "--no-watch")), ["read topic prod.orders", "topic is uat.orders"])
      assertRefused(cli(migrateArgs(yield* setup({ tableBatch: 0 }), "--no-watch")), ["last committed batch is 1", "at batch 0"])
      assertRefused(cli(migrateArgs(yield* setup({}), "--no-watch")), ["last committed batch is 1", "absent"])

      const alive = yield* setup({ tableBatch: 1 })
      // the query plans batch 2 once the watch has begun
      const watched = yield* Effect.promise(() =>
        new Promise<ReturnType<typeof cli>>((resolve) => {
          const child = spawn(process.execPath, [bin, ...migrateArgs(alive, "--watch-seconds", "3")], { cwd: root })
          let stdout = ""
          let stderr = ""
          child.stdout.on("data", (d) => (stdout += d))
          child.stderr.on("data", (d) => {
            stderr += d
            if (stderr.includes("watching")) put(NodePath.join(alive.checkpoint, "offsets/2"), "v1\n{}\n{}")
          })
          child.on("close", (status) => resolve({ status, stdout, stderr }))
        })
      )
      assertRefused(watched, ["planned batch 2 during the 3 s watch", "still running"])
      assert.deepStrictEqual(logVersions(alive.table), ["00000000000000000000.json"])

      const malformed = yield* setup({ tableBatch: 1 })
      put(NodePath.join(malformed.checkpoint, "offsets/1"), "v1\nnot json\n{}")
      assertRefused(cli(migrateArgs(malformed, "--no-watch")), ["offsets/1", "not JSON"])

      const url = yield* setup({ tableBatch: 1 })
      assertRefused(cli(migrateArgs({ ...url, checkpoint: "s3://bucket/ckpt" }, "--no-watch")), ["object store checkpoints are not supported yet"])
    }), 120_000)
})
