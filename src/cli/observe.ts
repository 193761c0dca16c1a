/**
 * What `kafka-delta run` shows to the outside while it runs: `/metrics` (Prometheus text, rendered by Effect's
 * `PrometheusMetrics` from the `Metric`s of src/pipeline/metrics.ts), `/healthz` and `/readyz` on one port, and
 * an OTLP export of the metrics and the batch traces through Effect's `Otlp` modules.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer, Schema } from "effect"
import { FetchHttpClient, HttpRouter, HttpServerResponse } from "effect/http"
import { Otlp, type OtlpExporter, PrometheusMetrics } from "effect/observability"
import * as Http from "node:http"
import type { HealthStatus, RunHealth } from "../pipeline/health.ts"

/** The metrics port cannot be listened on (in use, or not allowed). Fixed like configuration: exit status 2. */
export class MetricsPortError extends Schema.TaggedError<MetricsPortError>()("MetricsPortError", {
  port: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `cannot serve metrics on port ${this.port}: ${this.reason}; choose another --metrics-port (or metrics.port)`
  }
}

const statusResponse = (status: HealthStatus) =>
  HttpServerResponse.text(`${status.ok ? "ok" : "unavailable"}: ${status.reason}\n`, { status: status.ok ? 200 : 503 })

/**
 * Serves `/metrics`, `/healthz` and `/readyz` on `port` for as long as the layer lives. `sample` runs before
 * each scrape, so gauges that move with time alone are current.
 */
export const metricsServer = (options: {
  readonly port: number
  readonly health: RunHealth
  readonly sample: Effect.Effect<void>
}): Layer.Layer<never, MetricsPortError> => {
  const routes = HttpRouter.use(Effect.fn(function*(router) {
    yield* router.add(
      "GET",
      "/metrics",
      Effect.gen(function*() {
        yield* options.sample
        const text = yield* PrometheusMetrics.format()
        return HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
      })
    )
    yield* router.add("GET", "/healthz", Effect.map(options.health.alive, statusResponse))
    yield* router.add("GET", "/readyz", Effect.map(options.health.ready, statusResponse))
  }))
  return HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide(NodeHttpServer.layer(() => Http.createServer(), { port: options.port })),
    Layer.catchTag("ServeError", (error) =>
      Layer.effectDiscard(Effect.fail(new MetricsPortError({ port: options.port, reason: String((error.cause as Error | undefined)?.message ?? error.cause) })))
    )
  )
}

/**
 * Exports the metrics and the traces to the OTLP/HTTP collector at `endpoint` (JSON encoding), with the service
 * name `kafka-delta`; on shutdown what is buffered is flushed.
 */
export const otlpExport = (endpoint: string): Layer.Layer<OtlpExporter.Flusher> =>
  Otlp.layerJson({
    baseUrl: endpoint,
    resource: { serviceName: "kafka-delta", serviceVersion: "0.1.0" },
    metricsExportInterval: "5 seconds",
    tracerExportInterval: "1 second",
    shutdownTimeout: "3 seconds"
  }).pipe(Layer.provide(FetchHttpClient.layer))
