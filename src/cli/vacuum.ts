/**
 * `kafka-delta vacuum`: finds data files under a table that no commit references — left by batches that were
 * written but never committed (a crash between the Parquet write and the Delta commit) — and the temp files a
 * crash left mid-write (in `_delta_log` too), and, unless `--dry-run`, deletes those older than the retention
 * period. Files of the current snapshot and of unexpired tombstones, log entries and log checkpoints, and other
 * hidden paths, are never touched.
 */
import { Effect } from "effect"
import { isLeftoverTemp, vacuumDryRun } from "../delta/vacuum.ts"
import { openTargetTable } from "./storage.ts"

/** Which table, and what to do. */
export interface VacuumOptions {
  /** A table location; or the job's table when `environment` and `topic` are given. */
  readonly table: string | undefined
  readonly environment: string | undefined
  readonly topic: string | undefined
  readonly environmentsDir: string
  readonly dryRun: boolean
  readonly retentionHours: number
}

/** Lists (and unless dry-run deletes) the table's unreferenced files; prints one line per file and a total. */
export const vacuum = (options: VacuumOptions) =>
  Effect.scoped(Effect.gen(function*() {
    const { location, storage } = yield* openTargetTable("vacuum", options)
    const cutoff = Date.now() - options.retentionHours * 3_600_000
    const orphans = yield* vacuumDryRun(storage, options.dryRun ? Date.now() : cutoff)
    let bytes = 0
    for (const file of orphans) {
      bytes += file.size
      if (!options.dryRun) yield* storage.delete(file.path)
      const what = isLeftoverTemp(file.path) ? `${file.size} bytes, temp file of an interrupted write` : `${file.size} bytes`
      yield* Effect.sync(() => process.stdout.write(`${options.dryRun ? "would delete" : "deleted"} ${file.path} (${what})\n`))
    }
    yield* Effect.logInfo(
      `${orphans.length} unreferenced file(s), ${bytes} bytes ${options.dryRun ? "found (dry run, nothing deleted)" : `deleted (older than ${options.retentionHours} h)`} in ${location}`
    )
    return orphans.length
  }))
