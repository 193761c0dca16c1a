/**
 * The plan of a switch from the notebook: from a Spark checkpoint and the txns of the table it wrote, the
 * position of every partition where kafka-delta continues, or why it must not. Spark's Delta sink commits each
 * batch with txn appId = the query id and version = the batch id, so the table itself says which batch it holds;
 * the checkpoint says which offsets that batch ended at. Pure: the CLI reads, plans, then commits.
 */
import { Schema } from "effect"
import type { TxnUpdate } from "../services/DeltaSink.ts"
import { appIdOf, partitionOfAppId } from "../pipeline/positions.ts"
import type { SparkCheckpoint } from "./spark-checkpoint.ts"

/** Why a migration is refused: each is fixed by a person, so the CLI exits with status 2. */
export type RefusalKind = "topic" | "no-batch" | "table-behind" | "table-ahead" | "own-positions" | "query-alive"

/** The migration must not go ahead; `message` says why and what to do. */
export class MigrationRefusedError extends Schema.TaggedError<MigrationRefusedError>()("MigrationRefusedError", {
  kind: Schema.Literals(["topic", "no-batch", "table-behind", "table-ahead", "own-positions", "query-alive"]),
  checkpoint: Schema.String,
  table: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot migrate ${this.checkpoint} into ${this.table}: ${this.reason}`
  }
}

/** Where kafka-delta continues, and why. */
export interface MigrationPlan {
  readonly queryId: string
  /** The batch the table holds last: its end offsets are the positions. */
  readonly batchId: number
  /** The table's txn version for the query id (>= batchId). */
  readonly tableVersion: number
  /** Batches planned in `offsets/` after `batchId` that the table does not hold: they are read again by kafka-delta. */
  readonly unwritten: ReadonlyArray<number>
  /** Next offset to read per partition. */
  readonly positions: ReadonlyMap<number, number>
  /** The txn actions of the migration commit. */
  readonly txns: ReadonlyArray<TxnUpdate>
  /** For commitInfo.operationParameters: where the positions came from. */
  readonly operationParameters: Readonly<Record<string, string>>
}

/** What the plan is made from. */
export interface PlanInput {
  readonly checkpoint: SparkCheckpoint
  /** The environment's Kafka topic (`topicPrefix + topic`). */
  readonly kafkaTopic: string
  readonly streamId: string
  readonly table: string
  /** Every txn of the table. */
  readonly txnVersions: ReadonlyMap<string, number>
}

/** Plans the migration commit, or refuses. */
export const planMigration = (input: PlanInput): MigrationPlan | MigrationRefusedError => {
  const { checkpoint } = input
  const refuse = (kind: RefusalKind, reason: string) =>
    new MigrationRefusedError({ kind, checkpoint: checkpoint.location, table: input.table, reason })
  const own = [...input.txnVersions.keys()].filter((appId) => partitionOfAppId(input.streamId, appId) !== undefined)
  if (own.length > 0) {
    return refuse(
      "own-positions",
      `the table already holds positions of stream ${input.streamId} (${own.sort().join(", ")}); it was migrated or run before, so \`kafka-delta run\` continues from there`
    )
  }
  const topics = new Set<string>()
  for (const entry of checkpoint.entries.values()) for (const topic of entry.offsets.keys()) topics.add(topic)
  for (const topic of checkpoint.initial?.keys() ?? []) topics.add(topic)
  const others = [...topics].filter((topic) => topic !== input.kafkaTopic)
  if (others.length > 0) {
    return refuse(
      "topic",
      `the Spark query read topic ${[...topics].sort().join(", ")}, but this environment's topic is ${input.kafkaTopic}; check --environment and --topic`
    )
  }
  const lastCommitted = checkpoint.committed.at(-1)
  const tableVersion = input.txnVersions.get(checkpoint.queryId)
  if (lastCommitted === undefined) {
    return refuse("no-batch", "the Spark query has not committed any batch; start with `kafka-delta run` and stream.startingOffsets instead")
  }
  if (tableVersion === undefined || tableVersion < lastCommitted) {
    return refuse(
      "table-behind",
      `the checkpoint's last committed batch is ${lastCommitted}, but the table's txn for Spark query ${checkpoint.queryId} is ${tableVersion === undefined ? "absent" : `at batch ${tableVersion}`}: the table does not hold what the checkpoint says was written (another table, or a restored one?)`
    )
  }
  // The Delta sink commits before Spark writes commits/N: a batch planned but not marked may still be in the table.
  const entry = checkpoint.entries.get(tableVersion)
  if (entry === undefined) {
    return refuse(
      "table-ahead",
      `the table's txn for Spark query ${checkpoint.queryId} is at batch ${tableVersion}, which the checkpoint never planned (last planned: ${checkpoint.planned.at(-1)}); is this the query's checkpoint?`
    )
  }
  const positions = new Map(entry.offsets.get(input.kafkaTopic) ?? [])
  if (positions.size === 0) return refuse("no-batch", `offsets/${tableVersion} holds no offsets of topic ${input.kafkaTopic}`)
  const sorted = [...positions].sort(([a], [b]) => a - b)
  return {
    queryId: checkpoint.queryId,
    batchId: tableVersion,
    tableVersion,
    unwritten: checkpoint.planned.filter((id) => id > tableVersion),
    positions: new Map(sorted),
    txns: sorted.map(([partition, offset]) => ({ appId: appIdOf(input.streamId, partition), version: offset, expected: undefined })),
    operationParameters: {
      migratedFrom: "spark-checkpoint",
      sparkCheckpoint: checkpoint.location,
      sparkQueryId: checkpoint.queryId,
      sparkBatchId: String(tableVersion),
      positions: JSON.stringify(Object.fromEntries(sorted.map(([p, o]) => [String(p), o])))
    }
  }
}

/** The plan as lines for people (the `--dry-run` output and the log of a migration). */
export const describePlan = (plan: MigrationPlan, streamId: string): ReadonlyArray<string> => [
  `Spark query ${plan.queryId}: the table holds batch ${plan.batchId}`,
  ...(plan.unwritten.length === 0 ? [] : [`planned but not in the table (read again by kafka-delta): batch ${plan.unwritten.join(", ")}`]),
  ...[...plan.positions].map(([partition, offset]) => `partition ${partition}: continue at offset ${offset} (txn ${appIdOf(streamId, partition)}=${offset})`)
]
