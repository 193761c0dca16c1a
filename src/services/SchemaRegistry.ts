/**
 * The SchemaRegistry service: Confluent Schema Registry semantics (schemas by numeric id, subjects with versions).
 * Schema texts are Avro schema JSON strings exactly as the registry holds them.
 */
import { Context, Effect, Schema } from "effect"

/** A schema as the registry returns it. */
export interface RegisteredSchema {
  readonly id: number
  /** Avro schema JSON text. */
  readonly schema: string
}

/** The registry has no schema with this id. A per-record problem: handled by `onBadRecord`. */
export class SchemaNotFoundError extends Schema.TaggedError<SchemaNotFoundError>()("SchemaNotFoundError", {
  schemaId: Schema.Number,
  registry: Schema.String
}) {
  override get message() {
    return `schema id ${this.schemaId} is not known to the schema registry at ${this.registry}`
  }
}

/** The subject has no versions. */
export class SubjectNotFoundError extends Schema.TaggedError<SubjectNotFoundError>()("SubjectNotFoundError", {
  subject: Schema.String,
  registry: Schema.String
}) {
  override get message() {
    return `subject "${this.subject}" has no schema in the registry at ${this.registry}`
  }
}

/** 401/403 from the registry. Fatal: credentials must be fixed. */
export class RegistryAuthError extends Schema.TaggedError<RegistryAuthError>()("RegistryAuthError", {
  registry: Schema.String,
  status: Schema.Number,
  user: Schema.optional(Schema.String)
}) {
  override get message() {
    const who = this.user === undefined ? "without credentials" : `for user ${this.user}`
    return `schema registry at ${this.registry} refused the request ${who} (HTTP ${this.status}); check schemaRegistry.username/password secrets`
  }
}

/** The registry could not be reached or answered 5xx. Transient: retried on the stream's schedule. */
export class RegistryUnavailableError extends Schema.TaggedError<RegistryUnavailableError>()(
  "RegistryUnavailableError",
  { registry: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `schema registry at ${this.registry} is unavailable: ${this.reason}`
  }
}

/**
 * The registry's TLS certificate is not trusted: the CA file is missing or is not the CA that signed it. Fatal:
 * retrying cannot fix a configuration.
 */
export class RegistryTlsError extends Schema.TaggedError<RegistryTlsError>()("RegistryTlsError", {
  registry: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `schema registry at ${this.registry}: TLS certificate not trusted (${this.reason}); set schemaRegistry.caFile to the CA that signed the registry's certificate`
  }
}

/** The registry rejected a schema on registration (409/422). */
export class SchemaRejectedError extends Schema.TaggedError<SchemaRejectedError>()("SchemaRejectedError", {
  subject: Schema.String,
  registry: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `schema registry at ${this.registry} rejected a schema for subject "${this.subject}": ${this.reason}`
  }
}

/** Errors of registry calls that are not about a particular schema. */
export type RegistryError = RegistryAuthError | RegistryUnavailableError | RegistryTlsError

/** Confluent-compatible schema lookup and registration. */
export class SchemaRegistry extends Context.Service<SchemaRegistry, {
  /** The schema registered under `id`. */
  readonly getById: (id: number) => Effect.Effect<RegisteredSchema, SchemaNotFoundError | RegistryError>
  /** The latest schema of `subject`. */
  readonly getLatest: (subject: string) => Effect.Effect<RegisteredSchema, SubjectNotFoundError | RegistryError>
  /** Registers `schema` under `subject` (idempotent) and returns its id. */
  readonly register: (subject: string, schema: string) => Effect.Effect<number, SchemaRejectedError | RegistryError>
}>()("kafka-delta/services/SchemaRegistry") {}
