/**
 * The environment file (`environments/<name>.json`): its schema, and decoding with messages that name the file,
 * the key path, what was found and what is allowed. This mirrors the JSON files the Databricks notebook read.
 */
import { Duration, Option, Result, Schema, SchemaIssue } from "effect"
import { locationProblem } from "./location.ts"

/** A reference to a secret held in the environment's secret scope. */
export const SecretRef = Schema.Struct({ secret: Schema.NonEmptyString })
/** A reference to a secret held in the environment's secret scope. */
export type SecretRef = typeof SecretRef.Type

/** Kafka security protocols, as in Kafka's own client configuration. */
export const SecurityProtocol = Schema.Literals(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
/** SASL mechanisms kafka-delta supports. */
export const SaslMechanism = Schema.Literals(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
/** The Kafka client library a run reads with (`kafka.client`); each is one live KafkaSource layer. */
export const KafkaClient = Schema.Literals(["kafkajs", "platformatic"])
/** The Kafka client library a run reads with. */
export type KafkaClient = typeof KafkaClient.Type
/** What happens to a record that cannot be decoded. */
export const OnBadRecord = Schema.Literals(["fail", "skip", "dead-letter"])

/** How a stream's processes share its topic: one process reads every partition, or a consumer group splits them. */
export const ScaleOut = Schema.Literals(["single", "group"])
/** What happens to a record that cannot be decoded. */
export type OnBadRecord = typeof OnBadRecord.Type

const isDurationText = Schema.makeFilter<string>((text) =>
  Option.isSome(Duration.fromInput(text as Duration.Input))
    ? undefined
    : `Expected a duration such as "10 seconds" or "500 millis"`
)
/** A duration written as text, e.g. `"10 seconds"`. */
export const DurationText = Schema.String.pipe(Schema.check(isDurationText))

const PositiveInt = Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0)))

const isLocation = Schema.makeFilter<string>((text) => locationProblem(text))
/**
 * Where tables or checkpoints live: a local path or an object-store URL (see location.ts). An unsupported or
 * malformed URL is refused rather than taken as a relative path: `gs://lake/wh` would otherwise become a directory
 * named `gs:` under the working directory, and the table would silently be local.
 */
export const LocationText = Schema.NonEmptyString.pipe(Schema.check(isLocation))

/** Spark-style per-partition starting offsets: `{"topic": {"0": 42, "1": -2}}`, -2 earliest, -1 latest. */
export const PerPartitionOffsets = Schema.Record(
  Schema.String,
  Schema.Record(Schema.String, Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(-2))))
)
/** Spark-style per-partition starting offsets. */
export type PerPartitionOffsets = typeof PerPartitionOffsets.Type

/** Where a stream without a checkpoint starts reading. */
export const StartingOffsets = Schema.Union([Schema.Literals(["earliest", "latest"]), PerPartitionOffsets])
/** Where a stream without a checkpoint starts reading. */
export type StartingOffsets = typeof StartingOffsets.Type

/** The `kafka` section. */
export const KafkaSection = Schema.Struct({
  bootstrapServers: Schema.NonEmptyString,
  securityProtocol: SecurityProtocol,
  saslMechanism: Schema.optionalKey(SaslMechanism),
  username: Schema.optionalKey(Schema.NullOr(SecretRef)),
  password: Schema.optionalKey(Schema.NullOr(SecretRef)),
  caFile: Schema.optionalKey(Schema.NullOr(Schema.String)),
  topicPrefix: Schema.String,
  groupIdPrefix: Schema.NonEmptyString,
  /** The client library; absent: the default (src/cli/live.ts). */
  client: Schema.optionalKey(KafkaClient)
})

/** The `schemaRegistry` section. */
export const SchemaRegistrySection = Schema.Struct({
  url: Schema.NonEmptyString,
  username: Schema.optionalKey(Schema.NullOr(SecretRef)),
  password: Schema.optionalKey(Schema.NullOr(SecretRef)),
  caFile: Schema.optionalKey(Schema.NullOr(Schema.String))
})

/** The `secrets` section: where the scope's secrets come from. */
export const SecretsSection = Schema.Struct({
  scope: Schema.NonEmptyString,
  provider: Schema.Literals(["env", "directory"]),
  directory: Schema.optionalKey(Schema.String)
})

/** The `delta` section: where tables live. */
export const DeltaSection = Schema.Struct({
  warehouse: LocationText,
  catalog: Schema.NonEmptyString,
  schema: Schema.NonEmptyString,
  /** The table name; by default the topic, lower-cased, other characters as `_`. */
  table: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isPattern(/^[a-z0-9_]+$/)))),
  partitionBy: Schema.optionalKey(Schema.Array(Schema.String)),
  targetFileSize: Schema.optionalKey(PositiveInt),
  /** Parquet codec of data files: `snappy` (Spark's default) or `zstd` (smaller, slower to write). */
  compression: Schema.optionalKey(Schema.Literals(["snappy", "zstd"])),
  checkpointInterval: Schema.optionalKey(PositiveInt),
  /** How rows are laid out: `value` (one struct column, the notebook's) or `columns`; by default the table's own. */
  layout: Schema.optionalKey(Schema.Literals(["value", "columns"])),
  /** Compaction inside the stream: false (default), true (default settings) or settings (src/pipeline/auto-compact.ts). */
  autoCompact: Schema.optionalKey(Schema.Union([
    Schema.Boolean,
    Schema.Struct({
      everyCommits: Schema.optionalKey(PositiveInt),
      minSmallFiles: Schema.optionalKey(PositiveInt),
      maxInputBytes: Schema.optionalKey(PositiveInt)
    })
  ]))
})

/**
 * `storage.s3`: credentials from the secret scope (else the AWS default chain: environment, profile, web
 * identity, instance metadata) and the endpoint of an S3-compatible store.
 */
export const S3Section = Schema.Struct({
  accessKeyId: Schema.optionalKey(SecretRef),
  secretAccessKey: Schema.optionalKey(SecretRef),
  sessionToken: Schema.optionalKey(SecretRef),
  /** e.g. `http://127.0.0.1:9000` for a local S3-compatible server; AWS's own endpoint when absent. */
  endpoint: Schema.optionalKey(Schema.NonEmptyString),
  region: Schema.optionalKey(Schema.NonEmptyString),
  /** `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key` (most S3-compatible servers). */
  forcePathStyle: Schema.optionalKey(Schema.Boolean)
})

/** `storage.azure`: an account key or a SAS token from the secret scope (else DefaultAzureCredential), and the endpoint. */
export const AzureSection = Schema.Struct({
  accountKey: Schema.optionalKey(SecretRef),
  sasToken: Schema.optionalKey(SecretRef),
  /** e.g. `http://127.0.0.1:10000/devstoreaccount1` for Azurite; `https://<account>.blob.core.windows.net` when absent. */
  endpoint: Schema.optionalKey(Schema.NonEmptyString)
})

/** The `storage` section: how to reach the object stores that `delta.warehouse` and `checkpoints` name. */
export const StorageSection = Schema.Struct({
  s3: Schema.optionalKey(S3Section),
  azure: Schema.optionalKey(AzureSection)
})
/** The `storage` section. */
export type StorageSection = typeof StorageSection.Type

/** The retry schedule for transient errors. */
export const RetrySection = Schema.Struct({
  initialDelay: DurationText,
  maxDelay: DurationText,
  maxAttempts: PositiveInt
})

/** The `stream` section: the options a Spark `readStream`/`writeStream` took. */
export const StreamSection = Schema.Struct({
  startingOffsets: StartingOffsets,
  failOnDataLoss: Schema.Boolean,
  maxBatchRecords: PositiveInt,
  maxBatchBytes: Schema.optionalKey(PositiveInt),
  maxBatchInterval: DurationText,
  onBadRecord: OnBadRecord,
  retry: Schema.optionalKey(RetrySection),
  gracePeriod: Schema.optionalKey(DurationText),
  /** A stream id whose positions in the table this stream takes over (e.g. after renaming the environment). */
  adoptPositionsFrom: Schema.optionalKey(Schema.NonEmptyString),
  /** Write the topic into a table that already holds another stream's positions of it: a second copy. */
  allowSecondStream: Schema.optionalKey(Schema.Boolean),
  /** `group`: several processes share the topic's partitions through the consumer group (default `single`). */
  scaleOut: Schema.optionalKey(ScaleOut),
  /** The consumer group's id; absent: `<kafka.groupIdPrefix>-<streamId>`. */
  groupId: Schema.optionalKey(Schema.NonEmptyString)
})

/** A TCP port a server listens on. */
const Port = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 65535 })))

/** The `metrics` section: where `/metrics`, `/healthz` and `/readyz` are served. */
export const MetricsSection = Schema.Struct({
  port: Schema.optionalKey(Port)
})

/** A whole environment file. Unknown keys are refused (see `decodeEnvironmentFile`). */
export const EnvironmentFile = Schema.Struct({
  environment: Schema.NonEmptyString,
  kafka: KafkaSection,
  schemaRegistry: SchemaRegistrySection,
  secrets: SecretsSection,
  delta: DeltaSection,
  checkpoints: LocationText,
  storage: Schema.optionalKey(StorageSection),
  stream: StreamSection,
  metrics: Schema.optionalKey(MetricsSection)
})
/** A whole environment file, decoded. */
export type EnvironmentFile = typeof EnvironmentFile.Type

/** One problem found in an environment file. */
export interface ConfigProblem {
  /** Dotted key path, e.g. `kafka.securityProtocol`. */
  readonly path: string
  /** What was wrong and what is allowed. */
  readonly problem: string
}

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current: unknown = input
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return current
}

const describe = (value: unknown): string => {
  if (value === undefined) return "nothing"
  const text = JSON.stringify(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/** The key names a struct schema allows at `path` (the top level for `[]`), or nothing when `path` is no section. */
const keysAt = (path: ReadonlyArray<string>): ReadonlyArray<string> => {
  interface Node {
    readonly fields?: Readonly<Record<string, unknown>>
    readonly schema?: unknown
  }
  // optionalKey(S) and NullOr-free sections wrap the struct in `.schema`; structs list their keys in `.fields`
  const unwrap = (node: unknown): Node | undefined => {
    let current = node as Node | undefined
    for (let depth = 0; depth < 4 && current !== undefined && current.fields === undefined; depth++) {
      current = current.schema as Node | undefined
    }
    return current
  }
  let node = unwrap(EnvironmentFile)
  for (const segment of path) node = unwrap(node?.fields?.[segment])
  return node?.fields === undefined ? [] : Object.keys(node.fields)
}

/** Levenshtein distance, case-insensitive: small enough to write here rather than take a dependency. */
export const editDistance = (a: string, b: string): number => {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j)
  for (let i = 1; i <= x.length; i++) {
    const current = [i]
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[y.length]!
}

/** What to say about an unknown key at `path`: the nearest valid key, or the valid keys when none is near. */
export const unknownKeyProblem = (path: ReadonlyArray<string>): string => {
  const name = path[path.length - 1] ?? ""
  const parent = path.slice(0, -1)
  const valid = keysAt(parent)
  const qualified = (key: string) => [...parent, key].join(".")
  const nearest = valid
    .map((key) => ({ key, distance: editDistance(name, key) }))
    .sort((a, b) => a.distance - b.distance)[0]
  if (nearest !== undefined && nearest.distance <= Math.max(2, Math.floor(name.length / 3))) {
    return `unknown key; did you mean ${qualified(nearest.key)}?`
  }
  return valid.length === 0
    ? "unknown key"
    : `unknown key; the keys allowed here are ${valid.map(qualified).join(", ")}`
}

/** Decodes parsed JSON into an environment file, or lists every problem with its key path. */
export const decodeEnvironmentFile = (input: unknown): Result.Result<EnvironmentFile, ReadonlyArray<ConfigProblem>> => {
  // a misspelt key would otherwise be dropped and its default used without a word (`maxBatchRecord` ran with
  // the default batch size)
  const result = Schema.decodeUnknownResult(EnvironmentFile)(input, { errors: "all", onExcessProperty: "error" })
  if (Result.isSuccess(result)) return Result.succeed(result.success)
  const issues = SchemaIssue.makeFormatterStandardSchemaV1()(result.failure.issue).issues
  return Result.fail(issues.map((issue) => {
    const path = (issue.path ?? []).map((segment) =>
      typeof segment === "object" && segment !== null ? String((segment as { key: PropertyKey }).key) : String(segment)
    )
    const found = valueAt(input, path)
    const problem = issue.message === "Missing key"
      ? "missing key"
      : issue.message === "Expected no excess property"
      ? unknownKeyProblem(path)
      : `${issue.message}, got ${describe(found)}`
    return { path: path.join(".") || "(top level)", problem }
  }))
}
