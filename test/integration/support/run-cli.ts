/**
 * Helpers for tests that run the real `kafka-delta` process against the local services: an environment file
 * in a temp directory, the CLI as a child process, the official Python producer, and delta-rs reading a table.
 */
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"

/** The repository root. */
export const root = NodePath.resolve(import.meta.dirname, "../../..")

/** The venv interpreter with confluent-kafka and deltalake. */
export const python = (): string => process.env["PYTHON"] ?? NodePath.join(root, ".cache/venv/bin/python")

/** A fresh temp directory. */
export const tempDir = (prefix: string): string => Fs.mkdtempSync(NodePath.join(Os.tmpdir(), `kd-${prefix}-`))

/** Writes `environments/<name>.json` under `dir` and returns the environments directory. */
export const writeEnvironment = (dir: string, name: string, file: unknown): string => {
  const environments = NodePath.join(dir, "environments")
  Fs.mkdirSync(environments, { recursive: true })
  Fs.writeFileSync(NodePath.join(environments, `${name.toLowerCase()}.json`), JSON.stringify(file, null, 2))
  return environments
}

/** An environment file for the local services over PLAINTEXT, writing under `dir`. */
export const localEnvironment = (dir: string, overrides: { kafka?: object; schemaRegistry?: object; stream?: object; secrets?: object } = {}) => ({
  environment: "It",
  kafka: {
    bootstrapServers: process.env["KAFKA_BOOTSTRAP"],
    securityProtocol: "PLAINTEXT",
    caFile: null,
    topicPrefix: "",
    groupIdPrefix: "kafka-delta-it",
    ...overrides.kafka
  },
  schemaRegistry: { url: process.env["SCHEMA_REGISTRY_URL"], ...overrides.schemaRegistry },
  secrets: { scope: "it", provider: "env", ...overrides.secrets },
  delta: { warehouse: NodePath.join(dir, "lakehouse"), catalog: "it", schema: "raw" },
  checkpoints: NodePath.join(dir, "checkpoints"),
  stream: {
    startingOffsets: "earliest",
    failOnDataLoss: true,
    maxBatchRecords: 100,
    maxBatchInterval: "1 second",
    onBadRecord: "fail",
    retry: { initialDelay: "100 millis", maxDelay: "1 second", maxAttempts: 3 },
    ...overrides.stream
  }
})

/** Runs `kafka-delta <args>` to completion. */
export const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}, timeoutMs = 180_000) => {
  const started = Date.now()
  const result = spawnSync(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), ...args], {
    cwd: root,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env },
    encoding: "utf8",
    timeout: timeoutMs
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, ms: Date.now() - started }
}

/** What the producer reports. */
export interface ProducedSummary {
  readonly schema_id: number
  readonly records: ReadonlyArray<{ i: number; key: string; partition: number; offset: number; value: Record<string, unknown> }>
}

/** Produces `count` generated records of `schema` with the official confluent-kafka AvroSerializer. */
export const produce = (options: {
  topic: string
  schema: object
  count: number
  start?: number
  partitions: number
  dir: string
}): ProducedSummary => {
  const schemaFile = NodePath.join(options.dir, `schema-${options.start ?? 0}.avsc`)
  const summaryFile = NodePath.join(options.dir, `produced-${options.start ?? 0}.json`)
  Fs.writeFileSync(schemaFile, JSON.stringify(options.schema))
  const result = spawnSync(python(), [
    NodePath.join(root, "scripts/produce_avro.py"),
    "--topic", options.topic,
    "--schema", schemaFile,
    "--count", String(options.count),
    "--start", String(options.start ?? 0),
    "--partitions", String(options.partitions),
    "--include-values",
    "--summary", summaryFile
  ], { encoding: "utf8", timeout: 120_000 })
  if (result.status !== 0) throw new Error(`producer failed: ${result.stderr}`)
  return JSON.parse(Fs.readFileSync(summaryFile, "utf8")) as ProducedSummary
}

/** A table as delta-rs reads it (see scripts/delta-readers/read_table.py for the value forms). */
export interface TableRead {
  readonly version: number
  readonly numRows: number
  readonly schema: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Record<string, unknown>>
  readonly txn: Readonly<Record<string, number | null>>
  readonly history: ReadonlyArray<{ version: number; operation: string }>
}

/** Reads the table at `location` with delta-rs, with the txn versions of `appIds` (an s3:// table with `storageOptions`). */
export const readTable = (location: string, appIds: ReadonlyArray<string> = [], storageOptions?: Readonly<Record<string, string>>): TableRead => {
  const result = spawnSync(python(), [NodePath.join(root, "scripts/delta-readers/read_table.py"), location, ...appIds], {
    encoding: "utf8",
    ...(storageOptions === undefined ? {} : { env: { ...process.env, DELTA_STORAGE_OPTIONS: JSON.stringify(storageOptions) } }),
    maxBuffer: 512 * 1024 * 1024,
    timeout: 120_000
  })
  if (result.status !== 0) throw new Error(`delta-rs could not read ${location}: ${result.stderr}`)
  return JSON.parse(result.stdout) as TableRead
}
