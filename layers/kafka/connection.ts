/**
 * How both live Kafka layers (kafkajs and @platformatic/kafka) reach the brokers: the connection options they share,
 * reading them from the job's `kafka` section and its secrets, and resolving them once (broker list, CA file,
 * TLS/SASL choice, password scrubbing) so that the two layers cannot drift apart on what a setting means.
 */
import type { AdminOptions } from "@platformatic/kafka"
import { Duration, Effect, Redacted } from "effect"
import * as Fs from "node:fs/promises"
import { Config, ConfigFileError } from "../../src/services/Config.ts"
import { type SecretNotFoundError, type SecretReadError, Secrets } from "../../src/services/Secrets.ts"

/** How to reach the brokers, whichever client does it. */
export interface ConnectionOptions {
  /** Bootstrap servers, `host:port`, as a list or comma-separated. */
  readonly brokers: ReadonlyArray<string> | string
  readonly securityProtocol?: "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL" | undefined
  readonly saslMechanism?: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" | undefined
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** PEM file of the CA that signed the brokers' certificates (default: the system CAs). */
  readonly caFile?: string | undefined
  readonly clientId?: string | undefined
  /** TCP/TLS connect timeout (default 5 seconds). */
  readonly connectionTimeout?: Duration.Input | undefined
  /** Per-request timeout (default 30 seconds). */
  readonly requestTimeout?: Duration.Input | undefined
  /** The client's own retries before an error reaches us (default 2; the pipeline retries on its schedule). */
  readonly retries?: number | undefined
}

/** A duration option in milliseconds, `fallback` when it is not set. */
export const millis = (input: Duration.Input | undefined, fallback: Duration.Input): number =>
  Duration.toMillis(Duration.fromInputUnsafe(input ?? fallback))

/** The brokers as a list. */
export const brokerList = (brokers: ReadonlyArray<string> | string): ReadonlyArray<string> =>
  (typeof brokers === "string" ? brokers.split(",") : brokers).map((broker) => broker.trim()).filter((b) => b.length > 0)

const readCa = (file: string): Effect.Effect<string, ConfigFileError> =>
  Effect.tryPromise({
    try: () => Fs.readFile(file, "utf8"),
    catch: (error) =>
      new ConfigFileError({
        file,
        problems: [{ path: "kafka.caFile", problem: `cannot read CA file: ${error instanceof Error ? error.message : String(error)}` }]
      })
  })

/** The connection options worked out once: what both layers derive from them before creating a client. */
export interface Connection {
  readonly brokers: ReadonlyArray<string>
  /** The brokers as one comma-separated string, for error messages. */
  readonly brokersText: string
  readonly protocol: NonNullable<ConnectionOptions["securityProtocol"]>
  /** The plain password, "" without one. */
  readonly secret: string
  /** Replaces the password in a text that may reach a log or an error. */
  readonly scrub: (text: string) => string
  /** The CA file's PEM text, if one is set. */
  readonly ca: string | undefined
  readonly useTls: boolean
  readonly useSasl: boolean
}

/** Resolves the options; fails with a ConfigFileError naming `kafka.caFile` when the CA file cannot be read. */
export const resolveConnection = (options: ConnectionOptions): Effect.Effect<Connection, ConfigFileError> =>
  Effect.gen(function*() {
    const brokers = brokerList(options.brokers)
    const protocol = options.securityProtocol ?? "PLAINTEXT"
    const secret = options.password === undefined ? "" : Redacted.value(options.password)
    return {
      brokers,
      brokersText: brokers.join(","),
      protocol,
      secret,
      scrub: (text: string): string => (secret.length === 0 ? text : text.split(secret).join("<redacted>")),
      ca: options.caFile === undefined ? undefined : yield* readCa(options.caFile),
      useTls: protocol === "SSL" || protocol === "SASL_SSL",
      useSasl: protocol.startsWith("SASL")
    }
  })

/** The @platformatic/kafka client options for a connection (both layers commit group offsets with that client). */
export const platformaticClientOptions = (options: ConnectionOptions, connection: Connection): AdminOptions => ({
  clientId: options.clientId ?? "kafka-delta",
  bootstrapBrokers: [...connection.brokers],
  connectTimeout: millis(options.connectionTimeout, "5 seconds"),
  requestTimeout: millis(options.requestTimeout, "30 seconds"),
  retries: options.retries ?? 2,
  autocreateTopics: false,
  ...(connection.useTls ? { tls: connection.ca === undefined ? {} : { ca: [connection.ca] } } : {}),
  ...(connection.useSasl
    ? { sasl: { mechanism: options.saslMechanism ?? "PLAIN", username: options.username ?? "", password: connection.secret } }
    : {})
})

/** The connection options the job's `kafka` section and its secrets describe. */
export const connectionFromConfig: Effect.Effect<
  ConnectionOptions,
  SecretNotFoundError | SecretReadError,
  Config | Secrets
> = Effect.gen(function*() {
  const job = yield* Config
  const secrets = yield* Secrets
  const kafka = job.kafka
  const username = kafka.username == null ? undefined : Redacted.value(yield* secrets.get(job.secrets.scope, kafka.username.secret))
  const password = kafka.password == null ? undefined : yield* secrets.get(job.secrets.scope, kafka.password.secret)
  return {
    brokers: kafka.bootstrapServers,
    securityProtocol: kafka.securityProtocol,
    saslMechanism: kafka.saslMechanism,
    username,
    password,
    caFile: kafka.caFile ?? undefined
  }
})
