/**
 * Reads a Spark Structured Streaming checkpoint directory (the notebook's) to learn where its Kafka query
 * stopped: `metadata` (the query id), `offsets/<batch>` (per planned batch: a version line, a metadata line,
 * then one line per source, the Kafka source's `{"<topic>":{"<partition>":<offset>}}` end offsets),
 * `commits/<batch>` (the batch was written) and `sources/0/0` (the initial offsets). The directory is read
 * through `CheckpointFiles`, a read-only slice of the Delta storage interface, so an object store that
 * implements that interface serves Spark checkpoints too. Nothing here writes to the checkpoint.
 */
import { Effect, Option, Schema } from "effect"
import type { DeltaStorageError } from "../services/DeltaSink.ts"
import type { DeltaStorage } from "../delta/storage.ts"

/** What reading a Spark checkpoint needs of its storage: read and list, paths relative to the checkpoint root. */
export type CheckpointFiles = Pick<DeltaStorage, "location" | "read" | "list">

/** A checkpoint file is missing, unreadable or not in Spark's format. Names the file and what was wrong. */
export class SparkCheckpointError extends Schema.TaggedError<SparkCheckpointError>()("SparkCheckpointError", {
  checkpoint: Schema.String,
  file: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Spark checkpoint ${this.checkpoint}: ${this.file}: ${this.reason}; is --from-spark-checkpoint the checkpointLocation of the notebook's Kafka query?`
  }
}

/** Kafka offsets per topic and partition, as the Kafka source writes them. */
export type KafkaOffsets = ReadonlyMap<string, ReadonlyMap<number, number>>

/** One `offsets/<batch>` file: the end offsets of the batch (exclusive: the next offset to read). */
export interface OffsetLogEntry {
  readonly batchId: number
  readonly offsets: KafkaOffsets
}

/** A checkpoint as far as continuing it needs. */
export interface SparkCheckpoint {
  readonly location: string
  /** The query id from `metadata`: the Delta sink's txn appId. */
  readonly queryId: string
  /** Ids of the batches with a `commits/` file, ascending. */
  readonly committed: ReadonlyArray<number>
  /** Ids of the batches with an `offsets/` file, ascending. */
  readonly planned: ReadonlyArray<number>
  /** The `offsets/` entries of the last committed batch and of every later planned batch. */
  readonly entries: ReadonlyMap<number, OffsetLogEntry>
  /** The initial offsets (`sources/0/0`), when the file is there. */
  readonly initial: KafkaOffsets | undefined
}

type Parsed<A> = A | { readonly problem: string }

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const parseJson = (text: string): { readonly json: unknown } | { readonly problem: string } => {
  try {
    return { json: JSON.parse(text) as unknown }
  } catch (error) {
    return { problem: `not JSON (${error instanceof Error ? error.message : String(error)}): ${text.slice(0, 80)}` }
  }
}

/** The Kafka source's offsets JSON, `{"<topic>":{"<partition>":<offset>}}`. */
export const parseKafkaOffsets = (text: string): Parsed<{ readonly offsets: KafkaOffsets }> => {
  const parsed = parseJson(text)
  if ("problem" in parsed) return parsed
  const json = parsed.json
  if (!isObject(json)) return { problem: `expected {"<topic>":{"<partition>":<offset>}}, found ${text.slice(0, 80)}` }
  const offsets = new Map<string, Map<number, number>>()
  for (const [topic, partitions] of Object.entries(json)) {
    if (!isObject(partitions)) return { problem: `topic ${topic}: expected {"<partition>":<offset>}, found ${JSON.stringify(partitions)}` }
    const byPartition = new Map<number, number>()
    for (const [partition, offset] of Object.entries(partitions)) {
      if (!/^(0|[1-9][0-9]*)$/.test(partition)) return { problem: `topic ${topic}: partition "${partition}" is not a number` }
      if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
        return { problem: `topic ${topic} partition ${partition}: offset ${JSON.stringify(offset)} is not a resolved offset (>= 0)` }
      }
      byPartition.set(Number(partition), offset)
    }
    offsets.set(topic, byPartition)
  }
  return { offsets }
}

const versionLine = (line: string | undefined): Parsed<{ readonly version: number }> => {
  const match = /^v([0-9]+)$/.exec(line ?? "")
  return match === null ? { problem: `first line should be a version like "v1", found ${JSON.stringify(line ?? "")}` } : { version: Number(match[1]) }
}

const linesOf = (text: string): Array<string> => text.split("\n").map((line) => line.replace(/\r$/, "")).filter((line) => line !== "")

/** `metadata`: `{"id":"<query id>"}`. */
export const parseMetadata = (text: string): Parsed<{ readonly queryId: string }> => {
  const parsed = parseJson(text.trim())
  if ("problem" in parsed) return parsed
  const json = parsed.json
  if (!isObject(json) || typeof json["id"] !== "string" || json["id"] === "") return { problem: `expected {"id":"<query id>"}, found ${text.trim().slice(0, 80)}` }
  return { queryId: json["id"] }
}

/**
 * `offsets/<batch>`: a version line, a metadata JSON line, then one line per source. The Kafka source must be the
 * only source (a join of several sources is not the notebook's query).
 */
export const parseOffsetLog = (text: string): Parsed<{ readonly offsets: KafkaOffsets }> => {
  const lines = linesOf(text)
  const version = versionLine(lines[0])
  if ("problem" in version) return version
  if (lines.length < 3) return { problem: `expected a version line, a metadata line and the Kafka source's offsets, found ${lines.length} line(s)` }
  const metadata = parseJson(lines[1]!)
  if ("problem" in metadata) return { problem: `line 2 (batch metadata): ${metadata.problem}` }
  const sources = lines.slice(2)
  if (sources.length !== 1) return { problem: `the query has ${sources.length} sources; only a query with one Kafka source can be continued` }
  if (sources[0] === "-") return { problem: "the Kafka source has no offsets in this batch" }
  const offsets = parseKafkaOffsets(sources[0]!)
  return "problem" in offsets ? { problem: `line 3 (Kafka source offsets): ${offsets.problem}` } : offsets
}

/** `commits/<batch>`: a version line, then a metadata JSON line. */
export const parseCommitLog = (text: string): Parsed<{ readonly version: number }> => {
  const lines = linesOf(text)
  const version = versionLine(lines[0])
  if ("problem" in version) return version
  if (lines[1] !== undefined && "problem" in parseJson(lines[1])) return { problem: `line 2 is not JSON: ${lines[1].slice(0, 80)}` }
  return version
}

/**
 * `sources/0/0`: the Kafka source's initial offsets. Older Spark versions wrote a NUL byte before the version
 * line; it is skipped.
 */
export const parseInitialOffsets = (text: string): Parsed<{ readonly offsets: KafkaOffsets }> => {
  const lines = linesOf(text.replace(/^\u0000+/, ""))
  const version = versionLine(lines[0])
  if ("problem" in version) return version
  if (lines[1] === undefined) return { problem: "no offsets after the version line" }
  return parseKafkaOffsets(lines[1])
}

/** Batch ids of a log directory: files named by a number (Spark's `.N.crc` and temp files are skipped). */
const batchIdsOf = (paths: ReadonlyArray<{ readonly path: string }>): Array<number> =>
  paths
    .map((info) => info.path.slice(info.path.lastIndexOf("/") + 1))
    .filter((name) => /^(0|[1-9][0-9]*)$/.test(name))
    .map(Number)
    .sort((a, b) => a - b)

/** The batch ids in `offsets/`: what the query planned so far (watching it tells whether it is running). */
export const plannedBatches = (files: CheckpointFiles): Effect.Effect<ReadonlyArray<number>, SparkCheckpointError> =>
  files.list("offsets").pipe(
    Effect.map(batchIdsOf),
    Effect.mapError((error: DeltaStorageError) => new SparkCheckpointError({ checkpoint: files.location, file: "offsets/", reason: error.reason }))
  )

/** Reads and parses one file; a missing file is `undefined` unless `required`. */
const readParsed = <A>(
  files: CheckpointFiles,
  file: string,
  parse: (text: string) => Parsed<A>
): Effect.Effect<A | undefined, SparkCheckpointError> =>
  Effect.gen(function*() {
    const fail = (reason: string) => new SparkCheckpointError({ checkpoint: files.location, file, reason })
    const data = yield* files.read(file).pipe(Effect.mapError((error) => fail(error.reason)))
    if (Option.isNone(data)) return undefined
    const parsed = parse(new TextDecoder().decode(data.value))
    if (isObject(parsed) && "problem" in parsed && typeof parsed.problem === "string") return yield* fail(parsed.problem)
    return parsed as A
  })

/** Reads the checkpoint: the query id, which batches were planned and committed, and the offsets that matter. */
export const readSparkCheckpoint = (files: CheckpointFiles): Effect.Effect<SparkCheckpoint, SparkCheckpointError> =>
  Effect.gen(function*() {
    const fail = (file: string, reason: string) => new SparkCheckpointError({ checkpoint: files.location, file, reason })
    const metadata = yield* readParsed(files, "metadata", parseMetadata)
    if (metadata === undefined) return yield* fail("metadata", "missing (no query id)")
    const planned = yield* plannedBatches(files)
    const committedFiles = yield* files.list("commits").pipe(Effect.mapError((error) => fail("commits/", error.reason)))
    const committed = batchIdsOf(committedFiles)
    for (const batchId of committed) {
      if (!planned.includes(batchId)) return yield* fail(`commits/${batchId}`, `batch ${batchId} is committed but offsets/${batchId} is missing`)
    }
    const last = committed.at(-1)
    const entries = new Map<number, OffsetLogEntry>()
    for (const batchId of planned) {
      if (last !== undefined && batchId < last) continue
      if (last !== undefined && batchId === last) {
        yield* readParsed(files, `commits/${batchId}`, parseCommitLog)
      }
      const entry = yield* readParsed(files, `offsets/${batchId}`, parseOffsetLog)
      if (entry === undefined) return yield* fail(`offsets/${batchId}`, "vanished while reading the checkpoint (is the query running?)")
      entries.set(batchId, { batchId, offsets: entry.offsets })
    }
    const initial = yield* readParsed(files, "sources/0/0", parseInitialOffsets)
    return {
      location: files.location,
      queryId: metadata.queryId,
      committed,
      planned,
      entries,
      initial: initial?.offsets
    } satisfies SparkCheckpoint
  })
