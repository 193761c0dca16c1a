/**
 * An in-memory DeltaSink for unit tests: tables as lists of commits holding Arrow tables and txn versions, with
 * the same txn and schema rules as the Delta writer, and a switch that simulates a crash at a chosen stage of an
 * append. No Parquet is written; for the protocol over memory use `layers/delta-sink/memory-storage.ts`.
 */
import type * as Arrow from "apache-arrow"
import { Effect, Layer, Option } from "effect"
import {
  type AppendRequest,
  ConcurrentStreamError,
  DeltaSink,
  SchemaMismatchError
} from "../../src/services/DeltaSink.ts"

/** One commit of an in-memory table. */
export interface MemoryCommit {
  readonly version: number
  readonly data: ReadonlyArray<Arrow.Table>
  readonly txns: ReadonlyMap<string, number>
  readonly operationParameters: Readonly<Record<string, string>>
}

/** One in-memory table. */
export interface MemoryTable {
  schema: Arrow.Schema
  readonly partitionBy: ReadonlyArray<string>
  readonly commits: Array<MemoryCommit>
  readonly txns: Map<string, number>
  /** Data written by appends that crashed before their commit (what vacuum would find). */
  orphanBatches: number
}

/** Where an append can be made to crash (the process dies: the append's effect becomes a defect). */
export type CrashPoint = "before-write" | "after-files" | "after-commit"

/** The simulated crash, raised as a defect so no error handler treats it as a normal failure. */
export class SimulatedCrash extends Error {
  readonly point: CrashPoint
  constructor(point: CrashPoint) {
    super(`simulated crash at ${point}`)
    this.point = point
  }
}

/** Tables by location. Inspect it from the test. */
export class MemoryDelta {
  readonly tables = new Map<string, MemoryTable>()
  /** The next append crashes here (or the append numbered `crashOnAppend`), then the switch resets. */
  crashAt: CrashPoint | undefined = undefined
  /** With `crashAt`: which append crashes, counting every append from 1 (0: the next one). */
  crashOnAppend = 0
  /** Appends attempted so far. */
  appends = 0

  /** Every row of the table at `location` as plain objects, in commit order. */
  rows(location: string): Array<Record<string, unknown>> {
    const table = this.tables.get(location)
    if (table === undefined) return []
    return table.commits.flatMap((commit) =>
      commit.data.flatMap((segment) => segment.toArray().map((row) => row.toJSON() as Record<string, unknown>))
    )
  }
}

const fieldProblems = (table: string, current: Arrow.Schema, incoming: Arrow.Schema, merge: boolean) => {
  const problems: Array<string> = []
  const byName = new Map(current.fields.map((field) => [field.name, field]))
  for (const field of incoming.fields) {
    const existing = byName.get(field.name)
    if (existing === undefined) {
      if (!field.nullable) problems.push(`${field.name}: required field added (only nullable fields can be added)`)
      else if (!merge) problems.push(`${field.name}: not in the table and mergeSchema is off`)
    } else if (String(existing.type) !== String(field.type)) {
      problems.push(`${field.name}: type ${String(existing.type)} in the table, ${String(field.type)} in the batch`)
    } else if (!existing.nullable && field.nullable) {
      problems.push(`${field.name}: non-nullable in the table, nullable in the batch`)
    }
  }
  const incomingNames = new Set(incoming.fields.map((field) => field.name))
  for (const field of current.fields) {
    if (!incomingNames.has(field.name) && !field.nullable) {
      problems.push(`${field.name}: non-nullable field missing from the batch`)
    }
  }
  return problems.length === 0 ? Option.none() : Option.some(new SchemaMismatchError({ table, problems }))
}

/** A DeltaSink over `delta`. */
export const make = (delta: MemoryDelta): DeltaSink["Service"] => {
  const crashIf = (point: CrashPoint) =>
    Effect.suspend(() => {
      if (delta.crashAt !== point) return Effect.void
      if (delta.crashOnAppend !== 0 && delta.crashOnAppend !== delta.appends) return Effect.void
      delta.crashAt = undefined
      return Effect.die(new SimulatedCrash(point))
    })
  const append = (request: AppendRequest) =>
    Effect.gen(function*() {
      const location = request.table.location
      delta.appends++
      yield* crashIf("before-write")
      const existing = delta.tables.get(location)
      if (existing !== undefined) {
        const mismatch = fieldProblems(request.table.name, existing.schema, request.schema, request.mergeSchema ?? true)
        if (Option.isSome(mismatch)) return yield* mismatch.value
      }
      if (delta.crashAt === "after-files" && existing !== undefined && (delta.crashOnAppend === 0 || delta.crashOnAppend === delta.appends)) existing.orphanBatches++
      yield* crashIf("after-files")
      for (const txn of request.txns) {
        const found = existing?.txns.get(txn.appId)
        if (found !== txn.expected) {
          return yield* new ConcurrentStreamError({
            table: request.table.name,
            appId: txn.appId,
            ...(txn.expected === undefined ? {} : { expected: txn.expected }),
            ...(found === undefined ? {} : { found })
          })
        }
      }
      const table: MemoryTable = existing ?? {
        schema: request.schema,
        partitionBy: request.partitionBy,
        commits: [],
        txns: new Map(),
        orphanBatches: 0
      }
      let schemaChanged = false
      if (existing !== undefined) {
        const known = new Set(existing.schema.fields.map((field) => field.name))
        const added = request.schema.fields.filter((field) => !known.has(field.name))
        if (added.length > 0) {
          table.schema = existing.schema.assign(added)
          schemaChanged = true
        }
      }
      const version = table.commits.length
      table.commits.push({
        version,
        data: request.data,
        txns: new Map(request.txns.map((txn) => [txn.appId, txn.version])),
        operationParameters: request.operationParameters
      })
      for (const txn of request.txns) table.txns.set(txn.appId, txn.version)
      delta.tables.set(location, table)
      yield* crashIf("after-commit")
      return { version, rows: request.data.reduce((n, segment) => n + segment.numRows, 0), files: request.data.length, bytes: 0, schemaChanged, conflicts: 0 }
    })
  return DeltaSink.of({
    version: (table) =>
      Effect.sync(() => Option.map(Option.fromNullishOr(delta.tables.get(table.location)), (t) => t.commits.length - 1)),
    schema: (table) => Effect.sync(() => Option.map(Option.fromNullishOr(delta.tables.get(table.location)), (t) => t.schema)),
    txnVersions: (table, prefix) =>
      Effect.sync(() =>
        new Map([...(delta.tables.get(table.location)?.txns ?? new Map<string, number>())].filter(([appId]) => appId.startsWith(prefix)))
      ),
    append
  })
}

/** The in-memory DeltaSink layer over `delta`. */
export const layer = (delta: MemoryDelta): Layer.Layer<DeltaSink> => Layer.succeed(DeltaSink, make(delta))
