/**
 * Secrets from environment variables: `(scope, key)` is read from `KAFKA_DELTA_SECRET_<SCOPE>_<KEY>`, upper-cased,
 * every character outside `[A-Z0-9]` written as `_` (scope `kafka-uat`, key `sr-key` ->
 * `KAFKA_DELTA_SECRET_KAFKA_UAT_SR_KEY`).
 */
import { Effect, Layer, Redacted } from "effect"
import { SecretNotFoundError, Secrets } from "../../src/services/Secrets.ts"

/** The variable that holds `(scope, key)`. */
export const variableName = (scope: string, key: string): string =>
  `KAFKA_DELTA_SECRET_${scope}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, "_")

/** Secrets read from `env` (default: `process.env`). */
export const make = (env: Readonly<Record<string, string | undefined>> = process.env): Secrets["Service"] =>
  Secrets.of({
    get: (scope, key) =>
      Effect.suspend(() => {
        const variable = variableName(scope, key)
        const value = env[variable]
        return value === undefined || value === ""
          ? Effect.fail(new SecretNotFoundError({ scope, key, lookedAt: `environment variable ${variable}` }))
          : Effect.succeed(Redacted.make(value, { label: `${scope}/${key}` }))
      })
  })

/** The Secrets layer over environment variables. */
export const layer = (env?: Readonly<Record<string, string | undefined>>): Layer.Layer<Secrets> =>
  Layer.succeed(Secrets, make(env))
