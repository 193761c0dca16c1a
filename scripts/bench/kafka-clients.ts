/**
 * Kafka client fetch ceiling, side by side: kafkajs (what kafka-delta uses) against @confluentinc/kafka-javascript
 * (librdkafka underneath, its KafkaJS-compatible API), each consuming one topic from the start with a fresh group
 * and dropping the records (value bytes are only summed), as ceilings.ts's "kafkajs fetch, records dropped" does.
 * Nothing is decoded: this is the most either client can hand the JS main thread. A diagnostic variant,
 * confluent-rdkafka, reads through the package's lower, node-rdkafka-style API (KafkaConsumer.consume(n, cb) in a
 * loop, same tuning), to show what the KafkaJS-compatible layer itself costs.
 *
 * Every run is its own process (clean RSS and JIT), in alternating order, `--rounds` times. Per run:
 * - window: from consumer.run() (connected, subscribed) to the last record, i.e. group join + fetch (the local
 *   broker has no initial rebalance delay); total adds connect and subscribe;
 * - process CPU seconds (process.cpuUsage) over the window and in total, split per thread from /proc/self/task:
 *   the JS main thread, librdkafka's own threads (rdk:*) and the rest (V8 GC helpers, libuv pool);
 * - the main thread's event-loop utilisation over the window (performance.eventLoopUtilization);
 * - peak RSS (process.resourceUsage().maxRSS).
 * Writes reports/kafka-clients.md (medians with min-max, ratios to kafkajs) and prints one JSON line.
 *
 * The confluent client is not a project dependency: install it with scripts/bench/install-confluent-client.sh and
 * point CONFLUENT_KAFKA_JS at the package directory (default: .cache/confluent-client/node_modules/...).
 *
 *   node scripts/bench/kafka-clients.ts [--n=1000000] [--partitions=6] [--rounds=3]
 *     [--variants=kafkajs,confluent,confluent-tuned] [--topic=<existing topic holding the records>] [--keep]
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as NodePath from "node:path"
import { performance } from "node:perf_hooks"

const root = NodePath.resolve(import.meta.dirname, "../..")
const args = new Map(process.argv.slice(2).map((arg) => {
  const [key, ...rest] = arg.replace(/^--/, "").split("=")
  return [key!, rest.length === 0 ? "true" : rest.join("=")] as const
}))
const bootstrap = process.env["KAFKA_BOOTSTRAP"] ?? "127.0.0.1:9092"
const confluentPath = process.env["CONFLUENT_KAFKA_JS"] ??
  NodePath.join(root, ".cache/confluent-client/node_modules/@confluentinc/kafka-javascript")
const log = (line: string) => process.stderr.write(`[kafka-clients] ${line}\n`)

const MiB = 1024 * 1024
/** ceilings.ts's kafkajs settings, and the same fetch sizes in librdkafka's terms. */
const FETCH = { maxBytes: 32 * MiB, maxBytesPerPartition: 4 * MiB, maxWaitTimeInMs: 500 }
const confluentMirror: Record<string, unknown> = {
  "fetch.max.bytes": FETCH.maxBytes,
  "max.partition.fetch.bytes": FETCH.maxBytesPerPartition,
  "fetch.wait.max.ms": FETCH.maxWaitTimeInMs
}
/** Throughput tuning: larger batches handed to JS, fuller fetches, a deeper prefetch queue. */
const confluentTuned: Record<string, unknown> = {
  ...confluentMirror,
  "js.consumer.max.batch.size": Number(process.env["CKJS_MAX_BATCH"] ?? 4096),
  "fetch.min.bytes": 1 * MiB,
  "queued.min.messages": 500_000,
  "queued.max.messages.kbytes": 256 * 1024
}
const variants: Record<string, { client: "kafkajs" | "confluent" | "confluent-rdkafka"; config: Record<string, unknown>; describe: string }> = {
  kafkajs: {
    client: "kafkajs",
    config: {},
    describe: "kafkajs: maxBytes 32 MiB, maxBytesPerPartition 4 MiB, maxWaitTimeInMs 500, eachBatch (as ceilings.ts)"
  },
  confluent: {
    client: "confluent",
    config: confluentMirror,
    describe: `confluent, mirrored: ${JSON.stringify(confluentMirror)}, eachBatch (default js.consumer.max.batch.size 32)`
  },
  "confluent-tuned": {
    client: "confluent",
    config: confluentTuned,
    describe: `confluent, tuned: ${JSON.stringify(confluentTuned)}, eachBatch`
  },
  "confluent-rdkafka": {
    client: "confluent-rdkafka",
    config: { ...confluentTuned, "js.consumer.max.batch.size": undefined },
    describe: `diagnostic, not the KafkaJS API: KafkaConsumer.consume(${Number(process.env["CKJS_MAX_BATCH"] ?? 4096)}, cb) in a loop with the tuned librdkafka properties`
  }
}

interface Run {
  readonly variant: string
  readonly records: number
  readonly bytes: number
  readonly totalSeconds: number
  readonly windowSeconds: number
  readonly firstBatchSeconds: number
  readonly totalCpu: number
  readonly windowCpu: number
  readonly threads: { readonly main: number; readonly rdkafka: number; readonly other: number }
  readonly elu: number
  readonly peakRssMiB: number
  readonly batches: number
}

// ---------------------------------------------------------------- one run (child process)

const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
/** CPU seconds per thread of this process, by group. */
const threadCpu = () => {
  const out = { main: 0, rdkafka: 0, other: 0 }
  for (const tid of Fs.readdirSync("/proc/self/task")) {
    try {
      const stat = Fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8")
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const seconds = (Number(fields[11]) + Number(fields[12])) / ticks
      if (Number(tid) === process.pid) out.main += seconds
      else if (name.startsWith("rdk:")) out.rdkafka += seconds
      else out.other += seconds
    } catch { /* a thread that ended meanwhile */ }
  }
  return out
}

const runOne = async (name: string, topic: string, total: number): Promise<Run> => {
  const variant = variants[name]
  if (variant === undefined) throw new Error(`unknown variant ${name}`)
  const groupId = `kafka-clients-${name}-${process.pid}-${Date.now()}`
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let seen = 0
  let bytes = 0
  let batches = 0
  let start: { t: number; cpu: NodeJS.CpuUsage; threads: ReturnType<typeof threadCpu>; elu: ReturnType<typeof performance.eventLoopUtilization> } | undefined
  let firstBatch = 0
  const started = () => (start = { t: performance.now(), cpu: process.cpuUsage(), threads: threadCpu(), elu: performance.eventLoopUtilization() })
  let done!: () => void
  const finished = new Promise<void>((resolve) => (done = resolve))
  const onBatch = (messages: ReadonlyArray<{ value: Buffer | null }>) => {
    if (batches === 0) firstBatch = performance.now()
    for (const message of messages) bytes += message.value?.length ?? 0
    seen += messages.length
    batches++
    if (seen >= total) done()
  }
  let stop: () => Promise<void>
  if (variant.client === "kafkajs") {
    const { Kafka, logLevel } = await import("kafkajs")
    const consumer = new Kafka({ brokers: [bootstrap], clientId: "kafka-clients-bench", logLevel: logLevel.NOTHING }).consumer({ groupId, ...FETCH })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    started()
    void consumer.run({ autoCommit: false, eachBatch: async ({ batch }) => onBatch(batch.messages) })
    stop = () => consumer.disconnect()
  } else if (variant.client === "confluent") {
    const { KafkaJS } = loadConfluent()
    const kafka = new KafkaJS.Kafka({ kafkaJS: { brokers: [bootstrap], clientId: "kafka-clients-bench", logLevel: KafkaJS.logLevel.NOTHING } })
    const consumer = kafka.consumer({ kafkaJS: { groupId, fromBeginning: true, autoCommit: false }, ...variant.config })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic] })
    started()
    void consumer.run({ eachBatch: async ({ batch }: { batch: { messages: Array<{ value: Buffer | null }> } }) => onBatch(batch.messages) })
    stop = () => consumer.disconnect()
  } else {
    const { KafkaConsumer } = loadConfluent()
    const config = Object.fromEntries(Object.entries(variant.config).filter(([, v]) => v !== undefined))
    const consumer = new KafkaConsumer({
      "bootstrap.servers": bootstrap, "group.id": groupId, "enable.auto.commit": false, "enable.auto.offset.store": false, ...config
    }, { "auto.offset.reset": "earliest" })
    await new Promise((resolve, reject) => consumer.connect({}, (error: unknown) => (error ? reject(error) : resolve(undefined))))
    consumer.subscribe([topic])
    started()
    const size = Number(process.env["CKJS_MAX_BATCH"] ?? 4096)
    const next = () => consumer.consume(size, (error: unknown, messages: Array<{ value: Buffer | null }>) => {
      if (error) throw error
      if (messages.length > 0) onBatch(messages)
      if (seen < total) next()
    })
    next()
    stop = () => new Promise((resolve) => consumer.disconnect(() => resolve()))
  }
  await finished
  const t1 = performance.now()
  const cpu1 = process.cpuUsage()
  const threads1 = threadCpu()
  const elu = performance.eventLoopUtilization(start!.elu)
  const seconds = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => (b.user - a.user + b.system - a.system) / 1e6
  const run: Run = {
    variant: name,
    records: seen,
    bytes,
    totalSeconds: (t1 - t0) / 1000,
    windowSeconds: (t1 - start!.t) / 1000,
    firstBatchSeconds: (firstBatch - start!.t) / 1000,
    totalCpu: seconds(cpu0, cpu1),
    windowCpu: seconds(start!.cpu, cpu1),
    threads: {
      main: threads1.main - start!.threads.main,
      rdkafka: threads1.rdkafka - start!.threads.rdkafka,
      other: threads1.other - start!.threads.other
    },
    elu: elu.utilization,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    batches
  }
  await Promise.race([stop(), new Promise((resolve) => setTimeout(resolve, 5000))])
  return run
}

const loadConfluent = () => {
  try {
    return createRequire(import.meta.url)(confluentPath)
  } catch (error) {
    process.stderr.write(`@confluentinc/kafka-javascript not available at ${confluentPath} (${String(error).split("\n")[0]}): run scripts/bench/install-confluent-client.sh or set CONFLUENT_KAFKA_JS\n`)
    process.exit(2)
  }
}

if (args.has("child")) {
  const run = await runOne(args.get("child")!, args.get("topic")!, Number(args.get("total")))
  process.stdout.write(`${JSON.stringify(run)}\n`)
  process.exit(0)
}

// ---------------------------------------------------------------- orchestration

const n = Number(args.get("n") ?? 1_000_000)
const partitions = Number(args.get("partitions") ?? 6)
const rounds = Number(args.get("rounds") ?? 3)
const chosen = (args.get("variants") ?? "kafkajs,confluent,confluent-tuned").split(",")
for (const name of chosen) if (variants[name] === undefined) throw new Error(`unknown variant ${name}; known: ${Object.keys(variants).join(", ")}`)
if (chosen.some((name) => variants[name]!.client === "confluent")) loadConfluent() // fail early, in one line

if (process.env["SCHEMA_REGISTRY_URL"] === undefined || process.env["PYTHON"] === undefined) {
  for (const line of execFileSync("bash", [NodePath.join(root, "scripts/services.sh"), "env"], { encoding: "utf8" }).split("\n")) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim())
    if (match !== null) process.env[match[1]!] ??= match[2]!.replace(/^["']|["']$/g, "")
  }
}
const python = process.env["PYTHON"] ?? NodePath.join(root, ".cache/venv/bin/python")
const pythonAdmin = (code: string, ...rest: Array<string>) =>
  execFileSync(python, ["-c", `from confluent_kafka.admin import AdminClient\nfrom confluent_kafka import Consumer, TopicPartition\nimport sys, json\n${code}`, bootstrap, ...rest], { encoding: "utf8" })

let topic = args.get("topic")
const own = topic === undefined
if (topic === undefined) {
  const { ensureBodies, schemaFile } = await import("./data.ts")
  const bodies = await ensureBodies(n)
  topic = `kafka_clients_${process.pid}_${Date.now()}`
  const out = execFileSync(python, [NodePath.join(root, "scripts/bench/produce.py"), bootstrap, process.env["SCHEMA_REGISTRY_URL"]!, topic, schemaFile(), bodies.file, String(partitions)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
  log(`produced to ${topic}: ${out.trim().split("\n").at(-1)}`)
}
const deleteTopic = () => {
  if (!own || args.has("keep")) return
  try {
    pythonAdmin(`a = AdminClient({"bootstrap.servers": sys.argv[1]})\n[f.result(60) for f in a.delete_topics([sys.argv[2]]).values()]`, topic!)
    log(`deleted ${topic}`)
  } catch (error) { log(`could not delete ${topic}: ${String(error)}`) }
}
process.on("SIGINT", () => { deleteTopic(); process.exit(130) })

// records in the topic (low..high watermarks of every partition)
const total = Number(pythonAdmin(
  `c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "kafka-clients-watermarks"})\n` +
    `md = c.list_topics(sys.argv[2], timeout=30).topics[sys.argv[2]]\n` +
    `print(sum(h - l for l, h in (c.get_watermark_offsets(TopicPartition(sys.argv[2], p), timeout=30) for p in md.partitions)))\nc.close()`,
  topic
).trim())
log(`${topic}: ${total.toLocaleString("en")} records; ${rounds} rounds of ${chosen.join(", ")}`)

const runs: Array<Run> = []
try {
  for (let round = 0; round < rounds; round++) {
    for (const name of chosen) {
      const child = spawnSync(process.execPath, [import.meta.filename, `--child=${name}`, `--topic=${topic}`, `--total=${total}`], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
        timeout: 300_000,
        env: { ...process.env, CONFLUENT_KAFKA_JS: confluentPath }
      })
      const line = child.stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1)
      if (child.status !== 0 || line === undefined) throw new Error(`${name} run failed (status ${child.status}, signal ${child.signal})`)
      const run = JSON.parse(line) as Run
      runs.push(run)
      log(`round ${round + 1} ${name}: ${Math.round(run.records / run.windowSeconds).toLocaleString("en")} rec/s in the window (${run.windowSeconds.toFixed(2)} s, total ${run.totalSeconds.toFixed(2)} s), CPU ${run.windowCpu.toFixed(2)} s (main ${run.threads.main.toFixed(2)}, rdk ${run.threads.rdkafka.toFixed(2)}, other ${run.threads.other.toFixed(2)}), ELU ${run.elu.toFixed(2)}, RSS ${run.peakRssMiB.toFixed(0)} MiB, ${run.batches} batches`)
    }
  }
} finally {
  deleteTopic()
}

// ---------------------------------------------------------------- report

const median = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
type Metric = { readonly label: string; readonly of: (r: Run) => number; readonly digits: number }
const metrics: Array<Metric> = [
  { label: "records/s (window)", of: (r) => r.records / r.windowSeconds, digits: 0 },
  { label: "MB/s of values (window)", of: (r) => r.bytes / 1e6 / r.windowSeconds, digits: 1 },
  { label: "window s (run() to last record)", of: (r) => r.windowSeconds, digits: 2 },
  { label: "  of which s to the first batch (join + first fetch)", of: (r) => r.firstBatchSeconds, digits: 2 },
  { label: "total s (connect + join + fetch)", of: (r) => r.totalSeconds, digits: 2 },
  { label: "process CPU-s (window)", of: (r) => r.windowCpu, digits: 2 },
  { label: "  main (JS) thread CPU-s", of: (r) => r.threads.main, digits: 2 },
  { label: "  librdkafka threads CPU-s", of: (r) => r.threads.rdkafka, digits: 2 },
  { label: "  other threads CPU-s (GC, libuv)", of: (r) => r.threads.other, digits: 2 },
  { label: "records per process CPU-s", of: (r) => r.records / r.windowCpu, digits: 0 },
  { label: "records per main-thread CPU-s", of: (r) => r.records / Math.max(r.threads.main, 0.01), digits: 0 },
  { label: "main-thread event-loop utilisation", of: (r) => r.elu, digits: 2 },
  { label: "process CPU-s (total)", of: (r) => r.totalCpu, digits: 2 },
  { label: "peak RSS MiB", of: (r) => r.peakRssMiB, digits: 0 },
  { label: "eachBatch calls", of: (r) => r.batches, digits: 0 }
]
const versionOf = (dir: string) => (JSON.parse(Fs.readFileSync(NodePath.join(dir, "package.json"), "utf8")) as { version: string }).version
const fmt = (x: number, digits: number) => x.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits })
const summary = chosen.map((name) => {
  const mine = runs.filter((r) => r.variant === name)
  return { name, values: metrics.map((m) => mine.map(m.of)) }
})
const base = summary[0]!
const command = `CONFLUENT_KAFKA_JS=${confluentPath.replace(root + "/", "")} node scripts/bench/kafka-clients.ts ${process.argv.slice(2).join(" ")}`.trim()
const records = runs[0]?.records ?? 0
const valueBytes = runs[0]?.bytes ?? 0
const lines = [
  "# Kafka clients: raw fetch ceiling, kafkajs vs @confluentinc/kafka-javascript",
  "",
  `${records.toLocaleString("en")} records (${(valueBytes / 1e6).toFixed(1)} MB of values, ${(valueBytes / Math.max(records, 1)).toFixed(0)} B each) in ${partitions} partitions on the local broker (PLAINTEXT, ${bootstrap}), read from the start by a fresh group and dropped; ` +
  `${rounds} rounds, variants alternating (${chosen.join(", ")}), each run its own process. Medians, min-max in brackets; ratio = median / ${base.name}'s median. ` +
  `Machine: ${process.env["BENCH_MACHINE"] ?? "2 cores, shared with other benchmarks (wall time is noisy, CPU seconds less so)"}; Node ${process.versions.node}; ` +
  `kafkajs ${versionOf(NodePath.join(root, "node_modules/kafkajs"))}` +
  (chosen.some((name) => variants[name]!.client === "confluent") ? `, @confluentinc/kafka-javascript ${versionOf(confluentPath)} (librdkafka ${(loadConfluent() as { librdkafkaVersion: string }).librdkafkaVersion})` : "") + ".",
  "",
  `Command: \`${command}\``,
  "",
  ...chosen.map((name) => `- **${name}**: ${variants[name]!.describe}`),
  "",
  `| metric | ${summary.map((s) => s.name).join(" | ")} | ${summary.slice(1).map((s) => `${s.name} / ${base.name}`).join(" | ")} |`,
  `| --- | ${summary.map(() => "---").join(" | ")} | ${summary.slice(1).map(() => "---").join(" | ")} |`,
  ...metrics.map((m, i) => `| ${m.label} | ${summary.map((s) => `${fmt(median(s.values[i]!), m.digits)} (${fmt(Math.min(...s.values[i]!), m.digits)}-${fmt(Math.max(...s.values[i]!), m.digits)})`).join(" | ")} | ${summary.slice(1).map((s) => median(base.values[i]!) === 0 ? "–" : `${(median(s.values[i]!) / median(base.values[i]!)).toFixed(2)}×`).join(" | ")} |`),
  "",
  "Window = from consumer.run() (connected and subscribed) to the last record: group join (this broker has group.initial.rebalance.delay.ms=0) and the fetch; total adds connect and subscribe. " +
  "Per-thread CPU comes from /proc/self/task over the window (clock ticks, 10 ms): librdkafka's fetching and protocol parsing run on its rdk:* threads; " +
  "the message objects handed to JS are built on the main thread in both clients: kafkajs decodes record batches in JS with key and value as views into the fetch response, " +
  "while the binding (KafkaConsumerConsumeNum::HandleOKCallback, Conversion::Message::ToV8Object) builds each message in C++ on the main thread, property by property, with value and key copied into new Buffers; " +
  "the KafkaJS-compatible layer then wraps each message again in JS (the GC load shows under other threads).",
  ""
]
const report = lines.join("\n")
if (!args.has("no-report")) {
  Fs.mkdirSync(NodePath.join(root, "reports"), { recursive: true })
  Fs.writeFileSync(NodePath.join(root, "reports/kafka-clients.md"), report)
}
process.stderr.write(`${report}\n`)
process.stdout.write(`${JSON.stringify({ topic, records, partitions, rounds, runs })}\n`)
process.exit(0)
