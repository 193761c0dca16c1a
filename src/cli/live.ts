/**
 * The live layers of `kafka-delta run`: the environment file, the secret provider it names, kafkajs, the
 * registry over HTTP, Delta tables on the local filesystem, and the checkpoint directory.
 */
import { Effect, Layer } from "effect"
import * as CheckpointStoreFile from "../../layers/checkpoint-store/filesystem.ts"
import * as ConfigFile from "../../layers/config/environment-file.ts"
import * as DeltaSinkFile from "../../layers/delta-sink/filesystem.ts"
import * as KafkaJs from "../../layers/kafka/kafkajs.ts"
import * as RegistryHttp from "../../layers/schema-registry/http.ts"
import * as SecretsDirectory from "../../layers/secrets/directory.ts"
import * as SecretsEnv from "../../layers/secrets/env.ts"
import { retryTransient } from "../pipeline/retry.ts"
import { Config } from "../services/Config.ts"
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

/** The DeltaSink layer: Delta tables on the local filesystem, with the job's writer settings. */
export const deltaSinkLayer = Layer.unwrap(
  Effect.map(Effect.serviceOption(Config), (job) =>
    DeltaSinkFile.layer(job._tag === "Some" ? job.value.writer : {}))
)

/**
 * The kafkajs source, connected on the job's retry schedule: an unreachable broker at start-up is as transient
 * as one lost mid-stream, while bad credentials fail at once.
 */
export const kafkaSourceLayer = Layer.effect(
  KafkaSource,
  Effect.gen(function*() {
    const job = yield* Config
    return yield* retryTransient("connecting to Kafka", job.stream.retry, Effect.flatMap(KafkaJs.optionsFromConfig, KafkaJs.make))
  })
)

/** Every service of a run, for the job selected by `options`. */
export const liveLayers = (options: ConfigFile.EnvironmentFileOptions) => {
  const config = ConfigFile.layer(options)
  const withSecrets = Layer.provideMerge(secretsLayer, config)
  return Layer.mergeAll(
    kafkaSourceLayer,
    RegistryHttp.layerConfig,
    CheckpointStoreFile.layerConfig,
    deltaSinkLayer
  ).pipe(Layer.provideMerge(withSecrets))
}
