/**
 * The fault suite's report: clears the rows scenarios append (reports/faults-rows.jsonl) before the run, and
 * renders them into reports/faults.md after it — one row per scenario with records produced, records in the table,
 * duplicates, gaps, restarts and time.
 */
import * as Fs from "node:fs"
import * as NodePath from "node:path"

const root = NodePath.resolve(import.meta.dirname, "../..")
const rows = NodePath.join(root, "reports", "faults-rows.jsonl")
const markdown = NodePath.join(root, "reports", "faults.md")
let startedAt = 0

export const setup = (): void => {
  startedAt = Date.now()
  Fs.mkdirSync(NodePath.dirname(rows), { recursive: true })
  Fs.rmSync(rows, { force: true })
}

export const teardown = (): void => {
  const lines = Fs.existsSync(rows) ? Fs.readFileSync(rows, "utf8").split("\n").filter((l) => l.trim() !== "") : []
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, string | number>)
  const out = [
    "# kafka-delta fault suite",
    "",
    `Run ${new Date(startedAt).toISOString()}, ${Math.round((Date.now() - startedAt) / 1000)} s in all (\`npm run test:faults\`). ` +
      "Every table is read back with delta-rs (scripts/faults/check_table.py) and compared with the producer's delivery reports.",
    "",
    "| scenario | produced | in table | duplicates | gaps | restarts | time (s) | notes |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
    ...parsed.map((r) =>
      `| ${r["scenario"]} | ${r["produced"]} | ${r["inTable"]} | ${r["duplicates"]} | ${r["gaps"]} | ${r["restarts"]} | ${r["seconds"]} | ${String(r["notes"] ?? "").replace(/\|/g, "/")} |`
    ),
    ""
  ]
  Fs.writeFileSync(markdown, out.join("\n"))
}
