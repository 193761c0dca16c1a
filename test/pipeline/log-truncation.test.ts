/**
 * A partition's log truncated below the stream's position while it reads (an unclean leader election): the
 * source reports it as `OffsetOutOfRange` with `logEnd`. Fatal under failOnDataLoss, with a message naming the
 * log's end; tolerated otherwise, with the offsets from the log's end to our position counted as lost and reading
 * resumed at the log's end, so the new records that take those offsets are read.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Stream } from "effect"
import * as KafkaMemory from "../../layers/kafka/memory.ts"
import { avroCodec } from "../../src/pipeline/avro-codec.ts"
import { type DataLossEvent, type ProgressReporter, silentReporter } from "../../src/pipeline/progress.ts"
import { runStream } from "../../src/pipeline/stream.ts"
import { type ConsumeRequest, KafkaSource } from "../../src/services/KafkaSource.ts"
import { testJob, World } from "../support/memory-pipeline.ts"

const orders = "/mem/orders"

/**
 * A world whose table holds offsets 0..9 of partition 0, and whose log then lost 6..9 and took 6 new records at
 * 6..11: the first consume from 10 reports the truncation as the live sources do (the log ended at 6 then).
 */
const truncatedWorld = Effect.gen(function*() {
  const world = new World(1)
  world.produce(10)
  yield* world.run(testJob())
  world.recreateTopic()
  world.produce(12)
  const requests: Array<ConsumeRequest> = []
  let reported = false
  const memory = KafkaMemory.make(world.kafka, { maxRecordsPerFetch: 100, idlePoll: "2 millis" })
  const source = KafkaSource.of({
    ...memory,
    consume: (request) => {
      requests.push(request)
      if (reported || request.start.get(0) !== 10) return memory.consume(request)
      reported = true
      const truncation = { _tag: "OffsetOutOfRange", topic: world.topic, partition: 0, requested: 10, earliest: 0, logEnd: 6 } as const
      return Stream.concat(Stream.make(truncation), memory.consume(request))
    }
  })
  const run = (failOnDataLoss: boolean, reporter: ProgressReporter = silentReporter) =>
    runStream({ codec: avroCodec, reporter }).pipe(
      Effect.provide(Layer.merge(world.layers(testJob({ failOnDataLoss })), Layer.succeed(KafkaSource, source)))
    )
  return { world, requests, run }
})

describe("a log truncated below our position", () => {
  it.live("fails under failOnDataLoss with a message saying where the log now ends", () =>
    Effect.gen(function*() {
      const { run } = yield* truncatedWorld
      const exit = yield* Effect.exit(run(true))
      assert.isTrue(Exit.isFailure(exit))
      const message = Exit.isFailure(exit) ? String(exit.cause) : ""
      assert.include(message, "DataLossError")
      assert.include(message, "partition 0: next offset to read is 10 but the partition's log now ends at 6")
      assert.notInclude(message, "holds offsets from")
    }))

  it.live("otherwise counts the rewritten offsets as lost and resumes at the log's end, reading the new records there", () =>
    Effect.gen(function*() {
      const { world, requests, run } = yield* truncatedWorld
      const losses: Array<DataLossEvent> = []
      const summary = yield* run(false, { ...silentReporter, dataLoss: (event) => Effect.sync(() => void losses.push(event)) })
      assert.deepStrictEqual(losses.map(({ partition, expected, resumeAt, lostOffsets }) => ({ partition, expected, resumeAt, lostOffsets })), [
        { partition: 0, expected: 10, resumeAt: 6, lostOffsets: 4 }
      ])
      assert.strictEqual(summary.lostOffsets, 4)
      assert.deepStrictEqual(requests.map((r) => r.start.get(0)), [10, 6])
      const offsets = world.offsetsIn(orders)
      assert.deepStrictEqual(offsets, [...Array.from({ length: 10 }, (_, i) => `0:${i}`), ...Array.from({ length: 6 }, (_, i) => `0:${6 + i}`)])
    }))
})
