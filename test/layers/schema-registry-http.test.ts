/**
 * Unit tests of the HTTP SchemaRegistry layer against a fake registry on a real local HTTP/HTTPS server
 * (no external services): Confluent paths and error codes, auth, 5xx and retry, timeouts, TLS with a CA file.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Logger, Redacted } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as MemoryConfig from "../../layers/config/memory.ts"
import * as HttpRegistry from "../../layers/schema-registry/http.ts"
import * as MemorySecrets from "../../layers/secrets/memory.ts"
import { SchemaRegistry } from "../../src/services/SchemaRegistry.ts"
import { isTransient } from "../../src/pipeline/errors.ts"
import { type FakeRegistry, startFakeRegistry } from "./support/fake-registry.ts"
import { testJob } from "./support/job.ts"
import { makeTestTls, type TestTls } from "./support/tls.ts"
import { closedPort } from "../support/closed-port.ts"
import { testJob as pipelineJob, World } from "../support/memory-pipeline.ts"
import { avroCodec } from "../../src/pipeline/avro-codec.ts"
import { runStream } from "../../src/pipeline/stream.ts"

const password = "s3cr3t-Pa55word-never-printed"
let plain: FakeRegistry
let secured: FakeRegistry
let tls: TestTls

beforeAll(async () => {
  tls = makeTestTls()
  plain = await startFakeRegistry({ prefix: "/apis/ccompat/v7" })
  secured = await startFakeRegistry({ credentials: { user: "alice", password }, tls: { key: tls.key, cert: tls.cert } })
})
afterAll(async () => {
  await plain.close()
  await secured.close()
})

const withRegistry = <A, E>(
  options: HttpRegistry.HttpRegistryOptions,
  use: (registry: SchemaRegistry["Service"]) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(HttpRegistry.make(options), use))


describe("HTTP SchemaRegistry (unit, fake registry on a local server)", () => {
  it.live("gets a schema by id under a path prefix, and caches it", () =>
    withRegistry({ url: plain.url }, (registry) =>
      Effect.gen(function*() {
        const before = plain.requests.length
        const first = yield* registry.getById(1)
        const second = yield* registry.getById(1)
        assert.deepStrictEqual(first, { id: 1, schema: "{\"type\":\"string\"}" })
        assert.deepStrictEqual(second, first)
        assert.strictEqual(plain.requests.length - before, 1)
        assert.strictEqual(plain.requests.at(-1)?.path, "/apis/ccompat/v7/schemas/ids/1")
      })))

  it.live("concurrent lookups of one new id share a single request", () =>
    withRegistry({ url: plain.url }, (registry) =>
      Effect.gen(function*() {
        plain.delayMillis = 50
        const before = plain.requests.length
        const results = yield* Effect.all(Array.from({ length: 20 }, () => registry.getById(1)), { concurrency: "unbounded" })
        plain.delayMillis = 0
        assert.isTrue(results.every((schema) => schema.id === 1))
        assert.strictEqual(plain.requests.length - before, 1)
      })))

  it.live("unknown id is SchemaNotFoundError (40403); unknown subject is SubjectNotFoundError (40401)", () =>
    withRegistry({ url: plain.url }, (registry) =>
      Effect.gen(function*() {
        const missing = yield* Effect.flip(registry.getById(999))
        assert.strictEqual(missing._tag, "SchemaNotFoundError")
        assert.include(missing.message, "schema id 999")
        const subject = yield* Effect.flip(registry.getLatest("nope-value"))
        assert.strictEqual(subject._tag, "SubjectNotFoundError")
        assert.include(subject.message, "nope-value")
      })))

  it.live("a 404 without a registry error code (wrong URL) is not mistaken for an unknown schema", () =>
    withRegistry({ url: plain.url.replace("/apis/ccompat/v7", "") }, (registry) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(registry.getById(1))
        assert.strictEqual(error._tag, "RegistryUnavailableError")
        assert.include(error.message, "schemaRegistry.url")
      })))

  it.live("registers with the registry media type, then finds it by id and as latest", () =>
    withRegistry({ url: plain.url }, (registry) =>
      Effect.gen(function*() {
        const schema = JSON.stringify({ type: "record", name: "Order", fields: [{ name: "id", type: "long" }] })
        const id = yield* registry.register("orders v2", schema)
        const request = plain.requests.at(-1)!
        assert.strictEqual(request.method, "POST")
        assert.strictEqual(request.path, "/apis/ccompat/v7/subjects/orders%20v2/versions")
        assert.strictEqual(request.headers["content-type"], "application/vnd.schemaregistry.v1+json")
        assert.deepStrictEqual(JSON.parse(request.body), { schema })
        assert.strictEqual(yield* registry.register("orders v2", schema), id)
        assert.strictEqual((yield* registry.getById(id)).schema, schema)
        assert.deepStrictEqual(yield* registry.getLatest("orders v2"), { id, schema })
        const rejected = yield* Effect.flip(registry.register("orders v2", "not json"))
        assert.strictEqual(rejected._tag, "SchemaRejectedError")
      })))

  it.live("5xx is RegistryUnavailableError; the optional own retry gets through", () =>
    Effect.gen(function*() {
      plain.failNext = 1
      const error = yield* withRegistry({ url: plain.url }, (registry) => Effect.flip(registry.getLatest("orders-value")))
      assert.strictEqual(error._tag, "RegistryUnavailableError")
      assert.include(error.message, "HTTP 500")
      plain.failNext = 2
      const latest = yield* withRegistry(
        { url: plain.url, retry: { times: 3, initialDelay: "10 millis" } },
        (registry) => registry.getLatest("orders-value")
      )
      assert.strictEqual(latest.id, 1)
      assert.strictEqual(plain.failNext, 0)
    }))

  it.live("a slow registry times out as RegistryUnavailableError", () =>
    Effect.gen(function*() {
      plain.delayMillis = 1_000
      const error = yield* withRegistry({ url: plain.url, timeout: "100 millis" }, (registry) =>
        Effect.flip(registry.getLatest("orders-value"))).pipe(Effect.ensuring(Effect.sync(() => {
          plain.delayMillis = 0
        })))
      assert.strictEqual(error._tag, "RegistryUnavailableError")
      assert.include(error.message, "no answer within")
    }))

  it.live("an unreachable registry is RegistryUnavailableError naming the URL", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const error = yield* withRegistry({ url: `http://127.0.0.1:${port}` }, (registry) => Effect.flip(registry.getById(1)))
      assert.strictEqual(error._tag, "RegistryUnavailableError")
      assert.include(error.message, `127.0.0.1:${port}`)
      assert.include(error.message, "ECONNREFUSED")
    }))

  it.live("HTTPS with the CA file and basic auth works, and sends the Authorization header", () =>
    withRegistry({ url: secured.url, caFile: tls.caFile, username: "alice", password: Redacted.make(password) }, (registry) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* registry.getById(1)).id, 1)
        const header = secured.requests.at(-1)?.headers.authorization
        assert.strictEqual(header, `Basic ${Buffer.from(`alice:${password}`).toString("base64")}`)
      })))

  it.live("wrong or missing credentials are RegistryAuthError naming the user", () =>
    Effect.gen(function*() {
      const wrong = yield* withRegistry(
        { url: secured.url, caFile: tls.caFile, username: "alice", password: Redacted.make("wrong") },
        (registry) => Effect.flip(registry.getById(1))
      )
      assert.strictEqual(wrong._tag, "RegistryAuthError")
      assert.include(wrong.message, "user alice")
      assert.include(wrong.message, "HTTP 401")
      const none = yield* withRegistry({ url: secured.url, caFile: tls.caFile }, (registry) => Effect.flip(registry.getById(1)))
      assert.strictEqual(none._tag, "RegistryAuthError")
      assert.include(none.message, "without credentials")
    }))

  it.live("a certificate from an unknown CA fails with a clear TLS message", () =>
    Effect.gen(function*() {
      for (const caFile of [tls.otherCaFile, undefined]) {
        const error = yield* withRegistry(
          { url: secured.url, caFile, username: "alice", password: Redacted.make(password) },
          (registry) => Effect.flip(registry.getById(1))
        )
        assert.strictEqual(error._tag, "RegistryTlsError") // fatal: not retried on the stream's schedule
        assert.isFalse(isTransient(error))
        assert.include(error.message, "TLS certificate not trusted")
        assert.include(error.message, "schemaRegistry.caFile")
      }
    }))

  it.live("a URL that is not one is a configuration error naming the key", () =>
    Effect.gen(function*() {
      for (const url of ["registry:8081", "not a url"]) {
        const error = yield* Effect.flip(withRegistry({ url }, () => Effect.void))
        assert.strictEqual(error._tag, "ConfigFileError")
        assert.include(error.message, "schemaRegistry.url")
      }
    }))

  it.live("a missing CA file is a configuration error naming the file", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(withRegistry({ url: secured.url, caFile: "/nonexistent/ca.pem" }, () => Effect.void))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(withRegistry({ url: secured.url, caFile: "/nonexistent/ca.pem" }, () => Effect.void))
      assert.strictEqual(error._tag, "ConfigFileError")
      assert.include(error.message, "/nonexistent/ca.pem")
    }))

  it.live("layerConfig reads URL, CA and credentials through Secrets", () => {
    const job = testJob({
      schemaRegistry: { url: secured.url, username: { secret: "sr-key" }, password: { secret: "sr-secret" }, caFile: tls.caFile }
    })
    const live = HttpRegistry.layerConfig.pipe(
      Layer.provide([MemoryConfig.layer(job), MemorySecrets.layer({ "test-scope": { "sr-key": "alice", "sr-secret": password } })])
    )
    return SchemaRegistry.use((registry) => registry.getById(1)).pipe(
      Effect.map((schema) => assert.strictEqual(schema.id, 1)),
      Effect.provide(live)
    )
  })

  it.live("no secret value appears in any error message", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const attempts: ReadonlyArray<HttpRegistry.HttpRegistryOptions> = [
        { url: secured.url, caFile: tls.caFile, username: "alice", password: Redacted.make(password) },
        { url: `https://alice:${password}@127.0.0.1:${new URL(secured.url).port}`, caFile: tls.otherCaFile },
        { url: `http://alice:${password}@127.0.0.1:${port}` },
        { url: `${plain.url.replace("http://", `http://alice:${password}@`)}`, timeout: "50 millis" }
      ]
      plain.delayMillis = 500
      secured.failNext = 1
      const messages: Array<string> = []
      for (const options of attempts) {
        const exit = yield* Effect.exit(withRegistry(options, (registry) => registry.getById(1)))
        assert.isTrue(Exit.isFailure(exit), `expected a failure for ${HttpRegistry.displayUrl(options.url)}`)
        if (Exit.isFailure(exit)) messages.push(String(exit.cause), JSON.stringify(exit.cause))
      }
      plain.delayMillis = 0
      const wrongPassword = testJob({
        schemaRegistry: { url: secured.url, username: { secret: "sr-key" }, password: { secret: "sr-secret" }, caFile: tls.caFile }
      })
      const auth = yield* Effect.flip(
        SchemaRegistry.use((registry) => registry.getById(1)).pipe(
          Effect.provide(HttpRegistry.layerConfig.pipe(Layer.provide([
            MemoryConfig.layer(wrongPassword),
            MemorySecrets.layer({ "test-scope": { "sr-key": "alice", "sr-secret": `${password}-old` } })
          ])))
        )
      )
      messages.push(auth.message, String(auth), JSON.stringify(auth))
      assert.strictEqual(messages.length, 11)
      for (const message of messages) assert.notInclude(message, password)
    }))

  it.live("a 40403 is asked again a few times before the id counts as unknown (a lagging follower)", () =>
    withRegistry({ url: plain.url, notFoundRetry: { times: 3, initialDelay: "5 millis" } }, (registry) =>
      Effect.gen(function*() {
        plain.notFoundNext = 2
        const before = plain.requests.length
        assert.strictEqual((yield* registry.getById(1)).id, 1)
        assert.strictEqual(plain.requests.length - before, 3)
        const after = plain.requests.length
        const missing = yield* Effect.flip(registry.getById(999))
        assert.strictEqual(missing._tag, "SchemaNotFoundError")
        assert.strictEqual(plain.requests.length - after, 4)
      })))

  it.live("the default 40403 retry gets through two misses", () =>
    withRegistry({ url: plain.url }, (registry) =>
      Effect.gen(function*() {
        plain.notFoundNext = 2
        assert.strictEqual((yield* registry.getById(1)).id, 1)
        assert.strictEqual(plain.notFoundNext, 0)
      })))
})

describe("registry failures in a run (HTTP registry, in-memory Kafka and Delta)", () => {
  /** Runs a 3-partition job against the registry at `url`; the failure and the warnings logged. */
  const runAgainst = (url: string, maxAttempts: number) =>
    Effect.gen(function*() {
      const world = new World(3)
      world.produce(30)
      const job = pipelineJob({ retry: { initialDelay: Duration.millis(5), maxDelay: Duration.millis(10), maxAttempts } })
      const warnings: Array<string> = []
      const capture = Logger.make((options) => {
        if (options.logLevel === "Warn") warnings.push(String(options.message))
      })
      const error = yield* Effect.flip(
        runStream({ codec: avroCodec }).pipe(
          Effect.provide(HttpRegistry.layer({ url })),
          Effect.provide(world.layers(job)),
          Effect.provide(Logger.layer([capture]))
        )
      )
      return { error, warnings }
    })

  it.live("an unreachable registry is tried maxAttempts times in all, with one warning per retry", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const { error, warnings } = yield* runAgainst(`http://127.0.0.1:${port}`, 4)
      assert.strictEqual(error._tag, "RegistryUnavailableError")
      assert.strictEqual(warnings.length, 3, warnings.join("\n"))
    }))

  it.live("a registry answering 5xx gets exactly maxAttempts requests for the id", () =>
    Effect.gen(function*() {
      plain.failNext = 1_000
      const before = plain.requests.length
      const { error, warnings } = yield* runAgainst(plain.url, 4).pipe(Effect.ensuring(Effect.sync(() => {
        plain.failNext = 0
      })))
      assert.strictEqual(error._tag, "RegistryUnavailableError")
      assert.strictEqual(plain.requests.length - before, 4)
      assert.strictEqual(warnings.length, 3, warnings.join("\n"))
    }))
})
