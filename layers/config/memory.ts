/**
 * The in-memory Config layer: a job given as a value, for tests and embedding applications that build their
 * configuration themselves.
 */
import { Layer } from "effect"
import { Config, type JobConfig } from "../../src/services/Config.ts"

/** The job as given. */
export const make = (job: JobConfig): JobConfig => job

/** A Config layer holding `job`. */
export const layer = (job: JobConfig): Layer.Layer<Config> => Layer.succeed(Config, make(job))
