/**
 * The plan of an OPTIMIZE: within each partition value, the files smaller than the target size packed, oldest
 * first, into bins whose inputs add up to at most the target (a bin of one file is left alone: rewriting it gains
 * nothing). Oldest first keeps rows that arrived together in one file, which keeps per-file min/max tight on a
 * streamed table. Pure; the target comes from `delta.targetFileSize` unless given.
 */
import type { AddFile } from "./actions.ts"
import { defaultTargetFileSize } from "./parquet.ts"
import type { Snapshot } from "./snapshot.ts"

/** One output file: the inputs it replaces, all of one partition value. */
export interface Bin {
  readonly partitionValues: Readonly<Record<string, string | null>>
  readonly files: ReadonlyArray<AddFile>
  /** Bytes of the inputs. */
  readonly bytes: number
}

/** Options of `planBins`. */
export interface BinOptions {
  /** Bytes per output file. */
  readonly targetFileSize: number
  /** Stop planning after this many input bytes (auto-compaction's bound per run); unbounded when absent. */
  readonly maxInputBytes?: number
}

const units: Record<string, number> = { b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 }

/** Bytes of a size setting such as `134217728`, `128mb` or `1g`, or undefined when unreadable. */
export const parseSize = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text)
  if (match === null) return undefined
  const unit = match[2] === "" ? 1 : units[match[2]!.toLowerCase()]
  const value = unit === undefined ? undefined : Number(match[1]) * unit
  return value !== undefined && value > 0 ? value : undefined
}

/** The table's `delta.targetFileSize`, else the default (128 MiB). */
export const targetFileSizeOf = (snapshot: Snapshot): number =>
  parseSize(snapshot.metadata.configuration["delta.targetFileSize"]) ?? defaultTargetFileSize

const partitionKey = (values: Readonly<Record<string, string | null>>) =>
  JSON.stringify(Object.keys(values).sort().map((key) => [key, values[key]]))

/** Files of the snapshot smaller than the target: the ones compaction would rewrite. */
export const smallFiles = (snapshot: Snapshot, targetFileSize: number): Array<AddFile> =>
  [...snapshot.files.values()].filter((file) => file.size < targetFileSize)

/** The bins of an optimize of `snapshot`, oldest files first. */
export const planBins = (snapshot: Snapshot, options: BinOptions): Array<Bin> => {
  const candidates = smallFiles(snapshot, options.targetFileSize)
    .sort((a, b) => a.modificationTime - b.modificationTime || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const open = new Map<string, { partitionValues: AddFile["partitionValues"]; files: Array<AddFile>; bytes: number }>()
  const bins: Array<Bin> = []
  let planned = 0
  const close = (key: string) => {
    const bin = open.get(key)
    open.delete(key)
    if (bin !== undefined && bin.files.length > 1) {
      bins.push(bin)
      planned += bin.bytes
    }
  }
  for (const file of candidates) {
    if (options.maxInputBytes !== undefined && planned >= options.maxInputBytes) break
    const key = partitionKey(file.partitionValues)
    const bin = open.get(key)
    if (bin !== undefined && bin.bytes + file.size > options.targetFileSize) close(key)
    const current = open.get(key) ?? { partitionValues: file.partitionValues, files: [], bytes: 0 }
    current.files.push(file)
    current.bytes += file.size
    open.set(key, current)
  }
  for (const key of [...open.keys()]) close(key)
  return bins
}
