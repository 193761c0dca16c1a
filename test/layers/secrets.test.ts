import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Logger, Redacted } from "effect"
import { SecretReadError } from "../../src/services/Secrets.ts"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { inspect } from "node:util"
import * as SecretsDirectory from "../../layers/secrets/directory.ts"
import * as SecretsEnv from "../../layers/secrets/env.ts"

const value = "s3cr3t-VALUE-never-print-me"

describe("Secrets", () => {
  it("env variable names follow KAFKA_DELTA_SECRET_<SCOPE>_<KEY>", () => {
    assert.strictEqual(SecretsEnv.variableName("kafka-uat", "sr-key"), "KAFKA_DELTA_SECRET_KAFKA_UAT_SR_KEY")
    assert.strictEqual(SecretsEnv.variableName("a.b", "c d"), "KAFKA_DELTA_SECRET_A_B_C_D")
  })

  it.effect("env provider returns a Redacted value", () =>
    Effect.gen(function*() {
      const secrets = SecretsEnv.make({ KAFKA_DELTA_SECRET_KAFKA_UAT_SR_KEY: value })
      const secret = yield* secrets.get("kafka-uat", "sr-key")
      assert.strictEqual(Redacted.value(secret), value)
      expect(String(secret)).not.toContain(value)
      expect(inspect(secret)).not.toContain(value)
      expect(JSON.stringify({ secret })).not.toContain(value)
    }))

  it.effect("env provider: a missing secret names the variable to set", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(SecretsEnv.make({}).get("kafka-uat", "sr-key"))
      assert.strictEqual(error._tag, "SecretNotFoundError")
      expect(error.message).toContain("KAFKA_DELTA_SECRET_KAFKA_UAT_SR_KEY")
      expect(error.message).toContain(`scope "kafka-uat"`)
    }))

  it.effect("directory provider reads <dir>/<scope>/<key>, dropping one trailing newline", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => Fs.mkdtemp(NodePath.join(Os.tmpdir(), "kd-secrets-")))
      yield* Effect.promise(() => Fs.mkdir(NodePath.join(dir, "kafka-uat")))
      yield* Effect.promise(() => Fs.writeFile(NodePath.join(dir, "kafka-uat", "sr-key"), `${value}\n`))
      const secrets = SecretsDirectory.make(dir)
      assert.strictEqual(Redacted.value(yield* secrets.get("kafka-uat", "sr-key")), value)
      const missing = yield* Effect.flip(secrets.get("kafka-uat", "other"))
      assert.strictEqual(missing._tag, "SecretNotFoundError")
      expect(missing.message).toContain(NodePath.join(dir, "kafka-uat", "other"))
      const escaping = yield* Effect.flip(secrets.get("..", "etc"))
      assert.strictEqual(escaping._tag, "SecretReadError")
    }))

  it.effect("no secret value reaches logs or error messages", () => {
    const lines: Array<string> = []
    const capture = Logger.make((options) => {
      lines.push(Logger.formatSimple.log(options), Logger.formatJson.log(options), Logger.formatLogFmt.log(options))
    })
    return Effect.gen(function*() {
      const secrets = SecretsEnv.make({ KAFKA_DELTA_SECRET_S_K: value })
      const secret = yield* secrets.get("s", "k")
      yield* Effect.logInfo("connecting with", secret, { password: secret })
      const failure = yield* Effect.flip(Effect.fail(new SecretReadError({ scope: "s", key: "k", lookedAt: "x", reason: String(secret) })))
      lines.push(failure.message, inspect(failure), JSON.stringify(failure))
      assert.isAbove(lines.length, 3)
      for (const line of lines) expect(line).not.toContain(value)
    }).pipe(Effect.provide(Logger.layer([capture])))
  })
})
