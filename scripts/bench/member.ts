/**
 * The `kafka-delta` command line as `npm run bench -- --members` starts it: src/cli/bin.ts unchanged (same node
 * tuning, same `main`), plus one line on stderr at exit with the run's commit conflicts and batch commits, read
 * from the process's own metrics. The conflicts are not in the `--progress json` objects nor the log lines yet
 * (only `kafka_delta_commit_conflicts_total` has them, and a scrape of /metrics cannot see the last commit of an
 * available-now run), so this is how the bench counts them per member.
 */
import { Effect, Metric } from "effect"

/** Marks the stderr line this wrapper writes at exit (members.ts looks for it). */
const marker = "[bench-member]"

const count = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>, id: string): number =>
  snapshots.filter((s) => s.id === id && s.type === "Counter").reduce((sum, s) => sum + Number((s.state as { count: number | bigint }).count), 0)

process.on("exit", () => {
  // the metrics live in the default registry, which a fresh runSync sees as the run did
  const snapshots = Effect.runSync(Metric.snapshot)
  process.stderr.write(`${marker} ${JSON.stringify({
    conflicts: count(snapshots, "kafka_delta_commit_conflicts_total"),
    batchesCommitted: count(snapshots, "kafka_delta_batches_committed_total"),
    recordsWritten: count(snapshots, "kafka_delta_records_written_total")
  })}\n`)
})

await import("../../src/cli/bin.ts")
