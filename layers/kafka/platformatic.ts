/**
 * A second live KafkaSource, on @platformatic/kafka: a maintained client written in TypeScript that decodes every
 * codec (gzip and zstd from `node:zlib`, snappy and lz4 in WebAssembly) and needs no patching. PLAINTEXT, SSL,
 * SASL_PLAINTEXT and SASL_SSL with PLAIN or SCRAM, and a CA file for TLS. One client lives as long as the layer;
 * it never joins a consumer group: `consume` fetches at the positions it is given (layers/kafka/platformatic-fetch.ts).
 */
import { type AdminOptions, Consumer, type ConsumerOptions } from "@platformatic/kafka"
import { type Duration, Effect, Layer, type Scope } from "effect"
import type { Config, ConfigFileError } from "../../src/services/Config.ts"
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
import { connectionFromConfig, type ConnectionOptions, millis, platformaticClientOptions, resolveConnection } from "./connection.ts"
import { makeCommitOffsets, makeMemberCommits } from "./group-offsets.ts"
import { type FetchContext, fetchStream, type TopicLayout } from "./platformatic-fetch.ts"
import { groupStream } from "./platformatic-group.ts"

/** How to reach and read the brokers. */
export interface PlatformaticSourceOptions extends ConnectionOptions {
  /** Bytes per fetch request (default 32 MiB). */
  readonly maxBytes?: number | undefined
  /** Bytes per partition per fetch (default 1 MiB). */
  readonly maxBytesPerPartition?: number | undefined
  /** How long the broker may wait for data before answering a fetch (default 500 millis; 100 for a drain). */
  readonly maxWaitTime?: Duration.Input | undefined
  /** How old cached metadata (leaders, added partitions) may get (default 30 seconds). */
  readonly metadataMaxAge?: Duration.Input | undefined
}

/** Every error `error` wraps (its cause, and the errors of an AggregateError), itself first. */
const errorTree = (error: unknown): ReadonlyArray<Record<string, unknown>> => {
  const seen: Array<Record<string, unknown>> = []
  const visit = (current: unknown) => {
    if (typeof current !== "object" || current === null || seen.length >= 16 || seen.includes(current as never)) return
    const record = current as Record<string, unknown>
    seen.push(record)
    visit(record["cause"])
    if (Array.isArray(record["errors"])) for (const inner of record["errors"]) visit(inner)
  }
  visit(error)
  return seen
}

const isTlsProblem = (text: string): boolean =>
  /certificate|self[- ]signed|UNABLE_TO_VERIFY|CERT_|wrong version number|packet length too long|ERR_SSL/i.test(text)

/** What the error mapping needs to know about the client. */
export interface ErrorContext {
  readonly brokers: string
  readonly user: string | undefined
  readonly mechanism: string
  readonly scrub: (text: string) => string
}

/** Maps a @platformatic/kafka failure to the source's typed errors, in one line. Exported for the test. */
export const toSourceError = (error: unknown, context: ErrorContext, topic?: string): KafkaSourceError => {
  const tree = errorTree(error)
  const messages = tree.map((e) => (typeof e["message"] === "string" ? e["message"] : "")).filter((m) => m.length > 0)
  const unique = messages.filter((message, i) => !messages.slice(0, i).some((earlier) => earlier.includes(message)))
  const reason = context.scrub(unique.join(": ") || String(error)).replace(/\s*\n\s*/g, " ")
  const codes = tree.map((e) => e["apiId"] ?? e["code"]).filter((c): c is string => typeof c === "string")
  // the client's metadata call reports a missing topic as a UserError in words, without the protocol code
  if (topic !== undefined && (codes.includes("UNKNOWN_TOPIC_OR_PARTITION") || messages.some((m) => m.startsWith(`Unknown topic ${topic}`)))) {
    return new TopicNotFoundError({ topic, brokers: context.brokers })
  }
  // The client decompresses while it parses a fetch response, so the error names neither partition nor offset:
  // zlib's errors carry their codes, the WebAssembly snappy and lz4 decoders trap ("unreachable").
  const codec = tree.some((e) => e["name"] === "UnsupportedCompressionError")
    ? "unsupported"
    : codes.some((c) => c.startsWith("ZSTD_error"))
    ? "zstd"
    : codes.some((c) => c === "Z_DATA_ERROR" || c === "Z_BUF_ERROR")
    ? "gzip"
    : tree.some((e) => e["name"] === "RuntimeError") // WebAssembly.RuntimeError
    ? "snappy or lz4"
    : undefined
  if (codec !== undefined) return new KafkaDecompressionError({ topic: topic ?? "?", codec, reason })
  if (codes.some((c) => c === "SASL_AUTHENTICATION_FAILED" || c === "PLT_KFK_AUTHENTICATION") ||
    tree.some((e) => e["name"] === "AuthenticationError")) {
    return new KafkaAuthError({ broker: context.brokers, user: context.user, mechanism: context.mechanism, reason })
  }
  const denied = codes.find((c) => c.endsWith("AUTHORIZATION_FAILED"))
  if (denied !== undefined) {
    return new KafkaAuthError({ broker: context.brokers, user: context.user, mechanism: context.mechanism, reason: `${denied}: ${reason}; check the ACLs of this user` })
  }
  if (isTlsProblem(reason)) {
    return new KafkaAuthError({ broker: context.brokers, user: context.user, mechanism: "TLS", reason: `${reason}; check kafka.caFile and kafka.securityProtocol` })
  }
  return new KafkaUnavailableError({ brokers: context.brokers, reason })
}

/** A KafkaSource on @platformatic/kafka; the client lives as long as the scope. Fails fast on bad credentials. */
export const make = Effect.fnUntraced(function*(
  options: PlatformaticSourceOptions
): Effect.fn.Return<KafkaSource["Service"], KafkaSourceError | ConfigFileError, Scope.Scope> {
  const connection = yield* resolveConnection(options)
  const { brokersText, protocol, scrub, useSasl } = connection
  const errorContext: ErrorContext = {
    brokers: brokersText,
    user: useSasl ? options.username : undefined,
    mechanism: useSasl ? `SASL ${options.saslMechanism ?? "PLAIN"}` : protocol,
    scrub
  }
  const fail = (error: unknown, topic?: string) => toSourceError(error, errorContext, topic)

  const baseOptions: AdminOptions = {
    ...platformaticClientOptions(options, connection),
    retryDelay: 200,
    metadataMaxAge: millis(options.metadataMaxAge, "30 seconds")
  }
  const clientOptions: ConsumerOptions<Buffer, Buffer, Buffer, Buffer> = {
    ...baseOptions,
    // never used to join: the client needs one, the reader never asks the group for anything
    groupId: `kafka-delta-unused-${crypto.randomUUID()}`
  }
  const client = yield* Effect.acquireRelease(
    Effect.sync(() => new Consumer(clientOptions)),
    (consumer) => Effect.promise(() => consumer.close(true).catch(() => undefined))
  )
  // connects and authenticates now, so bad credentials fail the layer rather than the first read
  yield* Effect.tryPromise({ try: () => client.metadata({ topics: [] }), catch: (error) => fail(error) })

  const layout = (topic: string, refresh = false): Effect.Effect<TopicLayout, KafkaSourceError> =>
    Effect.tryPromise({ try: () => client.metadata({ topics: [topic], forceUpdate: refresh }), catch: (error) => fail(error, topic) }).pipe(
      Effect.flatMap((metadata) => {
        const entry = metadata.topics.get(topic)
        if (entry === undefined) return Effect.fail(new TopicNotFoundError({ topic, brokers: brokersText }))
        return Effect.succeed({
          id: entry.id,
          partitions: entry.partitions.map((p, partition) => ({ partition, leader: p.leader, leaderEpoch: p.leaderEpoch }))
        })
      })
    )

  const offsets = (topic: string): Effect.Effect<ReadonlyArray<PartitionOffsets>, KafkaSourceError> =>
    Effect.gen(function*() {
      yield* layout(topic)
      const [earliest, latest] = yield* Effect.tryPromise({
        try: () =>
          Promise.all([
            client.listOffsets({ topics: [topic], timestamp: -2n }),
            client.listOffsets({ topics: [topic], timestamp: -1n })
          ]),
        catch: (error) => fail(error, topic)
      })
      const low = earliest.get(topic) ?? []
      const high = latest.get(topic) ?? []
      return low.map((offset, partition) => ({ partition, earliest: Number(offset), latest: Number(high[partition] ?? offset) }))
    })

  const offsetsForTimestamp = (topic: string, timestamp: number): Effect.Effect<ReadonlyArray<{ readonly partition: number; readonly offset: number }>, KafkaSourceError> =>
    Effect.gen(function*() {
      const ranges = yield* offsets(topic)
      const found = yield* Effect.tryPromise({
        try: () => client.listOffsets({ topics: [topic], timestamp: BigInt(timestamp) }),
        catch: (error) => fail(error, topic)
      })
      const byPartition = found.get(topic) ?? []
      // a partition with no record that new answers -1 from the broker: reading would start at its end
      return ranges.map((range) => {
        const offset = Number(byPartition[range.partition] ?? -1)
        return { partition: range.partition, offset: offset < 0 ? range.latest : offset }
      })
    })

  const context: FetchContext = {
    client,
    offsets,
    layout,
    fail: (error) => fail(error),
    maxBytes: options.maxBytes ?? 32 * 1024 * 1024,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 1024 * 1024,
    maxWaitMillis: (drain) => millis(options.maxWaitTime, drain ? "100 millis" : "500 millis")
  }
  const commitOffsets = yield* makeCommitOffsets(baseOptions, fail)
  const members = makeMemberCommits()

  return KafkaSource.of({
    offsets,
    offsetsForTimestamp,
    commitOffsets: members.route(commitOffsets, fail),
    joinGroup: (group, topic) => groupStream(baseOptions, fail, group, topic, members),
    consume: (request) => fetchStream({ ...context, fail: (error) => fail(error, request.topic) }, request)
  })
})

/** The KafkaSource layer for explicit options. */
export const layer = (options: PlatformaticSourceOptions): Layer.Layer<KafkaSource, KafkaSourceError | ConfigFileError> =>
  Layer.effect(KafkaSource, make(options))

/** The options the job's `kafka` section and its secrets describe. */
export const optionsFromConfig: Effect.Effect<
  PlatformaticSourceOptions,
  SecretNotFoundError | SecretReadError,
  Config | Secrets
> = connectionFromConfig

/** The KafkaSource layer for the job's `kafka` section, credentials read through Secrets. */
export const layerConfig: Layer.Layer<
  KafkaSource,
  KafkaSourceError | ConfigFileError | SecretNotFoundError | SecretReadError,
  Config | Secrets
> = Layer.effect(KafkaSource, Effect.flatMap(optionsFromConfig, make))
