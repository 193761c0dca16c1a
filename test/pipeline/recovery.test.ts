/**
 * Recovery of the stream across restarts, session retries and crashes: positions resolved from startingOffsets
 * persist, the retry budget is per outage, batch ids are not reused, an interrupt is not held up by the commit's
 * retries, and the reported lag counts every uncommitted record.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option } from "effect"
import * as CheckpointMemory from "../../layers/checkpoint-store/memory.ts"
import { avroCodec } from "../../src/pipeline/avro-codec.ts"
import { type RunSummary, runStream } from "../../src/pipeline/stream.ts"
import { CheckpointStore } from "../../src/services/CheckpointStore.ts"
import { PrometheusMetrics } from "effect/observability"
import { makeMetrics } from "../../src/pipeline/metrics.ts"
import { combineReporters, type CommittedEvent, type ProgressReporter, type RetryEvent, silentReporter } from "../../src/pipeline/progress.ts"
import { DeltaStorageError } from "../../src/services/DeltaSink.ts"
import { KafkaUnavailableError } from "../../src/services/KafkaSource.ts"
import { sorted, testJob, World } from "../support/memory-pipeline.ts"

const orders = "/mem/orders"

/** Polls until `done` holds (at most ~2 s). */
const until = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000 && !done(); i++) yield* Effect.sleep("2 millis")
  })

const unavailable = new KafkaUnavailableError({ brokers: "in-memory", reason: "simulated broker blip" })

describe("startingOffsets latest", () => {
  it.live("a partition that did not move keeps the position resolved at the first start across a restart", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(30) // before the stream exists: "latest" skips these
      const job = testJob({ trigger: "continuous", startingOffsets: "latest" })
      const first = yield* Effect.forkChild(world.run(job))
      yield* Effect.sleep("40 millis")
      world.produce(5, { partition: 0 }) // only partition 0 moves in the first run
      yield* until(() => world.offsetsIn(orders).length === 5)
      yield* Fiber.interrupt(first)
      world.produce(30) // arrive while the stream is stopped, on every partition
      yield* world.run(testJob({ startingOffsets: "latest" }))
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(newOffsets(world)))
    }))

  it.live("the positions resolved at the first start persist even when that run commits nothing", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(30)
      const first = yield* Effect.forkChild(world.run(testJob({ trigger: "continuous", startingOffsets: "latest" })))
      yield* Effect.sleep("40 millis")
      yield* Fiber.interrupt(first)
      assert.deepStrictEqual(world.offsetsIn(orders), [])
      world.produce(30) // arrive while the stream is stopped
      yield* world.run(testJob({ startingOffsets: "latest" }))
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(newOffsets(world)))
    }))

  it.live("a transient session retry resumes at the positions resolved at the first start", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(30)
      const fiber = yield* Effect.forkChild(world.run(testJob({ trigger: "continuous", startingOffsets: "latest" })))
      yield* Effect.sleep("40 millis")
      // the first fetch of the new records fails: the session restarts before anything is committed
      let failed = false
      world.beforeEvent = Effect.suspend(() => (failed ? Effect.void : (failed = true, Effect.fail(unavailable))))
      world.produce(30)
      yield* until(() => world.offsetsIn(orders).length === 30)
      yield* Fiber.interrupt(fiber)
      assert.isTrue(failed)
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(newOffsets(world)))
    }))
})

describe("the session's retry budget", () => {
  /** Fails the source once each time the table reaches one of `commits` commits, or always from `always` on. */
  const blips = (world: World, commits: Array<number>, always = Number.POSITIVE_INFINITY) =>
    Effect.suspend(() => {
      const now = world.delta.tables.get(orders)?.commits.length ?? 0
      if (now >= always) return Effect.fail(unavailable)
      if (commits[0] !== undefined && now >= commits[0]) {
        commits.shift()
        return Effect.fail(unavailable)
      }
      return Effect.void
    })

  it.live("transient failures spread over a long run do not use up the budget: it starts again after each commit", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(2000)
      const thresholds = [5, 10, 15]
      world.beforeEvent = blips(world, thresholds)
      const summary = yield* world.run(testJob({ maxBatchRecords: 50 })) // maxAttempts 3
      assert.deepStrictEqual(thresholds, [])
      assert.strictEqual(summary.stoppedBy, "drained")
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
    }))

  it.live("maxAttempts failures in a row without a commit still stop the run", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(2000)
      world.beforeEvent = blips(world, [], 5)
      const error = yield* Effect.flip(world.run(testJob({ maxBatchRecords: 50 })))
      assert.strictEqual(error._tag, "KafkaUnavailableError")
      assert.isBelow(world.offsetsIn(orders).length, 2000)
    }))
})

describe("batch ids", () => {
  it.live("a crash between the Delta commit and the checkpoint's commit mark does not plan the committed batch again", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(900)
      world.delta.crashAt = "after-commit"
      world.delta.crashOnAppend = 2
      const exit = yield* Effect.exit(world.run(testJob()))
      assert.isTrue(Exit.isFailure(exit))
      world.checkpoint.held = false
      yield* world.run(testJob())
      const ids = world.delta.tables.get(orders)!.commits.map((commit) => Number(commit.operationParameters["batchId"]))
      assert.deepStrictEqual(ids, ids.map((_, i) => i))
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
    }))

  it.live("after such a crash the next run writes the committed batch's mark before it plans the next batch", () =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(900)
      world.delta.crashAt = "after-commit"
      world.delta.crashOnAppend = 2
      assert.isTrue(Exit.isFailure(yield* Effect.exit(world.run(testJob()))))
      world.checkpoint.held = false
      assert.strictEqual(Option.getOrUndefined(world.checkpoint.lastPlan)?.batchId, 1)
      assert.strictEqual(Option.getOrUndefined(world.checkpoint.lastCommit)?.batchId, 0)
      const steps: Array<string> = []
      const store = CheckpointMemory.make(world.checkpoint)
      const recording = CheckpointStore.of({
        ...store,
        plan: (plan) => Effect.andThen(Effect.sync(() => void steps.push(`plan ${plan.batchId}`)), store.plan(plan)),
        commit: (commit) =>
          Effect.andThen(Effect.sync(() => void steps.push(`mark ${commit.batchId} at version ${commit.deltaVersion}`)), store.commit(commit))
      })
      yield* runStream({ codec: avroCodec }).pipe(
        Effect.provide(Layer.merge(world.layers(testJob()), Layer.succeed(CheckpointStore, recording)))
      )
      assert.deepStrictEqual(steps.slice(0, 3), ["mark 1 at version 1", "plan 2", "mark 2 at version 2"])
    }))
})

describe("retries by cause", () => {
  it.live("a transient commit failure and a source blip reach the reporter and kafka_delta_retries_total with their causes", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(10)
      let appendFailed = false
      world.beforeAppend = Effect.suspend(() =>
        appendFailed ? Effect.void : (appendFailed = true,
          Effect.fail(new DeltaStorageError({ table: "test.raw.orders", path: "/mem/orders/_delta_log", reason: "simulated EAGAIN", transient: true })))
      )
      let sourceFailed = false
      world.beforeEvent = Effect.suspend(() => (sourceFailed ? Effect.void : (sourceFailed = true, Effect.fail(unavailable))))
      const retries: Array<RetryEvent> = []
      const job = { ...testJob(), kafkaTopic: `unit.retries.${Math.random().toString(36).slice(2, 8)}` }
      const metrics = makeMetrics(job)
      const recording: ProgressReporter = { ...silentReporter, retrying: (event) => Effect.sync(() => void retries.push(event)) }
      yield* world.run(testJob(), { reporter: combineReporters(recording, metrics.reporter) })
      assert.deepStrictEqual(retries.map(({ what, cause, attempt }) => ({ what, cause, attempt })), [
        { what: "stream session", cause: "KafkaUnavailableError", attempt: 1 },
        { what: "commit of batch 0", cause: "DeltaStorageError", attempt: 1 }
      ])
      assert.deepStrictEqual(world.offsetsIn(orders).length, 10)
      const text = yield* PrometheusMetrics.format()
      const line = (cause: string) =>
        text.split("\n").find((l) => l.startsWith("kafka_delta_retries_total{") && l.includes(job.kafkaTopic) && l.includes(`cause="${cause}"`))
      expect(line("KafkaUnavailableError")).toMatch(/ 1$/)
      expect(line("DeltaStorageError")).toMatch(/ 1$/)
    }))
})

describe("an interrupt during a commit", () => {
  it.live("is not held up by the commit's retries: waiting between attempts is interruptible", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(10)
      let attempts = 0
      world.beforeAppend = Effect.suspend(() => {
        attempts++
        return Effect.fail(new DeltaStorageError({ table: "test.raw.orders", path: "/mem/orders/_delta_log", reason: "simulated EAGAIN", transient: true }))
      })
      const retry = { initialDelay: Duration.millis(300), maxDelay: Duration.millis(300), maxAttempts: 10 }
      const fiber = yield* Effect.forkChild(world.run(testJob({ trigger: "continuous", retry })))
      yield* until(() => attempts > 0)
      const began = Date.now()
      yield* Fiber.interrupt(fiber).pipe(Effect.timeout("1500 millis"), Effect.ignore)
      assert.isBelow(Date.now() - began, 1000, "the interrupt waited for the commit's whole retry schedule")
      assert.isBelow(attempts, 4)
    }))

  it.live("lets the append attempt in flight finish", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(10)
      let started = false
      world.beforeAppend = Effect.andThen(Effect.sync(() => (started = true)), Effect.sleep("100 millis"))
      const fiber = yield* Effect.forkChild(world.run(testJob({ trigger: "continuous" })))
      yield* until(() => started)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(sorted(world.offsetsIn(orders)), sorted(world.goodOffsets()))
    }))

  it.live("counts and reports the commit that landed while the stop waited for it", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(10)
      let started = false
      world.beforeAppend = Effect.andThen(Effect.sync(() => (started = true)), Effect.sleep("100 millis"))
      const events: Array<CommittedEvent> = []
      let summary: RunSummary | undefined
      const reporter: ProgressReporter = {
        ...silentReporter,
        committed: (event) => Effect.sync(() => void events.push(event)),
        summary: (s) => Effect.sync(() => void (summary = s))
      }
      const fiber = yield* Effect.forkChild(world.run(testJob({ trigger: "continuous" }), { reporter }))
      yield* until(() => started)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(world.offsetsIn(orders).length, 10)
      assert.deepStrictEqual(events.map((e) => [e.records, e.version]), [[10, 0]])
      assert.strictEqual(summary?.records, 10)
      assert.strictEqual(summary?.batches, 1)
    }))
})

describe("progress", () => {
  it.live("the lag of a committed batch counts every record not yet committed, fetched or not", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.fetchSize = 300 // one fetch holds all three batches
      world.produce(300)
      const events: Array<CommittedEvent> = []
      const reporter: ProgressReporter = { ...silentReporter, committed: (event) => Effect.sync(() => events.push(event)) }
      yield* world.run(testJob({ maxBatchRecords: 100 }), { reporter })
      assert.deepStrictEqual(events.map((e) => [e.records, e.lag]), [[100, 200], [100, 100], [100, 0]])
    }))
})

/** Offsets produced after the first 10 of each partition. */
const newOffsets = (world: World) => world.goodOffsets().filter((o) => Number(o.split(":")[1]) >= 10)
