/**
 * The Secrets service: resolves `(scope, key)` to a secret value, the way a Databricks secret scope does.
 * Values are always `Redacted`, so they print as `<redacted>` in logs, errors and inspections.
 */
import { Context, Effect, Redacted, Schema } from "effect"

/** A secret that the configured provider does not hold. Fatal: the stream cannot start without it. */
export class SecretNotFoundError extends Schema.TaggedError<SecretNotFoundError>()("SecretNotFoundError", {
  scope: Schema.String,
  key: Schema.String,
  /** Where the provider looked, e.g. `env KAFKA_DELTA_SECRET_KAFKA_UAT_SR_KEY` or a file path. */
  lookedAt: Schema.String
}) {
  override get message() {
    return `secret "${this.key}" not found in scope "${this.scope}" (looked at ${this.lookedAt}); create it there or fix the key in the environment file`
  }
}

/** The provider failed to read a secret that may exist (permissions, I/O). */
export class SecretReadError extends Schema.TaggedError<SecretReadError>()("SecretReadError", {
  scope: Schema.String,
  key: Schema.String,
  lookedAt: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `secret "${this.key}" in scope "${this.scope}" could not be read from ${this.lookedAt}: ${this.reason}`
  }
}

/** Resolves named secrets within a scope. */
export class Secrets extends Context.Service<Secrets, {
  /** The secret `key` of `scope`, redacted. */
  readonly get: (scope: string, key: string) => Effect.Effect<Redacted.Redacted<string>, SecretNotFoundError | SecretReadError>
}>()("kafka-delta/services/Secrets") {}
