/**
 * The checkpoint file formats: one JSON document per planned batch (`offsets/<batchId>`) and per committed batch
 * (`commits/<batchId>`), like Spark's checkpoint directory. Parsing is strict: a file that does not have the
 * expected shape is reported as corrupt, never read as "no progress".
 */
import { Option, Result, Schema } from "effect"
import type { BatchCommit, BatchPlan } from "../services/CheckpointStore.ts"

const Offset = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)))

const PlanFile = Schema.Struct({
  version: Schema.Literal(1),
  batchId: Offset,
  topic: Schema.String,
  ranges: Schema.Array(Schema.Struct({ partition: Offset, from: Offset, until: Offset })),
  plannedAt: Schema.Number
})

const CommitFile = Schema.Struct({
  version: Schema.Literal(1),
  batchId: Offset,
  deltaVersion: Offset,
  committedAt: Schema.Number
})

/** The text of a plan file. */
export const encodePlan = (plan: BatchPlan): string => JSON.stringify({ version: 1, ...plan })

/** The text of a commit file. */
export const encodeCommit = (commit: BatchCommit): string => JSON.stringify({ version: 1, ...commit })

const parse = <A>(schema: Schema.Decoder<A>, text: string): Result.Result<A, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Result.fail(text.length === 0 ? "empty file" : `not JSON: ${(error as Error).message}`)
  }
  const decoded = Schema.decodeUnknownResult(schema)(json)
  return Result.isSuccess(decoded) ? Result.succeed(decoded.success) : Result.fail(decoded.failure.message.split("\n")[0] ?? "bad shape")
}

/** Parses a plan file's text, or says why it is corrupt. */
export const decodePlan = (text: string): Result.Result<BatchPlan, string> =>
  Result.map(parse(PlanFile, text), ({ version: _, ...plan }) => plan)

/** Parses a commit file's text, or says why it is corrupt. */
export const decodeCommit = (text: string): Result.Result<BatchCommit, string> =>
  Result.map(parse(CommitFile, text), ({ version: _, ...commit }) => commit)

/** The batch id a checkpoint file name stands for (`"42"` -> 42); none for temp files and strangers. */
export const batchIdOfFileName = (name: string): Option.Option<number> =>
  /^(0|[1-9][0-9]{0,15})$/.test(name) ? Option.some(Number(name)) : Option.none()
