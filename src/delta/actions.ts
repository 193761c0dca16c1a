/**
 * Delta log actions (PROTOCOL.md §Actions): their types, and the NDJSON form of a commit file. A commit is one
 * JSON object per line, each with exactly one key naming the action. Unknown actions are kept as opaque values so
 * a replay can see (and refuse) what it does not understand.
 */

/** `protocol`: the reader/writer versions and table features a client must implement. */
export interface Protocol {
  readonly minReaderVersion: number
  readonly minWriterVersion: number
  readonly readerFeatures?: ReadonlyArray<string> | undefined
  readonly writerFeatures?: ReadonlyArray<string> | undefined
}

/** `metaData`: schema, partition columns and configuration; a new one replaces the previous one completely. */
export interface Metadata {
  readonly id: string
  readonly name?: string | null | undefined
  readonly description?: string | null | undefined
  readonly format: { readonly provider: string; readonly options: Readonly<Record<string, string>> }
  readonly schemaString: string
  readonly partitionColumns: ReadonlyArray<string>
  readonly configuration: Readonly<Record<string, string>>
  readonly createdTime?: number | null | undefined
}

/** `add`: a data file that becomes part of the table. */
export interface AddFile {
  readonly path: string
  readonly partitionValues: Readonly<Record<string, string | null>>
  readonly size: number
  readonly modificationTime: number
  readonly dataChange: boolean
  readonly stats?: string | null | undefined
  readonly tags?: Readonly<Record<string, string>> | null | undefined
}

/** `remove`: a tombstone for a data file that left the table. */
export interface RemoveFile {
  readonly path: string
  readonly deletionTimestamp?: number | null | undefined
  readonly dataChange: boolean
  readonly extendedFileMetadata?: boolean | null | undefined
  readonly partitionValues?: Readonly<Record<string, string | null>> | null | undefined
  readonly size?: number | null | undefined
}

/** `txn`: how far the application `appId` has written (our source-partition offsets). */
export interface Txn {
  readonly appId: string
  readonly version: number
  readonly lastUpdated?: number | null | undefined
}

/** `commitInfo`: free-form provenance; never kept in log checkpoints. */
export type CommitInfo = Readonly<Record<string, unknown>>

/** One line of a commit file. */
export type Action =
  | { readonly protocol: Protocol }
  | { readonly metaData: Metadata }
  | { readonly add: AddFile }
  | { readonly remove: RemoveFile }
  | { readonly txn: Txn }
  | { readonly commitInfo: CommitInfo }
  | { readonly unknown: { readonly key: string; readonly value: unknown } }

/** The key every action is stored under, in the order Spark writes them (commitInfo first). */
export const actionKeys = ["commitInfo", "protocol", "metaData", "txn", "add", "remove"] as const

/** `_delta_log/%020d.json`. */
export const commitPath = (version: number): string => `_delta_log/${String(version).padStart(20, "0")}.json`

/** `_delta_log/%020d.checkpoint.parquet`. */
export const checkpointPath = (version: number): string =>
  `_delta_log/${String(version).padStart(20, "0")}.checkpoint.parquet`

/** The version of a `_delta_log` commit file name, or undefined for other files. */
export const commitVersionOf = (name: string): number | undefined => {
  const match = /^(\d{20})\.json$/.exec(name)
  return match?.[1] === undefined ? undefined : Number(match[1])
}

/** A classic single-file or multi-part checkpoint file name: its version, part and part count. */
export const checkpointNameOf = (
  name: string
): { readonly version: number; readonly part: number; readonly parts: number } | undefined => {
  const single = /^(\d{20})\.checkpoint\.parquet$/.exec(name)
  if (single?.[1] !== undefined) return { version: Number(single[1]), part: 1, parts: 1 }
  const multi = /^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$/.exec(name)
  if (multi?.[1] !== undefined && multi[2] !== undefined && multi[3] !== undefined) {
    return { version: Number(multi[1]), part: Number(multi[2]), parts: Number(multi[3]) }
  }
  return undefined
}

const stripUndefined = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

/** Serializes actions as a commit file: one JSON object per line, newline-terminated. */
export const serializeActions = (actions: ReadonlyArray<Action>): string =>
  actions.map((action) => {
    if ("unknown" in action) return JSON.stringify({ [action.unknown.key]: action.unknown.value })
    return JSON.stringify(stripUndefined(action))
  }).join("\n") + "\n"

/** Thrown by `parseActions` on a line that is not a JSON object with one key. */
export class MalformedLogError extends Error {}

/** Parses a commit file. Blank lines are ignored; unknown keys become `unknown` actions. */
export const parseActions = (text: string): Array<Action> => {
  const actions: Array<Action> = []
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch (error) {
      throw new MalformedLogError(`not JSON: ${String(error)}`)
    }
    if (typeof parsed !== "object" || parsed === null) throw new MalformedLogError(`not an object: ${line}`)
    const keys = Object.keys(parsed)
    const key = keys[0]
    if (keys.length !== 1 || key === undefined) throw new MalformedLogError(`expected one key: ${line.slice(0, 200)}`)
    const value = (parsed as Record<string, unknown>)[key]
    switch (key) {
      case "protocol":
      case "metaData":
      case "add":
      case "remove":
      case "txn":
      case "commitInfo":
        actions.push({ [key]: value } as Action)
        break
      default:
        actions.push({ unknown: { key, value } })
    }
  }
  return actions
}
