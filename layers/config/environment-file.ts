/**
 * The live Config layer: reads `<environmentsDir>/<environment>.json` (name matched case-insensitively),
 * applies `KAFKA_DELTA_*` environment-variable overrides, validates it, and resolves the job for a topic.
 */
import { Effect, Layer, Result } from "effect"
import * as Fs from "node:fs/promises"
import * as NodePath from "node:path"
import { decodeEnvironmentFile } from "../../src/config/environment-file.ts"
import { resolveJob, startingOffsetsProblem } from "../../src/config/job.ts"
import { applyOverrides } from "../../src/config/overrides.ts"
import {
  Config,
  ConfigFileError,
  type ConfigLoadError,
  type JobConfig,
  type Trigger,
  UnknownEnvironmentError
} from "../../src/services/Config.ts"

/** What selects a job. */
export interface EnvironmentFileOptions {
  readonly environmentsDir: string
  readonly environment: string
  readonly topic: string
  readonly trigger: Trigger
  /** Variables to read overrides from (default: `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Relative paths in the file are resolved against this (default: the current directory). */
  readonly baseDirectory?: string
}

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Finds the environment file whose name matches case-insensitively. */
export const findEnvironmentFile = (
  environmentsDir: string,
  environment: string
): Effect.Effect<string, UnknownEnvironmentError | ConfigFileError> =>
  Effect.gen(function*() {
    const directory = NodePath.resolve(environmentsDir)
    const entries = yield* Effect.tryPromise({
      try: () => Fs.readdir(directory),
      catch: (error) =>
        new ConfigFileError({
          file: directory,
          problems: [{ path: "(directory)", problem: `cannot list environments: ${reason(error)}` }]
        })
    })
    const files = entries.filter((name) => name.toLowerCase().endsWith(".json")).sort()
    const wanted = `${environment.toLowerCase()}.json`
    const match = files.find((name) => name.toLowerCase() === wanted)
    if (match === undefined) {
      return yield* new UnknownEnvironmentError({
        environment,
        directory,
        available: files.map((name) => name.slice(0, -".json".length))
      })
    }
    return NodePath.join(directory, match)
  })

/** Reads, overrides, validates and resolves the job. */
export const make = (options: EnvironmentFileOptions): Effect.Effect<JobConfig, ConfigLoadError> =>
  Effect.gen(function*() {
    const file = yield* findEnvironmentFile(options.environmentsDir, options.environment)
    const text = yield* Effect.tryPromise({
      try: () => Fs.readFile(file, "utf8"),
      catch: (error) => new ConfigFileError({ file, problems: [{ path: "(file)", problem: reason(error) }] })
    })
    const parsed = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) =>
        new ConfigFileError({ file, problems: [{ path: "(file)", problem: `not valid JSON: ${reason(error)}` }] })
    })
    const { applied, problems: unreadable, value } = applyOverrides(parsed, options.env ?? process.env)
    if (unreadable.length > 0) {
      return yield* new ConfigFileError({ file, problems: unreadable.map(({ path, problem }) => ({ path, problem })) })
    }
    const decoded = decodeEnvironmentFile(value)
    if (Result.isFailure(decoded)) {
      const problems = decoded.failure.map((problem) => {
        const override = applied.find((o) => problem.path === o.path || problem.path.startsWith(`${o.path}.`))
        return override === undefined ? problem : { ...problem, problem: `${problem.problem} (set by ${override.variable})` }
      })
      return yield* new ConfigFileError({ file, problems })
    }
    const environmentFile = decoded.success
    if (environmentFile.secrets.provider === "directory" && environmentFile.secrets.directory === undefined) {
      return yield* new ConfigFileError({
        file,
        problems: [{ path: "secrets.directory", problem: "missing key: required when secrets.provider is \"directory\"" }]
      })
    }
    if (environmentFile.kafka.securityProtocol.startsWith("SASL") && environmentFile.kafka.saslMechanism === undefined) {
      return yield* new ConfigFileError({
        file,
        problems: [{ path: "kafka.saslMechanism", problem: "missing key: required with a SASL securityProtocol (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)" }]
      })
    }
    const kafkaTopic = `${environmentFile.kafka.topicPrefix}${options.topic}`
    const offsetsProblem = startingOffsetsProblem(environmentFile.stream.startingOffsets, [kafkaTopic, options.topic])
    if (offsetsProblem !== undefined) {
      const override = applied.find((o) => o.path === "stream.startingOffsets")
      return yield* new ConfigFileError({
        file,
        problems: [{
          path: "stream.startingOffsets",
          problem: override === undefined ? offsetsProblem : `${offsetsProblem} (set by ${override.variable})`
        }]
      })
    }
    return resolveJob(environmentFile, {
      topic: options.topic,
      trigger: options.trigger,
      source: file,
      baseDirectory: options.baseDirectory ?? process.cwd()
    })
  })

/** The Config layer for one job. */
export const layer = (options: EnvironmentFileOptions): Layer.Layer<Config, ConfigLoadError> =>
  Layer.effect(Config, make(options))
