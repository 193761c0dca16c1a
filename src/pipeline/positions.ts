/**
 * Where a run starts reading each partition, decided from what the table already holds (its txn versions),
 * the starting-offsets option (for partitions the table has never seen) and what Kafka still holds, and which
 * positions are data loss (below the log start, beyond the end, or in a partition that vanished); and whether the
 * table already holds the positions of this topic under another stream id (another environment's name).
 */
import { Effect, Schema } from "effect"
import type { StartingOffsets } from "../config/environment-file.ts"
import type { JobConfig } from "../services/Config.ts"
import { type DeltaReadError, DeltaSink } from "../services/DeltaSink.ts"
import type { BatchPlan, CheckpointState, PartitionRange } from "../services/CheckpointStore.ts"
import type { PartitionOffsets } from "../services/KafkaSource.ts"
import type { Rewind } from "./errors.ts"

/** The txn appId of a source partition: `<streamId>-p<partition>`. */
export const appIdOf = (streamId: string, partition: number): string => `${streamId}-p${partition}`

/** The prefix every appId of a stream starts with. */
export const appIdPrefixOf = (streamId: string): string => `${streamId}-p`

/** The partition an appId of `streamId` stands for, if it is one. */
export const partitionOfAppId = (streamId: string, appId: string): number | undefined => {
  const prefix = appIdPrefixOf(streamId)
  if (!appId.startsWith(prefix)) return undefined
  const text = appId.slice(prefix.length)
  return /^(0|[1-9][0-9]*)$/.test(text) ? Number(text) : undefined
}

/**
 * The table holds positions of this topic under another stream id while this stream has none: starting would
 * read the topic again from `startingOffsets` and write its records a second time. Fatal, a configuration matter.
 */
export class SecondStreamError extends Schema.TaggedError<SecondStreamError>()("SecondStreamError", {
  table: Schema.String,
  streamId: Schema.String,
  others: Schema.Array(Schema.String),
  /** What was wrong with `stream.adoptPositionsFrom`, when it was set. */
  adoptProblem: Schema.optional(Schema.String)
}) {
  override get message() {
    const others = this.others.map((id) => `"${id}"`).join(", ")
    const fix = `set stream.adoptPositionsFrom to ${this.others.length === 1 ? others : `one of ${others}`} to continue where it stopped, or stream.allowSecondStream to true to write a second copy deliberately`
    return this.adoptProblem !== undefined
      ? `table ${this.table}: stream.adoptPositionsFrom ${this.adoptProblem}; ${this.others.length === 0 ? "no other stream has positions of this topic there" : `streams with positions of this topic there: ${others}`}`
      : `table ${this.table} already holds the positions of this topic under stream ${others}; this stream (${this.streamId}, from the environment's name and the topic) has none and would write every record again: ${fix}`
  }
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** The stream ids other than `streamId` that hold positions of `topic` among `appIds` (`<environment>_<topic>-p<n>`). */
export const otherStreamsOf = (streamId: string, topic: string, appIds: Iterable<string>): ReadonlyArray<string> => {
  const pattern = new RegExp(`^(.+_${escapeRegExp(topic)})-p(0|[1-9][0-9]*)$`)
  const others = new Set<string>()
  for (const appId of appIds) {
    const match = pattern.exec(appId)
    if (match !== null && match[1] !== streamId) others.add(match[1]!)
  }
  return [...others].sort()
}

/**
 * Checks, once per session before anything is read, that this stream is the one whose positions the table
 * holds for the topic; returns the positions to adopt (per partition without a position of its own) when
 * `stream.adoptPositionsFrom` names the other stream. Fails with SecondStreamError otherwise.
 */
export const checkStreamIdentity = (
  job: JobConfig,
  txnVersions: ReadonlyMap<string, number>
): Effect.Effect<ReadonlyMap<number, number>, SecondStreamError> =>
  Effect.gen(function*() {
    const own = new Set<number>()
    for (const appId of txnVersions.keys()) {
      const partition = partitionOfAppId(job.streamId, appId)
      if (partition !== undefined) own.add(partition)
    }
    const others = otherStreamsOf(job.streamId, job.topic, txnVersions.keys())
    const adoptFrom = job.stream.adoptPositionsFrom
    if (adoptFrom !== undefined && adoptFrom !== job.streamId) {
      if (!others.includes(adoptFrom)) {
        return yield* new SecondStreamError({
          table: job.table.name,
          streamId: job.streamId,
          others,
          adoptProblem: `names stream "${adoptFrom}", which has no positions of topic ${job.topic} in the table`
        })
      }
      const adopted = new Map<number, number>()
      for (const [appId, version] of txnVersions) {
        const partition = partitionOfAppId(adoptFrom, appId)
        if (partition !== undefined && !own.has(partition)) adopted.set(partition, version)
      }
      if (adopted.size > 0) {
        yield* Effect.logInfo(
          `adopting the positions of stream ${adoptFrom} for partitions ${[...adopted.keys()].sort((a, b) => a - b).join(", ")} (stream.adoptPositionsFrom)`
        )
      }
      return adopted
    }
    // once this stream has positions of its own it was allowed (or adopted) before: the others stay as they are
    if (others.length > 0 && own.size === 0 && job.stream.allowSecondStream !== true) {
      return yield* new SecondStreamError({ table: job.table.name, streamId: job.streamId, others })
    }
    return new Map()
  })

/** Reads every txn of the job's table and runs `checkStreamIdentity` on them. */
export const streamIdentity = (job: JobConfig): Effect.Effect<ReadonlyMap<number, number>, SecondStreamError | DeltaReadError, DeltaSink> =>
  Effect.gen(function*() {
    const sink = yield* DeltaSink
    return yield* checkStreamIdentity(job, yield* sink.txnVersions(job.table, ""))
  })

/** Unread records that are gone. */
export interface LostRange {
  readonly partition: number
  /** The position the table says is next. */
  readonly expected: number
  /** What the partition holds now, e.g. `offsets 120..500` or `nothing (partition vanished)`. */
  readonly available: string
  /** Where reading goes on when loss is tolerated (undefined: the partition is gone). */
  readonly resumeAt: number | undefined
  /** How many offsets were lost (0 when it cannot be known). */
  readonly lostOffsets: number
}

/** The start of a run. */
export interface StartPlan {
  /** Position per partition that will be read. */
  readonly positions: ReadonlyMap<number, number>
  /** Positions recorded in the table, per partition (the txn `expected` of the next commit). */
  readonly committed: ReadonlyMap<number, number>
  /** Where each position came from, for the start line. */
  readonly origins: ReadonlyMap<number, "table" | "startingOffsets">
  readonly lost: ReadonlyArray<LostRange>
  /** Positions resolved from startingOffsets (those given as `resolved` included), to hand to the next plan. */
  readonly resolved: ReadonlyMap<number, number>
}

const startingOffsetFor = (
  startingOffsets: StartingOffsets,
  topics: ReadonlyArray<string>,
  range: PartitionOffsets
): number => {
  if (startingOffsets === "earliest") return range.earliest
  if (startingOffsets === "latest") return range.latest
  for (const topic of topics) {
    const wanted = startingOffsets[topic]?.[String(range.partition)]
    if (wanted === undefined) continue
    if (wanted === -2) return range.earliest
    if (wanted === -1) return range.latest
    return wanted
  }
  return range.earliest
}

/**
 * Plans the start: partitions the table knows resume at their txn version; new ones at `startingOffsets`
 * (looked up under each of `topics`, e.g. the Kafka topic and the job's topic; unlisted partitions: earliest).
 */
export const planStart = (input: {
  readonly streamId: string
  readonly topics: ReadonlyArray<string>
  readonly txnVersions: ReadonlyMap<string, number>
  readonly partitions: ReadonlyArray<PartitionOffsets>
  readonly startingOffsets: StartingOffsets
  /** Positions taken over from another stream (`stream.adoptPositionsFrom`), for partitions without a txn. */
  readonly adopted?: ReadonlyMap<number, number> | undefined
  /**
   * Positions resolved from startingOffsets by an earlier session of the run: "latest" must not move on at a
   * session retry, or the records that arrived in between are skipped.
   */
  readonly resolved?: ReadonlyMap<number, number>
  /** Partitions whose log was truncated below our position during the run (reported then): they resume at its end. */
  readonly rewound?: ReadonlyMap<number, Rewind>
}): StartPlan => {
  const committed = new Map<number, number>()
  for (const [appId, version] of input.txnVersions) {
    const partition = partitionOfAppId(input.streamId, appId)
    if (partition !== undefined) committed.set(partition, version)
  }
  const positions = new Map<number, number>()
  const origins = new Map<number, "table" | "startingOffsets">()
  const lost: Array<LostRange> = []
  const resolved = new Map(input.resolved)
  const byPartition = new Map(input.partitions.map((range) => [range.partition, range]))
  for (const range of input.partitions) {
    // adopted positions are checked like the table's own, but are not this stream's txn versions (`committed`)
    const known = committed.get(range.partition) ?? input.adopted?.get(range.partition)
    if (known === undefined) {
      const start = resolved.get(range.partition) ?? startingOffsetFor(input.startingOffsets, input.topics, range)
      resolved.set(range.partition, start)
      if (start < range.earliest || start > range.latest) {
        lost.push({
          partition: range.partition,
          expected: start,
          available: `offsets ${range.earliest}..${range.latest}`,
          resumeAt: range.earliest,
          lostOffsets: start < range.earliest ? range.earliest - start : 0
        })
        positions.set(range.partition, range.earliest)
      } else {
        positions.set(range.partition, start)
      }
      origins.set(range.partition, "startingOffsets")
      continue
    }
    origins.set(range.partition, "table")
    const rewind = input.rewound?.get(range.partition)
    if (rewind !== undefined && known > rewind.to && known <= rewind.from && rewind.to >= range.earliest) {
      positions.set(range.partition, rewind.to)
      continue
    }
    if (known < range.earliest || known > range.latest) {
      lost.push({
        partition: range.partition,
        expected: known,
        available: range.earliest === range.latest
          ? `no records (log start ${range.earliest})`
          : `offsets ${range.earliest}..${range.latest - 1}`,
        resumeAt: range.earliest,
        // beyond the end: the topic was recreated (or truncated); reading resumes at its log start, so what the
        // new log no longer holds below that was never read
        lostOffsets: known < range.earliest ? range.earliest - known : range.earliest
      })
      positions.set(range.partition, range.earliest)
    } else {
      positions.set(range.partition, known)
    }
  }
  for (const [partition, known] of committed) {
    if (!byPartition.has(partition)) {
      lost.push({ partition, expected: known, available: "nothing (partition vanished)", resumeAt: undefined, lostOffsets: 0 })
    }
  }
  return { positions, committed, origins, lost, resolved }
}

/** Where the dead-letter table stands per partition. */
export interface DeadLetterPositions {
  /** Txn versions in the dead-letter table (the `expected` of its next commit). */
  readonly table: Map<number, number>
  /**
   * Partitions whose version is beyond the end of the partition (the topic was reset): dead letters from this
   * offset on are new, and the next dead-letter commit moves the version back.
   */
  readonly rewound: Map<number, number>
}

/** The dead-letter table's positions, with those a topic reset left beyond the end moved back to where reading resumes. */
export const deadLetterPositions = (
  streamId: string,
  txnVersions: ReadonlyMap<string, number>,
  partitions: ReadonlyArray<PartitionOffsets>,
  positions: ReadonlyMap<number, number>
): DeadLetterPositions => {
  const table = new Map<number, number>()
  const rewound = new Map<number, number>()
  for (const [appId, version] of txnVersions) {
    const partition = partitionOfAppId(streamId, appId)
    if (partition === undefined) continue
    table.set(partition, version)
    const range = partitions.find((r) => r.partition === partition)
    const resumeAt = positions.get(partition)
    if (range !== undefined && resumeAt !== undefined && version > range.latest) rewound.set(partition, resumeAt)
  }
  return { table, rewound }
}

/**
 * The id of the next batch. A planned batch without a commit mark is planned again under its id, unless the
 * table already holds its txns (the process stopped between the Delta commit and the mark): then it is done, and
 * the next batch takes the next id, so no two commits carry the same batch id.
 */
export const nextBatchIdOf = (state: CheckpointState, streamId: string, txnVersions: ReadonlyMap<string, number>): number => {
  if (state.lastPlan._tag === "None") return 0
  const plan = state.lastPlan.value
  if (state.lastCommit._tag === "Some" && state.lastCommit.value.batchId === plan.batchId) return plan.batchId + 1
  return landedPlan(state, streamId, txnVersions) === undefined ? plan.batchId : plan.batchId + 1
}

/**
 * The last plan when it has no commit mark but its txns are in the table (a crash between the Delta commit and
 * the mark): the batch is done, and the start writes its mark.
 */
export const landedPlan = (state: CheckpointState, streamId: string, txnVersions: ReadonlyMap<string, number>): BatchPlan | undefined => {
  if (state.lastPlan._tag === "None") return undefined
  const plan = state.lastPlan.value
  if (state.lastCommit._tag === "Some" && state.lastCommit.value.batchId === plan.batchId) return undefined
  const landed = plan.ranges.length > 0 && plan.ranges.every((range) => txnVersions.get(appIdOf(streamId, range.partition)) === range.until)
  return landed ? plan : undefined
}

/**
 * Where the last plan, when it has no commit mark, says partitions without a txn began reading. A run plans the
 * start positions of such partitions before it reads (`startRanges`), and every batch plans them too, so a
 * position resolved from startingOffsets ("latest") survives a stop before the first commit.
 */
export const plannedStarts = (state: CheckpointState, topic: string, streamId: string, txnVersions: ReadonlyMap<string, number>): Map<number, number> => {
  const starts = new Map<number, number>()
  if (state.lastPlan._tag === "None" || state.lastPlan.value.topic !== topic) return starts
  const plan = state.lastPlan.value
  if (state.lastCommit._tag === "Some" && state.lastCommit.value.batchId === plan.batchId) return starts
  for (const range of plan.ranges) {
    if (!txnVersions.has(appIdOf(streamId, range.partition))) starts.set(range.partition, range.from)
  }
  return starts
}

/** The start positions of partitions without a txn, as ranges to plan; undefined when the last plan holds them. */
export const startRanges = (start: StartPlan, state: CheckpointState): ReadonlyArray<PartitionRange> | undefined => {
  const ranges = [...start.positions].filter(([partition]) => !start.committed.has(partition)).map(([partition, position]) => ({ partition, from: position, until: position }))
  const planned = state.lastPlan._tag === "Some" ? state.lastPlan.value.ranges : []
  const known = ranges.every((range) => planned.some((p) => p.partition === range.partition && p.from === range.from))
  return ranges.length === 0 || known ? undefined : ranges
}
