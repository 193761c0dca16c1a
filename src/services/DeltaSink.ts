/**
 * The DeltaSink service: appends batches to Delta tables, one Delta commit per batch, and answers what the
 * table already holds (its schema and the txn versions that record how far each source partition was read).
 *
 * Data crosses this boundary as Apache Arrow tables: the Arrow schema is the table schema (Delta/Spark types
 * map one-to-one to Arrow types: Int32 integer, Int64 long, Utf8 string, Binary binary, Decimal decimal(p,s),
 * Date32 date, Timestamp(us, "UTC") timestamp, Timestamp(us) timestamp_ntz, List array, Map map, Struct struct).
 */
import type * as Arrow from "apache-arrow"
import { Context, Effect, Option, Schema } from "effect"
import type { OptimizeConflictError, OptimizeResult } from "../delta/optimize.ts"

/** A Delta table: its name (for messages and metadata) and where it is stored. */
export interface TableRef {
  /** `<catalog>.<schema>.<table>`. */
  readonly name: string
  /** The table root: a local path or an object-store URL (`s3://`, `s3a://`, `abfss://`, `az://`). */
  readonly location: string
}

/** One `txn` action: `version` is the next offset to read of the source partition named by `appId`. */
export interface TxnUpdate {
  readonly appId: string
  readonly version: number
  /**
   * The version this writer last saw for `appId` (undefined: none). If the table holds another one at commit
   * time, another writer owns the stream and the commit stops with `ConcurrentStreamError`.
   */
  readonly expected: number | undefined
}

/** A batch to append in one Delta commit. */
export interface AppendRequest {
  readonly table: TableRef
  /**
   * The batch schema: the union of the segments' schemas. It is merged into the table schema when it only adds
   * nullable fields; otherwise the append fails with SchemaMismatchError.
   */
  readonly schema: Arrow.Schema
  /**
   * The rows, as one or more segments. Each segment's schema is a subset of `schema` (a segment decoded before a
   * wider writer schema appeared lacks the new nullable fields); segments may be written to separate files, whose
   * missing columns readers see as null.
   */
  readonly data: ReadonlyArray<Arrow.Table>
  /** Partition columns, used when the commit creates the table; must match an existing table's. */
  readonly partitionBy: ReadonlyArray<string>
  readonly txns: ReadonlyArray<TxnUpdate>
  /** Free-form facts for `commitInfo.operationParameters` (stream id, batch id). */
  readonly operationParameters: Readonly<Record<string, string>>
  /** Add nullable fields that the table lacks to its schema (default true). */
  readonly mergeSchema?: boolean
}

/** What one commit wrote. */
export interface CommitResult {
  readonly version: number
  readonly rows: number
  readonly files: number
  /** Bytes of Parquet written. */
  readonly bytes: number
  readonly schemaChanged: boolean
  /** Versions other writers took first, which the commit retried past (each a lost race). */
  readonly conflicts: number
}

/** The batch schema does not fit the table schema. Fatal: names the columns and why. */
export class SchemaMismatchError extends Schema.TaggedError<SchemaMismatchError>()("SchemaMismatchError", {
  table: Schema.String,
  problems: Schema.Array(Schema.String)
}) {
  override get message() {
    return `schema of table ${this.table} cannot take this batch: ${this.problems.join("; ")}`
  }
}

/** Another writer committed a txn for one of this stream's appIds. Fatal: two processes run one stream. */
export class ConcurrentStreamError extends Schema.TaggedError<ConcurrentStreamError>()("ConcurrentStreamError", {
  table: Schema.String,
  appId: Schema.String,
  expected: Schema.optional(Schema.Number),
  found: Schema.optional(Schema.Number)
}) {
  override get message() {
    return `another writer is running this stream: table ${this.table} has txn ${this.appId}=${this.found ?? "none"}, expected ${this.expected ?? "none"}`
  }
}

/** The table uses a protocol or feature this writer does not implement. Fatal. */
export class UnsupportedTableError extends Schema.TaggedError<UnsupportedTableError>()("UnsupportedTableError", {
  table: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `table ${this.table} cannot be written by kafka-delta: ${this.reason}`
  }
}

/**
 * While this writer committed a batch, another writer replaced the table or changed its partitioning: the batch's
 * files are laid out for the table as it was, so nothing was committed. Fatal: check the other writer, then restart.
 */
export class ConcurrentTableChangeError extends Schema.TaggedError<ConcurrentTableChangeError>()("ConcurrentTableChangeError", {
  table: Schema.String,
  /** The table version the change was seen at. */
  version: Schema.Number,
  change: Schema.String
}) {
  override get message() {
    return `table ${this.table} was changed by another writer by version ${this.version} (${this.change}) while this batch was being committed; nothing was committed: check that writer, then restart the stream`
  }
}

/** Storage failed (I/O, permissions, a corrupt log). `transient` says whether a retry may help. */
export class DeltaStorageError extends Schema.TaggedError<DeltaStorageError>()("DeltaStorageError", {
  table: Schema.String,
  path: Schema.String,
  reason: Schema.String,
  transient: Schema.Boolean
}) {
  override get message() {
    return `Delta table ${this.table}: ${this.reason} (${this.path})`
  }
}

/** Errors of reading a table. */
export type DeltaReadError = DeltaStorageError | UnsupportedTableError

/** Errors of appending to a table. */
export type DeltaAppendError = DeltaReadError | SchemaMismatchError | ConcurrentStreamError | ConcurrentTableChangeError

/** Writes and inspects Delta tables. */
export class DeltaSink extends Context.Service<DeltaSink, {
  /** The table's latest version, or none when the table does not exist yet. */
  readonly version: (table: TableRef) => Effect.Effect<Option.Option<number>, DeltaReadError>
  /** The table's schema, or none when the table does not exist yet. */
  readonly schema: (table: TableRef) => Effect.Effect<Option.Option<Arrow.Schema>, DeltaReadError>
  /** The latest txn version of every appId starting with `appIdPrefix`. */
  readonly txnVersions: (
    table: TableRef,
    appIdPrefix: string
  ) => Effect.Effect<ReadonlyMap<string, number>, DeltaReadError>
  /** Appends one batch as one commit; creates the table on first write. */
  readonly append: (request: AppendRequest) => Effect.Effect<CommitResult, DeltaAppendError>
  /** Compacts the table's oldest small files when enough exist (auto-compaction); absent where not supported. */
  readonly compact?: (
    table: TableRef,
    options: { readonly minSmallFiles: number; readonly maxInputBytes: number }
  ) => Effect.Effect<OptimizeResult | undefined, DeltaAppendError | OptimizeConflictError>
}>()("kafka-delta/services/DeltaSink") {}
