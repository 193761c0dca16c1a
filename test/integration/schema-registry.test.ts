/**
 * Integration tests of the HTTP SchemaRegistry against the real local registry (Apicurio's Confluent API)
 * and the nginx proxy in front of it (HTTPS + basic auth), both from `bash scripts/services.sh up`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { beforeEach } from "vitest"
import * as MemoryConfig from "../../layers/config/memory.ts"
import * as HttpRegistry from "../../layers/schema-registry/http.ts"
import * as MemorySecrets from "../../layers/secrets/memory.ts"
import { SchemaRegistry } from "../../src/services/SchemaRegistry.ts"
import { testJob } from "../layers/support/job.ts"
import { type ServicesEnv, servicesEnv } from "./support/services-env.ts"

let env: ServicesEnv
// read before every test, so each one fails (none is skipped) when the services are missing
beforeEach(() => {
  env = servicesEnv()
})

const withRegistry = <A, E>(
  options: HttpRegistry.HttpRegistryOptions,
  use: (registry: SchemaRegistry["Service"]) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(HttpRegistry.make(options), use))

const recordSchema = (name: string) =>
  JSON.stringify({
    type: "record",
    name,
    namespace: "kd.it",
    fields: [{ name: "id", type: "long" }, { name: "note", type: ["null", "string"], default: null }]
  })

const roundTrip = (registry: SchemaRegistry["Service"]) =>
  Effect.gen(function*() {
    const subject = `kd-it-${randomUUID().slice(0, 8)}-value`
    const schema = recordSchema(`Order${randomUUID().slice(0, 8).replace(/-/g, "")}`)
    const id = yield* registry.register(subject, schema)
    assert.isTrue(Number.isInteger(id))
    assert.strictEqual(yield* registry.register(subject, schema), id, "registering again returns the same id")
    const byId = yield* registry.getById(id)
    assert.strictEqual(byId.id, id)
    assert.deepStrictEqual(JSON.parse(byId.schema), JSON.parse(schema))
    const latest = yield* registry.getLatest(subject)
    assert.strictEqual(latest.id, id)
    assert.deepStrictEqual(JSON.parse(latest.schema), JSON.parse(schema))
    const missingSubject = yield* Effect.flip(registry.getLatest(`${subject}-missing`))
    assert.strictEqual(missingSubject._tag, "SubjectNotFoundError")
    const missingId = yield* Effect.flip(registry.getById(987_654_321))
    assert.strictEqual(missingId._tag, "SchemaNotFoundError", missingId.message)
  })

describe("HTTP SchemaRegistry (integration, registry and nginx from scripts/services.sh)", () => {
  it.live("register, get by id and latest over the plain URL (Confluent API under a path prefix)", () =>
    // a loaded CI machine has seen the registry take longer than the default 10 s to answer
    withRegistry({ url: env.schemaRegistryUrl, timeout: "30 seconds" }, roundTrip))

  it.live("the same over the HTTPS proxy with basic auth and the CA file", () =>
    withRegistry({
      url: env.schemaRegistrySecureUrl,
      username: env.schemaRegistryUser,
      password: Redacted.make(env.schemaRegistryPassword),
      caFile: env.schemaRegistryCaFile
    }, roundTrip))

  it.live("layerConfig: the job's schemaRegistry section with secrets and CA file", () => {
    const job = testJob({
      schemaRegistry: {
        url: env.schemaRegistrySecureUrl,
        username: { secret: "sr-key" },
        password: { secret: "sr-secret" },
        caFile: env.schemaRegistryCaFile
      }
    })
    const secrets = { "test-scope": { "sr-key": env.schemaRegistryUser, "sr-secret": env.schemaRegistryPassword } }
    return SchemaRegistry.use(roundTrip).pipe(
      Effect.provide(HttpRegistry.layerConfig.pipe(Layer.provide([MemoryConfig.layer(job), MemorySecrets.layer(secrets)])))
    )
  })

  it.live("a wrong password is RegistryAuthError naming the user, without the secret", () =>
    Effect.gen(function*() {
      const wrong = `${env.schemaRegistryPassword}-wrong-7c1d`
      const error = yield* withRegistry({
        url: env.schemaRegistrySecureUrl,
        username: env.schemaRegistryUser,
        password: Redacted.make(wrong),
        caFile: env.schemaRegistryCaFile
      }, (registry) => Effect.flip(registry.getById(1)))
      assert.strictEqual(error._tag, "RegistryAuthError")
      assert.include(error.message, `user ${env.schemaRegistryUser}`)
      assert.include(error.message, "HTTP 401")
      assert.notInclude(JSON.stringify(error), wrong)
      assert.notInclude(error.message, wrong)
    }))

  it.live("the HTTPS proxy without its CA fails with a clear TLS message", () =>
    Effect.gen(function*() {
      const error = yield* withRegistry({
        url: env.schemaRegistrySecureUrl,
        username: env.schemaRegistryUser,
        password: Redacted.make(env.schemaRegistryPassword)
      }, (registry) => Effect.flip(registry.getById(1)))
      assert.strictEqual(error._tag, "RegistryTlsError")
      assert.include(error.message, "TLS certificate not trusted")
    }))
})
