/**
 * The state of a table at one version (PROTOCOL.md §Action Reconciliation): protocol, metadata, the latest txn
 * version per appId, live files and unexpired tombstones; and the check that this writer may write it.
 */
import type { Action, AddFile, Metadata, Protocol, RemoveFile, Txn } from "./actions.ts"
import { type DeltaStructType, hasFieldMetadata, parseSchemaString } from "./schema.ts"

/** A table at one version. */
export interface Snapshot {
  readonly version: number
  readonly protocol: Protocol
  readonly metadata: Metadata
  readonly schema: DeltaStructType
  readonly txns: ReadonlyMap<string, Txn>
  /** Live files by `add.path`. */
  readonly files: ReadonlyMap<string, AddFile>
  /** Tombstones by `remove.path` (kept in log checkpoints until they expire). */
  readonly tombstones: ReadonlyMap<string, RemoveFile>
}

/** Mutable state while replaying; `version` is the last version applied. */
export interface ReplayState {
  version: number
  protocol: Protocol | undefined
  metadata: Metadata | undefined
  readonly txns: Map<string, Txn>
  readonly files: Map<string, AddFile>
  readonly tombstones: Map<string, RemoveFile>
}

/** Empty replay state, before version 0. */
export const emptyState = (): ReplayState => ({
  version: -1,
  protocol: undefined,
  metadata: undefined,
  txns: new Map(),
  files: new Map(),
  tombstones: new Map()
})

/** Replay state that continues from a snapshot (copies, so the snapshot stays unchanged). */
export const stateOf = (snapshot: Snapshot): ReplayState => ({
  version: snapshot.version,
  protocol: snapshot.protocol,
  metadata: snapshot.metadata,
  txns: new Map(snapshot.txns),
  files: new Map(snapshot.files),
  tombstones: new Map(snapshot.tombstones)
})

/** Applies the actions of one commit (or a checkpoint) in order. */
export const applyActions = (state: ReplayState, actions: ReadonlyArray<Action>): void => {
  for (const action of actions) {
    if ("add" in action) {
      state.files.set(action.add.path, action.add)
      state.tombstones.delete(action.add.path)
    } else if ("remove" in action) {
      state.files.delete(action.remove.path)
      state.tombstones.set(action.remove.path, action.remove)
    } else if ("txn" in action) state.txns.set(action.txn.appId, action.txn)
    else if ("metaData" in action) state.metadata = action.metaData
    else if ("protocol" in action) state.protocol = action.protocol
  }
}

/** The snapshot of a replay state, or a reason why the log is incomplete. */
export const snapshotOf = (state: ReplayState): Snapshot | string => {
  if (state.protocol === undefined) return `no protocol action up to version ${state.version}`
  if (state.metadata === undefined) return `no metaData action up to version ${state.version}`
  let schema: DeltaStructType
  try {
    schema = parseSchemaString(state.metadata.schemaString)
  } catch (error) {
    return `invalid schemaString: ${String(error)}`
  }
  return {
    version: state.version,
    protocol: state.protocol,
    metadata: state.metadata,
    schema,
    txns: state.txns,
    files: state.files,
    tombstones: state.tombstones
  }
}

/** Reader/writer features this writer implements (appends honour `appendOnly` trivially). */
export const supportedReaderFeatures: ReadonlySet<string> = new Set(["timestampNtz"])
/** Writer features this writer implements. */
export const supportedWriterFeatures: ReadonlySet<string> = new Set(["timestampNtz", "appendOnly", "invariants"])

/** The table property that lets txn actions expire (refused: the stream's positions live in them). */
export const txnRetentionProperty = "delta.setTransactionRetentionDuration"

/** Why this writer must not write a table with this protocol and metadata, or undefined when it may. */
export const unsupportedReason = (protocol: Protocol, metadata: Metadata | undefined): string | undefined => {
  if (protocol.minReaderVersion > 3) return `reader version ${protocol.minReaderVersion} is above 3`
  if (protocol.minReaderVersion === 2) return "reader version 2 (column mapping) is not implemented"
  if (protocol.minReaderVersion === 3) {
    const unknown = (protocol.readerFeatures ?? []).filter((feature) => !supportedReaderFeatures.has(feature))
    if (unknown.length > 0) return `reader features not implemented: ${unknown.join(", ")}`
  }
  if (protocol.minWriterVersion > 7) return `writer version ${protocol.minWriterVersion} is above 7`
  if (protocol.minWriterVersion >= 3 && protocol.minWriterVersion <= 6) {
    return `writer version ${protocol.minWriterVersion} needs features not implemented (check constraints, ` +
      "change data feed, generated columns, column mapping or identity columns)"
  }
  if (protocol.minWriterVersion === 7) {
    const unknown = (protocol.writerFeatures ?? []).filter((feature) => !supportedWriterFeatures.has(feature))
    if (unknown.length > 0) return `writer features not implemented: ${unknown.join(", ")}`
  }
  if (metadata !== undefined) {
    try {
      if (hasFieldMetadata(parseSchemaString(metadata.schemaString), "delta.invariants")) {
        return "column invariants (delta.invariants) are not enforced by this writer"
      }
    } catch {
      return "invalid schemaString"
    }
    if (metadata.format.provider !== "parquet") return `data format ${metadata.format.provider} is not parquet`
    // The txn actions are the stream's positions: once expired (another engine's log checkpoint drops them), a
    // quiet partition would be read again from startingOffsets, duplicating or skipping records.
    const retention = metadata.configuration[txnRetentionProperty]
    if (retention !== undefined) {
      return `${txnRetentionProperty}=${retention} lets the txn entries that record how far each partition was read ` +
        `expire, so a quiet partition would be read again from startingOffsets; unset it (ALTER TABLE ... UNSET ` +
        `TBLPROPERTIES ('${txnRetentionProperty}'))`
    }
  }
  return undefined
}
