/**
 * The live KafkaSource on kafkajs: PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL with PLAIN or SCRAM, and a CA
 * file for TLS. One admin client lives as long as the layer (offsets, log-start checks); every `consume` gets
 * its own consumer in a group nobody else uses, so Kafka's committed group offsets never matter: positions
 * always come from the request. kafkajs retries only briefly; the pipeline retries on its own schedule.
 * kafkajs's own logger is routed to Effect logging at debug level, scrubbed of the password.
 */
import { Duration, Effect, Layer, Redacted, type Scope } from "effect"
// before kafkajs: replaces two of its internals on the fetch path while they are not loaded yet (see the module)
import { installed, kafkajsVersion, notInstalledWarning } from "./kafkajs-fast-records.ts"
import { type Admin, Kafka, type KafkaConfig, type LogEntry, logLevel, type SASLOptions } from "kafkajs"
import { Config, type ConfigFileError } from "../../src/services/Config.ts"
import {
  KafkaAuthError,
  KafkaDecompressionError,
  KafkaSource,
  type KafkaSourceError,
  KafkaUnavailableError,
  type PartitionOffsets,
  TopicNotFoundError
} from "../../src/services/KafkaSource.ts"
import type { SecretNotFoundError, SecretReadError, Secrets } from "../../src/services/Secrets.ts"
import {
  brokerList as sharedBrokerList,
  connectionFromConfig,
  type ConnectionOptions,
  millis,
  platformaticClientOptions,
  resolveConnection
} from "./connection.ts"
import { type ConsumeContext, consumeStream, type ConsumeTuning } from "./kafkajs-consume.ts"
import { DecompressionFailure, registerKafkajsCodecs } from "./codecs.ts"
import { makeCommitOffsets, makeMemberCommits } from "./group-offsets.ts"
import { groupStream } from "./kafkajs-group.ts"

// kafkajs ships gzip only: snappy, lz4 and zstd batches would fail as "not implemented"
registerKafkajsCodecs()

/** How to reach and read the brokers. */
export interface KafkajsSourceOptions extends ConnectionOptions, ConsumeTuning {
  /** Consumer groups are `<groupIdPrefix>-<random>`, one per `consume` (default `kafka-delta`). */
  readonly groupIdPrefix?: string | undefined
  /** SASL handshake timeout (default 10 seconds). */
  readonly authenticationTimeout?: Duration.Input | undefined
}

/** The brokers as a list. */
export const brokerList = sharedBrokerList

const errorChain = (error: unknown): ReadonlyArray<Record<string, unknown>> => {
  const chain: Array<Record<string, unknown>> = []
  let current: unknown = error
  while (typeof current === "object" && current !== null && chain.length < 8 && !chain.includes(current as never)) {
    const record = current as Record<string, unknown>
    chain.push(record)
    current = record["cause"] ?? record["originalError"] ?? record["retriableError"]
  }
  return chain
}

const isTlsProblem = (text: string): boolean =>
  /certificate|self[- ]signed|UNABLE_TO_VERIFY|CERT_|wrong version number|ssl3_get_record|packet length too long|ERR_SSL/i
    .test(text)

/** Whether `error` (or anything it wraps) says the topic does not exist. */
export const isUnknownTopic = (error: unknown): boolean =>
  errorChain(error).some((e) => e["type"] === "UNKNOWN_TOPIC_OR_PARTITION" || e["name"] === "KafkaJSTopicMetadataNotLoaded")

/** What the error mapping needs to know about the client. */
export interface ErrorContext {
  readonly brokers: string
  readonly user: string | undefined
  readonly mechanism: string
  /** The last broker kafkajs named in a log line (auth errors do not carry it themselves). */
  readonly lastBroker: () => string | undefined
  readonly scrub: (text: string) => string
}

/**
 * Maps a kafkajs failure to the source's typed errors, in one line with the broker and the cause. `topic` is the
 * topic being consumed, if any (a batch that cannot be decompressed is named by it).
 */
export const toSourceError = (
  error: unknown,
  context: ErrorContext,
  topic?: string
): KafkaAuthError | KafkaUnavailableError | KafkaDecompressionError => {
  const chain = errorChain(error)
  const failure = chain.find((e): e is DecompressionFailure & Record<string, unknown> => e instanceof DecompressionFailure)
  if (failure !== undefined) {
    // kafkajs's own record decoding threw it (the fast path reports the batch's partition and offset itself)
    return new KafkaDecompressionError({ topic: topic ?? "?", codec: failure.codec, reason: context.scrub(failure.reason) })
  }
  const messages = chain.map((e) => (typeof e["message"] === "string" ? e["message"] : "")).filter((m) => m.length > 0)
  const unique = messages.filter((message, i) => !messages.slice(0, i).some((earlier) => earlier.includes(message)))
  const reason = context.scrub(unique.join(": ") || String(error)).replace(/\s*\n\s*/g, " ")
  const broker = chain.map((e) => e["broker"]).find((b): b is string => typeof b === "string") ??
    context.lastBroker() ?? context.brokers
  if (chain.some((e) => e["name"] === "KafkaJSSASLAuthenticationError" || e["type"] === "SASL_AUTHENTICATION_FAILED")) {
    return new KafkaAuthError({ broker, user: context.user, mechanism: context.mechanism, reason })
  }
  const denied = chain.map((e) => e["type"]).find((t): t is string => typeof t === "string" && t.endsWith("AUTHORIZATION_FAILED"))
  if (denied !== undefined) {
    return new KafkaAuthError({ broker, user: context.user, mechanism: context.mechanism, reason: `${denied}: ${reason}; check the ACLs of this user` })
  }
  if (isTlsProblem(reason)) {
    return new KafkaAuthError({
      broker,
      user: context.user,
      mechanism: "TLS",
      reason: `${reason}; check kafka.caFile and kafka.securityProtocol`
    })
  }
  return new KafkaUnavailableError({
    brokers: context.brokers,
    reason: broker === context.brokers ? reason : `${reason} (broker ${broker})`
  })
}

const saslOptions = (options: KafkajsSourceOptions): SASLOptions | undefined => {
  const protocol = options.securityProtocol ?? "PLAINTEXT"
  if (!protocol.startsWith("SASL")) return undefined
  const username = options.username ?? ""
  const password = options.password === undefined ? "" : Redacted.value(options.password)
  switch (options.saslMechanism ?? "PLAIN") {
    case "PLAIN":
      return { mechanism: "plain", username, password }
    case "SCRAM-SHA-256":
      return { mechanism: "scram-sha-256", username, password }
    case "SCRAM-SHA-512":
      return { mechanism: "scram-sha-512", username, password }
  }
}

const levelName = (level: number): string =>
  level === logLevel.ERROR ? "error" : level === logLevel.WARN ? "warn" : level === logLevel.INFO ? "info" : "debug"

/** A KafkaSource on kafkajs; the admin connection lives as long as the scope. Fails fast on bad credentials. */
export const make = Effect.fnUntraced(function*(
  options: KafkajsSourceOptions
): Effect.fn.Return<KafkaSource["Service"], KafkaSourceError | ConfigFileError, Scope.Scope> {
  const connection = yield* resolveConnection(options)
  const { brokers, brokersText, protocol, scrub, ca, useTls } = connection
  const sasl = saslOptions(options)
  const services = yield* Effect.context<never>()
  const runLog = Effect.runForkWith(services)
  const slowDecoding = notInstalledWarning(installed(), kafkajsVersion())
  if (slowDecoding !== undefined) yield* Effect.logWarning(slowDecoding)

  let lastBroker: string | undefined
  const logListeners = new Set<(entry: LogEntry) => void>()
  const logCreator = () => (entry: LogEntry) => {
    const { message, broker, timestamp: _timestamp, logger: _logger, stack: _stack, ...extra } = entry.log as
      & LogEntry["log"]
      & { broker?: unknown; stack?: unknown }
    if (typeof broker === "string") lastBroker = broker
    for (const listener of logListeners) listener(entry)
    const annotations: Record<string, unknown> = { kafkajs: entry.namespace, level: levelName(entry.level) }
    if (typeof broker === "string") annotations["broker"] = broker
    for (const [key, value] of Object.entries(extra)) {
      if (value === null || ["string", "number", "boolean"].includes(typeof value)) annotations[key] = value
    }
    runLog(Effect.logDebug(scrub(`kafkajs: ${message}`)).pipe(Effect.annotateLogs(
      JSON.parse(scrub(JSON.stringify(annotations))) as Record<string, unknown>
    )))
  }

  const config: KafkaConfig = {
    brokers: [...brokers],
    clientId: options.clientId ?? "kafka-delta",
    connectionTimeout: millis(options.connectionTimeout, "5 seconds"),
    authenticationTimeout: millis(options.authenticationTimeout, "10 seconds"),
    requestTimeout: millis(options.requestTimeout, "30 seconds"),
    retry: { retries: options.retries ?? 2, initialRetryTime: 200, maxRetryTime: 2_000 },
    logLevel: logLevel.INFO,
    logCreator,
    ...(useTls ? { ssl: ca === undefined ? true : { ca: [ca] } } : {}),
    ...(sasl === undefined ? {} : { sasl })
  }
  const kafka = new Kafka(config)
  const errorContext: ErrorContext = {
    brokers: brokersText,
    user: sasl === undefined ? undefined : options.username,
    mechanism: sasl === undefined ? protocol : `SASL ${options.saslMechanism ?? "PLAIN"}`,
    lastBroker: () => lastBroker,
    scrub
  }
  const fail = (error: unknown, topic?: string) => toSourceError(error, errorContext, topic)

  const admin: Admin = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client = kafka.admin({ retry: { retries: options.retries ?? 2 } })
        try {
          await client.connect()
        } catch (error) {
          await client.disconnect().catch(() => undefined)
          throw error
        }
        return client
      },
      catch: fail
    }),
    (client) => Effect.promise(() => client.disconnect().catch(() => undefined))
  )

  const offsets = (topic: string): Effect.Effect<ReadonlyArray<PartitionOffsets>, KafkaSourceError> =>
    Effect.tryPromise({
      try: () => admin.fetchTopicOffsets(topic),
      catch: (error): KafkaSourceError =>
        isUnknownTopic(error) ? new TopicNotFoundError({ topic, brokers: brokersText }) : fail(error)
    }).pipe(Effect.map((list) =>
      list
        .map((entry) => ({ partition: entry.partition, earliest: Number(entry.low), latest: Number(entry.high) }))
        .sort((a, b) => a.partition - b.partition)
    ))

  const offsetsForTimestamp = (topic: string, timestamp: number) =>
    Effect.tryPromise({
      try: () => Promise.all([admin.fetchTopicOffsetsByTimestamp(topic, timestamp), admin.fetchTopicOffsets(topic)]),
      catch: (error): KafkaSourceError =>
        isUnknownTopic(error) ? new TopicNotFoundError({ topic, brokers: brokersText }) : fail(error)
    }).pipe(Effect.map(([found, ranges]) => {
      const latest = new Map(ranges.map((range) => [range.partition, Number(range.high)]))
      // a partition with no record that new answers -1 from the broker: reading would start at its end
      return found
        .map((entry) => ({ partition: entry.partition, offset: Number(entry.offset) < 0 ? latest.get(entry.partition) ?? 0 : Number(entry.offset) }))
        .sort((a, b) => a.partition - b.partition)
    }))

  const context: ConsumeContext = {
    kafka,
    brokers: brokersText,
    groupIdPrefix: options.groupIdPrefix ?? "kafka-delta",
    retries: options.retries ?? 2,
    offsets,
    fail,
    onLog: (listener) => {
      logListeners.add(listener)
      return () => logListeners.delete(listener)
    },
    tuning: options
  }
  const commitOffsets = yield* makeCommitOffsets(platformaticClientOptions(options, connection), fail)
  const members = makeMemberCommits()

  return KafkaSource.of({
    offsets,
    offsetsForTimestamp,
    commitOffsets: members.route(commitOffsets, fail),
    joinGroup: (group, topic) => groupStream({ kafka, fail, members }, group, topic),
    consume: (request) => consumeStream(context, request)
  })
})

/** The KafkaSource layer for explicit options. */
export const layer = (options: KafkajsSourceOptions): Layer.Layer<KafkaSource, KafkaSourceError | ConfigFileError> =>
  Layer.effect(KafkaSource, make(options))

/** The options the job's `kafka` section and its secrets describe. */
export const optionsFromConfig: Effect.Effect<
  KafkajsSourceOptions,
  SecretNotFoundError | SecretReadError,
  Config | Secrets
> = Effect.gen(function*() {
  const job = yield* Config
  return { ...(yield* connectionFromConfig), groupIdPrefix: job.kafka.groupIdPrefix }
})

/** The KafkaSource layer for the job's `kafka` section, credentials read through Secrets. */
export const layerConfig: Layer.Layer<
  KafkaSource,
  KafkaSourceError | ConfigFileError | SecretNotFoundError | SecretReadError,
  Config | Secrets
> = Layer.effect(KafkaSource, Effect.flatMap(optionsFromConfig, make))
