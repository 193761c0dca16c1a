/**
 * The Azure DeltaStorage against Azurite (the `azurite` service of scripts/services.sh): every operation of the
 * storage contract, the put-if-absent race, pagination, the errors a person meets (missing container, wrong key,
 * no permission, unreachable endpoint, throttling), and a Delta table written by the sink and read back by delta-rs.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential
} from "@azure/storage-blob"
import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import * as NodePath from "node:path"
import { Effect, Option, Redacted, Result } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"
import { type AzureStorageOptions, makeAzureStorage, parseAzureUrl } from "../../layers/storage/azure.ts"
import { makeResolver } from "../../layers/storage/index.ts"
import type { DeltaStorage } from "../../src/delta/storage.ts"
import { allTypesBatch, allTypesCanonical, allTypesSchema, type DeltaRead, python, sortBy } from "../delta/support.ts"
import { closedPort } from "../support/closed-port.ts"

/** Azurite's address and account, from `scripts/services.sh env`; missing ones fail the test, never skip it. */
const azurite = () => {
  const endpoint = process.env["KAFKA_DELTA_TEST_AZURE_ENDPOINT"] ?? ""
  const account = process.env["KAFKA_DELTA_TEST_AZURE_ACCOUNT"] ?? ""
  const key = process.env["KAFKA_DELTA_TEST_AZURE_KEY"] ?? ""
  if (endpoint === "" || account === "" || key === "") {
    throw new Error(
      "Azure tests need Azurite: `bash scripts/services.sh up azurite` and " +
        "`set -a; eval \"$(bash scripts/services.sh env)\"; set +a` (KAFKA_DELTA_TEST_AZURE_ENDPOINT/ACCOUNT/KEY)"
    )
  }
  return { endpoint, account, key }
}

const env = azurite()
const container = `kd-${randomUUID().slice(0, 8)}`
const service = new BlobServiceClient(env.endpoint, new StorageSharedKeyCredential(env.account, env.key))

beforeAll(async () => {
  await service.getContainerClient(container).create()
})
afterAll(async () => {
  await service.getContainerClient(container).deleteIfExists()
})

const parse = (url: string) => {
  const result = parseAzureUrl(url)
  if (Result.isFailure(result)) throw new Error(result.failure)
  return result.success
}

/** A storage at `az://<container>/<prefix>` on Azurite, with the account key unless options say otherwise. */
const storageAt = (prefix: string, options: AzureStorageOptions = {}, containerName = container): DeltaStorage =>
  makeAzureStorage(parse(`az://${containerName}/${prefix}`), {
    endpoint: env.endpoint,
    accountKey: Redacted.make(env.key),
    ...options
  })

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: Option.Option<Uint8Array>) => Option.map(data, (d) => new TextDecoder().decode(d))

describe("Azure DeltaStorage on Azurite", () => {
  it.live("read, stat, putIfAbsent, write, list (flat and recursive), delete", () =>
    Effect.gen(function*() {
      const storage = storageAt(`contract-${randomUUID().slice(0, 8)}/table`)
      // a Delta partition directory escapes its value; blob names keep spaces, % and non-ASCII as they are
      const odd = "dt=a%20b%3Ac%2Fd%25e/part-ü 1.parquet"
      assert.isTrue(Option.isNone(yield* storage.read("_delta_log/00000000000000000000.json")))
      assert.isTrue(Option.isNone(yield* storage.stat("_delta_log/00000000000000000000.json")))
      assert.deepStrictEqual(yield* storage.list("_delta_log"), [])

      const before = Date.now()
      assert.isTrue(yield* storage.putIfAbsent("_delta_log/00000000000000000000.json", bytes("first")))
      assert.isFalse(yield* storage.putIfAbsent("_delta_log/00000000000000000000.json", bytes("second")))
      assert.deepStrictEqual(text(yield* storage.read("_delta_log/00000000000000000000.json")), Option.some("first"))
      const stat = Option.getOrThrow(yield* storage.stat("_delta_log/00000000000000000000.json"))
      assert.strictEqual(stat.size, 5)
      assert.strictEqual(stat.path, "_delta_log/00000000000000000000.json")
      // Azure keeps seconds only
      expect(stat.modificationTime).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 5_000)
      expect(stat.modificationTime).toBeLessThanOrEqual(Date.now() + 5_000)

      const written = yield* storage.write("_delta_log/_last_checkpoint", bytes("{\"version\":1}"))
      assert.strictEqual(written.size, 13)
      assert.strictEqual(written.path, "_delta_log/_last_checkpoint")
      yield* storage.write("_delta_log/_last_checkpoint", bytes("{\"version\":22}"))
      assert.deepStrictEqual(text(yield* storage.read("_delta_log/_last_checkpoint")), Option.some("{\"version\":22}"))
      yield* storage.write(odd, bytes("parquet"))
      yield* storage.write("part-0.parquet", bytes("p0"))
      assert.deepStrictEqual(text(yield* storage.read(odd)), Option.some("parquet"))

      assert.deepStrictEqual((yield* storage.list("_delta_log")).map((f) => [f.path, f.size]), [
        ["_delta_log/00000000000000000000.json", 5],
        ["_delta_log/_last_checkpoint", 14]
      ])
      assert.deepStrictEqual((yield* storage.list("")).map((f) => f.path), ["part-0.parquet"])
      assert.deepStrictEqual((yield* storage.list("", { recursive: true })).map((f) => f.path), [
        "_delta_log/00000000000000000000.json",
        "_delta_log/_last_checkpoint",
        odd,
        "part-0.parquet"
      ])
      assert.deepStrictEqual((yield* storage.list("dt=a%20b%3Ac%2Fd%25e/")).map((f) => f.path), [odd])
      // a prefix of a name is not a directory
      assert.deepStrictEqual(yield* storage.list("_delta"), [])

      yield* storage.delete(odd)
      yield* storage.delete(odd)
      yield* storage.delete("never-written")
      assert.isTrue(Option.isNone(yield* storage.read(odd)))
      assert.isTrue(Option.isNone(yield* storage.stat(odd)))
      assert.strictEqual(storage.location, `az://${container}/${storage.location.split("/").slice(3).join("/")}`)
    }))

  it.live("a 6 MiB file is written and read back whole (the download arrives in many chunks)", () =>
    Effect.gen(function*() {
      const storage = storageAt(`large-${randomUUID().slice(0, 8)}`)
      const data = new Uint8Array(6 * 1024 * 1024)
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24
      assert.strictEqual((yield* storage.write("part-00000.parquet", data)).size, data.length)
      assert.isTrue(yield* storage.putIfAbsent("part-00001.parquet", data))
      for (const name of ["part-00000.parquet", "part-00001.parquet"]) {
        const read = Option.getOrThrow(yield* storage.read(name))
        assert.strictEqual(read.length, data.length)
        assert.isTrue(Buffer.from(read).equals(Buffer.from(data)), name)
      }
    }))

  it.live("putIfAbsent race between two storages: exactly one wins each version, and its content stays", () =>
    Effect.gen(function*() {
      const prefix = `race-${randomUUID().slice(0, 8)}`
      const a = storageAt(prefix)
      const b = storageAt(prefix)
      for (let version = 0; version < 10; version++) {
        const path = `_delta_log/${String(version).padStart(20, "0")}.json`
        const [wonA, wonB] = yield* Effect.all([a.putIfAbsent(path, bytes(`a${version}`)), b.putIfAbsent(path, bytes(`b${version}`))], {
          concurrency: 2
        })
        assert.strictEqual(Number(wonA) + Number(wonB), 1, `version ${version}: a=${wonA} b=${wonB}`)
        assert.deepStrictEqual(text(yield* a.read(path)), Option.some(`${wonA ? "a" : "b"}${version}`))
      }
    }))

  it.live("list pages through every result (page size 7, 45 files over two directories)", () =>
    Effect.gen(function*() {
      const prefix = `pages-${randomUUID().slice(0, 8)}`
      const storage = storageAt(prefix, { pageSize: 7 })
      const names = Array.from({ length: 45 }, (_, i) => `${i % 3 === 0 ? "sub/" : ""}f-${String(i).padStart(3, "0")}`)
      yield* Effect.forEach(names, (name) => storage.write(name, bytes(name)), { concurrency: 8 })
      assert.deepStrictEqual((yield* storage.list("", { recursive: true })).map((f) => f.path), [...names].sort())
      assert.deepStrictEqual((yield* storage.list("")).map((f) => f.path), names.filter((n) => !n.startsWith("sub/")).sort())
      assert.deepStrictEqual((yield* storage.list("sub")).map((f) => f.path), names.filter((n) => n.startsWith("sub/")).sort())
    }))

  it.live("a missing container: every operation fails naming the URL and how to create it", () =>
    Effect.gen(function*() {
      const storage = storageAt("t", {}, "kd-missing-container")
      const errors = [
        yield* Effect.flip(storage.read("_delta_log/00000000000000000000.json")),
        yield* Effect.flip(storage.stat("_delta_log/00000000000000000000.json")),
        yield* Effect.flip(storage.list("_delta_log")),
        yield* Effect.flip(storage.putIfAbsent("_delta_log/00000000000000000000.json", bytes("x"))),
        yield* Effect.flip(storage.write("x", bytes("x"))),
        yield* Effect.flip(storage.delete("x"))
      ]
      for (const error of errors) {
        assert.strictEqual(error._tag, "DeltaStorageError")
        assert.isFalse(error.transient)
        expect(error.message).toContain("az://kd-missing-container/t")
        expect(error.message).toContain(`container "kd-missing-container" does not exist on ${env.endpoint}: create it`)
        expect(error.message.split("\n")).toHaveLength(1)
      }
    }))

  it.live("a wrong account key: fatal, names the URL and the setting, never the key", () =>
    Effect.gen(function*() {
      const wrong = Buffer.from(`wrong-key-${randomUUID()}`).toString("base64")
      const storage = storageAt("t", { accountKey: Redacted.make(wrong) })
      for (const error of [yield* Effect.flip(storage.list("")), yield* Effect.flip(storage.stat("x"))]) {
        assert.isFalse(error.transient)
        expect(error.message).toContain(`az://${container}/t`)
        expect(error.message).toContain("check storage.azure.accountKey")
        expect(error.message).not.toContain(wrong)
        expect(error.message.split("\n")).toHaveLength(1)
      }
    }))

  it.live("a SAS token without write permission: no permission to create, the token redacted", () =>
    Effect.gen(function*() {
      const sas = generateBlobSASQueryParameters(
        { containerName: container, permissions: ContainerSASPermissions.parse("rl"), expiresOn: new Date(Date.now() + 3_600_000) },
        new StorageSharedKeyCredential(env.account, env.key)
      ).toString()
      const signature = new URLSearchParams(sas).get("sig")!
      const storage = makeAzureStorage(parse(`az://${container}/sas`), { endpoint: env.endpoint, sasToken: Redacted.make(sas) })
      assert.deepStrictEqual(yield* storage.list(""), [])
      const error = yield* Effect.flip(storage.putIfAbsent("_delta_log/00000000000000000000.json", bytes("x")))
      assert.isFalse(error.transient)
      expect(error.message).toContain(`az://${container}/sas/_delta_log/00000000000000000000.json`)
      expect(error.message).toMatch(/no permission to create|not authorized to create/)
      expect(error.message).toContain("storage.azure.sasToken")
      expect(error.message).not.toContain(signature)
      expect(error.message).not.toContain(encodeURIComponent(signature))
    }))

  it.live("no key, no token and no identity found: fatal, naming the settings and the ways to sign in", () =>
    Effect.gen(function*() {
      // stands in for DefaultAzureCredential, which would probe the instance metadata address from a test
      const none = {
        getToken: () => Promise.reject(Object.assign(new Error("EnvironmentCredential is unavailable"), { name: "CredentialUnavailableError" }))
      }
      const port = yield* Effect.promise(closedPort)
      const storage = makeAzureStorage(parse(`az://${container}/t`), { endpoint: `https://127.0.0.1:${port}/${env.account}`, tokenCredential: none, maxTries: 1 })
      const error = yield* Effect.flip(storage.list(""))
      assert.isFalse(error.transient)
      expect(error.message).toContain(`az://${container}/t`)
      expect(error.message).toContain("no Azure credential to list: set storage.azure.accountKey or sasToken, or sign in")
    }))

  it.live("an unreachable endpoint is transient and names the endpoint", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const endpoint = `http://127.0.0.1:${port}/${env.account}`
      const error = yield* Effect.flip(storageAt("t", { endpoint, maxTries: 1 }).read("x"))
      assert.isTrue(error.transient)
      expect(error.message).toContain(`cannot reach ${endpoint}`)
      expect(error.message).toContain(`az://${container}/t/x`)
    }))

  it.live("throttling (503 ServerBusy, 429) is transient", () =>
    Effect.gen(function*() {
      for (const [status, code] of [[503, "ServerBusy"], [429, "TooManyRequests"]] as const) {
        const server = Http.createServer((_, response) => {
          response.writeHead(status, { "x-ms-error-code": code, "content-type": "application/xml" })
          response.end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>slow down</Message></Error>`)
        })
        yield* Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)))
        const endpoint = `http://127.0.0.1:${(server.address() as import("node:net").AddressInfo).port}/${env.account}`
        const error = yield* Effect.flip(storageAt("t", { endpoint, maxTries: 1 }).putIfAbsent("x", bytes("x")))
        server.close()
        assert.isTrue(error.transient, error.message)
        expect(error.message).toContain(`${endpoint} is throttling (${status} ${code})`)
      }
    }))

  it.live("a Delta table written by the sink on Azurite (12 commits, a log checkpoint) reads back in delta-rs with every value", () =>
    Effect.gen(function*() {
      const prefix = `delta-${randomUUID().slice(0, 8)}/orders`
      const url = `abfss://${container}@${env.account}.dfs.core.windows.net/${prefix}`
      const storageFor = () => makeAzureStorage(parse(url), { endpoint: env.endpoint, accountKey: Redacted.make(env.key) })
      const table = { name: "it.azure.orders", location: url }
      const sink = yield* FilesystemSink.makeWith(storageFor, { checkpointInterval: 10 })
      const commits = 12
      const per = 25
      for (let c = 0; c < commits; c++) {
        const result = yield* sink.append({
          table,
          schema: allTypesSchema,
          data: [allTypesBatch(c * per, (c + 1) * per)],
          partitionBy: ["dt"],
          txns: [{ appId: "azure-0", version: (c + 1) * per, expected: c === 0 ? undefined : c * per }],
          operationParameters: { batchId: String(c) }
        })
        assert.strictEqual(result.version, c)
      }
      const log = (yield* storageFor().list("_delta_log")).map((f) => f.path)
      assert.include(log, "_delta_log/00000000000000000010.checkpoint.parquet")
      assert.include(log, "_delta_log/_last_checkpoint")
      // a fresh sink replays the log from the checkpoint on Azure
      const fresh = yield* FilesystemSink.makeWith(storageFor)
      assert.strictEqual((yield* fresh.txnVersions(table, "azure-")).get("azure-0"), commits * per)

      const out = execFileSync(python(), [NodePath.resolve(import.meta.dirname, "../../scripts/delta-readers/read_table.py"), `az://${container}/${prefix}`, "azure-0"], {
        encoding: "utf8",
        maxBuffer: 1 << 30,
        env: {
          ...process.env,
          DELTA_STORAGE_OPTIONS: JSON.stringify({
            account_name: env.account,
            account_key: env.key,
            azure_storage_endpoint: env.endpoint,
            allow_http: "true"
          })
        }
      })
      const read = JSON.parse(out) as DeltaRead
      assert.strictEqual(read.version, commits - 1)
      assert.strictEqual(read.numRows, commits * per)
      assert.deepStrictEqual(read.partitionColumns, ["dt"])
      assert.strictEqual(read.txn["azure-0"], commits * per)
      const actual = sortBy(read.rows, (row) => BigInt(row["id"] as string))
      for (let n = 0; n < commits * per; n++) assert.deepStrictEqual(actual[n], allTypesCanonical(n), `row ${n}`)
    }), 120_000)

  it.live("a server error that echoes the request URL: the SAS signature is redacted from the message", () =>
    Effect.gen(function*() {
      const server = Http.createServer((request, response) => {
        response.writeHead(500, { "x-ms-error-code": "InternalError", "content-type": "application/xml" })
        response.end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>InternalError</Code><Message>failed ${decodeURIComponent(request.url ?? "")}</Message></Error>`)
      })
      yield* Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)))
      const endpoint = `http://127.0.0.1:${(server.address() as import("node:net").AddressInfo).port}/${env.account}`
      const signature = "c2VjcmV0LXNpZ25hdHVyZS0xMjM0NTY3ODkw+/="
      const sas = `sv=2024-08-04&sp=rwdlac&sig=${encodeURIComponent(signature)}`
      const storage = makeAzureStorage(parse(`az://${container}/t`), { endpoint, sasToken: Redacted.make(sas), maxTries: 1 })
      const error = yield* Effect.flip(storage.read("x"))
      server.close()
      assert.isTrue(error.transient)
      expect(error.message).toContain("sig=<redacted>")
      for (const form of [signature, encodeURIComponent(signature), "c2VjcmV0LXNpZ25hdHVyZS0xMjM0NTY3ODkw"]) {
        expect(error.message).not.toContain(form)
      }
    }))
  it.live("by location: a storage.azure key wins over AZURE_STORAGE_KEY; without one the AZURE_STORAGE_* variables are used", () =>
    Effect.gen(function*() {
      const saved = { key: process.env["AZURE_STORAGE_KEY"], endpoint: process.env["AZURE_STORAGE_ENDPOINT"] }
      yield* Effect.addFinalizer(() => Effect.sync(() => {
        for (const [name, value] of [["AZURE_STORAGE_KEY", saved.key], ["AZURE_STORAGE_ENDPOINT", saved.endpoint]] as const) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }
      }))
      const url = `az://${container}/by-location-${randomUUID().slice(0, 8)}`
      const wrongKey = Buffer.from("not the account key, but base64").toString("base64")
      process.env["AZURE_STORAGE_ENDPOINT"] = env.endpoint
      process.env["AZURE_STORAGE_KEY"] = wrongKey
      const configured = yield* makeResolver({ s3: {}, azure: { accountKey: Redacted.make(env.key) } })
      yield* configured(url, "t", "table")
      const fromEnvWrong = yield* makeResolver()
      const error = yield* Effect.flip(fromEnvWrong(url, "t", "table"))
      expect(error.reason).not.toContain(wrongKey)
      process.env["AZURE_STORAGE_KEY"] = env.key
      const fromEnv = yield* makeResolver()
      const storage = yield* fromEnv(url, "t", "table")
      assert.isTrue(yield* storage.putIfAbsent("x", bytes("x")))
    }).pipe(Effect.scoped))
})
