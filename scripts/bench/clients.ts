/**
 * `npm run bench -- --clients`: the two Kafka clients (`kafka.client`) end to end side by side, one topic per
 * producer `compression.type` (`--codecs`, default none,lz4,zstd), each client in turn with the order rotated per
 * round; reports records/s, CPU seconds per million records and peak RSS per codec and client. Writes
 * reports/bench-clients[-tag].{json,md}.
 */
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import type { EngineRun } from "./report.ts"

/** What e2e.ts hands this mode. */
export interface ClientsContext {
  readonly root: string
  readonly runId: string
  readonly workDir: string
  readonly options: {
    readonly n: number
    readonly pairs: number
    readonly partitions: number
    readonly keep: boolean
    readonly tag: string
    readonly codecs: ReadonlyArray<string>
    readonly checkout: string
  }
  readonly command: string
  readonly log: (line: string) => void
  readonly produce: (topic: string, n: number, codec: string) => Promise<{ readonly records: number; readonly bytes: number; readonly seconds: number }>
  readonly deleteTopic: (topic: string) => void
  /** One kafka-delta run of `topic` into `dir`, from the checkout and with the environment of `variant`. */
  readonly run: (topic: string, dir: string, variant: { readonly label: string; readonly root: string; readonly env: Record<string, string> }) => Promise<EngineRun>
}

const kafkaClients = ["kafkajs", "platformatic"] as const

/** Runs the clients mode and writes its report. */
export const clientsBench = async (context: ClientsContext) => {
  const { root, runId, workDir, options, log, deleteTopic, produce } = context
  type Row = { codec: string; client: string; runs: Array<EngineRun>; records: number }
  const rows: Array<Row> = options.codecs.flatMap((codec) => kafkaClients.map((client) => ({ codec, client, runs: [], records: 0 })))
  for (let round = 0; round < options.pairs; round++) {
    for (const codec of options.codecs) {
      for (let attempt = 1; ; attempt++) {
        const topic = `bench_${runId}_${codec}_r${round}_${attempt}`
        try {
          const produced = await produce(topic, options.n, codec)
          log(`round ${round + 1} ${codec}: produced ${produced.records} records (${(produced.bytes / 1e6).toFixed(1)} MB) in ${produced.seconds}s`)
          const done: Array<[string, EngineRun]> = []
          for (let k = 0; k < kafkaClients.length; k++) {
            const client = kafkaClients[(k + round) % kafkaClients.length]!
            const variant = { label: client, root: options.checkout, env: { KAFKA_DELTA_KAFKA_CLIENT: client } }
            const run = await context.run(topic, NodePath.join(workDir, `${codec}_r${round}_${attempt}`, client), variant)
            done.push([client, run])
            log(`round ${round + 1} ${codec}: ${client} ${run.wallSeconds.toFixed(1)}s wall, ${run.cpuSeconds.toFixed(1)} CPU-s, ${(run.peakRssBytes / 2 ** 20).toFixed(0)} MiB`)
            if (!options.keep) Fs.rmSync(run.table, { recursive: true, force: true })
          }
          for (const [client, run] of done) {
            const row = rows.find((r) => r.codec === codec && r.client === client)!
            row.runs.push(run)
            row.records = produced.records
          }
          if (!options.keep) deleteTopic(topic)
          break
        } catch (error) {
          // a broker restart by someone's fault suite: the codec's round is run again, whole, on a fresh topic
          if (attempt >= 2) throw error
          log(`round ${round + 1} ${codec} failed (${String(error).slice(0, 300)}); rerunning it`)
        }
      }
    }
  }
  const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
  const figures = rows.map((row) => {
    const wall = med(row.runs.map((r) => r.wallSeconds))
    const cpu = med(row.runs.map((r) => r.cpuSeconds))
    return { ...row, wall, rate: row.records / wall, cpuPerMillion: cpu / (row.records / 1e6), rss: med(row.runs.map((r) => r.peakRssBytes)) / 2 ** 20 }
  })
  const of = (codec: string, client: string) => figures.find((f) => f.codec === codec && f.client === client)!
  const base = options.codecs[0]!
  const lines = [
    `## Kafka clients side by side (run ${runId}): ${options.n.toLocaleString("en")} records, ${options.partitions} partitions, ${options.pairs} round(s), medians`,
    "",
    `Command: \`npm run bench -- ${context.command}\``,
    "",
    `| codec | client | wall s (runs) | records/s | CPU s per million records | peak RSS MiB | rate vs kafkajs | rate vs ${base} |`,
    "|---|---|---|---|---|---|---|---|",
    ...figures.map((f) =>
      `| ${f.codec} | ${f.client} | ${f.wall.toFixed(1)} (${f.runs.map((r) => r.wallSeconds.toFixed(1)).join(", ")}) | ${Math.round(f.rate).toLocaleString("en")} | ${f.cpuPerMillion.toFixed(1)} | ${f.rss.toFixed(0)} | ${(f.rate / of(f.codec, "kafkajs").rate).toFixed(2)}× | ${(f.rate / of(base, f.client).rate).toFixed(2)}× |`
    )
  ]
  const file = NodePath.join(root, "reports", options.tag === "" ? "bench-clients" : `bench-clients-${options.tag}`)
  Fs.mkdirSync(NodePath.dirname(file), { recursive: true })
  Fs.writeFileSync(`${file}.json`, JSON.stringify({ runId, options, rows: figures }, null, 2))
  Fs.writeFileSync(`${file}.md`, `${lines.join("\n")}\n`)
  process.stdout.write(`${lines.join("\n")}\n`)
}

