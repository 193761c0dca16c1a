/**
 * What `kafka-delta run` does around the stream: the grace period after a signal, and the reporters that show the
 * run to the outside (log lines, metrics and health on a port, batch traces over OTLP, JSON progress on stdout).
 */
import { Cause, Duration, Effect, Layer, Schedule } from "effect"
import { type HealthStatus, makeHealth } from "../pipeline/health.ts"
import { type JobMetrics, makeMetrics } from "../pipeline/metrics.ts"
import { appIdPrefixOf, partitionOfAppId } from "../pipeline/positions.ts"
import { combineReporters, logReporter, type ProgressReporter } from "../pipeline/progress.ts"
import { runStream } from "../pipeline/stream.ts"
import { progressReporter } from "../pipeline/streaming-progress.ts"
import { tracingReporter } from "../pipeline/tracing.ts"
import { avroCodec } from "../pipeline/avro-codec.ts"
import { codecForJob } from "../pipeline/value-layout.ts"
import { Config, type JobConfig } from "../services/Config.ts"
import { DeltaSink } from "../services/DeltaSink.ts"
import { KafkaSource } from "../services/KafkaSource.ts"
import type { liveLayers } from "./live.ts"
import { metricsServer, otlpExport } from "./observe.ts"
import { describeFailure } from "./report.ts"

/**
 * After SIGTERM or SIGINT the stream is interrupted and an in-flight commit runs to its end; if that takes longer
 * than `stream.gracePeriod` the process leaves with status 1. Nothing is half-committed either way: a commit
 * file is created whole or not at all, and an abandoned batch is read again next run.
 */
export const armGracePeriod = (millis: number): void => {
  const arm = (signal: string) => {
    setTimeout(() => {
      process.stderr.write(`kafka-delta: the in-flight commit did not finish within the grace period of ${millis / 1000} s after ${signal}; leaving it (its batch is read again next run)\n`)
      process.exit(1)
    }, millis).unref()
  }
  process.once("SIGTERM", () => arm("SIGTERM"))
  process.once("SIGINT", () => arm("SIGINT"))
}

/** Runs the configured stream with log lines only, the grace period armed (what `demo` runs). */
export const runWithGracePeriod = Effect.gen(function*() {
  const job = yield* Config
  armGracePeriod(Duration.toMillis(job.stream.gracePeriod))
  return yield* runStream({ codec: yield* codecForJob(avroCodec), reporter: logReporter })
})

/** How `run` shows itself: the flags of metrics, OTLP, and JSON progress. */
export interface Observing {
  readonly metricsPort: number | undefined
  readonly otlpEndpoint: string | undefined
  readonly progress: "none" | "json"
}

/**
 * Runs the stream of the configured job with its reporters: log lines, metrics (served when a port is given,
 * before Kafka is connected, so `/readyz` answers "not started" meanwhile), health, batch traces (exported under
 * `--otlp-endpoint`), and JSON progress lines on stdout under `--progress json`.
 */
export const observedRun = (observing: Observing, layersOf: typeof liveLayers) =>
  Effect.gen(function*() {
    const job = yield* Config
    armGracePeriod(Duration.toMillis(job.stream.gracePeriod))
    const metrics = makeMetrics(job)
    const health = makeHealth(job)
    const reporters: Array<ProgressReporter> = [logReporter, metrics.reporter, health.reporter, tracingReporter(job)]
    const printProgress = progressReporter(job, (p) => Effect.sync(() => void process.stdout.write(`${JSON.stringify(p)}\n`)))
    // the per-partition lag is sampled from the table and the topic once the services exist
    let samplePositions: Effect.Effect<void> = Effect.void
    const sample = Effect.andThen(metrics.sample, Effect.suspend(() => samplePositions))
    const port = observing.metricsPort ?? job.metricsPort
    if (port !== undefined) yield* Layer.build(metricsServer({ port, health, sample }))
    const run = Effect.gen(function*() {
      samplePositions = yield* positionsSampler(job, metrics)
      health.setProbe(yield* kafkaProbe(job))
      if (observing.progress === "json") reporters.push(printProgress)
      return yield* runStream({ codec: yield* codecForJob(avroCodec), reporter: combineReporters(...reporters) })
    }).pipe(
      Effect.provide(layersOf(job)),
      Effect.tapCause((cause) => Cause.hasInterruptsOnly(cause) ? Effect.void : health.reporter.failed?.(describeFailure(cause, false).line) ?? Effect.void),
      Effect.annotateLogs({ topic: job.kafkaTopic, table: job.table.name })
    )
    if (observing.otlpEndpoint === undefined) return yield* run
    // gauges that move with time alone are sampled for the exporter as a scrape samples them
    yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced("5 seconds")))
    return yield* Effect.provide(run, otlpExport(observing.otlpEndpoint))
  }).pipe(Effect.scoped)

/** The table's positions per partition (its txn versions of this stream). */
const tablePositions = (job: JobConfig) =>
  Effect.gen(function*() {
    const txns = yield* (yield* DeltaSink).txnVersions(job.table, appIdPrefixOf(job.streamId))
    const positions = new Map<number, number>()
    for (const [appId, version] of txns) {
      const partition = partitionOfAppId(job.streamId, appId)
      if (partition !== undefined) positions.set(partition, version)
    }
    return positions
  })

/** Readiness's question to the broker: are the topic's offsets answered within two seconds? */
const kafkaProbe = (job: JobConfig) =>
  Effect.map(Effect.service(KafkaSource), (source) =>
    source.offsets(job.kafkaTopic).pipe(
      Effect.timeout("2 seconds"),
      Effect.match({
        onSuccess: (): HealthStatus => ({ ok: true, reason: `Kafka answers for ${job.kafkaTopic}` }),
        onFailure: (error): HealthStatus => ({ ok: false, reason: `Kafka does not answer: ${error.message}` })
      })
    ))

/**
 * Reads the table's positions and the topic's offsets and sets the per-partition metrics; quietly does nothing
 * when either cannot be read within two seconds (a scrape must answer while Kafka is away).
 */
const positionsSampler = (job: JobConfig, metrics: JobMetrics) =>
  Effect.gen(function*() {
    const sink = yield* DeltaSink
    const source = yield* KafkaSource
    return Effect.gen(function*() {
      const ranges = yield* source.offsets(job.kafkaTopic)
      const positions = yield* tablePositions(job).pipe(Effect.provideService(DeltaSink, sink))
      yield* metrics.samplePositions(positions, ranges)
    }).pipe(Effect.timeout("2 seconds"), Effect.ignore)
  })

