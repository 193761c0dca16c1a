/**
 * The atomic commit: `_delta_log/%020d.json` created with put-if-absent, never overwritten. When another writer
 * took the version, the winners' commits are read and judged: a txn for one of our appIds means a second
 * instance of this stream (ConcurrentStreamError, stop); a protocol or metaData change means re-validating the
 * plan; a blind append means trying again at the next version, with jittered exponential backoff, bounded.
 * A put that fails after its entry may have become visible is settled by reading the entry back: our
 * `commitInfo.txnId` there means the commit landed.
 */
import { Data, Effect, Schedule } from "effect"
import {
  ConcurrentStreamError,
  type DeltaAppendError,
  DeltaStorageError,
  type TxnUpdate
} from "../services/DeltaSink.ts"
import { type Action, commitPath, serializeActions } from "./actions.ts"
import { faultPoint } from "./fault-injection.ts"
import { readCommit, readSnapshot, refreshSnapshot } from "./log.ts"
import type { Snapshot } from "./snapshot.ts"
import type { DeltaStorage } from "./storage.ts"

/** Another writer took the version; internal, retried. */
class CommitConflict extends Data.TaggedError("CommitConflict")<{ readonly version: number }> {}

/** The actions to commit, re-planned against the snapshot read after a conflict. */
export type CommitPlanner = (
  snapshot: Snapshot | undefined
) => Effect.Effect<ReadonlyArray<Action>, DeltaAppendError>

/** Options of `commitWithRetries`. */
export interface CommitOptions {
  /** Commit attempts before giving up (delta-rs uses 15 retries). */
  readonly maxAttempts: number
  /** First backoff delay. */
  readonly baseDelay?: number
  /** The id written to `commitInfo.txnId`, by which this writer recognises its own commit after an ambiguous failure. */
  readonly txnId?: string
  /**
   * Judges the winners' commits after a lost race, beyond the txn check: a commit that is not a blind append
   * (optimize) fails here when a winner removed a file it removes.
   */
  readonly checkWinners?: (
    newer: ReadonlyArray<{ readonly version: number; readonly actions: ReadonlyArray<Action> }>
  ) => Effect.Effect<void, DeltaAppendError>
}

/** Whether a commit's actions carry `commitInfo.txnId` equal to `txnId`. */
export const ownCommitIn = (actions: ReadonlyArray<Action>, txnId: string | undefined): boolean =>
  txnId !== undefined && actions.some((action) => "commitInfo" in action && action.commitInfo["txnId"] === txnId)

/** Fails with ConcurrentStreamError when a winning commit carries a txn for one of our appIds. */
const checkWinners = (
  storage: DeltaStorage,
  txns: ReadonlyArray<TxnUpdate>,
  newer: ReadonlyArray<{ readonly version: number; readonly actions: ReadonlyArray<Action> }>
) => {
  const ours = new Map(txns.map((txn) => [txn.appId, txn]))
  for (const commit of newer) {
    for (const action of commit.actions) {
      if (!("txn" in action)) continue
      const txn = ours.get(action.txn.appId)
      if (txn === undefined) continue
      return Effect.fail(
        new ConcurrentStreamError({
          table: storage.table,
          appId: txn.appId,
          ...(txn.expected === undefined ? {} : { expected: txn.expected }),
          found: action.txn.version
        })
      )
    }
  }
  return Effect.void
}

/**
 * Commits the planned actions at the version after `snapshot` (or 0), retrying at later versions after blind
 * appends by others. Returns the committed version, the actions, the snapshot the commit was based on and how
 * many versions were lost to other writers on the way (`conflicts`).
 */
export const commitWithRetries = Effect.fnUntraced(function*(
  storage: DeltaStorage,
  start: Snapshot | undefined,
  txns: ReadonlyArray<TxnUpdate>,
  plan: CommitPlanner,
  options: CommitOptions
) {
  let base = start
  let actions = yield* plan(base)
  let conflicts = 0
  const attempt = Effect.gen(function*() {
    const version = base === undefined ? 0 : base.version + 1
    const text = serializeActions(actions.map((action) =>
      "commitInfo" in action && base !== undefined ? { commitInfo: { ...action.commitInfo, readVersion: base.version } } : action
    ))
    const created = yield* storage.putIfAbsent(commitPath(version), new TextEncoder().encode(text), {
      beforePublish: () => faultPoint("during-commit")
    }).pipe(
      // A failure after the entry became visible (the directory flush after the link, a lost reply from a store)
      // is ambiguous: the entry at that version says whether the commit landed, and whose it is.
      Effect.catch((error) =>
        readCommit(storage, version).pipe(
          Effect.flatMap((entry) => {
            if (entry._tag === "None") return Effect.fail(error)
            return Effect.succeed(ownCommitIn(entry.value, options.txnId))
          }),
          Effect.catch(() => Effect.fail(error))
        )
      )
    )
    if (created) return { version, actions, base, conflicts }
    // Lost the race: learn what the winners did before deciding.
    conflicts++
    if (base === undefined) {
      const fresh = yield* readSnapshot(storage)
      if (fresh._tag === "None") return yield* new CommitConflict({ version })
      yield* checkWinners(storage, txns, [{ version: 0, actions: [...fresh.value.txns.values()].map((txn) => ({ txn })) }])
      base = fresh.value
      actions = yield* plan(base)
      return yield* new CommitConflict({ version })
    }
    const { snapshot, newer } = yield* refreshSnapshot(storage, base)
    yield* checkWinners(storage, txns, newer)
    if (options.checkWinners !== undefined) yield* options.checkWinners(newer)
    const changed = newer.some((commit) => commit.actions.some((a) => "protocol" in a || "metaData" in a))
    base = snapshot
    // refreshSnapshot has already refused a protocol or feature this writer does not implement
    if (changed) actions = yield* plan(snapshot)
    return yield* new CommitConflict({ version })
  })
  const schedule = Schedule.exponential(`${options.baseDelay ?? 20} millis`, 1.5).pipe(
    Schedule.jittered,
    Schedule.upTo({ times: Math.max(0, options.maxAttempts - 1) })
  )
  return yield* attempt.pipe(
    Effect.retry({ schedule, while: (error) => error._tag === "CommitConflict" }),
    Effect.catchTag("CommitConflict", (conflict) =>
      Effect.fail(
        new DeltaStorageError({
          table: storage.table,
          path: commitPath(conflict.version),
          reason: `gave up after ${options.maxAttempts} commit attempts lost to concurrent writers`,
          transient: true
        })
      ))
  )
})
