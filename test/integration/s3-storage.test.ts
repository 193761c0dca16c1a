import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { probeConditionalWrites } from "../../layers/storage/probe.ts"
import { multipartThreshold, s3Storage } from "../../layers/storage/s3.ts"
import type { S3Location } from "../../src/config/location.ts"
import { freshBucket, testS3Client } from "./support/s3.ts"

const at = (bucket: string, prefix = "wh/t"): S3Location => ({ _tag: "S3", scheme: "s3", bucket, prefix })
const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: Uint8Array) => new TextDecoder().decode(data)

describe("S3 DeltaStorage (against the local S3 server)", () => {
  it.effect("reads, lists (across pages, recursively or not), writes, stats and deletes", () =>
    Effect.gen(function*() {
      const client = yield* testS3Client
      const storage = s3Storage(at(yield* freshBucket(client, "rw")), { table: "t", client, listPageSize: 2 })
      assert.isTrue(Option.isNone(yield* storage.read("_delta_log/00000000000000000000.json")))
      for (const name of ["a", "b", "c", "d", "e"]) yield* storage.write(`_delta_log/${name}.json`, bytes(name))
      yield* storage.write("day=1/part-0.parquet", bytes("xyz"))
      const flat = yield* storage.list("_delta_log")
      assert.deepStrictEqual(flat.map((f) => f.path), ["a", "b", "c", "d", "e"].map((n) => `_delta_log/${n}.json`))
      assert.deepStrictEqual((yield* storage.list("")).map((f) => f.path), [])
      assert.deepStrictEqual((yield* storage.list("", { recursive: true })).length, 6)
      assert.strictEqual(text(Option.getOrThrow(yield* storage.read("_delta_log/c.json"))), "c")
      const stat = Option.getOrThrow(yield* storage.stat("day=1/part-0.parquet"))
      assert.strictEqual(stat.size, 3)
      assert.isAbove(stat.modificationTime, Date.now() - 600_000)
      yield* storage.delete("day=1/part-0.parquet")
      yield* storage.delete("day=1/part-0.parquet")
      assert.isTrue(Option.isNone(yield* storage.stat("day=1/part-0.parquet")))
      assert.deepStrictEqual((yield* storage.list("absent")).length, 0)
    }))

  it.effect("putIfAbsent creates once: a second create is refused (412), the first content stays", () =>
    Effect.gen(function*() {
      const client = yield* testS3Client
      const storage = s3Storage(at(yield* freshBucket(client, "pia")), { table: "t", client })
      assert.isTrue(yield* storage.putIfAbsent("_delta_log/00000000000000000000.json", bytes("first")))
      assert.isFalse(yield* storage.putIfAbsent("_delta_log/00000000000000000000.json", bytes("second")))
      assert.strictEqual(text(Option.getOrThrow(yield* storage.read("_delta_log/00000000000000000000.json"))), "first")
      const versioned = Option.getOrThrow(yield* storage.versioned.readVersion("_delta_log/00000000000000000000.json"))
      assert.isTrue(yield* storage.versioned.replaceIfVersion("_delta_log/00000000000000000000.json", bytes("third"), versioned.version))
      assert.isFalse(yield* storage.versioned.replaceIfVersion("_delta_log/00000000000000000000.json", bytes("fourth"), versioned.version))
    }))

  it.effect("a data file larger than the multipart threshold goes up whole", () =>
    Effect.gen(function*() {
      const client = yield* testS3Client
      const storage = s3Storage(at(yield* freshBucket(client, "mp")), { table: "t", client })
      const data = new Uint8Array(multipartThreshold + 3 * 1024 * 1024)
      for (let i = 0; i < data.length; i += 4096) data[i] = i % 251
      const info = yield* storage.write("part-00000.parquet", data)
      assert.strictEqual(info.size, data.length)
      const back = Option.getOrThrow(yield* storage.read("part-00000.parquet"))
      assert.strictEqual(back.length, data.length)
      assert.isTrue(Buffer.from(back).equals(Buffer.from(data)))
    }))

  it.effect("the probe passes on a store that enforces conditional writes and leaves nothing behind", () =>
    Effect.gen(function*() {
      const client = yield* testS3Client
      const storage = s3Storage(at(yield* freshBucket(client, "probe")), { table: "t", client })
      yield* probeConditionalWrites(storage, "_delta_log")
      assert.deepStrictEqual(yield* storage.list("_delta_log"), [])
    }))

  it.effect("a missing bucket names the bucket and the fix, and is not retried", () =>
    Effect.gen(function*() {
      const client = yield* testS3Client
      const storage = s3Storage(at("kd-no-such-bucket-here"), { table: "lake.db.t", client })
      const error = yield* Effect.flip(storage.putIfAbsent("_delta_log/x.json", bytes("x")))
      assert.isFalse(error.transient)
      expect(error.message).toContain("bucket kd-no-such-bucket-here does not exist (NoSuchBucket): create it, or correct the bucket in the location")
      expect(error.message).toContain("s3://kd-no-such-bucket-here/wh/t/_delta_log/x.json")
      expect((yield* Effect.flip(storage.list("_delta_log"))).message).toContain("NoSuchBucket")
    }))

})
