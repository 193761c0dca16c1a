/**
 * Commit conflicts seen by the stream: another writer takes the Delta version a batch's commit was about to
 * create, the commit retries at the next version, and the committed event (and so the conflicts counter) says so.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { makeWith } from "../../layers/delta-sink/filesystem.ts"
import { commitPath } from "../../src/delta/actions.ts"
import { makeMemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { makeMetrics } from "../../src/pipeline/metrics.ts"
import { combineReporters, type CommittedEvent, type ProgressReporter, silentReporter } from "../../src/pipeline/progress.ts"
import { runStream } from "../../src/pipeline/stream.ts"
import { progressReporter, type StreamingQueryProgress } from "../../src/pipeline/streaming-progress.ts"
import { avroCodec } from "../../src/pipeline/avro-codec.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { testJob, World } from "../support/memory-pipeline.ts"

describe("commit conflicts", () => {
  it.live("a commit that loses a race to another writer counts it on the committed event and in kafka_delta_commit_conflicts_total", () =>
    Effect.gen(function*() {
      const world = new World(1)
      world.produce(10)
      const job = { ...testJob({ maxBatchRecords: 5 }), kafkaTopic: world.topic }
      const files = makeMemoryFiles()
      // the other writer: a blind append (commitInfo only) that takes version 1 just before the stream's put
      let raced = false
      const sink = yield* makeWith((table) => {
        const storage = memoryStorage(table.name, table.location, files)
        return {
          ...storage,
          putIfAbsent: (path, data, options) =>
            Effect.gen(function*() {
              if (table.location === job.table.location && path === commitPath(1) && !raced) {
                raced = true
                const other = { commitInfo: { timestamp: Date.now(), operation: "WRITE", operationParameters: {}, isBlindAppend: true } }
                assert.isTrue(yield* storage.putIfAbsent(path, new TextEncoder().encode(`${JSON.stringify(other)}\n`)))
              }
              return yield* storage.putIfAbsent(path, data, options)
            })
        }
      })
      const events: Array<CommittedEvent> = []
      const recording: ProgressReporter = { ...silentReporter, committed: (event) => Effect.sync(() => void events.push(event)) }
      const metricsJob = { ...job, kafkaTopic: `unit.conflicts.${Math.random().toString(36).slice(2, 8)}` }
      const metrics = makeMetrics(metricsJob)
      const progress: Array<StreamingQueryProgress> = []
      const progressing = progressReporter(job, (p) => Effect.sync(() => void progress.push(p)))
      yield* runStream({ codec: avroCodec, reporter: combineReporters(recording, metrics.reporter, progressing) }).pipe(
        Effect.provide(Layer.merge(world.layers(job), Layer.succeed(DeltaSink, sink)))
      )
      assert.isTrue(raced)
      assert.deepStrictEqual(events.map((e) => [e.batchId, e.version, e.conflicts]), [[0, 0, 0], [1, 2, 1]])
      // the progress objects (--progress json) say it too
      assert.deepStrictEqual(progress.map((p) => p.sink.commitConflicts), [0, 1])
      // the table's version as the protocol sink tells it (the start marks a landed batch done at it)
      assert.deepStrictEqual(yield* sink.version(job.table), Option.some(2))
      const text = yield* PrometheusMetrics.format()
      const line = text.split("\n").find((l) => l.startsWith("kafka_delta_commit_conflicts_total{") && l.includes(metricsJob.kafkaTopic))
      expect(line).toMatch(/ 1$/)
    }))
})
