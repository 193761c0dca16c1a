/**
 * The start of a session: reads what the checkpoint, the table, the dead-letter table and Kafka hold, plans
 * where each partition starts (positions.ts), stops on data loss under `failOnDataLoss` (else reports it),
 * records the start positions that came from `startingOffsets`, and reports the start line. What must outlive a
 * retried session of the same run (the available-now targets, positions resolved from startingOffsets) is kept in
 * a `RunState` the run owns.
 */
import type * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import { CheckpointStore } from "../services/CheckpointStore.ts"
import type { JobConfig } from "../services/Config.ts"
import { DeltaSink } from "../services/DeltaSink.ts"
import { KafkaSource, type PartitionOffsets } from "../services/KafkaSource.ts"
import type { CommittedPositions } from "./commit.ts"
import { DataLossError, type Rewind } from "./errors.ts"
import { ownedTxns } from "./group.ts"
import { appIdPrefixOf, deadLetterPositions, landedPlan, nextBatchIdOf, plannedStarts, planStart, startRanges, streamIdentity } from "./positions.ts"
import type { StartPlan } from "./positions.ts"
import type { ProgressReporter } from "./progress.ts"

/** What outlives a retried session within one run. */
export interface RunState {
  /** Available-now: the offsets drained to, seen when the run started. */
  targets?: Map<number, number>
  /** Positions resolved from startingOffsets by an earlier session. */
  resolved?: ReadonlyMap<number, number>
  /** Partitions whose log was truncated below our position, where they resume (see `Rewind`). */
  rewound?: Map<number, Rewind>
}

/** Where a session starts. */
export interface SessionStart {
  readonly plan: StartPlan
  /** The partitions' offsets in Kafka at the start. */
  readonly partitions: ReadonlyArray<PartitionOffsets>
  /** Positions the tables hold; the committer owns and updates them. */
  readonly committed: CommittedPositions
  readonly tableSchema: Arrow.Schema | undefined
  /** Available-now: the offset each partition drains to (undefined for a continuous run). */
  readonly targets: ReadonlyMap<number, number> | undefined
  readonly nextBatchId: number
  /** Offsets found lost at the start (tolerated under `failOnDataLoss: false`). */
  readonly lostOffsets: number
}

/**
 * Reads the positions and plans the start of a session of `job`; with `owned` (group mode), of those partitions
 * only.
 */
export const startSession = (job: JobConfig, reporter: ProgressReporter, run: RunState, owned?: ReadonlySet<number>) =>
  Effect.gen(function*() {
    const source = yield* KafkaSource
    const sink = yield* DeltaSink
    const checkpoint = yield* CheckpointStore
    const prefix = appIdPrefixOf(job.streamId)

    const state = yield* checkpoint.read
    const tableTxns = ownedTxns(job.streamId, yield* sink.txnVersions(job.table, prefix), owned)
    // a crash between the Delta commit and the commit mark: the batch is in the table, so it is marked done (at the
    // table's version now, which holds its txns) before the next batch is planned
    const landed = landedPlan(state, job.streamId, tableTxns)
    const version = landed === undefined ? Option.none() : yield* sink.version(job.table)
    if (landed !== undefined && Option.isSome(version)) {
      yield* checkpoint.commit({ batchId: landed.batchId, deltaVersion: version.value, committedAt: Date.now() })
    }
    const adopted = yield* streamIdentity(job)
    const deadLetterTxns = ownedTxns(job.streamId, yield* sink.txnVersions(job.deadLetterTable, prefix), owned)
    const tableSchema = yield* sink.schema(job.table)
    const topicPartitions = yield* source.offsets(job.kafkaTopic)
    const partitions = owned === undefined ? topicPartitions : topicPartitions.filter((range) => owned.has(range.partition))
    const plan = planStart({
      streamId: job.streamId,
      topics: [job.kafkaTopic, job.topic],
      txnVersions: tableTxns,
      partitions,
      startingOffsets: job.stream.startingOffsets,
      adopted,
      resolved: new Map([...plannedStarts(state, job.kafkaTopic, job.streamId, tableTxns), ...(run.resolved ?? [])]),
      rewound: run.rewound ??= new Map()
    })
    run.resolved = plan.resolved
    let lostOffsets = 0
    for (const lost of plan.lost) {
      if (job.stream.failOnDataLoss) {
        return yield* new DataLossError({ topic: job.kafkaTopic, partition: lost.partition, expected: lost.expected, available: lost.available })
      }
      lostOffsets += lost.lostOffsets
      yield* reporter.dataLoss({ topic: job.kafkaTopic, ...lost })
    }
    const deadLetters = deadLetterPositions(job.streamId, deadLetterTxns, partitions, plan.positions)
    const committed: CommittedPositions = {
      table: new Map(plan.committed),
      deadLetterTable: deadLetters.table,
      deadLetterRewound: deadLetters.rewound,
      rewound: run.rewound
    }
    const availableNow = job.stream.trigger === "available-now"
    // available-now drains to the offsets seen when the run started, also when a session is retried
    run.targets ??= new Map(topicPartitions.map((range) => [range.partition, range.latest]))
    const targets = availableNow ? run.targets : undefined
    const nextBatchId = nextBatchIdOf(state, job.streamId, tableTxns)
    const unrecorded = startRanges(plan, state)
    if (unrecorded !== undefined) yield* checkpoint.plan({ batchId: nextBatchId, topic: job.kafkaTopic, ranges: unrecorded, plannedAt: Date.now() })
    yield* reporter.start({ job, positions: plan.positions, origins: plan.origins, targets })
    const start: SessionStart = { plan, partitions, committed, tableSchema: Option.getOrUndefined(tableSchema), targets, nextBatchId, lostOffsets }
    return start
  })
