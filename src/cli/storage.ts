/**
 * Where the commands that work on one job's table or checkpoint (`offsets`, `check`, `migrate`, `optimize`) find
 * them: by the location's scheme, with the credentials of the environment's `storage` section, as `run` does
 * (src/cli/live.ts), so each works on an object-store table as on a local one.
 */
import { Effect, Layer } from "effect"
import * as NodePath from "node:path"
import * as ConfigFile from "../../layers/config/environment-file.ts"
import * as CheckpointStoreByLocation from "../../layers/checkpoint-store/object-store.ts"
import { defaultStorageSettings, openStorage, resolveStorageSettings, type StorageSettings } from "../../layers/storage/index.ts"
import { isLocalLocation, locationProblem } from "../config/location.ts"
import { CheckpointStore } from "../services/CheckpointStore.ts"
import { Config, type JobConfig } from "../services/Config.ts"
import { secretsLayer } from "./live.ts"

/** The job's storage settings: its `storage` section with the secrets read from the job's scope. */
export const jobStorageSettings = (job: JobConfig) =>
  resolveStorageSettings(job.storage, job.secrets.scope).pipe(
    Effect.provide(Layer.provide(secretsLayer, Layer.succeed(Config, job)))
  )

/** The storage of the job's table (probed for conditional writes when on an object store). */
export const jobTableStorage = (job: JobConfig) =>
  Effect.flatMap(jobStorageSettings(job), (settings) => openStorage(job.table.location, job.table.name, settings))

/**
 * The CheckpointStore at the job's checkpoint location, opened once: a command that answers at once has no
 * retries (the run's layer retries an unreachable store on `stream.retry`).
 */
export const checkpointStoreOnce = Layer.effect(
  CheckpointStore,
  Effect.gen(function*() {
    const job = yield* Config
    return yield* CheckpointStoreByLocation.makeAt(job.checkpointLocation, yield* jobStorageSettings(job))
  })
)

/** How a table command (`vacuum`, `optimize`) names its table: `--table`, or an environment and a topic. */
export interface TableTarget {
  readonly table: string | undefined
  readonly environment: string | undefined
  readonly topic: string | undefined
  readonly environmentsDir: string
}

/**
 * The storage of the table a command acts on, with its location: `--table` (an object store reached through its
 * platform's own variables: the AWS default chain, `AZURE_STORAGE_*`) or the environment's table (with the
 * environment's `storage` credentials). A table without `_delta_log` is a usage error naming the location.
 */
export const openTargetTable = (command: string, target: TableTarget) =>
  Effect.gen(function*() {
    let location = target.table
    let name = location
    let settings: StorageSettings = defaultStorageSettings
    if (location !== undefined) {
      const problem = locationProblem(location)
      if (problem !== undefined) return yield* Effect.fail({ _tag: "UsageError", message: `--table ${location}: ${problem}` } as const)
    } else {
      if (target.environment === undefined || target.topic === undefined) {
        return yield* Effect.fail({ _tag: "UsageError", message: `${command} needs --table <path>, or --environment and --topic` } as const)
      }
      const job = yield* ConfigFile.make({
        environmentsDir: target.environmentsDir,
        environment: target.environment,
        topic: target.topic,
        trigger: "available-now"
      })
      location = job.table.location
      name = job.table.name
      settings = yield* jobStorageSettings(job)
    }
    if (isLocalLocation(location)) location = NodePath.resolve(location)
    const storage = yield* openStorage(location, name ?? location, settings)
    if ((yield* storage.list("_delta_log")).length === 0) {
      return yield* Effect.fail({
        _tag: "UsageError",
        message: `no Delta table at ${location} (no _delta_log); check --table or the environment's delta.warehouse`
      } as const)
    }
    return { location, storage }
  })
