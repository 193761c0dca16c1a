/**
 * Compaction inside the stream (`delta.autoCompact`): a background fiber, forked in the stream's scope, that
 * hears of each commit through a sliding queue of committed versions (the committer's offer never waits) and,
 * every `everyCommits` versions, compacts the table's oldest small files once at least `minSmallFiles` of them
 * exist. It runs beside the committer, never in front of it: a stream commit it races only loses the version and
 * retries at the next one, as it would after any blind append. A failed compaction is logged and tried again at
 * the next interval; it never stops the stream. Off by default (see README "Compaction").
 */
import { Effect, Queue, type Scope } from "effect"
import type { OptimizeResult } from "../delta/optimize.ts"
import type { JobConfig } from "../services/Config.ts"
import { DeltaSink } from "../services/DeltaSink.ts"

/** What `delta.autoCompact` resolves to. */
export interface AutoCompactSettings {
  /** Check after this many table versions (default 10, a log checkpoint's interval). */
  readonly everyCommits: number
  /** Compact only when at least this many files are below the target size (default 50, as Databricks). */
  readonly minSmallFiles: number
  /** Input bytes one compaction rewrites at most, oldest files first (default 1 GiB). */
  readonly maxInputBytes: number
}

/** The environment file's `delta.autoCompact`: false/absent (off), true (defaults), or some settings. */
export type AutoCompactConfig = boolean | Partial<AutoCompactSettings> | undefined

/** Defaults of `delta.autoCompact: true`. */
export const defaultAutoCompact: AutoCompactSettings = {
  everyCommits: 10,
  minSmallFiles: 50,
  maxInputBytes: 1024 ** 3
}

/** The settings of a `delta.autoCompact` value, or undefined when compaction is off. */
export const autoCompactSettings = (config: AutoCompactConfig): AutoCompactSettings | undefined =>
  config === undefined || config === false
    ? undefined
    : config === true
    ? defaultAutoCompact
    : { ...defaultAutoCompact, ...config }

/** One compaction of the table: `compactSmallFiles` bound to the table (undefined when there was nothing to do). */
export type Compact = (options: {
  readonly minSmallFiles: number
  readonly maxInputBytes: number
}) => Effect.Effect<OptimizeResult | undefined, { readonly message: string }>

/** A fresh signal: the committer offers each committed version; only the newest is kept. */
export const makeCommittedSignal = Queue.sliding<number>(1)

/**
 * Runs forever: waits for committed versions and compacts every `everyCommits` versions. Fork it in the stream's
 * scope (`Effect.forkScoped`) so it ends with the stream.
 */
export const runAutoCompact = (compact: Compact, settings: AutoCompactSettings, committed: Queue.Dequeue<number>) =>
  Effect.gen(function*() {
    let last: number | undefined
    for (;;) {
      const version = yield* Queue.take(committed)
      if (last === undefined) last = version - 1
      if (version - last < settings.everyCommits) continue
      last = version
      const result = yield* compact({ minSmallFiles: settings.minSmallFiles, maxInputBytes: settings.maxInputBytes }).pipe(
        Effect.catch((error) => Effect.logWarning(`auto-compaction skipped: ${error.message}`).pipe(Effect.as(undefined)))
      )
      if (result?.version !== undefined) {
        // a compaction commit is a version too: the next check counts from it
        last = result.version
        yield* Effect.logInfo(
          `auto-compaction: ${result.filesRemoved} small file(s) became ${result.filesAdded} at version ${result.version}`
        )
      }
    }
  })

/**
 * Forks the compaction fiber of `job` in the current scope when `delta.autoCompact` is on and the sink can compact;
 * the queue the committer offers its versions to, or undefined when compaction is off.
 */
export const startAutoCompact = (job: JobConfig): Effect.Effect<Queue.Queue<number> | undefined, never, DeltaSink | Scope.Scope> =>
  Effect.gen(function*() {
    const settings = autoCompactSettings(job.writer.autoCompact)
    const sink = yield* DeltaSink
    const compact = sink.compact
    if (settings === undefined || compact === undefined) return undefined
    const versions = yield* makeCommittedSignal
    yield* Effect.forkScoped(runAutoCompact((options) => compact(job.table, options), settings, versions))
    return versions
  })
