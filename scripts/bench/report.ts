/**
 * The benchmark's report: per-engine figures of every pair, medians with min–max, the kafka-delta / Spark ratio
 * of the medians, the ceilings and the backlog run, as reports/bench.json and a Markdown table reports/bench.md.
 */
import * as Fs from "node:fs"
import * as NodePath from "node:path"

/** One engine's run of one pair. */
export interface EngineRun {
  readonly wallSeconds: number
  readonly cpuSeconds: number
  readonly peakRssBytes: number
  readonly table: string
  files?: number
  commits?: number
  /** Spark only: SparkSession start-up (JVM, jars) and the streaming query itself. */
  readonly sessionSeconds?: number
  readonly querySeconds?: number
}

/** One pair: the same topic drained by both engines. */
export interface PairResult {
  readonly topic: string
  readonly order: ReadonlyArray<string>
  readonly produced: { readonly records: number; readonly bytes: number; readonly seconds: number; readonly schemaId: number }
  readonly kafkaDelta: EngineRun
  readonly spark: EngineRun | undefined
  readonly checksum: string | undefined
  readonly rows: number | undefined
}

interface Report {
  readonly runId: string
  readonly options: Record<string, unknown>
  readonly command: string
  readonly pairs: ReadonlyArray<PairResult>
  readonly ceilings: unknown
  readonly backlog: unknown
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

interface Stat {
  readonly median: number
  readonly min: number
  readonly max: number
}
const stat = (values: ReadonlyArray<number>): Stat | undefined =>
  values.length === 0 ? undefined : { median: median(values), min: Math.min(...values), max: Math.max(...values) }

type Metric = { readonly name: string; readonly of: (run: EngineRun, pair: PairResult) => number | undefined; readonly digits: number }
const metrics: ReadonlyArray<Metric> = [
  { name: "wall time (s)", of: (r) => r.wallSeconds, digits: 1 },
  { name: "records/s (wall)", of: (r, p) => p.produced.records / r.wallSeconds, digits: 0 },
  { name: "MB/s of Avro values (wall)", of: (r, p) => p.produced.bytes / 1e6 / r.wallSeconds, digits: 1 },
  { name: "CPU seconds (user+sys)", of: (r) => r.cpuSeconds, digits: 1 },
  { name: "records per CPU-second", of: (r, p) => p.produced.records / r.cpuSeconds, digits: 0 },
  { name: "peak RSS (MiB)", of: (r) => r.peakRssBytes / 2 ** 20, digits: 0 },
  { name: "Parquet files", of: (r) => r.files, digits: 0 },
  { name: "commits", of: (r) => r.commits, digits: 0 },
  { name: "Spark: session start-up (s)", of: (r) => r.sessionSeconds, digits: 1 },
  { name: "Spark: query only (s)", of: (r) => r.querySeconds, digits: 1 },
  { name: "records/s (Spark: query only)", of: (r, p) => (r.querySeconds === undefined ? undefined : p.produced.records / r.querySeconds), digits: 0 }
]

const fmt = (value: number, digits: number): string => value.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits })
const cell = (s: Stat | undefined, digits: number): string =>
  s === undefined ? "–" : s.min === s.max ? fmt(s.median, digits) : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`

/** Summarises the pairs per metric and engine. */
export const summarise = (pairs: ReadonlyArray<PairResult>) =>
  metrics.map((metric) => {
    const values = (engine: "kafkaDelta" | "spark") =>
      pairs.flatMap((p) => {
        const run = p[engine]
        const v = run === undefined ? undefined : metric.of(run, p)
        return v === undefined || !Number.isFinite(v) ? [] : [v]
      })
    const kd = stat(values("kafkaDelta"))
    const spark = stat(values("spark"))
    return { metric: metric.name, digits: metric.digits, kafkaDelta: kd, spark, ratio: kd !== undefined && spark !== undefined ? kd.median / spark.median : undefined }
  })

const ceilingLines = (ceilings: unknown): Array<string> => {
  if (typeof ceilings !== "object" || ceilings === null) return []
  const rows = (ceilings as { rows?: Array<{ stage: string; records: number; seconds: number; cpuSeconds: number; mbPerSecond: number; note?: string }> }).rows ?? []
  return [
    "",
    "### Ceilings (in-process, same data; one core unless noted)",
    "",
    "| stage | records/s | MB/s | records per CPU-s | note |",
    "|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.stage} | ${fmt(r.records / r.seconds, 0)} | ${fmt(r.mbPerSecond, 1)} | ${fmt(r.records / r.cpuSeconds, 0)} | ${r.note ?? ""} |`)
  ]
}

/** Writes reports/bench[-tag].json and .md; returns their paths. */
export const writeReports = (dir: string, tag: string, report: Report): Array<string> => {
  Fs.mkdirSync(dir, { recursive: true })
  const base = NodePath.join(dir, tag === "" ? "bench" : `bench-${tag}`)
  const summary = summarise(report.pairs)
  Fs.writeFileSync(`${base}.json`, JSON.stringify({ ...report, summary }, null, 2))
  const first = report.pairs[0]
  const lines = [
    `## kafka-delta vs Spark Structured Streaming (run ${report.runId})`,
    "",
    `${first?.produced.records.toLocaleString("en") ?? "?"} demo records (${first === undefined ? "?" : fmt(first.produced.bytes / first.produced.records, 0)} B per Avro value), ${String(report.options["partitions"])} partitions, ${report.pairs.length} pairs in alternating order; medians (min–max). ` +
      `Both engines: available-now, from earliest, into a fresh Delta table; wall time is the whole process (start-up included).`,
    `Command: \`npm run bench${report.command === "" ? "" : ` -- ${report.command}`}\``,
    "",
    "| figure | kafka-delta | Spark | kafka-delta / Spark |",
    "|---|---|---|---|",
    ...summary.map((s) => `| ${s.metric} | ${cell(s.kafkaDelta, s.digits)} | ${cell(s.spark, s.digits)} | ${s.ratio === undefined ? "–" : `${s.ratio.toFixed(2)}×`} |`),
    "",
    `Same rows in both tables (count, checksum of (partition, offset, order_id, amount, created_at, quantity), sorted equality of 13 columns): ${report.pairs.every((p) => p.checksum !== undefined) ? report.pairs.map((p) => `${p.rows} rows ${p.checksum}`).join("; ") : "not checked (no Spark run)"}.`,
    ...ceilingLines(report.ceilings)
  ]
  if (report.backlog !== undefined) {
    const b = report.backlog as { records: number; wallSeconds: number; cpuSeconds: number; peakRssBytes: number; boundBytes: number; withinBound: boolean }
    lines.push(
      "",
      "### Backlog run (kafka-delta only)",
      "",
      `${b.records.toLocaleString("en")} records: ${fmt(b.wallSeconds, 1)} s wall (${fmt(b.records / b.wallSeconds, 0)} records/s), ${fmt(b.cpuSeconds, 1)} CPU-s, ` +
        `peak RSS **${fmt(b.peakRssBytes / 2 ** 20, 0)} MiB** against a bound of ${fmt(b.boundBytes / 2 ** 20, 0)} MiB: ${b.withinBound ? "within" : "**over**"}.`
    )
  }
  Fs.writeFileSync(`${base}.md`, `${lines.join("\n")}\n`)
  return [`${base}.json`, `${base}.md`]
}
