/**
 * The retry schedule for transient errors: exponential from the configured initial delay, jittered, each delay
 * capped at the maximum, at most the configured number of attempts; only errors `isTransient` accepts are retried.
 * The stream's session retries per outage: its budget starts again once the stream has made progress.
 */
import { Duration, Effect, Schedule } from "effect"
import type { RetryOptions } from "../services/Config.ts"
import { isTransient } from "./errors.ts"
import type { ProgressReporter } from "./progress.ts"

/** Who hears of each retry (the reporter's optional `retrying`). */
export type RetryListener = Pick<ProgressReporter, "retrying">

/** The cause a retry is reported with: the error's tag (its class name, or `unknown`, for an untagged one). */
export const causeOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const tag = (error as { readonly _tag?: unknown })._tag
    if (typeof tag === "string") return tag
    if (error instanceof Error) return error.name
  }
  return "unknown"
}

const announce = (what: string, attempt: number, error: unknown, listener: RetryListener | undefined) =>
  Effect.andThen(
    Effect.logWarning(`${what} failed (attempt ${attempt}), retrying: ${error instanceof Error ? error.message : String(error)}`),
    listener?.retrying?.({ what, cause: causeOf(error), attempt }) ?? Effect.void
  )

/** Retries `effect` on transient errors per `options`, logging each retry and telling `listener` its cause. */
export const retryTransient = <A, E, R>(
  what: string,
  options: RetryOptions,
  effect: Effect.Effect<A, E, R>,
  listener?: RetryListener
): Effect.Effect<A, E, R> => {
  const maxMillis = Duration.toMillis(options.maxDelay)
  const schedule = Schedule.exponential(options.initialDelay, 2).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.millis(Math.min(Duration.toMillis(duration), maxMillis)))),
    Schedule.jittered,
    Schedule.setInputType<E>(),
    Schedule.while(({ input }) => isTransient(input)),
    Schedule.upTo({ times: Math.max(0, options.maxAttempts - 1) }),
    Schedule.tap(({ input, attempt }) => announce(what, attempt, input, listener))
  )
  return Effect.retry(effect, schedule)
}

/**
 * Retries `effect` on transient errors like `retryTransient`, but counts attempts (and grows the delay) only while
 * `progress()` stays the same: a failure after progress starts a new outage with the whole budget, so a long run
 * survives blips spread over its life, while `maxAttempts` failures in a row without progress still stop it.
 */
export const retryPerOutage = <A, E, R>(
  what: string,
  options: RetryOptions,
  progress: () => number,
  effect: Effect.Effect<A, E, R>,
  listener?: RetryListener
): Effect.Effect<A, E, R> => {
  const initialMillis = Duration.toMillis(options.initialDelay)
  const maxMillis = Duration.toMillis(options.maxDelay)
  const attempt = (failures: number, seen: number): Effect.Effect<A, E, R> =>
    Effect.catch(effect, (error) => {
      if (!isTransient(error)) return Effect.fail(error)
      const now = progress()
      const inOutage = now === seen ? failures + 1 : 1
      if (inOutage >= options.maxAttempts) return Effect.fail(error)
      // the same delays as the schedule of retryTransient: exponential, capped, jittered by 0.8-1.2
      const delay = Math.min(initialMillis * 2 ** (inOutage - 1), maxMillis) * (0.8 + Math.random() * 0.4)
      return announce(what, inOutage, error, listener).pipe(
        Effect.andThen(Effect.sleep(Duration.millis(delay))),
        Effect.andThen(Effect.suspend(() => attempt(inOutage, now)))
      )
    })
  return Effect.suspend(() => attempt(0, progress()))
}
