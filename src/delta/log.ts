/**
 * Log replay: the snapshot at the latest version, from the newest complete log checkpoint plus the JSON commits
 * after it, and catching a snapshot up with commits written since (which is also how a losing committer learns
 * what the winners did).
 */
import { Effect, Option } from "effect"
import type { DeltaReadError } from "../services/DeltaSink.ts"
import { UnsupportedTableError } from "../services/DeltaSink.ts"
import { type Action, checkpointNameOf, commitPath, commitVersionOf, parseActions } from "./actions.ts"
import { plainOf } from "./arrow-values.ts"
import { decodeParquet } from "./parquet.ts"
import { applyActions, emptyState, type ReplayState, type Snapshot, snapshotOf, stateOf, unsupportedReason } from "./snapshot.ts"
import { type DeltaStorage, storageError } from "./storage.ts"

const textDecoder = new TextDecoder()

/** The actions of commit `version`, or none when it does not exist. */
export const readCommit = (storage: DeltaStorage, version: number) =>
  storage.read(commitPath(version)).pipe(
    Effect.flatMap((bytes) =>
      Option.match(bytes, {
        onNone: () => Effect.succeed(Option.none<Array<Action>>()),
        onSome: (data) =>
          Effect.try({
            try: () => Option.some(parseActions(textDecoder.decode(data))),
            catch: (error) => storageError(storage, commitPath(version), `corrupt commit: ${String(error)}`)
          })
      })
    )
  )

/** Converts one checkpoint row (plain values) to actions. */
const checkpointActions = (row: Record<string, unknown>): Array<Action> => {
  const actions: Array<Action> = []
  const num = (value: unknown) => (typeof value === "bigint" ? Number(value) : value)
  const strip = (value: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, num(v)]))
  if (row["protocol"] !== null && row["protocol"] !== undefined) {
    actions.push({ protocol: strip(row["protocol"] as Record<string, unknown>) as never })
  }
  if (row["metaData"] !== null && row["metaData"] !== undefined) {
    const m = row["metaData"] as Record<string, unknown>
    const format = (m["format"] ?? { provider: "parquet" }) as Record<string, unknown>
    actions.push({
      metaData: {
        ...strip(m),
        format: { provider: String(format["provider"] ?? "parquet"), options: (format["options"] ?? {}) as never },
        partitionColumns: (m["partitionColumns"] ?? []) as Array<string>,
        configuration: (m["configuration"] ?? {}) as Record<string, string>
      } as never
    })
  }
  if (row["txn"] !== null && row["txn"] !== undefined) actions.push({ txn: strip(row["txn"] as never) as never })
  if (row["add"] !== null && row["add"] !== undefined) {
    const add = row["add"] as Record<string, unknown>
    actions.push({ add: { ...strip(add), partitionValues: add["partitionValues"] ?? {} } as never })
  }
  if (row["remove"] !== null && row["remove"] !== undefined) actions.push({ remove: strip(row["remove"] as never) as never })
  return actions
}

/** Reads the parts of a classic checkpoint into replay state. */
const readCheckpoint = Effect.fnUntraced(function*(storage: DeltaStorage, paths: ReadonlyArray<string>, version: number) {
  const state = emptyState()
  state.version = version
  for (const path of paths) {
    const bytes = yield* storage.read(path)
    if (Option.isNone(bytes)) return yield* storageError(storage, path, "checkpoint part vanished", true)
    const table = yield* Effect.try({
      try: () => decodeParquet(bytes.value),
      catch: (error) => storageError(storage, path, `corrupt checkpoint: ${String(error)}`)
    })
    for (const row of table.toArray()) {
      applyActions(state, checkpointActions(plainOf(row) as Record<string, unknown>))
    }
  }
  return state
})

/** Fails with UnsupportedTableError when this writer must not touch the snapshot's table. */
export const checkSupported = (storage: DeltaStorage, snapshot: Snapshot) => {
  const reason = unsupportedReason(snapshot.protocol, snapshot.metadata)
  return reason === undefined ? Effect.void : Effect.fail(new UnsupportedTableError({ table: storage.table, reason }))
}

const finish = (storage: DeltaStorage, state: ReplayState): Effect.Effect<Snapshot, DeltaReadError> => {
  const snapshot = snapshotOf(state)
  if (typeof snapshot === "string") return Effect.fail(storageError(storage, "_delta_log", snapshot))
  return Effect.succeed(snapshot)
}

/** The latest snapshot, or none when the table has no log yet. */
export const readSnapshot = Effect.fnUntraced(function*(storage: DeltaStorage) {
  const listing = yield* storage.list("_delta_log")
  const commits: Array<number> = []
  const checkpoints = new Map<number, { parts: number; paths: Array<string> }>()
  for (const file of listing) {
    const name = file.path.slice(file.path.lastIndexOf("/") + 1)
    const version = commitVersionOf(name)
    if (version !== undefined) commits.push(version)
    const checkpoint = checkpointNameOf(name)
    if (checkpoint !== undefined) {
      const entry = checkpoints.get(checkpoint.version) ?? { parts: checkpoint.parts, paths: [] }
      if (entry.parts === checkpoint.parts) entry.paths.push(file.path)
      checkpoints.set(checkpoint.version, entry)
    }
  }
  commits.sort((a, b) => a - b)
  const complete = [...checkpoints].filter(([, entry]) => entry.paths.length === entry.parts).map(([v]) => v)
  const checkpointVersion = complete.length === 0 ? undefined : Math.max(...complete)
  if (commits.length === 0 && checkpointVersion === undefined) return Option.none<Snapshot>()
  let state: ReplayState
  if (checkpointVersion !== undefined) {
    const entry = checkpoints.get(checkpointVersion)!
    state = yield* readCheckpoint(storage, [...entry.paths].sort(), checkpointVersion)
  } else state = emptyState()
  const latest = Math.max(commits[commits.length - 1] ?? -1, state.version)
  const present = new Set(commits)
  for (let version = state.version + 1; version <= latest; version++) {
    if (!present.has(version)) {
      return yield* storageError(storage, commitPath(version), `log has a gap: commit ${version} is missing`)
    }
    const actions = yield* readCommit(storage, version)
    if (Option.isNone(actions)) return yield* storageError(storage, commitPath(version), "commit vanished", true)
    applyActions(state, actions.value)
    state.version = version
  }
  const snapshot = yield* finish(storage, state)
  yield* checkSupported(storage, snapshot)
  return Option.some(snapshot)
})

/**
 * A snapshot caught up with every commit after it, plus those commits' actions in order. Fails with
 * UnsupportedTableError when those commits moved the table to a protocol or feature this writer does not implement.
 */
export const refreshSnapshot = Effect.fnUntraced(function*(storage: DeltaStorage, snapshot: Snapshot) {
  const state = stateOf(snapshot)
  const newer: Array<{ readonly version: number; readonly actions: ReadonlyArray<Action> }> = []
  for (;;) {
    const actions = yield* readCommit(storage, state.version + 1)
    if (Option.isNone(actions)) break
    applyActions(state, actions.value)
    state.version += 1
    newer.push({ version: state.version, actions: actions.value })
  }
  const next = newer.length === 0 ? snapshot : yield* finish(storage, state)
  // Another engine may have upgraded the protocol or turned on a feature since: a writer must never commit on a
  // snapshot it would have refused to open.
  if (newer.some((commit) => commit.actions.some((a) => "protocol" in a || "metaData" in a))) {
    yield* checkSupported(storage, next)
  }
  return { snapshot: next, newer }
})
