/**
 * Where the commands that work on one job's table or checkpoint (`offsets`, `check`, `migrate`, `optimize`) find
 * them: by the location's scheme, with the credentials of the environment's `storage` section, as `run` does
 * (src/cli/live.ts), so each works on an object-store table as on a local one.
 */
import { Effect, Layer } from "effect"
import * as CheckpointStoreByLocation from "../../layers/checkpoint-store/object-store.ts"
import { openStorage, resolveStorageSettings } from "../../layers/storage/index.ts"
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
