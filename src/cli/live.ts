/**
 * The live layers of `kafka-delta run`: the secret provider the job names, the Kafka client `kafka.client` names
 * connected on the job's retry schedule, the registry over HTTP with its auth and TLS, Delta tables and the
 * checkpoint on the local filesystem or an object store (by the location's scheme, with the credentials of the
 * environment's `storage` section). Exported as `kafka-delta/live`, so an application that embeds the stream gets the same
 * wiring as the command line: `liveLayers(job)` for a job built in code.
 */
import { Effect, Layer } from "effect"
import * as CheckpointStoreMemory from "../../layers/checkpoint-store/memory.ts"
import * as CheckpointStoreByLocation from "../../layers/checkpoint-store/object-store.ts"
import * as ConfigFile from "../../layers/config/environment-file.ts"
import * as DeltaSinkByLocation from "../../layers/delta-sink/by-location.ts"
import { defaultStorageSettings, resolveStorageSettings } from "../../layers/storage/index.ts"
// imported here, not when chosen: the default layer must replace its kafkajs internals before anything else in the
// process (an embedding program's own producer, say) loads kafkajs's fetch path
import * as KafkaJs from "../../layers/kafka/kafkajs.ts"
import * as RegistryHttp from "../../layers/schema-registry/http.ts"
import * as SecretsDirectory from "../../layers/secrets/directory.ts"
import * as SecretsEnv from "../../layers/secrets/env.ts"
import { retryTransient } from "../pipeline/retry.ts"
import type { KafkaClient } from "../config/environment-file.ts"
import { Config, type JobConfig } from "../services/Config.ts"
import { DeltaSink } from "../services/DeltaSink.ts"
import { KafkaSource } from "../services/KafkaSource.ts"
import { Secrets } from "../services/Secrets.ts"

/** The Secrets layer the job's `secrets.provider` names. */
export const secretsLayer: Layer.Layer<Secrets, never, Config> = Layer.effect(
  Secrets,
  Effect.map(Config, (job) =>
    job.secrets.provider === "directory" && job.secrets.directory !== undefined
      ? SecretsDirectory.make(job.secrets.directory)
      : SecretsEnv.make())
)

/**
 * The DeltaSink layer: Delta tables on the local filesystem or an object store, with the job's writer settings
 * and, when the job has a `storage` section, its credentials read from the secret scope.
 */
export const deltaSinkLayer = Layer.effect(
  DeltaSink,
  Effect.gen(function*() {
    const job = yield* Effect.serviceOption(Config)
    const secrets = yield* Effect.serviceOption(Secrets)
    if (job._tag === "None") return yield* DeltaSinkByLocation.make()
    const storage = job.value.storage === undefined || secrets._tag === "None"
      ? defaultStorageSettings
      : yield* Effect.provideService(resolveStorageSettings(job.value.storage, job.value.secrets.scope), Secrets, secrets.value)
    return yield* DeltaSinkByLocation.make({ ...job.value.writer, storage })
  })
)

/** The client a job without `kafka.client` reads with. */
export const defaultKafkaClient: KafkaClient = "kafkajs"

// @platformatic/kafka is loaded only when chosen: a run on the default client never pays for it
const makeSource = (client: KafkaClient) =>
  client === "platformatic"
    ? Effect.flatMap(Effect.promise(() => import("../../layers/kafka/platformatic.ts")), (m) => Effect.flatMap(m.optionsFromConfig, m.make))
    : Effect.flatMap(KafkaJs.optionsFromConfig, KafkaJs.make)

/**
 * The source on the client `kafka.client` names, connected on the job's retry schedule: an unreachable broker at
 * start-up is as transient as one lost mid-stream, while bad credentials fail at once.
 */
export const kafkaSourceLayer = Layer.effect(
  KafkaSource,
  Effect.gen(function*() {
    const job = yield* Config
    return yield* retryTransient("connecting to Kafka", job.stream.retry, makeSource(job.kafka.client ?? defaultKafkaClient))
  })
)

/** Every live service of a run of `job` (Config included): what `kafka-delta run` uses. */
export const liveLayers = (job: JobConfig) => {
  const withSecrets = Layer.provideMerge(secretsLayer, Layer.succeed(Config, job))
  return Layer.mergeAll(
    kafkaSourceLayer,
    RegistryHttp.layerConfig,
    // group mode: the members share no checkpoint directory (one would lock out the others); the table's txn
    // versions are the positions, re-read at every assignment
    job.stream.scaleOut === "group" ? CheckpointStoreMemory.layer() : CheckpointStoreByLocation.layerConfig,
    deltaSinkLayer
  ).pipe(Layer.provideMerge(withSecrets))
}

/** Every live service of a run, for the job an environment file selects (the command line's `run`). */
export const liveLayersFromFile = (options: ConfigFile.EnvironmentFileOptions) =>
  Layer.unwrap(Effect.map(Config, liveLayers)).pipe(Layer.provide(ConfigFile.layer(options)))
