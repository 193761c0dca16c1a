/**
 * Derives a job from an environment file and a topic, with the names the Databricks notebook used:
 * Kafka topic `topicPrefix + topic`, table `<catalog>.<schema>.<topic>` stored at
 * `<warehouse>/<catalog>/<schema>/<table>`, checkpoint `<checkpoints>/<Environment>_<topic>`.
 */
import { Duration, Result } from "effect"
import type { JobConfig, Trigger } from "../services/Config.ts"
import type { EnvironmentFile } from "./environment-file.ts"
import { formatLocation, joinLocation, type Location, parseLocation } from "./location.ts"

/** A table name part: lower-cased, characters outside `[a-z0-9_]` as `_`. */
export const tableNameOf = (topic: string): string => topic.toLowerCase().replace(/[^a-z0-9_]/g, "_")

/** Default retry schedule for transient errors. */
export const defaultRetry = { initialDelay: "200 millis", maxDelay: "30 seconds", maxAttempts: 10 } as const

/**
 * Default bound on the decoded column bytes of one batch. A batch is held about four times over at its peak
 * (columns being decoded, the sealed batch, its Arrow IPC copy, parquet-wasm's copy and working memory), so this
 * is the main term of the run's memory: 16 MiB (rather than 32) saves about 90 MiB of RSS and keeps a 10M-record
 * backlog under 512 MiB (reports/memory.md), for a few percent of throughput (more, smaller commits).
 */
export const defaultMaxBatchBytes = 16 * 1024 * 1024

const duration = (text: string): Duration.Duration => Duration.fromInputUnsafe(text as Duration.Input)

/** What a job needs beyond the environment file. */
export interface JobOptions {
  readonly topic: string
  readonly trigger: Trigger
  /** Where the environment file was read from (for messages). */
  readonly source: string
  /** Relative warehouse and checkpoint paths are resolved against this directory. */
  readonly baseDirectory: string
}

/**
 * Why per-partition `startingOffsets` do not fit the job, if they do not: a topic key other than the Kafka topic
 * or the job's topic would be ignored and every partition started at earliest (Spark refuses such offsets too).
 */
export const startingOffsetsProblem = (
  startingOffsets: EnvironmentFile["stream"]["startingOffsets"],
  topics: ReadonlyArray<string>
): string | undefined => {
  if (typeof startingOffsets === "string") return undefined
  const others = Object.keys(startingOffsets).filter((topic) => !topics.includes(topic))
  if (others.length === 0) return undefined
  const names = (list: ReadonlyArray<string>) => list.map((topic) => JSON.stringify(topic)).join(" or ")
  return `names topic ${names(others)}, but this job reads ${names([...new Set(topics)])}; key the offsets by the job's topic`
}

// the environment file was validated, so its locations parse; a local path is the fallback all the same
const parsed = (text: string): Location => Result.getOrElse(parseLocation(text), () => ({ _tag: "Local" as const, path: text }))

/** Resolves the job of `options.topic` in `file`. */
export const resolveJob = (file: EnvironmentFile, options: JobOptions): JobConfig => {
  const table = file.delta.table ?? tableNameOf(options.topic)
  const warehouse = parsed(file.delta.warehouse)
  const tableAt = (name: string) =>
    formatLocation(joinLocation(warehouse, [file.delta.catalog, file.delta.schema, name], options.baseDirectory))
  const streamId = `${file.environment}_${options.topic}`
  const retry = file.stream.retry ?? defaultRetry
  return {
    environment: file.environment,
    source: options.source,
    topic: options.topic,
    kafkaTopic: `${file.kafka.topicPrefix}${options.topic}`,
    streamId,
    table: {
      name: `${file.delta.catalog}.${file.delta.schema}.${table}`,
      location: tableAt(table)
    },
    deadLetterTable: {
      name: `${file.delta.catalog}.${file.delta.schema}.${table}_dead_letter`,
      location: tableAt(`${table}_dead_letter`)
    },
    partitionBy: file.delta.partitionBy ?? [],
    ...(file.delta.layout === undefined ? {} : { layout: file.delta.layout }),
    writer: {
      ...(file.delta.targetFileSize === undefined ? {} : { targetFileSize: file.delta.targetFileSize }),
      ...(file.delta.checkpointInterval === undefined ? {} : { checkpointInterval: file.delta.checkpointInterval }),
      ...(file.delta.compression === undefined ? {} : { compression: file.delta.compression }),
      ...(file.delta.autoCompact === undefined ? {} : { autoCompact: file.delta.autoCompact })
    },
    checkpointLocation: formatLocation(joinLocation(parsed(file.checkpoints), [streamId], options.baseDirectory)),
    ...(file.storage === undefined ? {} : { storage: file.storage }),
    kafka: file.kafka,
    schemaRegistry: file.schemaRegistry,
    secrets: file.secrets,
    stream: {
      trigger: options.trigger,
      startingOffsets: file.stream.startingOffsets,
      failOnDataLoss: file.stream.failOnDataLoss,
      maxBatchRecords: file.stream.maxBatchRecords,
      maxBatchBytes: file.stream.maxBatchBytes ?? defaultMaxBatchBytes,
      maxBatchInterval: duration(file.stream.maxBatchInterval),
      onBadRecord: file.stream.onBadRecord,
      retry: {
        initialDelay: duration(retry.initialDelay),
        maxDelay: duration(retry.maxDelay),
        maxAttempts: retry.maxAttempts
      },
      gracePeriod: duration(file.stream.gracePeriod ?? "30 seconds"),
      ...(file.stream.adoptPositionsFrom === undefined ? {} : { adoptPositionsFrom: file.stream.adoptPositionsFrom }),
      ...(file.stream.allowSecondStream === undefined ? {} : { allowSecondStream: file.stream.allowSecondStream }),
      scaleOut: file.stream.scaleOut ?? "single",
      groupId: file.stream.groupId ?? `${file.kafka.groupIdPrefix}-${streamId}`
    },
    ...(file.metrics?.port === undefined ? {} : { metricsPort: file.metrics.port })
  }
}
