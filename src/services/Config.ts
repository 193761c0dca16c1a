/**
 * The Config service: everything one stream job needs to know — which environment, which topic, where the
 * table and the checkpoint live, how to reach Kafka and the registry, and the stream options.
 * The live layer reads `environments/<name>.json` with `KAFKA_DELTA_*` overrides; tests give values directly.
 */
import { Context, Duration, Schema } from "effect"
import type {
  KafkaSection,
  OnBadRecord,
  SchemaRegistrySection,
  SecretsSection,
  StartingOffsets,
  StorageSection
} from "../config/environment-file.ts"
import type { TableRef } from "./DeltaSink.ts"

/** How a run ends: `continuous` runs until stopped; `available-now` drains what exists at start, then exits. */
export type Trigger = "continuous" | "available-now"

/** The retry schedule for transient errors: exponential from `initialDelay`, jittered, capped at `maxDelay`. */
export interface RetryOptions {
  readonly initialDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  readonly maxAttempts: number
}

/** The stream options, as Spark's readStream/writeStream options were. */
export interface StreamOptions {
  readonly trigger: Trigger
  readonly startingOffsets: StartingOffsets
  readonly failOnDataLoss: boolean
  readonly maxBatchRecords: number
  readonly maxBatchBytes: number
  readonly maxBatchInterval: Duration.Duration
  readonly onBadRecord: OnBadRecord
  readonly retry: RetryOptions
  /** How long a signal stop waits for the in-flight batch to commit. */
  readonly gracePeriod: Duration.Duration
  /** Another stream id of the same topic whose positions in the table this stream starts from. */
  readonly adoptPositionsFrom?: string | undefined
  /** Start although the table holds another stream's positions of the topic (writes a second copy). */
  readonly allowSecondStream?: boolean | undefined
  /** `group`: the processes of this stream share the partitions through the consumer group; absent: `single`. */
  readonly scaleOut?: "single" | "group" | undefined
  /** The consumer group positions are mirrored to (and, in group mode, partitions assigned by); see `groupIdOf`. */
  readonly groupId?: string | undefined
}

/** One stream job, fully resolved. */
export interface JobConfig {
  /** The environment's own name, e.g. `UAT`. */
  readonly environment: string
  /** The file it came from (or a description for values given in code). */
  readonly source: string
  /** The topic as given on the command line (without prefix). */
  readonly topic: string
  /** The Kafka topic read: `topicPrefix + topic`. */
  readonly kafkaTopic: string
  /** Names this stream in txn appIds and the checkpoint: `<Environment>_<topic>`. */
  readonly streamId: string
  readonly table: TableRef
  /** Where `onBadRecord: dead-letter` writes: `<table>_dead_letter` beside the table. */
  readonly deadLetterTable: TableRef
  readonly partitionBy: ReadonlyArray<string>
  /** The table layout from `delta.layout`; absent: the table schema decides (see src/pipeline/value-layout.ts). */
  readonly layout?: "value" | "columns" | undefined
  /** Delta writer settings from the `delta` section (defaults apply when absent). */
  readonly writer: {
    readonly targetFileSize?: number
    readonly checkpointInterval?: number
    readonly compression?: "snappy" | "zstd"
    /** `delta.autoCompact` as written (resolve with `autoCompactSettings`); absent: off. */
    readonly autoCompact?: boolean | { readonly everyCommits?: number; readonly minSmallFiles?: number; readonly maxInputBytes?: number }
  }
  /** A local path or an object-store URL (s3://, abfss://, az://). */
  readonly checkpointLocation: string
  /** How to reach the object stores the table and checkpoint locations name (credentials, endpoints). */
  readonly storage?: StorageSection | undefined
  readonly kafka: typeof KafkaSection.Type
  readonly schemaRegistry: typeof SchemaRegistrySection.Type
  readonly secrets: typeof SecretsSection.Type
  readonly stream: StreamOptions
  /** The port of `/metrics`, `/healthz` and `/readyz`, when they are served. */
  readonly metricsPort?: number | undefined
}

/** The environment name matches no file in the environments directory. */
export class UnknownEnvironmentError extends Schema.TaggedError<UnknownEnvironmentError>()("UnknownEnvironmentError", {
  environment: Schema.String,
  directory: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message() {
    const known = this.available.length === 0 ? "none" : this.available.join(", ")
    return `unknown environment "${this.environment}": no ${this.environment.toLowerCase()}.json in ${this.directory} (available: ${known})`
  }
}

/** The environment file is unreadable, not JSON, or breaks the schema. Lists each key path and problem. */
export class ConfigFileError extends Schema.TaggedError<ConfigFileError>()("ConfigFileError", {
  file: Schema.String,
  problems: Schema.Array(Schema.Struct({ path: Schema.String, problem: Schema.String }))
}) {
  override get message() {
    return `invalid configuration in ${this.file}: ${this.problems.map((p) => `${p.path}: ${p.problem}`).join("; ")}`
  }
}

/** Errors of loading configuration. */
export type ConfigLoadError = UnknownEnvironmentError | ConfigFileError

/** The resolved job configuration. */
export class Config extends Context.Service<Config, JobConfig>()("kafka-delta/services/Config") {}

/** The stream's consumer group: `stream.groupId`, else `<kafka.groupIdPrefix>-<streamId>`. */
export const groupIdOf = (job: JobConfig): string => job.stream.groupId ?? `${job.kafka.groupIdPrefix}-${job.streamId}`
