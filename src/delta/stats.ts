/**
 * Per-file statistics for `add.stats` (numRecords, minValues, maxValues, nullCount), computed from the Arrow
 * columns of the file as Spark computes them: the columns of `delta.dataSkippingStatsColumns`, else the first
 * `delta.dataSkippingNumIndexedCols` (32) leaf columns,
 * min/max only for numbers, decimals, dates, timestamps and strings, strings cut to a 32-character prefix (max
 * with a tie-breaker), timestamps at millisecond precision in UTC, decimals and longs printed exactly, and no
 * NaN, infinities or dates and timestamps outside years 1-9999 (the column's min/max are left out instead).
 */
import * as Arrow from "apache-arrow"
import { isValid } from "./arrow-data.ts"
import type { DeltaStructType, DeltaType } from "./schema.ts"
import { dateInRange, formatDate, formatDecimal, formatFloat32, formatTimestampMillis, timestampInRange } from "./value-text.ts"

/** A JSON number given as exact text (longs, decimals), so it never passes through a double. */
class Raw {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

type StatValue = string | number | Raw
type StatTree = Map<string, StatValue | StatTree>

const toJson = (value: StatValue | StatTree): string => {
  if (value instanceof Raw) return value.text
  if (value instanceof Map) return `{${[...value].map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(",")}}`
  return JSON.stringify(value)
}

/** Spark's default string prefix length for min/max. */
export const defaultStringPrefix = 32
/** Spark's default number of indexed leaf columns. */
export const defaultIndexedColumns = 32

/** The lower bound Spark keeps for a string: its first `prefix` code points. */
export const truncateMin = (value: string, prefix = defaultStringPrefix): string => {
  const points = Array.from(value)
  return points.length <= prefix ? value : points.slice(0, prefix).join("")
}

/** The upper bound Spark keeps for a string: a prefix plus a tie-breaker, or undefined when none exists. */
export const truncateMax = (value: string, prefix = defaultStringPrefix): string | undefined => {
  const points = Array.from(value)
  if (points.length <= prefix) return value
  for (let index = prefix; index < points.length; index++) {
    const next = points[index]!.codePointAt(0)!
    if (next < 0x7f) return points.slice(0, index).join("") + "\u007f"
    if (next < 0x10ffff) return points.slice(0, index).join("") + String.fromCodePoint(0x10ffff)
  }
  return undefined
}

/** Valid-row mask of the enclosing structs for one chunk (undefined: all valid). */
type Mask = Uint8Array | undefined

const combine = (data: Arrow.Data, parent: Mask): Mask => {
  if (data.nullCount === 0 && parent === undefined) return undefined
  const mask = new Uint8Array(data.length)
  for (let i = 0; i < data.length; i++) mask[i] = (parent === undefined || parent[i] === 1) && isValid(data, i) ? 1 : 0
  return mask
}

interface Leaf {
  nulls: number
  min: StatValue | undefined
  max: StatValue | undefined
}

const compareBytes = (a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number) => {
  const n = Math.min(aEnd - aStart, bEnd - bStart)
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i]! - b[bStart + i]!
    if (d !== 0) return d
  }
  return aEnd - aStart - (bEnd - bStart)
}

const decoder = new TextDecoder()

const leafStats = (type: DeltaType, chunks: ReadonlyArray<{ data: Arrow.Data; mask: Mask }>, prefix: number): Leaf => {
  let nulls = 0
  // per chunk: undefined when every row is valid, so the loops below skip the per-row check (the common case)
  const validityOf = (data: Arrow.Data, mask: Mask): ((i: number) => boolean) | undefined => {
    const bitmap = data.nullCount > 0 && data.nullBitmap !== undefined && data.nullBitmap.length > 0 ? data.nullBitmap : undefined
    if (mask === undefined && bitmap === undefined) return undefined
    const offset = data.offset
    if (bitmap === undefined) return (i) => mask![i] === 1
    return (i) => (mask === undefined || mask[i] === 1) && ((bitmap[(offset + i) >> 3]! >> ((offset + i) & 7)) & 1) === 1
  }
  for (const { data, mask } of chunks) {
    if (mask === undefined) nulls += data.nullCount
    else for (let i = 0; i < data.length; i++) if (!((mask[i] === 1) && isValid(data, i))) nulls++
  }
  if (typeof type !== "string") return { nulls, min: undefined, max: undefined }
  const numeric = ["byte", "short", "integer", "float", "double", "date"].includes(type)
  if (numeric) {
    let min = Infinity
    let max = -Infinity
    let nan = false
    for (const { data, mask } of chunks) {
      const values = data.values as Int32Array
      const valid = validityOf(data, mask)
      for (let i = 0; i < data.length; i++) {
        if (valid !== undefined && !valid(i)) continue
        const v = values[data.offset + i]!
        if (v !== v) nan = true
        if (v < min) min = v
        if (v > max) max = v
      }
    }
    if (nan || !Number.isFinite(min) || !Number.isFinite(max)) return { nulls, min: undefined, max: undefined }
    // a date outside years 1-9999 has no text readers parse: no bounds rather than a wrong one
    if (type === "date" && !(dateInRange(min) && dateInRange(max))) return { nulls, min: undefined, max: undefined }
    const show = (v: number): StatValue =>
      type === "date" ? formatDate(v) : type === "float" ? new Raw(formatFloat32(v)) : v
    return { nulls, min: show(min), max: show(max) }
  }
  if (type === "long" || type === "timestamp" || type === "timestamp_ntz") {
    // compared as (signed high word, unsigned low word) pairs: reading a BigInt64Array allocates a BigInt per row,
    // which made stats a visible share of a batch's CPU; only the winners become BigInts
    let min: bigint | undefined
    let max: bigint | undefined
    for (const { data, mask } of chunks) {
      const values = data.values as BigInt64Array
      const words = new Int32Array(values.buffer, values.byteOffset, values.length * 2)
      const valid = validityOf(data, mask)
      let minAt = -1
      let maxAt = -1
      for (let i = 0; i < data.length; i++) {
        if (valid !== undefined && !valid(i)) continue
        const at = data.offset + i
        const hi = words[2 * at + 1]!
        const lo = words[2 * at]! >>> 0
        if (minAt < 0) {
          minAt = at
          maxAt = at
          continue
        }
        const minHi = words[2 * minAt + 1]!
        if (hi < minHi || (hi === minHi && lo < words[2 * minAt]! >>> 0)) minAt = at
        const maxHi = words[2 * maxAt + 1]!
        if (hi > maxHi || (hi === maxHi && lo > words[2 * maxAt]! >>> 0)) maxAt = at
      }
      if (minAt < 0) continue
      const chunkMin = values[minAt]!
      const chunkMax = values[maxAt]!
      if (min === undefined || chunkMin < min) min = chunkMin
      if (max === undefined || chunkMax > max) max = chunkMax
    }
    if (min === undefined || max === undefined) return { nulls, min: undefined, max: undefined }
    if (type === "long") return { nulls, min: new Raw(min.toString()), max: new Raw(max.toString()) }
    if (!(timestampInRange(min) && timestampInRange(max))) return { nulls, min: undefined, max: undefined }
    const utc = type === "timestamp"
    return { nulls, min: formatTimestampMillis(min, utc), max: formatTimestampMillis(max, utc) }
  }
  if (type.startsWith("decimal")) {
    // compared word by word (signed top word, then unsigned), without a BigInt per row; only the winners are built
    let min: bigint | undefined
    let max: bigint | undefined
    let scale = 0
    const compareAt = (words: Uint32Array, signed: Int32Array, a: number, b: number): number => {
      const ha = signed[4 * a + 3]!
      const hb = signed[4 * b + 3]!
      if (ha !== hb) return ha < hb ? -1 : 1
      for (let w = 2; w >= 0; w--) {
        const x = words[4 * a + w]!
        const y = words[4 * b + w]!
        if (x !== y) return x < y ? -1 : 1
      }
      return 0
    }
    for (const { data, mask } of chunks) {
      scale = (data.type as Arrow.Decimal).scale
      const words = data.values as Uint32Array
      const signed = new Int32Array(words.buffer, words.byteOffset, words.length)
      const lo = new BigUint64Array(words.buffer, words.byteOffset, words.length >> 1)
      const hi = new BigInt64Array(words.buffer, words.byteOffset, words.length >> 1)
      const valid = validityOf(data, mask)
      let minAt = -1
      let maxAt = -1
      for (let i = 0; i < data.length; i++) {
        if (valid !== undefined && !valid(i)) continue
        const at = data.offset + i
        if (minAt < 0) {
          minAt = at
          maxAt = at
          continue
        }
        if (compareAt(words, signed, at, minAt) < 0) minAt = at
        if (compareAt(words, signed, at, maxAt) > 0) maxAt = at
      }
      if (minAt < 0) continue
      const chunkMin = (hi[minAt * 2 + 1]! << 64n) | lo[minAt * 2]!
      const chunkMax = (hi[maxAt * 2 + 1]! << 64n) | lo[maxAt * 2]!
      if (min === undefined || chunkMin < min) min = chunkMin
      if (max === undefined || chunkMax > max) max = chunkMax
    }
    if (min === undefined || max === undefined) return { nulls, min: undefined, max: undefined }
    return { nulls, min: new Raw(formatDecimal(min, scale)), max: new Raw(formatDecimal(max, scale)) }
  }
  if (type === "string") {
    // The rows' first four bytes as one unsigned big-endian number settle most comparisons (zero-padding a
    // shorter string only makes ties, never reverses an order); compareBytes runs on a tie only.
    let best: Uint8Array | undefined
    let bestStart = 0
    let bestEnd = 0
    let bestWord = 0
    let worst: Uint8Array | undefined
    let worstStart = 0
    let worstEnd = 0
    let worstWord = 0
    for (const { data, mask } of chunks) {
      const offsets = data.valueOffsets as Int32Array
      const bytes = data.values as Uint8Array
      const bitmap = data.nullCount > 0 && data.nullBitmap !== undefined && data.nullBitmap.length > 0 ? data.nullBitmap : undefined
      const base = data.offset
      for (let i = 0; i < data.length; i++) {
        if (mask !== undefined && mask[i] !== 1) continue
        if (bitmap !== undefined && ((bitmap[(base + i) >> 3]! >> ((base + i) & 7)) & 1) === 0) continue
        const s = offsets[base + i]!
        const e = offsets[base + i + 1]!
        const n = e - s
        const word = n >= 4
          ? ((bytes[s]! << 24) | (bytes[s + 1]! << 16) | (bytes[s + 2]! << 8) | bytes[s + 3]!) >>> 0
          : n === 3
          ? ((bytes[s]! << 24) | (bytes[s + 1]! << 16) | (bytes[s + 2]! << 8)) >>> 0
          : n === 2
          ? ((bytes[s]! << 24) | (bytes[s + 1]! << 16)) >>> 0
          : n === 1
          ? (bytes[s]! << 24) >>> 0
          : 0
        if (best === undefined || worst === undefined) {
          best = worst = bytes
          bestStart = worstStart = s
          bestEnd = worstEnd = e
          bestWord = worstWord = word
          continue
        }
        if (word <= bestWord) {
          const order = word < bestWord ? -1 : compareBytes(bytes, s, e, best, bestStart, bestEnd)
          if (order < 0) {
            best = bytes
            bestStart = s
            bestEnd = e
            bestWord = word
            continue
          }
          // equal to the minimum: not above the maximum (a column of one repeated value, like the topic, ends here)
          if (order === 0) continue
        }
        if (word > worstWord || (word === worstWord && compareBytes(bytes, s, e, worst, worstStart, worstEnd) > 0)) {
          worst = bytes
          worstStart = s
          worstEnd = e
          worstWord = word
        }
      }
    }
    if (best === undefined || worst === undefined) return { nulls, min: undefined, max: undefined }
    const min = truncateMin(decoder.decode(best.subarray(bestStart, bestEnd)), prefix)
    const max = truncateMax(decoder.decode(worst.subarray(worstStart, worstEnd)), prefix)
    return { nulls, min, max }
  }
  return { nulls, min: undefined, max: undefined }
}

/** Options of `computeStats`. */
export interface StatsOptions {
  /** `delta.dataSkippingNumIndexedCols`: leaf columns with stats; -1 for all. */
  readonly indexedColumns?: number
  /** `delta.dataSkippingStringPrefixLength`. */
  readonly stringPrefix?: number
  /** `delta.dataSkippingStatsColumns` as paths (see `parseStatsColumns`); when given, `indexedColumns` is unused. */
  readonly statsColumns?: ReadonlyArray<ReadonlyArray<string>>
}

/**
 * The column paths of `delta.dataSkippingStatsColumns`: comma-separated, nested names joined by dots, backticks
 * around a name that holds a dot, comma or backtick (doubled inside), as Spark parses a multi-part identifier.
 */
export const parseStatsColumns = (text: string): Array<Array<string>> => {
  const columns: Array<Array<string>> = []
  let path: Array<string> = []
  let name = ""
  let quoted = false
  let wasQuoted = false
  const endName = () => {
    path.push(wasQuoted ? name : name.trim())
    name = ""
    wasQuoted = false
  }
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!
    if (quoted) {
      if (char === "`" && text[i + 1] === "`") {
        name += "`"
        i++
      } else if (char === "`") quoted = false
      else name += char
    } else if (char === "`") {
      quoted = true
      wasQuoted = true
      name = ""
    } else if (char === ".") endName()
    else if (char === ",") {
      endName()
      columns.push(path)
      path = []
    } else if (!(wasQuoted && char.trim() === "")) name += char
  }
  endName()
  columns.push(path)
  return columns.filter((column) => column.some((part) => part !== ""))
}

const samePath = (a: ReadonlyArray<string>, b: ReadonlyArray<string>, length: number) => {
  for (let i = 0; i < length; i++) if (a[i]!.toLowerCase() !== b[i]!.toLowerCase()) return false
  return true
}

/**
 * The `add.stats` JSON of one file. `schema` is the table's data schema (no partition columns) in table order;
 * `table` holds the file's columns, conformed to it (columns it lacks count as all null).
 */
export const computeStats = (table: Arrow.Table, schema: DeltaStructType, options: StatsOptions = {}): string => {
  const chosen = options.statsColumns
  const limit = chosen !== undefined ? -1 : options.indexedColumns ?? defaultIndexedColumns
  // a path is visited when it leads to a chosen column or lies inside one (a chosen struct has stats for all leaves)
  const wanted = (path: ReadonlyArray<string>) =>
    chosen === undefined ||
    chosen.some((column) => samePath(column, path, Math.min(column.length, path.length)))
  const leafWanted = (path: ReadonlyArray<string>) =>
    chosen === undefined || chosen.some((column) => column.length <= path.length && samePath(column, path, column.length))
  const prefix = options.stringPrefix ?? defaultStringPrefix
  let leaves = 0
  const numRecords = table.numRows
  const mins: StatTree = new Map()
  const maxs: StatTree = new Map()
  const nullCounts: StatTree = new Map()
  const visit = (
    struct: DeltaStructType,
    chunksOf: (name: string) => ReadonlyArray<{ data: Arrow.Data; mask: Mask }> | undefined,
    min: StatTree,
    max: StatTree,
    nulls: StatTree,
    parent: ReadonlyArray<string>
  ) => {
    for (const field of struct.fields) {
      if (limit >= 0 && leaves >= limit) return
      const path = [...parent, field.name]
      if (!wanted(path)) continue
      const chunks = chunksOf(field.name)
      if (typeof field.type !== "string" && field.type.type === "struct") {
        const childMin: StatTree = new Map()
        const childMax: StatTree = new Map()
        const childNulls: StatTree = new Map()
        const inner = field.type
        visit(inner, (name) => {
          if (chunks === undefined) return undefined
          const index = inner.fields.findIndex((f) => f.name === name)
          return chunks.map(({ data, mask }) => ({ data: data.children[index]!, mask: combine(data, mask) }))
        }, childMin, childMax, childNulls, path)
        if (childMin.size > 0) min.set(field.name, childMin)
        if (childMax.size > 0) max.set(field.name, childMax)
        if (childNulls.size > 0) nulls.set(field.name, childNulls)
        continue
      }
      if (!leafWanted(path)) continue
      leaves++
      if (chunks === undefined) {
        nulls.set(field.name, numRecords)
        continue
      }
      const leaf = leafStats(field.type, chunks, prefix)
      nulls.set(field.name, leaf.nulls)
      if (leaf.min !== undefined) min.set(field.name, leaf.min)
      if (leaf.max !== undefined) max.set(field.name, leaf.max)
    }
  }
  visit(schema, (name) => {
    const index = table.schema.fields.findIndex((f) => f.name === name)
    if (index < 0) return undefined
    return table.data.map((batch) => ({ data: batch.children[index]!, mask: undefined }))
  }, mins, maxs, nullCounts, [])
  return toJson(new Map<string, StatValue | StatTree>([
    ["numRecords", numRecords],
    ["minValues", mins],
    ["maxValues", maxs],
    ["nullCount", nullCounts]
  ]))
}
