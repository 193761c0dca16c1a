/**
 * Unit tests of the kafkajs KafkaSource's error mapping and log routing (no broker needed): auth, TLS and
 * connection failures become one-line typed errors naming the broker, and no secret reaches errors or logs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Redacted, References } from "effect"
import * as KafkajsSource from "../../layers/kafka/kafkajs.ts"
import { DecompressionFailure } from "../../layers/kafka/codecs.ts"
import { isTransient } from "../../src/pipeline/errors.ts"
import { KafkaDecompressionError } from "../../src/services/KafkaSource.ts"
import { closedPort } from "../support/closed-port.ts"

const context: KafkajsSource.ErrorContext = {
  brokers: "127.0.0.1:9094,127.0.0.1:9095",
  user: "alice",
  mechanism: "SASL PLAIN",
  lastBroker: () => "127.0.0.1:9094",
  scrub: (text) => text.split("hunter2").join("<redacted>")
}

const kafkajsError = (name: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name, ...extra })


describe("kafkajs KafkaSource errors (unit)", () => {
  it("a SASL failure is KafkaAuthError with user, broker and mechanism in one line", () => {
    const error = KafkajsSource.toSourceError(
      kafkajsError("KafkaJSSASLAuthenticationError", "SASL PLAIN authentication failed: Authentication failed: Invalid username or password"),
      context
    )
    assert.strictEqual(error._tag, "KafkaAuthError")
    assert.strictEqual(
      error.message,
      "authentication failed for user alice on 127.0.0.1:9094 (SASL PLAIN): SASL PLAIN authentication failed: Authentication failed: Invalid username or password"
    )
    assert.notInclude(error.message, "\n")
  })

  it("a certificate problem is KafkaAuthError (TLS) pointing at kafka.caFile", () => {
    const cause = Object.assign(new Error("self-signed certificate in certificate chain"), { code: "SELF_SIGNED_CERT_IN_CHAIN" })
    const error = KafkajsSource.toSourceError(
      kafkajsError("KafkaJSNumberOfRetriesExceeded", "Connection error: self-signed certificate in certificate chain", {
        cause: kafkajsError("KafkaJSConnectionError", "Connection error: self-signed certificate in certificate chain", { broker: "127.0.0.1:9095", cause })
      }),
      context
    )
    assert.strictEqual(error._tag, "KafkaAuthError")
    assert.include(error.message, "on 127.0.0.1:9095 (TLS)")
    assert.include(error.message, "kafka.caFile")
  })

  it("a refused connection is KafkaUnavailableError naming the broker; secrets are scrubbed", () => {
    const error = KafkajsSource.toSourceError(
      kafkajsError("KafkaJSConnectionError", "Connection error: connect ECONNREFUSED 127.0.0.1:9095 (hunter2)", { broker: "127.0.0.1:9095" }),
      context
    )
    assert.strictEqual(error._tag, "KafkaUnavailableError")
    assert.include(error.message, "Kafka at 127.0.0.1:9094,127.0.0.1:9095 is unavailable")
    assert.include(error.message, "broker 127.0.0.1:9095")
    assert.notInclude(error.message, "hunter2")
  })

  it("a denied topic or group (ACLs) is KafkaAuthError too: retrying cannot fix it", () => {
    const error = KafkajsSource.toSourceError(
      kafkajsError("KafkaJSProtocolError", "Not authorized to access topics: [Topic authorization failed]", { type: "TOPIC_AUTHORIZATION_FAILED" }),
      context
    )
    assert.strictEqual(error._tag, "KafkaAuthError")
    assert.include(error.message, "TOPIC_AUTHORIZATION_FAILED")
  })

  it("an unknown topic is recognised through wrapping errors", () => {
    const wrapped = kafkajsError("KafkaJSNumberOfRetriesExceeded", "This server does not host this topic-partition", {
      cause: kafkajsError("KafkaJSProtocolError", "This server does not host this topic-partition", { type: "UNKNOWN_TOPIC_OR_PARTITION" })
    })
    assert.isTrue(KafkajsSource.isUnknownTopic(wrapped))
    assert.isFalse(KafkajsSource.isUnknownTopic(new Error("boom")))
  })

  it("a batch kafkajs's own decoder could not decompress is KafkaDecompressionError, fatal, not 'unavailable'", () => {
    const error = KafkajsSource.toSourceError(
      kafkajsError("KafkaJSNumberOfRetriesExceeded", "cannot decompress lz4: WrongMagicNumber", {
        cause: new DecompressionFailure("lz4", "WrongMagicNumber")
      }),
      context,
      "orders"
    )
    assert.strictEqual(error._tag, "KafkaDecompressionError")
    assert.strictEqual(
      error.message,
      "cannot decompress the lz4 record batch at topic orders: WrongMagicNumber; kafka-delta reads uncompressed, gzip, snappy, lz4 and zstd batches: check the producers' compression.type, or start the stream past a corrupt batch"
    )
    assert.isFalse(isTransient(error))
    assert.isFalse(isTransient(new KafkaDecompressionError({ topic: "orders", partition: 1, offset: 5, codec: "zstd", reason: "bad" })))
  })

  it("bootstrap servers are split and trimmed", () => {
    assert.deepStrictEqual(KafkajsSource.brokerList(" a:1, b:2 ,,"), ["a:1", "b:2"])
  })

  it.live("kafkajs logs go to Effect logging at debug level, and neither they nor the error hold the password", () =>
    Effect.gen(function*() {
      const password = "pw-that-must-never-show-31337"
      const port = yield* Effect.promise(closedPort)
      const lines: Array<string> = []
      const collect = Logger.make((options) => {
        lines.push(`${options.logLevel} ${String(options.message)} ${JSON.stringify(options.fiber.getRef(References.CurrentLogAnnotations))}`)
      })
      const error = yield* Effect.flip(Effect.scoped(KafkajsSource.make({
        brokers: `127.0.0.1:${port}`,
        securityProtocol: "SASL_PLAINTEXT",
        saslMechanism: "SCRAM-SHA-256",
        username: "alice",
        password: Redacted.make(password),
        retries: 0
      }))).pipe(
        Effect.provide(Layer.mergeAll(Logger.layer([collect]), Layer.succeed(References.MinimumLogLevel, "All")))
      )
      yield* Effect.sleep("50 millis")
      assert.strictEqual(error._tag, "KafkaUnavailableError")
      assert.include(error.message, `127.0.0.1:${port}`)
      assert.isAbove(lines.length, 0, "kafkajs log lines reach Effect logging")
      assert.isTrue(lines.every((line) => line.startsWith("Debug ")), lines.join("\n"))
      for (const text of [...lines, error.message, JSON.stringify(error)]) assert.notInclude(text, password)
    }))
})
