/**
 * The connection details of the local test services (Kafka, the schema registry and its TLS proxy), read from
 * the environment that `bash scripts/services.sh env` describes. Integration tests fail, never skip, when
 * they are missing: a green run must mean the real services were exercised.
 */

/** Everything `scripts/services.sh env` prints that the tests use. */
export interface ServicesEnv {
  readonly kafkaBootstrap: string
  readonly kafkaSaslSslBootstrap: string
  readonly kafkaCaFile: string
  readonly kafkaPlainUser: string
  readonly kafkaPlainPassword: string
  readonly kafkaScramUser: string
  readonly kafkaScramPassword: string
  readonly schemaRegistryUrl: string
  readonly schemaRegistrySecureUrl: string
  readonly schemaRegistryUser: string
  readonly schemaRegistryPassword: string
  readonly schemaRegistryCaFile: string
}

const names = {
  kafkaBootstrap: "KAFKA_BOOTSTRAP",
  kafkaSaslSslBootstrap: "KAFKA_SASL_SSL_BOOTSTRAP",
  kafkaCaFile: "KAFKA_CA_FILE",
  kafkaPlainUser: "KAFKA_PLAIN_USER",
  kafkaPlainPassword: "KAFKA_PLAIN_PASSWORD",
  kafkaScramUser: "KAFKA_SCRAM_USER",
  kafkaScramPassword: "KAFKA_SCRAM_PASSWORD",
  schemaRegistryUrl: "SCHEMA_REGISTRY_URL",
  schemaRegistrySecureUrl: "SCHEMA_REGISTRY_SECURE_URL",
  schemaRegistryUser: "SCHEMA_REGISTRY_USER",
  schemaRegistryPassword: "SCHEMA_REGISTRY_PASSWORD",
  schemaRegistryCaFile: "SCHEMA_REGISTRY_CA_FILE"
} as const satisfies Record<keyof ServicesEnv, string>

/** Reads the services' details, or throws naming the missing variables and how to provide them. */
export const servicesEnv = (env: Readonly<Record<string, string | undefined>> = process.env): ServicesEnv => {
  const missing = Object.values(names).filter((name) => (env[name] ?? "") === "")
  if (missing.length > 0) {
    throw new Error(
      `integration tests need the local services: missing ${missing.join(", ")}. ` +
        "Start them with `bash scripts/services.sh up` and export their details with " +
        "`set -a; eval \"$(bash scripts/services.sh env)\"; set +a` before running vitest."
    )
  }
  const entries = Object.entries(names).map(([key, name]) => [key, env[name]!])
  return Object.fromEntries(entries) as unknown as ServicesEnv
}
