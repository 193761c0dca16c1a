/**
 * `npm run bench -- --members`: what group mode's coordination costs. Per round, one topic is produced, then drained
 * in group mode (available-now) into a fresh table by 1 member and, into another fresh table, by 2 members started
 * together, in alternating order. Reports per configuration the records/s (all records over the wall time until the
 * last member exits), CPU seconds (summed over the members), peak RSS per member, and the Delta commit conflicts per
 * commit (races lost to the other member and retried inside the commit); delta-rs checks that both tables hold
 * every offset exactly once. Writes reports/bench-members[-tag].{json,md}.
 */
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import type { EngineRun } from "./report.ts"

/** What e2e.ts hands this mode. */
export interface MembersContext {
  readonly root: string
  readonly runId: string
  readonly workDir: string
  readonly options: { readonly n: number; readonly pairs: number; readonly partitions: number; readonly keep: boolean; readonly tag: string }
  readonly command: string
  readonly log: (line: string) => void
  readonly produce: (topic: string, n: number) => Promise<{ readonly records: number; readonly bytes: number; readonly seconds: number }>
  readonly deleteTopic: (topic: string) => void
  readonly run: (topic: string, dir: string, shape: {
    readonly stream: Record<string, unknown>
    readonly entry: string
    readonly log: string
    readonly args: ReadonlyArray<string>
    readonly output: (stdout: string, stderr: string) => void
  }) => Promise<EngineRun>
  /** delta-rs: both tables hold the same rows, every (partition, offset) once. */
  readonly verify: (a: string, b: string) => { readonly kafkaDelta: { readonly rows: number; readonly commits: number }; readonly spark: { readonly rows: number; readonly commits: number } }
}

/** One member's run. */
interface MemberRun extends EngineRun {
  readonly records: number
  /** Progress objects with a table version: the member's Delta commits. */
  readonly progressCommits: number
  /** Conflicts summed over the progress objects, when they carry them; else from the member's metrics at exit. */
  readonly conflicts: number
  readonly conflictsFrom: "progress" | "metrics"
}

/** One configuration's drain of one topic. */
interface Drain {
  readonly members: number
  readonly wallSeconds: number
  readonly runs: ReadonlyArray<MemberRun>
  readonly table: string
  readonly tableCommits?: number
  readonly rows?: number
}

/** The prefix of member.ts's line at exit (not imported: importing member.ts would start a run). */
const marker = "[bench-member]"

const parseMember = (run: EngineRun, stdout: string, stderr: string): MemberRun => {
  const progress = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { numInputRows: number; sink: { tableVersion: number | null }; conflicts?: number })
  const fromProgress = progress.some((p) => typeof p.conflicts === "number")
  const exitLine = stderr.split("\n").find((l) => l.startsWith(marker))
  const metrics = exitLine === undefined ? undefined : JSON.parse(exitLine.slice(marker.length)) as { conflicts: number }
  if (!fromProgress && metrics === undefined) throw new Error(`a member printed neither conflicts in its progress nor the ${marker} line`)
  return {
    ...run,
    records: progress.reduce((sum, p) => sum + p.numInputRows, 0),
    progressCommits: progress.filter((p) => p.sink.tableVersion !== null).length,
    conflicts: fromProgress ? progress.reduce((sum, p) => sum + (p.conflicts ?? 0), 0) : metrics!.conflicts,
    conflictsFrom: fromProgress ? "progress" : "metrics"
  }
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const fmt = (value: number, digits: number) => value.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** Runs the mode and writes its reports. */
export const membersBench = async (ctx: MembersContext): Promise<void> => {
  const drains: Array<{ round: number; topic: string; records: number; bytes: number; order: Array<number>; one: Drain; two: Drain }> = []
  for (let round = 0, attempt = 1; round < ctx.options.pairs; round++) {
    const topic = `bench_${ctx.runId}_m${round}_${attempt}`
    const order = round % 2 === 0 ? [1, 2] : [2, 1]
    try {
      const produced = await ctx.produce(topic, ctx.options.n)
      ctx.log(`round ${round + 1}: produced ${produced.records} records to ${topic} (${ctx.options.partitions} partitions)`)
      const done = new Map<number, Drain>()
      for (const members of order) {
        const dir = NodePath.join(ctx.workDir, `m${round}_${attempt}`, `members${members}`)
        const started = performance.now()
        const runs = await Promise.all(Array.from({ length: members }, (_, i) => {
          let output: [string, string] = ["", ""]
          return ctx.run(topic, dir, {
            // a group of its own per drain: the other configuration's mirrored offsets stay out of it
            stream: { scaleOut: "group", groupId: `kafka-delta-bench-${ctx.runId}-m${round}-${attempt}-${members}` },
            entry: NodePath.join(ctx.root, "scripts/bench/member.ts"),
            log: `member${i + 1}.log`,
            args: ["--progress", "json"],
            output: (stdout, stderr) => (output = [stdout, stderr])
          }).then((run) => parseMember(run, ...output))
        }))
        const drain: Drain = { members, wallSeconds: (performance.now() - started) / 1000, runs, table: runs[0]!.table }
        done.set(members, drain)
        ctx.log(`round ${round + 1}: ${members} member(s) ${drain.wallSeconds.toFixed(1)}s wall, ${runs.map((r) => `${r.records} records ${r.progressCommits} commits ${r.conflicts} conflicts ${r.cpuSeconds.toFixed(1)} CPU-s ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`).join("; ")}`)
      }
      const one = done.get(1)!
      const two = done.get(2)!
      const check = ctx.verify(one.table, two.table)
      if (check.kafkaDelta.rows !== produced.records) throw new Error(`the 1-member table holds ${check.kafkaDelta.rows} rows, not ${produced.records}`)
      ctx.log(`round ${round + 1}: both tables hold the ${produced.records} offsets once (delta-rs); table commits ${check.kafkaDelta.commits} and ${check.spark.commits}`)
      drains.push({
        round, topic, records: produced.records, bytes: produced.bytes, order,
        one: { ...one, tableCommits: check.kafkaDelta.commits, rows: check.kafkaDelta.rows },
        two: { ...two, tableCommits: check.spark.commits, rows: check.spark.rows }
      })
      if (!ctx.options.keep) {
        for (const drain of [one, two]) Fs.rmSync(drain.table, { recursive: true, force: true })
        ctx.deleteTopic(topic)
      }
      attempt = 1
    } catch (error) {
      // a broker restart by someone's fault suite: the round is run again, whole, on a fresh topic
      if (attempt >= 2) throw error
      ctx.log(`round ${round + 1} failed (${String(error).slice(0, 400)}); rerunning it`)
      attempt++
      round--
    }
  }

  const rows = [1, 2].map((members) => {
    const list = drains.map((d) => (members === 1 ? d.one : d.two))
    // the table's commits, not the members' progress objects: a commit that lands while its member is being
    // revoked is in the table but reported by no one (see the mode's report)
    const commits = list.reduce((sum, d) => sum + (d.tableCommits ?? 0), 0)
    const reported = list.reduce((sum, d) => sum + d.runs.reduce((s, r) => s + r.progressCommits, 0), 0)
    const conflicts = list.reduce((sum, d) => sum + d.runs.reduce((s, r) => s + r.conflicts, 0), 0)
    return {
      members,
      walls: list.map((d) => d.wallSeconds),
      wall: median(list.map((d) => d.wallSeconds)),
      rate: median(drains.map((d) => d.records / (members === 1 ? d.one : d.two).wallSeconds)),
      cpu: median(list.map((d) => d.runs.reduce((s, r) => s + r.cpuSeconds, 0))),
      rssPerMember: Math.max(...list.flatMap((d) => d.runs.map((r) => r.peakRssBytes))) / 2 ** 20,
      commitsPerDrain: median(list.map((d) => d.tableCommits ?? 0)),
      conflicts,
      commits,
      reported,
      conflictsPerCommit: commits === 0 ? 0 : conflicts / commits,
      conflictsFrom: [...new Set(list.flatMap((d) => d.runs.map((r) => r.conflictsFrom)))].join(", ")
    }
  })
  const first = drains[0]
  const lines = [
    `## Group mode: 1 and 2 members on the same topic (run ${ctx.runId})`,
    "",
    `${first?.records.toLocaleString("en") ?? "?"} demo records, ${ctx.options.partitions} partitions, ${drains.length} round(s) in alternating order; medians (runs). ` +
      "Group mode, available-now, from earliest, each configuration into a fresh table; the members of a drain start together and the wall time runs until the last one exits (start-up included). " +
      "Figures are side by side in one run on a shared 2-core machine, not absolute.",
    `Command: \`npm run bench -- ${ctx.command}\``,
    "",
    "| members | wall s (runs) | records/s | CPU s (all members) | peak RSS per member MiB (max) | table commits per drain | conflicts / table commits (all rounds) | conflicts per commit | commits reported by the members |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows.map((r) =>
      `| ${r.members} | ${fmt(r.wall, 1)} (${r.walls.map((w) => fmt(w, 1)).join(", ")}) | ${fmt(r.rate, 0)} | ${fmt(r.cpu, 1)} | ${fmt(r.rssPerMember, 0)} | ${fmt(r.commitsPerDrain, 0)} | ${r.conflicts} / ${r.commits} | ${fmt(r.conflictsPerCommit, 2)} | ${r.reported} |`
    ),
    "",
    `2 members / 1 member, records/s: ${fmt(rows[1]!.rate / rows[0]!.rate, 2)}×; CPU seconds: ${fmt(rows[1]!.cpu / rows[0]!.cpu, 2)}×. ` +
      `Conflicts counted from: ${rows.map((r) => r.conflictsFrom).join(" / ")} (the members' \`kafka_delta_commit_conflicts_total\` at exit when the progress objects do not carry them). ` +
      `delta-rs: both tables of every round hold every offset exactly once (${drains.map((d) => `${d.one.rows} and ${d.two.rows} rows`).join("; ")}).`
  ]
  const base = NodePath.join(ctx.root, "reports", ctx.options.tag === "" ? "bench-members" : `bench-members-${ctx.options.tag}`)
  Fs.mkdirSync(NodePath.dirname(base), { recursive: true })
  Fs.writeFileSync(`${base}.json`, JSON.stringify({ runId: ctx.runId, options: ctx.options, command: ctx.command, rows, drains }, null, 2))
  Fs.writeFileSync(`${base}.md`, `${lines.join("\n")}\n`)
  process.stdout.write(`${lines.join("\n")}\n`)
}
