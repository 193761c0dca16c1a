/**
 * The fault suite's harness: a scenario's temp directory and environment file, the real `kafka-delta` process as
 * a child (run to the end, or started and killed), the official confluent-kafka producer whose delivery reports
 * say which (partition, offset) each record got, the independent delta-rs checker (scripts/faults/check_table.py),
 * the Kafka admin script, and the rows of reports/faults.md.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { assert } from "vitest"

/** The repository root. */
export const root = NodePath.resolve(import.meta.dirname, "../../..")

/** The venv interpreter with confluent-kafka and deltalake. */
export const python = (): string => process.env["PYTHON"] ?? NodePath.join(root, ".cache/venv/bin/python")

/** Fails, naming the command that starts them, when the local services' details are not in the environment. */
export const requireServices = (): { bootstrap: string; registryUrl: string } => {
  const bootstrap = process.env["KAFKA_BOOTSTRAP"] ?? ""
  const registryUrl = process.env["SCHEMA_REGISTRY_URL"] ?? ""
  if (bootstrap === "" || registryUrl === "") {
    throw new Error("the fault suite needs the local Kafka and registry: start them with `bash scripts/services.sh up` (KAFKA_BOOTSTRAP / SCHEMA_REGISTRY_URL are unset)")
  }
  const status = spawnSync("bash", [NodePath.join(root, "scripts/services.sh"), "status"], { encoding: "utf8" })
  if (status.status !== 0) throw new Error(`local services are not all up (start them with \`bash scripts/services.sh up\`):\n${status.stdout}${status.stderr}`)
  return { bootstrap, registryUrl }
}

/** The Avro schema most scenarios produce. */
export const eventSchema = {
  type: "record",
  name: "Event",
  namespace: "faults",
  fields: [
    { name: "id", type: "long" },
    { name: "name", type: "string" },
    { name: "amount", type: "double" },
    { name: "tags", type: { type: "array", items: "string" } }
  ]
}

/** What a producer run reports: every record with the partition and offset of its delivery report. */
export interface Produced {
  readonly file: string
  readonly count: number
  readonly records: ReadonlyArray<{ readonly i: number; readonly partition: number; readonly offset: number; readonly kind?: string }>
}

/** One scenario: its topic, directory, environment file and the paths the job writes. */
export interface Scenario {
  readonly name: string
  readonly dir: string
  readonly topic: string
  readonly environmentsDir: string
  readonly table: string
  readonly deadLetterTable: string
  readonly checkpoint: string
  readonly produced: Array<Produced>
}

/** Creates a scenario with a fresh topic and temp directory; `stream`/`delta` override the environment file's sections. */
export const scenario = (name: string, overrides: { stream?: object; delta?: object; topic?: string; registryUrl?: string } = {}): Scenario => {
  const services = requireServices()
  const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), `kd-faults-${name}-`))
  const topic = overrides.topic ?? `faults_${name.replace(/[^a-z0-9]/g, "_")}_${randomUUID().slice(0, 8)}`
  const environmentsDir = NodePath.join(dir, "environments")
  Fs.mkdirSync(environmentsDir)
  const delta = { warehouse: NodePath.join(dir, "lakehouse"), catalog: "faults", schema: "raw", ...overrides.delta }
  Fs.writeFileSync(NodePath.join(environmentsDir, "faults.json"), JSON.stringify({
    environment: "Faults",
    kafka: { bootstrapServers: services.bootstrap, securityProtocol: "PLAINTEXT", caFile: null, topicPrefix: "", groupIdPrefix: "kd-faults" },
    schemaRegistry: { url: overrides.registryUrl ?? services.registryUrl },
    secrets: { scope: "faults", provider: "env" },
    delta,
    checkpoints: NodePath.join(dir, "checkpoints"),
    stream: {
      startingOffsets: "earliest",
      failOnDataLoss: true,
      maxBatchRecords: 2000,
      maxBatchInterval: "500 millis",
      onBadRecord: "fail",
      retry: { initialDelay: "200 millis", maxDelay: "2 seconds", maxAttempts: 30 },
      gracePeriod: "10 seconds",
      ...overrides.stream
    }
  }, null, 2))
  const tableName = (delta as { table?: string }).table ?? topic.toLowerCase().replace(/[^a-z0-9_]/g, "_")
  const table = NodePath.join(delta.warehouse, delta.catalog, delta.schema, tableName)
  return {
    name,
    dir,
    topic,
    environmentsDir,
    table,
    deadLetterTable: `${table}_dead_letter`,
    checkpoint: NodePath.join(dir, "checkpoints", `Faults_${topic}`),
    produced: []
  }
}

/** The `kafka-delta run` arguments of a scenario. */
export const runArgs = (s: Scenario, trigger: "continuous" | "available-now", topic = s.topic): Array<string> =>
  ["run", "--environment", "Faults", "--environments-dir", s.environmentsDir, "--topic", topic, "--trigger", trigger]

/** A running `kafka-delta` process. */
export interface Running {
  readonly child: ChildProcess
  /** stderr so far (progress lines, warnings, the failure line). */
  readonly stderr: () => string
  readonly stdout: () => string
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>
  /** Resolves when stderr matches `pattern`; rejects after `timeoutMs` or when the process ends first. */
  /** Waits until `pattern` matches stderr, or `pattern(stderr)` is true. */
  readonly waitFor: (pattern: RegExp | ((stderr: string) => boolean), timeoutMs?: number) => Promise<void>
}

/** Starts `kafka-delta <args>` with `env` added to a minimal environment. */
export const start = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Running => {
  const started = Date.now()
  const child = spawn(process.execPath, [NodePath.join(root, "src/cli/bin.ts"), ...args], {
    cwd: root,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let err = ""
  let out = ""
  const waiters: Array<() => void> = []
  child.stderr!.on("data", (chunk: Buffer) => {
    err += chunk.toString()
    for (const w of [...waiters]) w()
  })
  child.stdout!.on("data", (chunk: Buffer) => {
    out += chunk.toString()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) =>
    child.on("close", (code, signal) => {
      resolve({ code, signal, ms: Date.now() - started })
      for (const w of [...waiters]) w()
    })
  )
  const waitFor = (pattern: RegExp | ((stderr: string) => boolean), timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} in stderr:\n${err.slice(-3000)}`)), timeoutMs)
      const check = () => {
        if (typeof pattern === "function" ? pattern(err) : pattern.test(err)) done()
        else if (child.exitCode !== null || child.signalCode !== null) done(new Error(`process ended (${child.exitCode ?? child.signalCode}) before ${pattern}:\n${err.slice(-3000)}`))
      }
      const done = (error?: Error) => {
        clearTimeout(timer)
        const at = waiters.indexOf(check)
        if (at >= 0) waiters.splice(at, 1)
        if (error === undefined) resolve()
        else reject(error)
      }
      waiters.push(check)
      check()
    })
  return { child, stderr: () => err, stdout: () => out, exited, waitFor }
}

/** Runs `kafka-delta <args>` to its end; kills it (and fails) after `timeoutMs`. */
export const runToEnd = async (args: ReadonlyArray<string>, env: Record<string, string> = {}, timeoutMs = 180_000) => {
  const running = start(args, env)
  const timer = setTimeout(() => running.child.kill("SIGKILL"), timeoutMs)
  const exit = await running.exited
  clearTimeout(timer)
  return { status: exit.code, signal: exit.signal, stderr: running.stderr(), stdout: running.stdout(), ms: exit.ms }
}

/** Runs a python script of the repository to its end (async, so a kafka-delta child can run meanwhile). */
export const runPython = (script: string, args: ReadonlyArray<string>, timeoutMs = 300_000) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(python(), [NodePath.join(root, script), ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()))
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("close", (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })

let producedFiles = 0

/** Produces `count` records of `schema` with confluent-kafka's AvroSerializer; record i goes to partition i % partitions. */
export const produce = async (
  s: Scenario,
  options: { count: number; start?: number; partitions: number; schema?: object; topic?: string; registryUrl?: string }
): Promise<Produced> => {
  const n = producedFiles++
  const schemaFile = NodePath.join(s.dir, `schema-${n}.avsc`)
  const file = NodePath.join(s.dir, `produced-${n}.json`)
  Fs.writeFileSync(schemaFile, JSON.stringify(options.schema ?? eventSchema))
  const result = await runPython("scripts/produce_avro.py", [
    "--topic", options.topic ?? s.topic,
    "--schema", schemaFile,
    "--count", String(options.count),
    "--start", String(options.start ?? 0),
    "--partitions", String(options.partitions),
    "--summary", file,
    ...(options.registryUrl === undefined ? [] : ["--registry-url", options.registryUrl])
  ])
  if (result.status !== 0) throw new Error(`producer failed: ${result.stderr}`)
  const produced = { file, ...JSON.parse(Fs.readFileSync(file, "utf8")) as { count: number; records: Produced["records"] } }
  assert.strictEqual(produced.count, options.count, "every record has a delivery report")
  s.produced.push(produced)
  return produced
}

/** Produces good records mixed with poison ones (scripts/faults/produce_poison.py). */
export const producePoison = async (s: Scenario, options: { count: number; partitions: number; every: number }): Promise<Produced> => {
  const file = NodePath.join(s.dir, `poison-${producedFiles++}.json`)
  const result = await runPython("scripts/faults/produce_poison.py", [
    "--topic", s.topic, "--count", String(options.count), "--partitions", String(options.partitions), "--every", String(options.every), "--summary", file
  ])
  if (result.status !== 0) throw new Error(`poison producer failed: ${result.stderr}`)
  const produced = { file, count: options.count, ...JSON.parse(Fs.readFileSync(file, "utf8")) as { records: Produced["records"] } }
  s.produced.push(produced)
  return produced
}

/** Produces records framed with `schemaId` without asking the registry (scripts/faults/produce_framed.py). */
export const produceFramed = async (s: Scenario, options: { count: number; start: number; partitions: number; schema: object; schemaId: number }): Promise<Produced> => {
  const n = producedFiles++
  const schemaFile = NodePath.join(s.dir, `schema-${n}.avsc`)
  const file = NodePath.join(s.dir, `framed-${n}.json`)
  Fs.writeFileSync(schemaFile, JSON.stringify(options.schema))
  const result = await runPython("scripts/faults/produce_framed.py", [
    "--topic", s.topic, "--schema", schemaFile, "--schema-id", String(options.schemaId),
    "--count", String(options.count), "--start", String(options.start), "--partitions", String(options.partitions), "--summary", file
  ])
  if (result.status !== 0) throw new Error(`framed producer failed: ${result.stderr}`)
  const produced = { file, ...JSON.parse(Fs.readFileSync(file, "utf8")) as { count: number; records: Produced["records"] } }
  s.produced.push(produced)
  return produced
}

/** What the independent checker found. */
export interface Check {
  readonly rows: number
  readonly expected: number
  readonly duplicates: number
  readonly duplicateSample: ReadonlyArray<[string, number, number]>
  readonly missing: number
  readonly missingSample: ReadonlyArray<[string, number, number]>
  readonly unexpected: number
  readonly unexpectedSample: ReadonlyArray<[string, number, number]>
  /** The table's version; null when it does not exist yet (allowed only when no row is expected in it). */
  readonly version: number | null
  readonly txn: Record<string, number | null>
  readonly expectedTxn: Record<string, number>
  readonly txnOk: boolean
  /** Base names of the data files the table's snapshot references (delta-rs `file_uris`). */
  readonly files: ReadonlyArray<string>
  readonly deadLetter?: Omit<Check, "version" | "txn" | "expectedTxn" | "txnOk" | "deadLetter" | "files">
}

/** Reads the scenario's table with delta-rs and compares it with everything produced (scripts/faults/check_table.py). */
export const check = async (
  s: Scenario,
  options: { deadLetter?: boolean; lost?: Record<string, readonly [number, number]>; produced?: ReadonlyArray<Produced>; table?: string; uptoTxn?: boolean } = {}
): Promise<Check> => {
  const args = ["--table", options.table ?? s.table, "--environment", "Faults"]
  for (const p of options.produced ?? s.produced) args.push("--produced", p.file)
  if (options.deadLetter === true) args.push("--dead-letter", s.deadLetterTable)
  // "topic/partition" -> [from, until): offsets deleted before the stream read them
  for (const [where, [from, until]] of Object.entries(options.lost ?? {})) args.push("--lost", `${where}:${from}-${until}`)
  if (options.uptoTxn === true) args.push("--upto-txn")
  const result = await runPython("scripts/faults/check_table.py", args)
  if (result.status !== 0) throw new Error(`delta-rs checker failed on ${options.table ?? s.table}: ${result.stderr}`)
  return JSON.parse(result.stdout) as Check
}

/** Asserts exactly-once: every expected (partition, offset) once, nothing else, txn versions at the next offsets. */
export const assertExactlyOnce = (c: Check, what = "table") => {
  assert.strictEqual(c.duplicates, 0, `${what}: duplicates, e.g. ${JSON.stringify(c.duplicateSample)}`)
  assert.strictEqual(c.missing, 0, `${what}: missing (gaps), e.g. ${JSON.stringify(c.missingSample)}`)
  assert.strictEqual(c.unexpected, 0, `${what}: rows nobody produced, e.g. ${JSON.stringify(c.unexpectedSample)}`)
  assert.strictEqual(c.rows, c.expected, `${what}: row count`)
  assert.deepStrictEqual(c.txn, c.expectedTxn, `${what}: txn versions are the next offsets`)
}

/** Runs scripts/kafka-admin.sh with `args`. */
export const kafkaAdmin = (args: ReadonlyArray<string>): string => {
  const result = spawnSync("bash", [NodePath.join(root, "scripts/kafka-admin.sh"), ...args], { cwd: root, encoding: "utf8", timeout: 120_000 })
  if (result.status !== 0) throw new Error(`kafka-admin.sh ${args.join(" ")} failed: ${result.stderr}${result.stdout}`)
  return result.stdout
}

/** Runs `bash scripts/services.sh <args>` with `env` added. */
export const services = (args: ReadonlyArray<string>, env: Record<string, string> = {}): string => {
  const result = spawnSync("bash", [NodePath.join(root, "scripts/services.sh"), ...args], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 300_000
  })
  if (result.status !== 0) throw new Error(`services.sh ${args.join(" ")} failed: ${result.stderr}`)
  return result.stderr + result.stdout
}

/** Files `kafka-delta vacuum --dry-run` lists for `table`. */
export const vacuumDryRun = async (table: string): Promise<Array<string>> => {
  const result = await runToEnd(["vacuum", "--table", table, "--dry-run"])
  assert.strictEqual(result.status, 0, result.stderr)
  return result.stdout.split("\n").filter((line) => line.startsWith("would delete ")).map((line) => line.slice("would delete ".length).replace(/ \(\d+ bytes[^)]*\)$/, ""))
}

/** Parquet files under a table directory (not in the log), relative to the table. */
export const dataFiles = (table: string): Array<string> => {
  if (!Fs.existsSync(table)) return []
  return (Fs.readdirSync(table, { recursive: true }) as Array<string>).filter((f) => f.endsWith(".parquet") && !f.startsWith("_delta_log"))
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** One row of reports/faults.md. */
export interface ReportRow {
  readonly scenario: string
  readonly produced: number
  readonly inTable: number
  readonly duplicates: number
  readonly gaps: number
  readonly restarts: number
  readonly seconds: number
  readonly notes?: string
}

/** Where scenarios append their rows; test/faults/report-setup.ts renders them into reports/faults.md. */
export const reportRows = NodePath.join(root, "reports", "faults-rows.jsonl")

/** Appends a row for reports/faults.md. */
export const report = (row: ReportRow) => {
  Fs.mkdirSync(NodePath.dirname(reportRows), { recursive: true })
  Fs.appendFileSync(reportRows, `${JSON.stringify(row)}\n`)
}

/** A report row from a check. */
export const reportCheck = (s: Scenario, c: Check, restarts: number, started: number, notes?: string) =>
  report({
    scenario: s.name,
    produced: s.produced.reduce((n, p) => n + p.count, 0),
    inTable: c.rows,
    duplicates: c.duplicates,
    gaps: c.missing,
    restarts,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    ...(notes === undefined ? {} : { notes })
  })

/** Counts of committed batches in a run's stderr ("batch N -> version V"). */
export const batchLines = (stderr: string): number => (stderr.match(/^.*batch \d+ -> version \d+/gm) ?? []).length
