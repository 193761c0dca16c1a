/**
 * Group mode (`stream.scaleOut: "group"`): several processes of one stream share its topic's partitions through
 * the Kafka consumer group and write one table. The group only decides who reads what; positions stay with the
 * table's txn versions. Each assignment runs a session of its own on the partitions the member owns, started
 * from the table as it is at the assignment; a rebalance ends that session, dropping its open batch (the rows
 * of a revoked partition are read again by its next owner, since their offsets were never committed).
 *
 * The txn versions are the fence. Every commit names, per partition, the version it last saw (`expected`): a
 * member that committed late for a partition that another member has since committed for (a zombie: paused past
 * the session timeout, or a commit in flight when the rebalance came) fails the txn check with
 * ConcurrentStreamError and writes nothing. In group mode that error means the table moved under this member, so
 * its session starts again from the table; in single mode it stays fatal (two processes run one stream).
 *
 * Also here: the mirror of committed positions into the consumer group, for Kafka's own lag tools, in both modes.
 */
import { Effect, Fiber, Queue, Stream } from "effect"
import { groupIdOf, type JobConfig } from "../services/Config.ts"
import type { ConcurrentStreamError } from "../services/DeltaSink.ts"
import { type GroupAssignment, KafkaSource, type KafkaSourceError } from "../services/KafkaSource.ts"
import type { SealedBatch } from "./micro-batch.ts"
import { partitionOfAppId } from "./positions.ts"

/** The txn versions of the partitions in `owned` (all of them without `owned`). */
export const ownedTxns = (streamId: string, txns: ReadonlyMap<string, number>, owned: ReadonlySet<number> | undefined): ReadonlyMap<string, number> => {
  if (owned === undefined) return txns
  return new Map([...txns].filter(([appId]) => {
    const partition = partitionOfAppId(streamId, appId)
    return partition !== undefined && owned.has(partition)
  }))
}

/** The partitions of the topic (`ranges`) this member does not own: they are not read. */
export const notOwned = (ranges: ReadonlyArray<{ readonly partition: number }>, owned: ReadonlySet<number>): ReadonlyArray<number> =>
  ranges.map((range) => range.partition).filter((partition) => !owned.has(partition))

/** Whether the job's processes share its partitions through the consumer group. */
export const isGroupMode = (job: JobConfig): boolean => job.stream.scaleOut === "group"

/** What the member owns: its partitions, or none while a rebalance is under way. */
interface Ownership {
  owned: ReadonlySet<number> | undefined
  /** Counts changes of `owned`, so a session can tell whether its assignment still holds. */
  generation: number
}

/** Applies one rebalance event; returns whether the ownership changed. */
export const applyAssignment = (state: Ownership, event: GroupAssignment): boolean => {
  if (event._tag === "Revoked") {
    // nothing is read between a revocation and the assignment that ends the rebalance
    if (state.owned === undefined) return false
    state.owned = undefined
  } else {
    const next = new Set(event.partitions)
    if (state.owned !== undefined && state.owned.size === next.size && [...next].every((p) => state.owned!.has(p))) return false
    state.owned = next
  }
  state.generation++
  return true
}

/**
 * Runs `session` for each assignment of this member in the job's consumer group until one returns (an
 * available-now member drained what it owns); a rebalance interrupts the session in flight and starts the next
 * from the table. A ConcurrentStreamError (another member committed a partition first) starts the session again
 * too. Leaves the group when it ends.
 */
export const runAsMember = <A, E, R>(
  job: JobConfig,
  session: (owned: ReadonlySet<number>) => Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, ConcurrentStreamError> | KafkaSourceError, R | KafkaSource> =>
  Effect.scoped(Effect.gen(function*() {
    const source = yield* KafkaSource
    const group = groupIdOf(job)
    const state: Ownership = { owned: undefined, generation: 0 }
    const changed = yield* Queue.sliding<void>(1)
    const membership = yield* Effect.forkScoped(
      Stream.runForEach(source.joinGroup(group, job.kafkaTopic), (event) =>
        Effect.gen(function*() {
          yield* Effect.logInfo(`consumer group ${group}: ${event._tag === "Revoked" ? "revoked" : "assigned"} partitions [${event.partitions.join(", ")}]`)
          if (applyAssignment(state, event)) yield* Queue.offer(changed, undefined)
        }))
    )
    const membershipEnded = Effect.andThen(Fiber.join(membership), Effect.never)
    const assignment = Effect.gen(function*() {
      while (state.owned === undefined) yield* Queue.take(changed)
      return { owned: state.owned, generation: state.generation }
    })
    const changeOf = (generation: number) =>
      Effect.gen(function*() {
        while (state.generation === generation) yield* Queue.take(changed)
      })
    while (true) {
      const current = yield* Effect.raceFirst(assignment, membershipEnded)
      const outcome = yield* Effect.raceFirst(
        Effect.map(session(current.owned), (value) => ({ _tag: "Ended" as const, value })),
        Effect.raceFirst(Effect.as(changeOf(current.generation), { _tag: "Rebalanced" as const }), membershipEnded)
      ).pipe(
        Effect.catchIf(
          (error): error is Extract<E, ConcurrentStreamError> => (error as { _tag?: string })?._tag === "ConcurrentStreamError",
          (error) =>
            Effect.as(
              Effect.logWarning(`${(error as ConcurrentStreamError).message}: another member of group ${group} committed first; reading the table's positions again`),
              { _tag: "Moved" as const }
            )
        )
      )
      if (outcome._tag === "Ended") return outcome.value
    }
  })) as Effect.Effect<A, Exclude<E, ConcurrentStreamError> | KafkaSourceError, R | KafkaSource>

/** The mirror of committed positions into the consumer group (`makeOffsetMirror`). */
export interface OffsetMirror {
  /** Queues the positions `batch` committed; never waits. */
  readonly offer: (batch: SealedBatch) => Effect.Effect<void>
}

/**
 * Mirrors the positions of committed batches into the job's consumer group, so `kafka-consumer-groups.sh` and
 * autoscalers see the lag: `offer` never waits (a fiber of the scope commits the latest positions of every
 * partition in one OffsetCommit), so a slow broker does not hold up the Delta commits. Best effort: the table holds
 * the positions and the group's offsets are never read back, so a failure is a warning.
 */
export const makeOffsetMirror = (job: JobConfig) =>
  Effect.gen(function*() {
    const source = yield* KafkaSource
    const group = groupIdOf(job)
    const pending = new Map<number, number>()
    const wake = yield* Queue.sliding<void>(1)
    let failing = false
    // a failed mirror keeps its positions (unless newer ones came) and, in the loop, is tried again a second later:
    // a member between two generations is refused until it joins again, and the last positions must still land
    const flush = (again: boolean) =>
      Effect.suspend(() => {
        const offsets = new Map(pending)
        pending.clear()
        if (offsets.size === 0) return Effect.void
        return source.commitOffsets(group, job.kafkaTopic, offsets).pipe(
          Effect.andThen(Effect.suspend(() => {
            if (!failing) return Effect.void
            failing = false
            return Effect.logInfo(`mirroring the committed positions to consumer group ${group} works again`)
          })),
          Effect.catch((error) => {
            for (const [partition, offset] of offsets) if (!pending.has(partition)) pending.set(partition, offset)
            const warn = failing
              ? Effect.void
              : Effect.logWarning(`could not mirror the committed positions to consumer group ${group} (the table holds them; only lag tools miss them), trying again: ${error.message}`)
            failing = true
            return again ? Effect.andThen(warn, Effect.andThen(Effect.sleep("1 second"), Queue.offer(wake, undefined))) : warn
          })
        )
      })
    // the positions of the last batches are mirrored at the end too (after the fiber below is interrupted), bounded
    yield* Effect.addFinalizer(() => flush(false).pipe(Effect.timeoutOption("5 seconds"), Effect.ignore))
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Queue.take(wake), flush(true))))
    const mirror: OffsetMirror = {
      offer: (batch) =>
        Effect.suspend(() => {
          for (const p of batch.partitions) pending.set(p.partition, p.until)
          return Effect.asVoid(Queue.offer(wake, undefined))
        })
    }
    return mirror
  })
