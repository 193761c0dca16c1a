/**
 * Log replay: the snapshot at the latest version, from the newest complete log checkpoint plus the JSON commits
 * after it, and catching a snapshot up with commits written since (which is also how a losing committer learns
 * what the winners did).
 */
import type * as Arrow from "apache-arrow"
import { Effect, Option } from "effect"
import type { DeltaReadError } from "../services/DeltaSink.ts"
import { UnsupportedTableError } from "../services/DeltaSink.ts"
import { type Action, checkpointNameOf, commitPath, commitVersionOf, parseActions } from "./actions.ts"
import { plainOf } from "./arrow-values.ts"
import { decodeParquet } from "./parquet.ts"
import { partitionValuesAt, statsJsonAt } from "./stats-parsed.ts"
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

/** What the struct columns of a checkpoint's `add` say about one row, read only where the string forms are missing. */
interface ParsedColumns {
  readonly stats: () => string | undefined
  readonly partitionValues: () => Record<string, string | null> | undefined
}

/** Converts one checkpoint row (plain values) to actions. */
const checkpointActions = (row: Record<string, unknown>, parsed: ParsedColumns): Array<Action> => {
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
    const { partitionValues_parsed: _values, stats_parsed: _stats, ...add } = row["add"] as Record<string, unknown>
    const stats = add["stats"] ?? parsed.stats()
    const partitionValues = add["partitionValues"] ?? parsed.partitionValues() ?? {}
    actions.push({ add: { ...strip(add), partitionValues, ...(stats === undefined ? {} : { stats }) } as never })
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
    for (const batch of table.batches) {
      // a checkpoint written with writeStatsAsJson=false has a file's stats only in stats_parsed
      const add = batch.getChild("add")?.data[0]
      const childOf = (name: string) => {
        const index = add === undefined ? -1 : add.type.children.findIndex((field: Arrow.Field) => field.name === name)
        return index < 0 ? undefined : add!.children[index]
      }
      const statsParsed = childOf("stats_parsed")
      const valuesParsed = childOf("partitionValues_parsed")
      for (let i = 0; i < batch.numRows; i++) {
        const parsed = {
          stats: () => (statsParsed === undefined ? undefined : statsJsonAt(statsParsed, i)),
          partitionValues: () => (valuesParsed === undefined ? undefined : partitionValuesAt(valuesParsed, i))
        }
        applyActions(state, checkpointActions(plainOf(batch.get(i)) as Record<string, unknown>, parsed))
      }
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

/** A UUID-named (V2 spec) checkpoint file name's version, or undefined for other files. */
const v2CheckpointVersionOf = (name: string): number | undefined => {
  const match = /^(\d{20})\.checkpoint\.[0-9a-fA-F-]{36}\.(?:json|parquet)$/.exec(name)
  return match?.[1] === undefined ? undefined : Number(match[1])
}

/** A complete classic checkpoint: one file, or every part of a multi-part one. */
interface CheckpointFiles {
  readonly version: number
  readonly parts: number
  readonly paths: Array<string>
}

/** The complete classic checkpoints of a listing, newest first (a single file before parts at one version). */
const completeCheckpoints = (names: ReadonlyArray<{ readonly name: string; readonly path: string }>) => {
  // keyed by version and part count: an incomplete multi-part checkpoint must not hide a classic one at its version
  const byKey = new Map<string, CheckpointFiles & { readonly seen: Set<number> }>()
  for (const { name, path } of names) {
    const checkpoint = checkpointNameOf(name)
    if (checkpoint === undefined) continue
    const key = `${checkpoint.version}/${checkpoint.parts}`
    const entry = byKey.get(key) ?? { version: checkpoint.version, parts: checkpoint.parts, paths: [], seen: new Set() }
    if (!entry.seen.has(checkpoint.part)) entry.paths.push(path)
    entry.seen.add(checkpoint.part)
    byKey.set(key, entry)
  }
  return [...byKey.values()]
    .filter((entry) => entry.seen.size === entry.parts)
    .sort((a, b) => b.version - a.version || a.parts - b.parts)
}

/** The latest snapshot, or none when the table has no log yet. */
export const readSnapshot = Effect.fnUntraced(function*(storage: DeltaStorage) {
  const listing = yield* storage.list("_delta_log")
  const names = listing.map((file) => ({ name: file.path.slice(file.path.lastIndexOf("/") + 1), path: file.path }))
  const commits = names.flatMap(({ name }) => {
    const version = commitVersionOf(name)
    return version === undefined ? [] : [version]
  }).sort((a, b) => a - b)
  const v2Checkpoints = names.flatMap(({ name }) => {
    const version = v2CheckpointVersionOf(name)
    return version === undefined ? [] : [version]
  })
  const checkpoints = completeCheckpoints(names)
  if (commits.length === 0 && checkpoints.length === 0 && v2Checkpoints.length === 0) return Option.none<Snapshot>()
  // the newest checkpoint that reads; a corrupt one falls back to the one before it, then to the commits alone
  let state = emptyState()
  const unreadable: Array<string> = []
  for (const checkpoint of checkpoints) {
    const read = yield* Effect.result(readCheckpoint(storage, [...checkpoint.paths].sort(), checkpoint.version))
    if (read._tag === "Success" && read.success.protocol !== undefined && read.success.metadata !== undefined) {
      state = read.success
      break
    }
    if (read._tag === "Failure" && read.failure.transient) return yield* read.failure
    unreadable.push(read._tag === "Failure" ? read.failure.reason : `checkpoint ${checkpoint.version} has no protocol or metaData`)
  }
  const latest = Math.max(commits[commits.length - 1] ?? -1, state.version)
  const present = new Set(commits)
  for (let version = state.version + 1; version <= latest; version++) {
    if (!present.has(version)) {
      const v2 = v2Checkpoints.filter((v) => v >= version)
      if (v2.length > 0) {
        return yield* new UnsupportedTableError({
          table: storage.table,
          reason: `the log before version ${Math.max(...v2) + 1} is only in a V2 checkpoint (table feature ` +
            "v2Checkpoint), which this writer does not read"
        })
      }
      const skipped = unreadable.length === 0 ? "" : ` (unreadable checkpoints: ${unreadable.join("; ")})`
      return yield* storageError(storage, commitPath(version), `log has a gap: commit ${version} is missing${skipped}`)
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
