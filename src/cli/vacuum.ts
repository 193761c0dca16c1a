/**
 * `kafka-delta vacuum`: finds data files under a table that no commit references — left by batches that were
 * written but never committed (a crash between the Parquet write and the Delta commit) — and the temp files a
 * crash left mid-write (in `_delta_log` too), and, unless `--dry-run`, deletes those older than the retention
 * period. Files of the current snapshot and of unexpired tombstones, log entries and log checkpoints, and other
 * hidden paths, are never touched.
 */
import { Effect, Layer } from "effect"
import * as NodePath from "node:path"
import * as ConfigFile from "../../layers/config/environment-file.ts"
import { defaultStorageSettings, openStorage, resolveStorageSettings, type StorageSettings } from "../../layers/storage/index.ts"
import { isLocalLocation, locationProblem } from "../config/location.ts"
import { Config } from "../services/Config.ts"
import { secretsLayer } from "./live.ts"
import { isLeftoverTemp, vacuumDryRun } from "../delta/vacuum.ts"

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
    let location = options.table
    let name = location
    // with --table, an object store is reached through the AWS default chain (AWS_ENDPOINT_URL_S3, AWS_REGION, ...)
    let settings: StorageSettings = defaultStorageSettings
    if (location !== undefined) {
      const problem = locationProblem(location)
      if (problem !== undefined) return yield* Effect.fail({ _tag: "UsageError", message: `--table ${location}: ${problem}` })
    }
    if (location === undefined) {
      if (options.environment === undefined || options.topic === undefined) {
        return yield* Effect.fail({ _tag: "UsageError", message: "vacuum needs --table <path>, or --environment and --topic" })
      }
      const job = yield* ConfigFile.make({
        environmentsDir: options.environmentsDir,
        environment: options.environment,
        topic: options.topic,
        trigger: "available-now"
      })
      location = job.table.location
      name = job.table.name
      settings = yield* resolveStorageSettings(job.storage, job.secrets.scope).pipe(
        Effect.provide(Layer.provide(secretsLayer, Layer.succeed(Config, job)))
      )
    }
    if (isLocalLocation(location)) location = NodePath.resolve(location)
    const storage = yield* openStorage(location, name ?? location, settings)
    const log = yield* storage.list("_delta_log")
    if (log.length === 0) {
      return yield* Effect.fail({
        _tag: "UsageError",
        message: `no Delta table at ${location} (no _delta_log); check --table or the environment's delta.warehouse`
      })
    }
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
