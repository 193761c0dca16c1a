/**
 * Whether a run is alive and whether it is ready, as `/healthz` and `/readyz` answer them, judged from the
 * progress events alone. Alive: the run has not failed. Ready: it has started (connected, positions loaded), and
 * it is keeping up — its last commit is recent, or the last commit left nothing to read (an idle topic commits
 * nothing, and is still ready) — and its probe (once set: the CLI asks Kafka for the topic's offsets) answers.
 */
import { Duration, Effect } from "effect"
import type { JobConfig } from "../services/Config.ts"
import type { ProgressReporter } from "./progress.ts"

/** An answer of a health check: ok or not, and why in words. */
export interface HealthStatus {
  readonly ok: boolean
  readonly reason: string
}

/** The health of one run. */
export interface RunHealth {
  /** Feed it the run's events. */
  readonly reporter: ProgressReporter
  readonly alive: Effect.Effect<HealthStatus>
  readonly ready: Effect.Effect<HealthStatus>
  /** Sets a check that readiness also needs, e.g. that the broker answers (asked only when all else is ready). */
  readonly setProbe: (probe: Effect.Effect<HealthStatus>) => void
}

/** How many `maxBatchInterval`s may pass without a commit while records wait, before the run is not ready. */
export const staleIntervals = 3

/** The health of a run of `job`. */
export const makeHealth = (job: JobConfig): RunHealth => {
  let startedAt: number | undefined
  let lastCommitAt: number | undefined
  let lastLag = 0
  let failure: string | undefined
  let stopped = false
  let probe: Effect.Effect<HealthStatus> | undefined
  const window = Duration.toMillis(job.stream.maxBatchInterval) * staleIntervals
  const reporter: ProgressReporter = {
    start: () =>
      Effect.sync(() => {
        startedAt = Date.now()
      }),
    committed: (event) =>
      Effect.sync(() => {
        lastCommitAt = Date.now()
        lastLag = event.lag
      }),
    badRecord: () => Effect.void,
    dataLoss: () => Effect.void,
    stopping: Effect.sync(() => {
      stopped = true
    }),
    summary: () => Effect.void,
    failed: (reason) =>
      Effect.sync(() => {
        failure = reason
      })
  }
  const alive = Effect.sync((): HealthStatus =>
    failure === undefined ? { ok: true, reason: "alive" } : { ok: false, reason: `failed: ${failure}` }
  )
  const judged = Effect.sync((): HealthStatus => {
    if (failure !== undefined) return { ok: false, reason: `failed: ${failure}` }
    if (stopped) return { ok: false, reason: "stopping" }
    if (startedAt === undefined) return { ok: false, reason: "not started: connecting to Kafka or loading positions" }
    // before the first commit the lag is not known (an idle topic never commits), so a started run is ready
    if (lastCommitAt === undefined) return { ok: true, reason: "started" }
    const since = Date.now() - lastCommitAt
    if (since <= window || lastLag === 0) return { ok: true, reason: `last commit ${(since / 1000).toFixed(1)} s ago, lag ${lastLag}` }
    return {
      ok: false,
      reason: `no commit for ${(since / 1000).toFixed(1)} s (over ${staleIntervals} maxBatchIntervals) with lag ${lastLag}`
    }
  })
  const ready = Effect.flatMap(judged, (status) => (status.ok && probe !== undefined ? probe : Effect.succeed(status)))
  return {
    reporter,
    alive,
    ready,
    setProbe: (next) => {
      probe = next
    }
  }
}
