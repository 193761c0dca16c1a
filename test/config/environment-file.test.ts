import { assert, describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { make } from "../../layers/config/environment-file.ts"

const shipped = NodePath.resolve(import.meta.dirname, "../../environments")

const validFile = {
  environment: "UAT",
  kafka: {
    bootstrapServers: "host:9094,host2:9094",
    securityProtocol: "SASL_SSL",
    saslMechanism: "PLAIN",
    username: { secret: "kafka-api-key" },
    password: { secret: "kafka-api-secret" },
    caFile: null,
    topicPrefix: "uat.",
    groupIdPrefix: "kafka-delta-uat"
  },
  schemaRegistry: { url: "https://registry:8081", username: { secret: "sr-key" }, password: { secret: "sr-secret" } },
  secrets: { scope: "kafka-uat", provider: "env" },
  delta: { warehouse: "./lakehouse", catalog: "tc_uc_uat", schema: "kafka_raw" },
  checkpoints: "./checkpoints",
  stream: { startingOffsets: "earliest", failOnDataLoss: true, maxBatchRecords: 100000, maxBatchInterval: "10 seconds", onBadRecord: "fail" }
}

const withFile = (name: string, content: unknown) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await Fs.mkdtemp(NodePath.join(Os.tmpdir(), "kd-env-"))
      await Fs.writeFile(NodePath.join(dir, name), typeof content === "string" ? content : JSON.stringify(content))
      return dir
    }),
    (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
  )

const load = (dir: string, environment = "uat", env: Record<string, string> = {}) =>
  make({ environmentsDir: dir, environment, topic: "Orders.V1", trigger: "continuous", env, baseDirectory: "/base" })

describe("environment files", () => {
  it.effect("the shipped environments all load, matched case-insensitively", () =>
    Effect.gen(function*() {
      const production = yield* make({ environmentsDir: shipped, environment: "Production", topic: "orders", trigger: "continuous", env: {} })
      assert.strictEqual(production.environment, "Production")
      assert.strictEqual(production.kafkaTopic, "prod.orders")
      const uat = yield* make({ environmentsDir: shipped, environment: "UAT", topic: "orders", trigger: "available-now", env: {} })
      assert.strictEqual(uat.kafkaTopic, "uat.orders")
      assert.strictEqual(uat.stream.trigger, "available-now")
      const local = yield* make({ environmentsDir: shipped, environment: "local", topic: "orders", trigger: "continuous", env: {} })
      assert.strictEqual(local.kafka.securityProtocol, "PLAINTEXT")
    }))

  it.effect("derives the names the notebook used", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("UAT.json", validFile)
      const job = yield* load(dir)
      assert.strictEqual(job.kafkaTopic, "uat.Orders.V1")
      assert.strictEqual(job.table.name, "tc_uc_uat.kafka_raw.orders_v1")
      assert.strictEqual(job.table.location, "/base/lakehouse/tc_uc_uat/kafka_raw/orders_v1")
      assert.strictEqual(job.deadLetterTable.name, "tc_uc_uat.kafka_raw.orders_v1_dead_letter")
      assert.strictEqual(job.checkpointLocation, "/base/checkpoints/UAT_Orders.V1")
      assert.strictEqual(job.streamId, "UAT_Orders.V1")
      assert.strictEqual(Duration.toMillis(job.stream.maxBatchInterval), 10_000)
    }))

  it.effect("stream.scaleOut defaults to single; the group id is <groupIdPrefix>-<streamId> unless stream.groupId is given", () =>
    Effect.gen(function*() {
      const single = yield* load(yield* withFile("UAT.json", validFile))
      assert.strictEqual(single.stream.scaleOut, "single")
      assert.strictEqual(single.stream.groupId, "kafka-delta-uat-UAT_Orders.V1")
      const group = yield* load(yield* withFile("UAT.json", { ...validFile, stream: { ...validFile.stream, scaleOut: "group" } }))
      assert.strictEqual(group.stream.scaleOut, "group")
      const named = yield* load(yield* withFile("UAT.json", validFile), "uat", { KAFKA_DELTA_STREAM_GROUPID: "orders-writers", KAFKA_DELTA_STREAM_SCALEOUT: "group" })
      assert.strictEqual(named.stream.groupId, "orders-writers")
      assert.strictEqual(named.stream.scaleOut, "group")
      const error = yield* Effect.flip(load(yield* withFile("uat.json", { ...validFile, stream: { ...validFile.stream, scaleOut: "cluster" } })))
      assert.strictEqual(error._tag, "ConfigFileError")
      expect(error.message).toContain("stream.scaleOut")
      expect(error.message).toContain(`"cluster"`)
      expect(error.message).toContain(`"group"`)
    }))

  it.effect("an unknown environment lists the available ones", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(make({ environmentsDir: shipped, environment: "staging", topic: "t", trigger: "continuous", env: {} }))
      assert.strictEqual(error._tag, "UnknownEnvironmentError")
      expect(error.message).toContain(`unknown environment "staging"`)
      expect(error.message).toContain("available: local, production, uat")
    }))

  it.effect("a wrong enum value names the file, the key path, the value and what is allowed", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", { ...validFile, kafka: { ...validFile.kafka, securityProtocol: "SASL_TLS" } })
      const error = yield* Effect.flip(load(dir))
      assert.strictEqual(error._tag, "ConfigFileError")
      expect(error.message).toContain(NodePath.join(dir, "uat.json"))
      expect(error.message).toContain("kafka.securityProtocol")
      expect(error.message).toContain(`"SASL_TLS"`)
      expect(error.message).toContain(`"SASL_SSL"`)
    }))

  it.effect("a missing key and a wrong type are both reported", () =>
    Effect.gen(function*() {
      const { checkpoints: _, ...withoutCheckpoints } = validFile
      const dir = yield* withFile("uat.json", { ...withoutCheckpoints, stream: { ...validFile.stream, maxBatchRecords: "many" } })
      const error = yield* Effect.flip(load(dir))
      expect(error.message).toContain("checkpoints: missing key")
      expect(error.message).toContain("stream.maxBatchRecords")
      expect(error.message).toContain(`"many"`)
    }))

  it.effect("bad durations, onBadRecord and startingOffsets values are rejected", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", {
        ...validFile,
        stream: { ...validFile.stream, maxBatchInterval: "soon", onBadRecord: "ignore", startingOffsets: "beginning" }
      })
      const error = yield* Effect.flip(load(dir))
      expect(error.message).toContain("stream.maxBatchInterval")
      expect(error.message).toContain("stream.onBadRecord")
      expect(error.message).toContain("stream.startingOffsets")
    }))

  it.effect("Spark-style per-partition starting offsets are accepted", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", { ...validFile, stream: { ...validFile.stream, startingOffsets: { "uat.Orders.V1": { "0": 42, "1": -2 } } } })
      const job = yield* load(dir)
      assert.deepStrictEqual(job.stream.startingOffsets, { "uat.Orders.V1": { "0": 42, "1": -2 } })
      const byJobTopic = yield* withFile("uat.json", { ...validFile, stream: { ...validFile.stream, startingOffsets: { "Orders.V1": { "0": 7 } } } })
      assert.deepStrictEqual((yield* load(byJobTopic)).stream.startingOffsets, { "Orders.V1": { "0": 7 } })
    }))

  it.effect("per-partition starting offsets of another topic stop, naming both topics", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", { ...validFile, stream: { ...validFile.stream, startingOffsets: { "uat.payments": { "0": 42 } } } })
      const error = yield* Effect.flip(load(dir))
      assert.strictEqual(error._tag, "ConfigFileError")
      expect(error.message).toContain("stream.startingOffsets")
      expect(error.message).toContain(`"uat.payments"`)
      expect(error.message).toContain(`"uat.Orders.V1"`)
    }))

  it.effect("unknown keys are refused, naming the nearest valid key", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", {
        ...validFile,
        kafka: { ...validFile.kafka, bootstrapServer: "x:9092" },
        delta: { ...validFile.delta, partitionby: ["day"] },
        stream: { ...validFile.stream, maxBatchRecord: 10, onBadRecords: "skip" },
        wholly_unrelated: 1
      })
      const error = yield* Effect.flip(load(dir))
      expect(error.message).toContain("kafka.bootstrapServer: unknown key; did you mean kafka.bootstrapServers?")
      expect(error.message).toContain("delta.partitionby: unknown key; did you mean delta.partitionBy?")
      expect(error.message).toContain("stream.maxBatchRecord: unknown key; did you mean stream.maxBatchRecords?")
      expect(error.message).toContain("stream.onBadRecords: unknown key; did you mean stream.onBadRecord?")
      expect(error.message).toContain("wholly_unrelated: unknown key; the keys allowed here are environment, kafka,")
      const retry = yield* withFile("uat.json", { ...validFile, stream: { ...validFile.stream, retry: { maxAttempt: 3 } } })
      expect((yield* Effect.flip(load(retry))).message).toContain("did you mean stream.retry.maxAttempts?")
    }))

  it.effect("an unsupported or malformed location URL is refused, naming the key and the accepted forms", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", { ...validFile, delta: { ...validFile.delta, warehouse: "gs://lake/wh" }, checkpoints: "abfss://ckpt@/cp" })
      const error = yield* Effect.flip(load(dir))
      expect(error.message).toContain("delta.warehouse: the scheme gs:// is not supported")
      expect(error.message).toContain("expected a local path, s3://bucket/prefix, s3a://bucket/prefix, abfss://container@account.dfs.core.windows.net/prefix or az://container/prefix")
      expect(error.message).toContain(`"gs://lake/wh"`)
      expect(error.message).toContain("checkpoints: \"\" is not an Azure storage host")
      const bucket = yield* withFile("uat.json", { ...validFile, delta: { ...validFile.delta, warehouse: "s3://Lake_WH/x" } })
      expect((yield* Effect.flip(load(bucket))).message).toContain(`delta.warehouse: "Lake_WH" is not an S3 bucket name`)
      assert.strictEqual((yield* load(dir, "uat", { KAFKA_DELTA_DELTA_WAREHOUSE: "/data/wh", KAFKA_DELTA_CHECKPOINTS: "cp" })).table.location, "/data/wh/tc_uc_uat/kafka_raw/orders_v1")
    }))

  it.effect("object-store warehouse and checkpoints give URLs for the table, the dead letters and the checkpoint", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", {
        ...validFile,
        delta: { ...validFile.delta, warehouse: "s3a://lake/warehouse/" },
        checkpoints: "abfss://ckpt@acct.dfs.core.windows.net/checkpoints",
        storage: { s3: { accessKeyId: { secret: "s3-key" }, secretAccessKey: { secret: "s3-secret" }, endpoint: "http://127.0.0.1:9000", forcePathStyle: true }, azure: { sasToken: { secret: "sas" } } }
      })
      const job = yield* load(dir)
      assert.strictEqual(job.table.location, "s3a://lake/warehouse/tc_uc_uat/kafka_raw/orders_v1")
      assert.strictEqual(job.deadLetterTable.location, "s3a://lake/warehouse/tc_uc_uat/kafka_raw/orders_v1_dead_letter")
      assert.strictEqual(job.checkpointLocation, "abfss://ckpt@acct.dfs.core.windows.net/checkpoints/UAT_Orders.V1")
      assert.deepStrictEqual(job.storage?.s3?.accessKeyId, { secret: "s3-key" })
      assert.strictEqual(job.storage?.s3?.forcePathStyle, true)
      const typo = yield* withFile("uat.json", { ...validFile, storage: { s3: { acessKeyId: { secret: "k" } } } })
      expect((yield* Effect.flip(load(typo))).message).toContain("storage.s3.acessKeyId: unknown key; did you mean storage.s3.accessKeyId?")
    }))

  it.effect("an override of one retry key takes the defaults for the others", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", validFile)
      const job = yield* load(dir, "uat", { KAFKA_DELTA_STREAM_RETRY_MAXATTEMPTS: "2" })
      assert.strictEqual(job.stream.retry.maxAttempts, 2)
      assert.strictEqual(Duration.toMillis(job.stream.retry.initialDelay), 200)
      assert.strictEqual(Duration.toMillis(job.stream.retry.maxDelay), 30_000)
    }))

  it.effect("malformed JSON in an override says so and where, naming the variable", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", validFile)
      const error = yield* Effect.flip(load(dir, "uat", { KAFKA_DELTA_STREAM_STARTINGOFFSETS: `{"uat.Orders.V1": {"0": 5,}}` }))
      expect(error.message).toContain("stream.startingOffsets: KAFKA_DELTA_STREAM_STARTINGOFFSETS is not valid JSON")
      expect(error.message).toMatch(/position \d+/)
      expect(error.message).not.toContain(`"earliest" | "latest"`)
      const good = yield* load(dir, "uat", { KAFKA_DELTA_STREAM_STARTINGOFFSETS: `{"uat.Orders.V1": {"0": 5}}` })
      assert.deepStrictEqual(good.stream.startingOffsets, { "uat.Orders.V1": { "0": 5 } })
    }))

  it.effect("a SASL protocol without a mechanism, and a directory provider without a directory, are errors", () =>
    Effect.gen(function*() {
      const { saslMechanism: _, ...kafka } = validFile.kafka
      const dir = yield* withFile("uat.json", { ...validFile, kafka })
      expect((yield* Effect.flip(load(dir))).message).toContain("kafka.saslMechanism")
      const dir2 = yield* withFile("uat.json", { ...validFile, secrets: { scope: "s", provider: "directory" } })
      expect((yield* Effect.flip(load(dir2))).message).toContain("secrets.directory")
    }))

  it.effect("a file that is not JSON says so", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", "{ environment: UAT")
      const error = yield* Effect.flip(load(dir))
      expect(error.message).toContain("not valid JSON")
    }))

  it.effect("KAFKA_DELTA_<PATH> variables override keys, typed by the key", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", validFile)
      const job = yield* load(dir, "uat", {
        KAFKA_DELTA_KAFKA_BOOTSTRAPSERVERS: "127.0.0.1:19092",
        KAFKA_DELTA_STREAM_MAXBATCHRECORDS: "500",
        KAFKA_DELTA_STREAM_FAILONDATALOSS: "false",
        KAFKA_DELTA_STREAM_STARTINGOFFSETS: "latest",
        KAFKA_DELTA_KAFKA_CAFILE: "/etc/ca.pem"
      })
      assert.strictEqual(job.kafka.bootstrapServers, "127.0.0.1:19092")
      assert.strictEqual(job.stream.maxBatchRecords, 500)
      assert.strictEqual(job.stream.failOnDataLoss, false)
      assert.strictEqual(job.stream.startingOffsets, "latest")
      assert.strictEqual(job.kafka.caFile, "/etc/ca.pem")
    }))

  it.effect("delta.table overrides the table name derived from the topic", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", validFile)
      const job = yield* load(dir, "uat", { KAFKA_DELTA_DELTA_TABLE: "all_orders" })
      assert.strictEqual(job.table.name, "tc_uc_uat.kafka_raw.all_orders")
      assert.strictEqual(job.kafkaTopic, "uat.Orders.V1")
      const bad = yield* Effect.flip(load(dir, "uat", { KAFKA_DELTA_DELTA_TABLE: "All-Orders" }))
      expect(bad.message).toContain("delta.table")
    }))

  it.effect("delta.compression picks the Parquet codec; other codecs are refused", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", validFile)
      assert.strictEqual((yield* load(dir)).writer.compression, undefined)
      assert.strictEqual((yield* load(dir, "uat", { KAFKA_DELTA_DELTA_COMPRESSION: "zstd" })).writer.compression, "zstd")
      const bad = yield* Effect.flip(load(dir, "uat", { KAFKA_DELTA_DELTA_COMPRESSION: "lz4" }))
      expect(bad.message).toContain("delta.compression")
      expect(bad.message).toContain(`"snappy" | "zstd"`)
    }))

  it.effect("delta.autoCompact takes a boolean or settings; a bad setting names the key", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", validFile)
      assert.strictEqual((yield* load(dir)).writer.autoCompact, undefined)
      assert.strictEqual((yield* load(dir, "uat", { KAFKA_DELTA_DELTA_AUTOCOMPACT: "true" })).writer.autoCompact, true)
      assert.deepStrictEqual(
        (yield* load(dir, "uat", { KAFKA_DELTA_DELTA_AUTOCOMPACT: `{"minSmallFiles": 20}` })).writer.autoCompact,
        { minSmallFiles: 20 }
      )
      const bad = yield* Effect.flip(load(dir, "uat", { KAFKA_DELTA_DELTA_AUTOCOMPACT: `{"everyCommits": 0}` }))
      expect(bad.message).toContain("delta.autoCompact")
    }))

  it.effect("a bad override value is reported at its key", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", validFile)
      const error = yield* Effect.flip(load(dir, "uat", { KAFKA_DELTA_STREAM_MAXBATCHRECORDS: "lots" }))
      expect(error.message).toContain("stream.maxBatchRecords")
      expect(error.message).toContain(`"lots"`)
      expect(error.message).toContain("set by KAFKA_DELTA_STREAM_MAXBATCHRECORDS")
    }))

  it.effect("metrics.port sets the metrics port, from the file or KAFKA_DELTA_METRICS_PORT; a port out of range is refused", () =>
    Effect.gen(function*() {
      const dir = yield* withFile("uat.json", { ...validFile, metrics: { port: 9464 } })
      expect((yield* load(dir)).metricsPort).toBe(9464)
      expect((yield* load(dir, "uat", { KAFKA_DELTA_METRICS_PORT: "9500" })).metricsPort).toBe(9500)
      const bad = yield* Effect.flip(load(dir, "uat", { KAFKA_DELTA_METRICS_PORT: "0" }))
      expect(bad.message).toContain("metrics.port: Expected a value between 1 and 65535, got 0")
      const none = yield* withFile("uat.json", validFile)
      expect((yield* load(none)).metricsPort).toBeUndefined()
    }))
})
