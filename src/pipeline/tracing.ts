/**
 * One trace per committed batch, through whatever `Tracer` the run has (the OTLP tracer under
 * `--otlp-endpoint`, Effect's no-op native tracer otherwise). The batch's spans are built from the committed
 * event after the fact, with their real start and end times: a root `kafka-delta.batch` span and a child span per
 * stage the event times (`durationMs`), at least `commit` (from the batch's seal to its Delta commit).
 */
import { Context, Effect, Exit, Option, Tracer } from "effect"
import type { JobConfig } from "../services/Config.ts"
import type { CommittedEvent, ProgressReporter } from "./progress.ts"

const nanos = (millis: number): bigint => BigInt(Math.round(millis)) * 1_000_000n

/** The order stages run in, so their child spans follow one another. */
const stageOrder = ["fetch", "decode", "write", "commit"]

/** Records the spans of `event`'s batch, ending now. */
export const traceBatch = (job: JobConfig, event: CommittedEvent): Effect.Effect<void> =>
  Effect.gen(function*() {
    const tracer = yield* Tracer.Tracer
    const now = Date.now()
    const startedAt = event.startedAt ?? now - event.latencyMs
    const root = tracer.span({
      name: "kafka-delta.batch",
      parent: Option.none(),
      annotations: Context.empty(),
      links: [],
      startTime: nanos(startedAt),
      kind: "consumer",
      root: true,
      sampled: true
    })
    const attributes: Record<string, unknown> = {
      "kafka_delta.stream_id": job.streamId,
      "messaging.system": "kafka",
      "messaging.destination.name": job.kafkaTopic,
      "kafka_delta.table": job.table.name,
      "kafka_delta.batch_id": event.batchId,
      "kafka_delta.records": event.records,
      "kafka_delta.bytes": event.bytes,
      "kafka_delta.lag": event.lag
    }
    if (event.version !== undefined) attributes["kafka_delta.table_version"] = event.version
    for (const [key, value] of Object.entries(attributes)) root.attribute(key, value)
    // stages laid end to end backwards from the commit's end; without stage timings the commit is the latency
    const stages = event.durationMs === undefined
      ? [["commit", event.latencyMs] as const]
      : stageOrder.filter((name) => event.durationMs?.[name] !== undefined).map((name) => [name, event.durationMs![name]!] as const)
    let end = now
    for (const [name, millis] of [...stages].reverse()) {
      const span = tracer.span({
        name: `kafka-delta.${name}`,
        parent: Option.some(root),
        annotations: Context.empty(),
        links: [],
        startTime: nanos(end - millis),
        kind: "internal",
        root: false,
        sampled: true
      })
      span.attribute("kafka_delta.batch_id", event.batchId)
      span.end(nanos(end), Exit.void)
      end -= millis
    }
    root.end(nanos(now), Exit.void)
  })

/** A reporter that records one trace per committed batch. */
export const tracingReporter = (job: JobConfig): ProgressReporter => ({
  start: () => Effect.void,
  committed: (event) => traceBatch(job, event),
  badRecord: () => Effect.void,
  dataLoss: () => Effect.void,
  stopping: Effect.void,
  summary: () => Effect.void
})
