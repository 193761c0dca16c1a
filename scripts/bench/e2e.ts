/**
 * `npm run bench`: kafka-delta against Spark Structured Streaming on the same machine, data and trigger.
 *
 * Per pair: N demo records are produced to a fresh 6-partition topic (confluent-kafka, pre-encoded bodies framed
 * with the id the registry gave the schema), then `kafka-delta run --trigger available-now` and a PySpark job
 * (Kafka source, `from_avro` after stripping the Confluent header, availableNow, Delta sink) each drain it into
 * their own table, in alternating order; delta-rs then checks both tables hold the same rows. After the pairs,
 * the ceilings (scripts/bench/ceilings.ts) run on the last topic, and optionally a backlog run checks that
 * kafka-delta's peak RSS stays under a bound. Writes reports/bench.json and reports/bench.md.
 *
 * Options (flags or env): --n / BENCH_N (2,000,000), --pairs / BENCH_PAIRS (3), --quick (200k records, 2 pairs),
 * --partitions (6), --no-spark, --no-ceilings, --backlog=N / BENCH_BACKLOG (0: no backlog run),
 * --rss-bound-mib (512), --max-batch-records (1,000,000), --max-batch-bytes (default of the job config),
 * --node-flags="..." (extra flags for kafka-delta's node, e.g. --cpu-prof), --keep (keep tables and topics),
 * --tag=name (the report files are reports/bench[-name].{json,md}), --topic=name (reuse a topic kept by an earlier
 * --keep run instead of producing one: it must hold the --n records, or the --backlog records for a backlog run;
 * it is never deleted).
 *
 * Kafka clients: --clients runs only kafka-delta, once with each `kafka.client` (kafkajs, platformatic) per round,
 * in rotating order, on one topic per codec of --codecs (default none,lz4,zstd: the producer's compression.type),
 * and reports each client's records/s, CPU seconds per million records and peak RSS per codec, with its ratios to
 * kafkajs and to its own uncompressed rate (reports/bench-clients[-tag].{json,md}). --checkout=<dir> runs the
 * kafka-delta of another checkout (e.g. a copy of this one, so editing the tree meanwhile cannot change the runs).
 *
 * Side by side: --compare="label=<checkout>[:ENV=value...];label2=..." runs only kafka-delta, once per variant per
 * round on the same topic, in rotating order (each checkout with its own src/, e.g. a `git worktree` of an older
 * commit; "." is this one), and reports each variant's medians and its ratio to the first.
 *
 * Group mode: --members runs only kafka-delta, per round on one fresh topic: 1 member, then 2 members started
 * together (alternating which goes first), both `stream.scaleOut: "group"` and available-now, each into a fresh
 * table; reports records/s, CPU, peak RSS per member and commit conflicts per commit (scripts/bench/members.ts).
 *
 * Storage: --storage=s3 runs only kafka-delta, per round once into the local filesystem and once into the local
 * S3-compatible server (`services.sh up s3`; KAFKA_DELTA_TEST_S3_ENDPOINT), table and checkpoint both there, in
 * alternating order on the same topic, and reports the medians, the throughput ratio S3/local and peak RSS.
 */
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { ensureBodies, schemaFile } from "./data.ts"
import { type Measured, measure } from "./measure.ts"
import { clientsBench } from "./clients.ts"
import { membersBench } from "./members.ts"
import { type EngineRun, type PairResult, writeReports } from "./report.ts"

const root = NodePath.resolve(import.meta.dirname, "../..")
const args = new Map(process.argv.slice(2).map((arg) => {
  const [key, ...rest] = arg.replace(/^--/, "").split("=")
  return [key!, rest.length === 0 ? "true" : rest.join("=")] as const
}))
const option = (name: string, env: string, fallback: string): string => args.get(name) ?? process.env[env] ?? fallback
const quick = args.has("quick")
const options = {
  n: Number(option("n", "BENCH_N", quick ? "200000" : "2000000")),
  pairs: Number(option("pairs", "BENCH_PAIRS", quick ? "2" : "3")),
  partitions: Number(option("partitions", "BENCH_PARTITIONS", "6")),
  spark: !args.has("no-spark") && process.env["BENCH_SPARK"] !== "0",
  ceilings: !args.has("no-ceilings") && process.env["BENCH_CEILINGS"] !== "0",
  backlog: Number(option("backlog", "BENCH_BACKLOG", "0")),
  rssBoundMiB: Number(option("rss-bound-mib", "BENCH_RSS_BOUND_MIB", "512")),
  maxBatchRecords: Number(option("max-batch-records", "BENCH_MAX_BATCH_RECORDS", "1000000")),
  maxBatchBytes: option("max-batch-bytes", "BENCH_MAX_BATCH_BYTES", ""),
  nodeFlags: option("node-flags", "BENCH_NODE_FLAGS", "").split(" ").filter((f) => f.length > 0),
  keep: args.has("keep"),
  tag: option("tag", "BENCH_TAG", ""),
  topic: option("topic", "BENCH_TOPIC", ""),
  storage: option("storage", "BENCH_STORAGE", ""),
  clients: args.has("clients"),
  members: args.has("members"),
  codecs: option("codecs", "BENCH_CODECS", "none,lz4,zstd").split(",").filter((c) => c.length > 0),
  checkout: NodePath.resolve(root, option("checkout", "BENCH_CHECKOUT", "."))
}

// the services' connection settings, unless the caller exported them already
if (process.env["SCHEMA_REGISTRY_URL"] === undefined || process.env["PYTHON"] === undefined) {
  const lines = execFileSync("bash", [NodePath.join(root, "scripts/services.sh"), "env"], { encoding: "utf8" }).split("\n")
  for (const line of lines) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim())
    if (match !== null) process.env[match[1]!] = match[2]!.replace(/^["']|["']$/g, "")
  }
}
const bootstrap = process.env["KAFKA_BOOTSTRAP"] ?? "127.0.0.1:9092"
const registry = process.env["SCHEMA_REGISTRY_URL"]!
const python = process.env["PYTHON"] ?? NodePath.join(root, ".cache/venv/bin/python")
const runId = `${new Date().toISOString().replace(/[-:T.Z]/g, "").slice(0, 14)}_${process.pid}`
const workDir = NodePath.join(root, ".tmp/bench", runId)
Fs.mkdirSync(workDir, { recursive: true })
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`)

const json = <A>(text: string): A => JSON.parse(text.trim().split("\n").filter((l) => l.startsWith("{")).at(-1) ?? "null") as A

const produce = async (topic: string, n: number, compression = "none") => {
  const bodies = await ensureBodies(n)
  if (options.topic !== "") return { schemaId: -1, records: n, bytes: bodies.bytes, seconds: 0 } // reused, not produced
  const out = execFileSync(python, [NodePath.join(root, "scripts/bench/produce.py"), bootstrap, registry, topic, schemaFile(), bodies.file, String(options.partitions), compression], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 * 1024 * 1024
  })
  return json<{ schemaId: number; records: number; bytes: number; seconds: number }>(out)
}

const deleteTopic = (topic: string) => {
  if (options.topic !== "") return // a reused topic belongs to the caller
  try {
    execFileSync(python, ["-c", `from confluent_kafka.admin import AdminClient\nimport sys\n[f.result(60) for f in AdminClient({"bootstrap.servers": sys.argv[1]}).delete_topics([sys.argv[2]]).values()]`, bootstrap, topic], { stdio: "ignore" })
  } catch { /* the broker may have been restarted (wiped) meanwhile */ }
}

/** The local S3-compatible server's settings (scripts/services.sh env). */
const s3 = {
  endpoint: process.env["KAFKA_DELTA_TEST_S3_ENDPOINT"] ?? "http://127.0.0.1:9000",
  accessKeyId: process.env["KAFKA_DELTA_TEST_S3_ACCESS_KEY_ID"] ?? "kd-test",
  secretAccessKey: process.env["KAFKA_DELTA_TEST_S3_SECRET_ACCESS_KEY"] ?? "kd-test-secret"
}

/** How a run differs from the default one: more `stream` keys, another entry point, its own log file name. */
export interface RunShape {
  readonly stream?: Record<string, unknown>
  readonly entry?: string
  readonly log?: string
  readonly args?: ReadonlyArray<string>
  /** Receives the run's stdout and stderr (e.g. its `--progress json` lines). */
  readonly output?: (stdout: string, stderr: string) => void
}

const runKafkaDelta = async (topic: string, dir: string, variant?: Variant, bucket?: string, shape: RunShape = {}): Promise<EngineRun> => {
  const environments = NodePath.join(dir, "environments")
  Fs.mkdirSync(environments, { recursive: true })
  Fs.writeFileSync(NodePath.join(environments, "bench.json"), JSON.stringify({
    environment: "Bench",
    kafka: { bootstrapServers: bootstrap, securityProtocol: "PLAINTEXT", caFile: null, topicPrefix: "", groupIdPrefix: "kafka-delta-bench" },
    schemaRegistry: { url: registry },
    secrets: { scope: "bench", provider: "env" },
    delta: { warehouse: bucket === undefined ? NodePath.join(dir, "lakehouse") : `s3://${bucket}/lakehouse`, catalog: "bench", schema: "raw" },
    checkpoints: bucket === undefined ? NodePath.join(dir, "checkpoints") : `s3://${bucket}/checkpoints`,
    ...(bucket === undefined ? {} : {
      storage: { s3: { endpoint: s3.endpoint, forcePathStyle: true, region: "us-east-1", accessKeyId: { secret: "s3-key" }, secretAccessKey: { secret: "s3-secret" } } }
    }),
    stream: {
      startingOffsets: "earliest",
      failOnDataLoss: true,
      maxBatchRecords: options.maxBatchRecords,
      ...(options.maxBatchBytes === "" ? {} : { maxBatchBytes: Number(options.maxBatchBytes) }),
      maxBatchInterval: "5 seconds",
      onBadRecord: "fail",
      ...shape.stream
    }
  }, null, 2))
  const measured = await measure([
    process.execPath,
    ...options.nodeFlags,
    shape.entry ?? NodePath.join(variant?.root ?? root, "src/cli/bin.ts"),
    "run", "--environment", "Bench", "--environments-dir", environments, "--topic", topic, "--trigger", "available-now", ...shape.args ?? []
  ], {
    cwd: dir,
    log: NodePath.join(dir, shape.log ?? "kafka-delta.log"),
    env: { ...process.env, ...variant?.env, KAFKA_DELTA_SECRET_BENCH_S3_KEY: s3.accessKeyId, KAFKA_DELTA_SECRET_BENCH_S3_SECRET: s3.secretAccessKey }
  })
  if (measured.exitCode !== 0) throw new Error(`kafka-delta failed (${measured.exitCode}): ${measured.stderr.slice(-2000)}`)
  shape.output?.(measured.stdout, measured.stderr)
  return { ...figures(measured), table: NodePath.join(dir, "lakehouse/bench/raw", topic.toLowerCase()) }
}

const runSpark = async (topic: string, dir: string): Promise<EngineRun> => {
  Fs.mkdirSync(dir, { recursive: true })
  const table = NodePath.join(dir, "table")
  const measured = await measure([python, NodePath.join(root, "scripts/bench/spark_job.py"), bootstrap, topic, schemaFile(), table, NodePath.join(dir, "checkpoint")], {
    cwd: dir,
    log: NodePath.join(dir, "spark.log")
  })
  if (measured.exitCode !== 0) throw new Error(`spark failed (${measured.exitCode}): ${measured.stderr.slice(-2000)}`)
  const inner = json<{ sessionSeconds: number; querySeconds: number }>(measured.stdout)
  return { ...figures(measured), table, sessionSeconds: inner.sessionSeconds, querySeconds: inner.querySeconds }
}

const figures = (m: Measured) => ({ wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, peakRssBytes: m.peakRssBytes })

const verify = (a: string, b: string) => {
  try {
    return json<{ same: boolean; kafkaDelta: { rows: number; files: number; commits: number; checksum: string }; spark: { rows: number; files: number; commits: number; checksum: string } }>(
      execFileSync(python, [NodePath.join(root, "scripts/bench/verify.py"), a, b], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
    )
  } catch (error) {
    const out = (error as { stdout?: string }).stdout ?? ""
    throw new Error(`tables differ: ${out || String(error)}`)
  }
}

const pair = async (index: number, attempt: number): Promise<PairResult> => {
  const topic = options.topic || `bench_${runId}_p${index}_${attempt}`
  const produced = await produce(topic, options.n)
  log(`pair ${index + 1}: produced ${produced.records} records (${(produced.bytes / 1e6).toFixed(1)} MB) to ${topic} in ${produced.seconds}s, schema id ${produced.schemaId}`)
  const dir = NodePath.join(workDir, `pair${index}_${attempt}`)
  const order: Array<"kafkaDelta" | "spark"> = options.spark ? (index % 2 === 0 ? ["kafkaDelta", "spark"] : ["spark", "kafkaDelta"]) : ["kafkaDelta"]
  const runs: Partial<Record<"kafkaDelta" | "spark", EngineRun>> = {}
  for (const engine of order) {
    runs[engine] = engine === "kafkaDelta" ? await runKafkaDelta(topic, NodePath.join(dir, "kd")) : await runSpark(topic, NodePath.join(dir, "spark"))
    log(`pair ${index + 1}: ${engine} ${runs[engine]!.wallSeconds.toFixed(1)}s wall, ${runs[engine]!.cpuSeconds.toFixed(1)} CPU-s, ${(runs[engine]!.peakRssBytes / 2 ** 20).toFixed(0)} MiB`)
  }
  let check: ReturnType<typeof verify> | undefined
  if (runs.spark !== undefined) {
    check = verify(runs.kafkaDelta!.table, runs.spark.table)
    runs.kafkaDelta!.files = check.kafkaDelta.files
    runs.kafkaDelta!.commits = check.kafkaDelta.commits
    runs.spark.files = check.spark.files
    runs.spark.commits = check.spark.commits
    log(`pair ${index + 1}: same rows (${check.kafkaDelta.rows}, checksum ${check.kafkaDelta.checksum})`)
  }
  return { topic, order, produced, kafkaDelta: runs.kafkaDelta!, spark: runs.spark, checksum: check?.kafkaDelta.checksum, rows: check?.kafkaDelta.rows }
}

interface Variant {
  readonly label: string
  readonly root: string
  readonly env: Record<string, string>
}
const variants: Array<Variant> = option("compare", "BENCH_COMPARE", "").split(";").filter((v) => v.includes("=")).map((spec) => {
  const [label, rest] = [spec.slice(0, spec.indexOf("=")), spec.slice(spec.indexOf("=") + 1)]
  const [checkout, ...envs] = rest.split(":")
  return { label: label!, root: NodePath.resolve(root, checkout!), env: Object.fromEntries(envs.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])) }
})

const compare = async () => {
  const runs = new Map<string, Array<EngineRun>>(variants.map((v) => [v.label, []]))
  let produced: { records: number; bytes: number } | undefined
  for (let round = 0, attempt = 1; round < options.pairs; round++) {
    const topic = options.topic || `bench_${runId}_c${round}_${attempt}`
    const done: Array<[string, EngineRun]> = []
    try {
      produced = await produce(topic, options.n)
      for (let k = 0; k < variants.length; k++) {
        const variant = variants[(k + round) % variants.length]!
        const run = await runKafkaDelta(topic, NodePath.join(workDir, `c${round}_${attempt}`, variant.label), variant)
        done.push([variant.label, run])
        log(`round ${round + 1}: ${variant.label} ${run.wallSeconds.toFixed(1)}s wall, ${run.cpuSeconds.toFixed(1)} CPU-s, ${(run.peakRssBytes / 2 ** 20).toFixed(0)} MiB`)
        if (!options.keep) Fs.rmSync(run.table, { recursive: true, force: true })
      }
    } catch (error) {
      // a broker restart by someone's fault suite: the round is run again, whole, on a fresh topic
      if (attempt >= 2) throw error
      log(`round ${round + 1} failed (${String(error).slice(0, 300)}); rerunning it`)
      attempt++
      round--
      continue
    }
    attempt = 1
    for (const [label, run] of done) runs.get(label)!.push(run)
    if (!options.keep) deleteTopic(topic)
  }
  const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
  const rows = variants.map((v) => {
    const list = runs.get(v.label)!
    return { label: v.label, wall: med(list.map((r) => r.wallSeconds)), walls: list.map((r) => r.wallSeconds), cpu: med(list.map((r) => r.cpuSeconds)), rss: med(list.map((r) => r.peakRssBytes)) / 2 ** 20 }
  })
  const first = rows[0]!
  const lines = [
    `## Side by side (run ${runId}): ${options.n.toLocaleString("en")} records, ${options.pairs} rounds, medians`,
    "",
    `Command: \`npm run bench -- ${process.argv.slice(2).join(" ")}\``,
    "",
    "| variant | wall s (runs) | records/s | CPU s | peak RSS MiB | speed-up vs first |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.label} | ${r.wall.toFixed(1)} (${r.walls.map((w) => w.toFixed(1)).join(", ")}) | ${Math.round(produced!.records / r.wall).toLocaleString("en")} | ${r.cpu.toFixed(1)} | ${r.rss.toFixed(0)} | ${(first.wall / r.wall).toFixed(2)}× |`)
  ]
  const base = NodePath.join(root, "reports", options.tag === "" ? "bench-compare" : `bench-compare-${options.tag}`)
  Fs.mkdirSync(NodePath.dirname(base), { recursive: true })
  Fs.writeFileSync(`${base}.json`, JSON.stringify({ runId, options, variants, runs: Object.fromEntries(runs) }, null, 2))
  Fs.writeFileSync(`${base}.md`, `${lines.join("\n")}\n`)
  process.stdout.write(`${lines.join("\n")}\n`)
}

/** --storage=s3: the same topic drained into the local filesystem and into the local S3 server, per round. */
const storageCompare = async () => {
  const client = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } })
  const runs = { local: [] as Array<EngineRun>, s3: [] as Array<EngineRun> }
  let produced: { records: number; bytes: number } | undefined
  for (let round = 0; round < options.pairs; round++) {
    const topic = options.topic || `bench_${runId}_s${round}`
    produced = await produce(topic, options.n)
    const bucket = `kd-bench-${runId.replace(/_/g, "-")}-${round}`.toLowerCase()
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
    for (const where of round % 2 === 0 ? (["local", "s3"] as const) : (["s3", "local"] as const)) {
      const run = await runKafkaDelta(topic, NodePath.join(workDir, `s${round}`, where), undefined, where === "s3" ? bucket : undefined)
      runs[where].push(run)
      log(`round ${round + 1}: ${where} ${run.wallSeconds.toFixed(1)}s wall, ${run.cpuSeconds.toFixed(1)} CPU-s, ${(run.peakRssBytes / 2 ** 20).toFixed(0)} MiB`)
      if (!options.keep && where === "local") Fs.rmSync(run.table, { recursive: true, force: true })
    }
    if (!options.keep) deleteTopic(topic)
  }
  client.destroy()
  const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
  const row = (label: string, list: Array<EngineRun>) => ({ label, wall: med(list.map((r) => r.wallSeconds)), walls: list.map((r) => r.wallSeconds), cpu: med(list.map((r) => r.cpuSeconds)), rss: Math.max(...list.map((r) => r.peakRssBytes)) / 2 ** 20 })
  const local = row("local filesystem", runs.local)
  const remote = row("S3 (local moto server)", runs.s3)
  const lines = [
    `## Storage side by side (run ${runId}): ${options.n.toLocaleString("en")} records, ${options.pairs} rounds, medians`,
    "",
    `Command: \`npm run bench -- ${process.argv.slice(2).join(" ")}\``,
    "",
    "| storage | wall s (runs) | records/s | CPU s | peak RSS MiB (max) |",
    "|---|---|---|---|---|",
    ...[local, remote].map((r) => `| ${r.label} | ${r.wall.toFixed(1)} (${r.walls.map((w) => w.toFixed(1)).join(", ")}) | ${Math.round(produced!.records / r.wall).toLocaleString("en")} | ${r.cpu.toFixed(1)} | ${r.rss.toFixed(0)} |`),
    "",
    `S3 throughput / local throughput: ${(local.wall / remote.wall).toFixed(2)}x`
  ]
  const base = NodePath.join(root, "reports", options.tag === "" ? "bench-storage" : `bench-storage-${options.tag}`)
  Fs.mkdirSync(NodePath.dirname(base), { recursive: true })
  Fs.writeFileSync(`${base}.json`, JSON.stringify({ runId, options, runs }, null, 2))
  Fs.writeFileSync(`${base}.md`, `${lines.join("\n")}\n`)
  process.stdout.write(`${lines.join("\n")}\n`)
}

const main = async () => {
  if (options.clients) {
    if (options.topic !== "") throw new Error("--clients produces one topic per codec: it cannot reuse --topic")
    return clientsBench({
      root, runId, workDir, options, command: process.argv.slice(2).join(" "), log, deleteTopic,
      produce: (topic, n, codec) => produce(topic, n, codec),
      run: (topic, dir, variant) => runKafkaDelta(topic, dir, variant)
    })
  }
  if (options.members) {
    if (options.topic !== "") throw new Error("--members produces one topic per round: it cannot reuse --topic")
    return membersBench({
      root, runId, workDir, options, command: process.argv.slice(2).join(" "), log,
      produce: (topic, n) => produce(topic, n),
      deleteTopic,
      run: (topic, dir, shape) => runKafkaDelta(topic, dir, undefined, undefined, shape),
      verify
    })
  }
  if (variants.length > 0) return compare()
  if (options.storage === "s3") return storageCompare()
  if (options.storage !== "") throw new Error(`--storage=${options.storage}: only s3 is supported`)
  log(`run ${runId}: ${options.n} records x ${options.pairs} pairs, ${options.partitions} partitions${options.spark ? "" : ", no Spark"}`)
  const pairs: Array<PairResult> = []
  for (let i = 0; i < options.pairs; i++) {
    let result: PairResult | undefined
    for (let attempt = 1; result === undefined; attempt++) {
      try {
        result = await pair(i, attempt)
      } catch (error) {
        // the fault suite of other engineers may restart the broker: rerun the pair once
        if (attempt >= 2) throw error
        log(`pair ${i + 1} failed (${String(error).slice(0, 400)}); rerunning it`)
      }
    }
    pairs.push(result)
    if (i < options.pairs - 1 || !options.ceilings) cleanup(result)
  }
  let ceilings: unknown
  if (options.ceilings) {
    const last = pairs.at(-1)!
    const out = execFileSync(process.execPath, [NodePath.join(root, "scripts/bench/ceilings.ts"), `--topic=${last.topic}`, `--n=${Math.min(options.n, 1_000_000)}`], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, KAFKA_BOOTSTRAP: bootstrap }
    })
    ceilings = json(out)
    cleanup(last)
  }
  let backlog: unknown
  if (options.backlog > 0) {
    const topic = options.topic || `bench_${runId}_backlog`
    const produced = await produce(topic, options.backlog)
    log(`backlog: produced ${produced.records} records to ${topic} in ${produced.seconds}s`)
    const run = await runKafkaDelta(topic, NodePath.join(workDir, "backlog"))
    backlog = { records: produced.records, bytes: produced.bytes, ...run, boundBytes: options.rssBoundMiB * 2 ** 20, withinBound: run.peakRssBytes < options.rssBoundMiB * 2 ** 20 }
    log(`backlog: ${run.wallSeconds.toFixed(1)}s, peak RSS ${(run.peakRssBytes / 2 ** 20).toFixed(0)} MiB (bound ${options.rssBoundMiB} MiB)`)
    if (!options.keep) {
      deleteTopic(topic)
      Fs.rmSync(NodePath.join(workDir, "backlog", "lakehouse"), { recursive: true, force: true })
    }
  }
  const files = writeReports(NodePath.join(root, "reports"), options.tag, { runId, options, command: process.argv.slice(2).join(" "), pairs, ceilings, backlog })
  log(`wrote ${files.join(", ")}`)
  process.stdout.write(Fs.readFileSync(files[1]!, "utf8"))
}

const cleanup = (result: PairResult) => {
  if (options.keep) return
  deleteTopic(result.topic)
  for (const run of [result.kafkaDelta, result.spark]) if (run !== undefined) Fs.rmSync(run.table, { recursive: true, force: true })
}

await main()
