// S3 DeltaStorage errors against fake S3 endpoints (no server needed); the real server's tests are in
// test/integration/s3-storage.test.ts.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { probeConditionalWrites } from "../../layers/storage/probe.ts"
import { makeS3Client, s3Storage } from "../../layers/storage/s3.ts"
import type { S3Location } from "../../src/config/location.ts"
import { memoryStorage } from "../../src/delta/storage.ts"
import { testS3Settings } from "../integration/support/s3.ts"

const at = (bucket: string, prefix = "wh/t"): S3Location => ({ _tag: "S3", scheme: "s3", bucket, prefix })
const bytes = (text: string) => new TextEncoder().encode(text)

/** A local HTTP server answering every request with `status` and an S3 error body of `code`; counts requests. */
const fakeS3 = (status: number, code: string) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly endpoint: string; readonly requests: () => number; readonly server: Http.Server }>((resolve) => {
        let requests = 0
        const server = Http.createServer((request, response) => {
          requests++
          request.resume()
          request.on("end", () => {
            response.writeHead(status, { "content-type": "application/xml" })
            response.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} from the fake</Message></Error>`)
          })
        })
        server.listen(0, "127.0.0.1", () => resolve({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests, server }))
      })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

const fakeClient = (endpoint: string, maxAttempts = 1) =>
  makeS3Client({ ...testS3Settings, endpoint, maxAttempts })

describe("the conditional-write probe", () => {
  it.effect("the probe stops on a store that lets a second conditional create through, naming the location and what to do", () =>
    Effect.gen(function*() {
      const inner = memoryStorage("lake.db.t", "s3://lake/wh/t")
      const careless = { ...inner, putIfAbsent: (path: string, data: Uint8Array) => Effect.as(inner.write(path, data), true) }
      const error = yield* Effect.flip(probeConditionalWrites(careless, "_delta_log"))
      assert.isFalse(error.transient)
      expect(error.message).toContain("the store at s3://lake/wh/t accepted a second create of the same object with If-None-Match: *")
      expect(error.message).toContain("use a store that enforces conditional writes")
      assert.deepStrictEqual(yield* inner.list("_delta_log"), [])
    }))
})

describe("S3 DeltaStorage errors", () => {
  it.effect("an unreachable endpoint is transient and names the endpoint", () =>
    Effect.gen(function*() {
      const client = fakeClient("http://127.0.0.1:1")
      const error = yield* Effect.flip(s3Storage(at("lake"), { table: "t", client, endpoint: "http://127.0.0.1:1" }).read("_delta_log/x.json"))
      client.destroy()
      assert.isTrue(error.transient)
      expect(error.message).toContain("cannot reach http://127.0.0.1:1 (ECONNREFUSED")
      expect(error.message).toContain("check storage.s3.endpoint")
    }))

  it.effect("wrong credentials and AccessDenied are fatal and say what to check; the secret is never printed", () =>
    Effect.gen(function*() {
      const badKey = yield* fakeS3(403, "InvalidAccessKeyId")
      const client = makeS3Client({ ...testS3Settings, endpoint: badKey.endpoint, maxAttempts: 1, credentials: { accessKeyId: Redacted.make("AKIAWRONG"), secretAccessKey: Redacted.make("very-secret-value") } })
      const error = yield* Effect.flip(s3Storage(at("lake"), { table: "t", client, endpoint: badKey.endpoint }).putIfAbsent("_delta_log/0.json", bytes("x")))
      client.destroy()
      assert.isFalse(error.transient)
      expect(error.message).toContain(`${badKey.endpoint} refused the credentials (InvalidAccessKeyId): check storage.s3.accessKeyId/secretAccessKey/sessionToken`)
      expect(error.message).not.toContain("very-secret-value")
      const denied = yield* fakeS3(403, "AccessDenied")
      const client2 = fakeClient(denied.endpoint)
      const error2 = yield* Effect.flip(s3Storage(at("lake"), { table: "t", client: client2 }).list("_delta_log"))
      client2.destroy()
      assert.isFalse(error2.transient)
      expect(error2.message).toContain("access denied (AccessDenied): the credentials need s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on bucket lake")
    }))

  it.effect("a 409 ConditionalRequestConflict on a conditional create is transient (retried, then the condition decides)", () =>
    Effect.gen(function*() {
      const conflict = yield* fakeS3(409, "ConditionalRequestConflict")
      const client = fakeClient(conflict.endpoint)
      const error = yield* Effect.flip(s3Storage(at("lake"), { table: "t", client }).putIfAbsent("_delta_log/00000000000000000001.json", bytes("x")))
      client.destroy()
      assert.isTrue(error.transient)
      expect(error.message).toContain("a concurrent conditional write of the same object is in progress (ConditionalRequestConflict)")
    }))

  it.effect("throttling (503 SlowDown, 429) is retried by the SDK, then transient for the stream's retry", () =>
    Effect.gen(function*() {
      const slow = yield* fakeS3(503, "SlowDown")
      const client = fakeClient(slow.endpoint, 3)
      const error = yield* Effect.flip(s3Storage(at("lake"), { table: "t", client, endpoint: slow.endpoint }).write("part-0.parquet", bytes("x")))
      client.destroy()
      assert.isTrue(error.transient)
      assert.strictEqual(slow.requests(), 3)
      expect(error.message).toContain("is throttling requests (SlowDown, HTTP 503)")
      const many = yield* fakeS3(429, "TooManyRequests")
      const client2 = fakeClient(many.endpoint, 2)
      const error2 = yield* Effect.flip(s3Storage(at("lake"), { table: "t", client: client2 }).read("x"))
      client2.destroy()
      assert.isTrue(error2.transient)
      assert.strictEqual(many.requests(), 2)
    }))
})
