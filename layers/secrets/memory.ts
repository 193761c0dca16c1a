/**
 * In-memory Secrets for tests: a map of `scope -> key -> value`.
 */
import { Effect, Layer, Redacted } from "effect"
import { SecretNotFoundError, Secrets } from "../../src/services/Secrets.ts"

/** Secrets held in `values`. */
export const make = (values: Readonly<Record<string, Readonly<Record<string, string>>>>): Secrets["Service"] =>
  Secrets.of({
    get: (scope, key) => {
      const value = values[scope]?.[key]
      return value === undefined
        ? Effect.fail(new SecretNotFoundError({ scope, key, lookedAt: "in-memory secrets" }))
        : Effect.succeed(Redacted.make(value, { label: `${scope}/${key}` }))
    }
  })

/** The in-memory Secrets layer. */
export const layer = (values: Readonly<Record<string, Readonly<Record<string, string>>>>): Layer.Layer<Secrets> =>
  Layer.succeed(Secrets, make(values))
