/**
 * The retry schedule for transient errors: exponential from the configured initial delay, jittered, each delay
 * capped at the maximum, at most the configured number of attempts; only errors `isTransient` accepts are retried.
 */
import { Duration, Effect, Schedule } from "effect"
import type { RetryOptions } from "../services/Config.ts"
import { isTransient } from "./errors.ts"

/** Retries `effect` on transient errors per `options`, logging each retry with its cause. */
export const retryTransient = <A, E, R>(
  what: string,
  options: RetryOptions,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const maxMillis = Duration.toMillis(options.maxDelay)
  const schedule = Schedule.exponential(options.initialDelay, 2).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.millis(Math.min(Duration.toMillis(duration), maxMillis)))),
    Schedule.jittered,
    Schedule.setInputType<E>(),
    Schedule.while(({ input }) => isTransient(input)),
    Schedule.upTo({ times: Math.max(0, options.maxAttempts - 1) }),
    Schedule.tap(({ input, attempt }) =>
      Effect.logWarning(`${what} failed (attempt ${attempt}), retrying: ${input instanceof Error ? input.message : String(input)}`)
    )
  )
  return Effect.retry(effect, schedule)
}
