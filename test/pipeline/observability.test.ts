/**
 * The reporters behind metrics, health, progress and traces, on their own: the Prometheus text of a committed
 * event (per-partition series when the stream gives them), readiness from the events, the Spark-shaped progress,
 * and `combineReporters`.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { makeHealth } from "../../src/pipeline/health.ts"
import { makeMetrics } from "../../src/pipeline/metrics.ts"
import { combineReporters, type CommittedEvent, type ProgressReporter, silentReporter } from "../../src/pipeline/progress.ts"
import { toStreamingQueryProgress } from "../../src/pipeline/streaming-progress.ts"
import { MemoryKafka } from "../../layers/kafka/memory.ts"
import { testJob, World } from "../support/memory-pipeline.ts"

const event = (overrides: Partial<CommittedEvent> = {}): CommittedEvent => ({
  batchId: 4,
  version: 7,
  records: 30,
  bytes: 3000,
  lag: 12,
  latencyMs: 250,
  deadLetters: 1,
  ...overrides
})

describe("metrics", () => {
  it.effect("a committed event moves the labelled counters, the lag, the version and the histograms", () =>
    Effect.gen(function*() {
      const job = { ...testJob(), kafkaTopic: `unit.metrics.${Math.random().toString(36).slice(2, 8)}` }
      const { reporter, sample } = makeMetrics(job)
      yield* reporter.start({ job, positions: new Map([[0, 5]]), origins: new Map(), targets: undefined })
      yield* reporter.committed(event({
        partitions: [{ partition: 0, from: 5, until: 35, rows: 30, bytes: 3000, highWatermark: 47 }],
        partitionLag: new Map([[0, 12], [1, 0]]),
        conflicts: 2
      }))
      yield* reporter.badRecord({ topic: job.kafkaTopic, partition: 0, offset: 9, reason: "bad", action: "skipped" })
      yield* reporter.retrying!({ what: "commit of batch 4", cause: "CommitConflict", attempt: 1 })
      yield* sample
      const text = yield* PrometheusMetrics.format()
      const labels = `table="${job.table.name}",topic="${job.kafkaTopic}"`
      const line = (name: string, extra = "") =>
        text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(`topic="${job.kafkaTopic}"`) && l.includes(extra))
      expect(line("kafka_delta_records_written_total")).toMatch(/ 30$/)
      expect(line("kafka_delta_bytes_written_total")).toMatch(/ 3000$/)
      expect(line("kafka_delta_batches_committed_total")).toMatch(/ 1$/)
      expect(line("kafka_delta_lag_records")).toMatch(/ 12$/)
      expect(line("kafka_delta_partition_lag_records", `partition="0"`)).toMatch(/ 12$/)
      expect(line("kafka_delta_partition_lag_records", `partition="1"`)).toMatch(/ 0$/)
      expect(line("kafka_delta_committed_offset", `partition="0"`)).toMatch(/ 35$/)
      expect(line("kafka_delta_table_version")).toMatch(/ 7$/)
      expect(line("kafka_delta_dead_letters_total")).toMatch(/ 1$/)
      expect(line("kafka_delta_skipped_records_total", `partition="0"`)).toMatch(/ 1$/)
      expect(line("kafka_delta_retries_total", `cause="CommitConflict"`)).toMatch(/ 1$/)
      expect(line("kafka_delta_commit_conflicts_total")).toMatch(/ 2$/)
      expect(line("kafka_delta_commit_latency_seconds_count")).toMatch(/ 1$/)
      expect(line("kafka_delta_batch_records_sum")).toMatch(/ 30$/)
      expect(line("kafka_delta_seconds_since_last_commit")).toBeDefined()
      expect(text).toContain(labels.split(",")[0])
    }))
})

describe("health", () => {
  it.live("ready once started; not ready when commits stop while records wait; alive until the run fails", () =>
    Effect.gen(function*() {
      const job = testJob({ maxBatchInterval: Duration.millis(10) })
      const health = makeHealth(job)
      assert.isFalse((yield* health.ready).ok)
      yield* health.reporter.start({ job, positions: new Map(), origins: new Map(), targets: undefined })
      assert.isTrue((yield* health.ready).ok)
      yield* health.reporter.committed(event({ lag: 0 }))
      yield* Effect.sleep("50 millis")
      assert.isTrue((yield* health.ready).ok, "caught up: an idle topic stays ready")
      yield* health.reporter.committed(event({ lag: 500 }))
      assert.isTrue((yield* health.ready).ok)
      yield* Effect.sleep("50 millis")
      const stale = yield* health.ready
      assert.isFalse(stale.ok)
      expect(stale.reason).toContain("with lag 500")
      assert.isTrue((yield* health.alive).ok)
      yield* health.reporter.failed!("Kafka is unavailable")
      assert.isFalse((yield* health.alive).ok)
    }))
})

describe("health probe", () => {
  it.effect("a ready run whose probe fails (the broker does not answer) is not ready, with the probe's reason", () =>
    Effect.gen(function*() {
      const job = testJob()
      const health = makeHealth(job)
      let answers = true
      health.setProbe(Effect.sync(() => (answers ? { ok: true, reason: "Kafka answers" } : { ok: false, reason: "Kafka does not answer: timeout" })))
      assert.isFalse((yield* health.ready).ok, "not started: the probe is not asked")
      yield* health.reporter.start({ job, positions: new Map(), origins: new Map(), targets: undefined })
      assert.deepStrictEqual(yield* health.ready, { ok: true, reason: "Kafka answers" })
      answers = false
      assert.deepStrictEqual(yield* health.ready, { ok: false, reason: "Kafka does not answer: timeout" })
      assert.isTrue((yield* health.alive).ok)
    }))
})

describe("StreamingQueryProgress", () => {
  it("has Spark's shape, with the offsets per partition the event gives", () => {
    const job = testJob()
    const progress = toStreamingQueryProgress(job, "run-1", event({
      startedAt: 1_000,
      partitions: [
        { partition: 0, from: 5, until: 20, rows: 15, bytes: 1, highWatermark: 25 },
        { partition: 1, from: 0, until: 15, rows: 15, bytes: 1 }
      ],
      durationMs: { fetch: 100, commit: 200 }
    }), 0, 2_000)
    expect(progress).toMatchObject({
      id: job.streamId,
      runId: "run-1",
      batchId: 4,
      numInputRows: 30,
      inputRowsPerSecond: 15,
      processedRowsPerSecond: 30,
      durationMs: { fetch: 100, commit: 200, triggerExecution: 1000 },
      sources: [{
        description: `KafkaV2[Subscribe[${job.kafkaTopic}]]`,
        startOffset: { [job.kafkaTopic]: { "0": 5, "1": 0 } },
        endOffset: { [job.kafkaTopic]: { "0": 20, "1": 15 } },
        latestOffset: { [job.kafkaTopic]: { "0": 25 } }
      }],
      sink: { description: `DeltaSink[${job.table.location}]`, numOutputRows: 30, tableVersion: 7 }
    })
  })
})

describe("committed events of the stream", () => {
  it.live("carry each partition's range and high watermark, the lag per partition, when filling began and the stage times", () =>
    Effect.gen(function*() {
      const world = new World(2)
      world.produce(300)
      const events: Array<CommittedEvent> = []
      const reporter: ProgressReporter = { ...silentReporter, committed: (e) => Effect.sync(() => void events.push(e)) }
      const before = Date.now()
      yield* world.run(testJob({ maxBatchRecords: 200 }), { reporter })
      assert.isAtLeast(events.length, 2)
      const first = events[0]!
      const partitions = first.partitions ?? []
      assert.deepStrictEqual(partitions.map((p) => p.partition).sort(), [0, 1])
      for (const p of partitions) {
        assert.strictEqual(p.highWatermark, 150)
        assert.strictEqual(p.rows, p.until - p.from)
        assert.isAbove(p.bytes ?? 0, 0)
        assert.strictEqual(first.partitionLag?.get(p.partition), 150 - p.until)
      }
      assert.strictEqual(partitions.reduce((n, p) => n + (p.rows ?? 0), 0), first.records)
      assert.isAtLeast(first.startedAt ?? 0, before)
      assert.isAtMost(first.startedAt ?? Infinity, Date.now())
      for (const stage of ["decode", "write", "commit"]) assert.isAtLeast(first.durationMs?.[stage] ?? -1, 0, stage)
      const last = events[events.length - 1]!
      assert.deepStrictEqual([...(last.partitionLag ?? [])], [[0, 0], [1, 0]])
      assert.deepStrictEqual(last.partitions?.map((p) => p.until), [150, 150])
    }))
})

describe("combineReporters", () => {
  it.effect("hands every event to each reporter in order, optional methods included", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const recording = (name: string): ProgressReporter => ({
        ...silentReporter,
        committed: () => Effect.sync(() => void seen.push(`${name}:committed`)),
        failed: () => Effect.sync(() => void seen.push(`${name}:failed`))
      })
      const combined = combineReporters(recording("a"), silentReporter, recording("b"))
      yield* combined.committed(event())
      yield* combined.failed!("x")
      yield* combined.retrying!({ what: "x", cause: "y", attempt: 1 })
      assert.deepStrictEqual(seen, ["a:committed", "b:committed", "a:failed", "b:failed"])
    }))
})

describe("in-memory offsetsForTimestamp", () => {
  it("answers the first offset at or after the time, or the partition's end", () => {
    const kafka = new MemoryKafka()
    kafka.createTopic("t", 2)
    kafka.produce("t", 0, { value: new Uint8Array(), timestamp: 100 })
    kafka.produce("t", 0, { value: new Uint8Array(), timestamp: 200 })
    kafka.produce("t", 1, { value: new Uint8Array(), timestamp: 50 })
    assert.deepStrictEqual(kafka.offsetsForTimestamp("t", 150), [{ partition: 0, offset: 1 }, { partition: 1, offset: 1 }])
    assert.deepStrictEqual(kafka.offsetsForTimestamp("t", 0), [{ partition: 0, offset: 0 }, { partition: 1, offset: 0 }])
  })
})
