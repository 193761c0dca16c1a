/**
 * The struct forms of file stats and partition values in log checkpoints (`add.stats_parsed`,
 * `add.partitionValues_parsed`, PROTOCOL.md §Checkpoint Schema): read back into `add.stats` JSON and the
 * partition-value strings on replay, since a checkpoint written with `delta.checkpoint.writeStatsAsJson=false`
 * holds a file's stats nowhere else; and built from them when `delta.checkpoint.writeStatsAsStruct` is true.
 */
import * as Arrow from "apache-arrow"
import { isValid } from "./arrow-data.ts"
import type { AddFile } from "./actions.ts"
import { partitionValueAt } from "./partition.ts"
import { arrowTypeOf, type DeltaStructType, isVoid } from "./schema.ts"
import { formatDate, formatDecimal, formatFloat32, formatTimestampMillis, timestampInRange } from "./value-text.ts"

type Json = string

const int64At = (data: Arrow.Data, index: number): bigint => (data.values as BigInt64Array)[data.offset + index]!

const timestampMicros = (data: Arrow.Data, index: number): bigint => {
  const value = int64At(data, index)
  switch ((data.type as Arrow.Timestamp).unit) {
    case Arrow.TimeUnit.SECOND:
      return value * 1_000_000n
    case Arrow.TimeUnit.MILLISECOND:
      return value * 1000n
    case Arrow.TimeUnit.NANOSECOND:
      return value / 1000n
    default:
      return value
  }
}

/** The JSON text of one stats leaf, or undefined when the struct holds nothing usable there. */
const leafJson = (data: Arrow.Data, index: number): Json | undefined => {
  const type = data.type
  const at = data.offset + index
  if (Arrow.DataType.isInt(type)) {
    return type.bitWidth === 64 ? int64At(data, index).toString() : String((data.values as Int32Array)[at])
  }
  if (Arrow.DataType.isFloat(type)) {
    const value = (data.values as Float64Array)[at]!
    if (!Number.isFinite(value)) return undefined
    return type.precision === Arrow.Precision.SINGLE ? formatFloat32(value) : JSON.stringify(value)
  }
  if (Arrow.DataType.isUtf8(type)) {
    const offsets = data.valueOffsets as Int32Array
    return JSON.stringify(new TextDecoder().decode((data.values as Uint8Array).subarray(offsets[at]!, offsets[at + 1]!)))
  }
  if (Arrow.DataType.isDate(type)) {
    const days = type.unit === Arrow.DateUnit.DAY
      ? (data.values as Int32Array)[at]!
      : Math.floor(Number(int64At(data, index)) / 86_400_000)
    return JSON.stringify(formatDate(days))
  }
  if (Arrow.DataType.isTimestamp(type)) {
    const micros = timestampMicros(data, index)
    if (!timestampInRange(micros)) return undefined
    return JSON.stringify(formatTimestampMillis(micros, type.timezone !== null && type.timezone !== undefined))
  }
  if (Arrow.DataType.isDecimal(type)) {
    const words = data.values as Uint32Array
    const lo = new BigUint64Array(words.buffer, words.byteOffset, words.length >> 1)
    const hi = new BigInt64Array(words.buffer, words.byteOffset, words.length >> 1)
    return formatDecimal((hi[at * 2 + 1]! << 64n) | lo[at * 2]!, type.scale)
  }
  if (Arrow.DataType.isBool(type)) return ((data.values as Uint8Array)[at >> 3]! >> (at & 7)) & 1 ? "true" : "false"
  return undefined
}

const objectJson = (data: Arrow.Data, index: number): Json | undefined => {
  if (!isValid(data, index)) return undefined
  if (!Arrow.DataType.isStruct(data.type)) return leafJson(data, index)
  const members: Array<string> = []
  data.type.children.forEach((field, k) => {
    const value = objectJson(data.children[k]!, index)
    if (value !== undefined) members.push(`${JSON.stringify(field.name)}:${value}`)
  })
  return `{${members.join(",")}}`
}

/** The `add.stats` JSON of row `index` of an `add.stats_parsed` column, or undefined when it is null there. */
export const statsJsonAt = (statsParsed: Arrow.Data, index: number): string | undefined => {
  if (!isValid(statsParsed, index)) return undefined
  const text = objectJson(statsParsed, index)
  return text === "{}" ? undefined : text
}

/** The partition values of row `index` of an `add.partitionValues_parsed` column. */
export const partitionValuesAt = (parsed: Arrow.Data, index: number): Record<string, string | null> | undefined => {
  if (!isValid(parsed, index) || !Arrow.DataType.isStruct(parsed.type)) return undefined
  return Object.fromEntries(parsed.type.children.map((field, k) => [field.name, partitionValueAt(parsed.children[k]!, index)]))
}

const boundedTypes = /^(byte|short|integer|long|float|double|date|timestamp|timestamp_ntz|string|decimal\(\d+,\s*\d+\))$/

/** The stats struct's fields for a data schema: `bounds` keeps the types with min/max, else every leaf as long. */
const statsFields = (struct: DeltaStructType, bounds: boolean): Array<Arrow.Field> =>
  struct.fields.flatMap((field) => {
    const type = field.type
    if (typeof type !== "string" && type.type === "struct") {
      const inner = statsFields(type, bounds)
      return inner.length === 0 ? [] : [new Arrow.Field(field.name, new Arrow.Struct(inner), true)]
    }
    if (!bounds) return [new Arrow.Field(field.name, new Arrow.Int64(), true)]
    return typeof type === "string" && boundedTypes.test(type) ? [new Arrow.Field(field.name, arrowTypeOf(type), true)] : []
  })

/** The Arrow type of `add.stats_parsed` for a table's data schema (its columns without the partition columns). */
export const statsParsedType = (dataSchema: DeltaStructType): Arrow.Struct => {
  const bounds = statsFields(dataSchema, true)
  const counts = statsFields(dataSchema, false)
  return new Arrow.Struct([
    new Arrow.Field("numRecords", new Arrow.Int64(), true),
    ...(bounds.length === 0 ? [] : [
      new Arrow.Field("minValues", new Arrow.Struct(bounds), true),
      new Arrow.Field("maxValues", new Arrow.Struct(bounds), true)
    ]),
    ...(counts.length === 0 ? [] : [new Arrow.Field("nullCount", new Arrow.Struct(counts), true)]),
    new Arrow.Field("tightBounds", new Arrow.Bool(), true)
  ])
}

/** The Arrow type of `add.partitionValues_parsed` for a table's partition columns. */
export const partitionValuesParsedType = (schema: DeltaStructType, columns: ReadonlyArray<string>): Arrow.Struct =>
  new Arrow.Struct(columns.flatMap((column) => {
    const field = schema.fields.find((f) => f.name === column)
    if (field !== undefined && isVoid(field.type)) return []
    return [new Arrow.Field(column, field === undefined ? new Arrow.Utf8() : arrowTypeOf(field.type), true)]
  }))

/** A JSON leaf with its source text (longs and decimals stay exact). */
class Exact {
  readonly value: unknown
  readonly source: string | undefined
  constructor(value: unknown, source: string | undefined) {
    this.value = value
    this.source = source
  }
}

const parseExact = (text: string): unknown =>
  JSON.parse(text, function(this: unknown, _key, value, context?: { source?: string }) {
    return typeof value === "object" && value !== null ? value : new Exact(value, context?.source)
  })

const dayOf = (text: string): number | undefined => {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text)
  return match === null ? undefined : Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / 86_400_000
}

const microsOf = (text: string): bigint | undefined => {
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]00:?00)?$/.exec(text)
  if (match === null) return undefined
  const day = dayOf(match[1]!)
  if (day === undefined) return undefined
  const seconds = BigInt(day) * 86_400n + BigInt(Number(match[2]) * 3600 + Number(match[3]) * 60 + Number(match[4]))
  return seconds * 1_000_000n + BigInt((match[5] ?? "").padEnd(6, "0"))
}

const unscaledOf = (text: string, scale: number): bigint | undefined => {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text)
  if (match === null) return undefined
  const fraction = (match[3] ?? "").padEnd(scale, "0")
  if (fraction.length > scale) return undefined
  const unscaled = BigInt(match[2]! + fraction)
  return match[1] === "-" ? -unscaled : unscaled
}

/** A stats leaf parsed from JSON as the value `tableOf` takes for `type`, or null when it does not fit. */
const leafValue = (type: Arrow.DataType, leaf: Exact): unknown => {
  const { source, value } = leaf
  if (Arrow.DataType.isUtf8(type)) return typeof value === "string" ? value : null
  if (typeof value === "string") {
    if (Arrow.DataType.isDate(type)) return dayOf(value) ?? null
    if (Arrow.DataType.isTimestamp(type)) return microsOf(value) ?? null
    return null
  }
  if (typeof value !== "number" || source === undefined) return null
  if (Arrow.DataType.isDecimal(type)) return unscaledOf(source, type.scale) ?? null
  if (Arrow.DataType.isInt(type)) return type.bitWidth === 64 ? (/^-?\d+$/.test(source) ? BigInt(source) : null) : value
  if (Arrow.DataType.isFloat(type)) return value
  return null
}

const structValue = (type: Arrow.DataType, json: unknown): unknown => {
  if (json === undefined || json === null) return null
  if (Arrow.DataType.isStruct(type)) {
    if (typeof json !== "object" || json instanceof Exact) return null
    const record = json as Record<string, unknown>
    return Object.fromEntries(type.children.map((field) => [field.name, structValue(field.type, record[field.name])]))
  }
  return json instanceof Exact ? leafValue(type, json) : null
}

/** The `add.stats_parsed` value of a file (for `tableOf`), or null when it has no readable stats. */
export const statsParsedOf = (add: AddFile, type: Arrow.Struct): Record<string, unknown> | null => {
  if (add.stats === null || add.stats === undefined) return null
  let parsed: unknown
  try {
    parsed = parseExact(add.stats)
  } catch {
    return null
  }
  return structValue(type, parsed) as Record<string, unknown> | null
}

/** The `add.partitionValues_parsed` value of a file (for `tableOf`). */
export const partitionValuesParsedOf = (add: AddFile, type: Arrow.Struct): Record<string, unknown> =>
  Object.fromEntries(type.children.map((field) => {
    const text = add.partitionValues[field.name]
    if (text === null || text === undefined || text === "") return [field.name, null]
    const t = field.type
    if (Arrow.DataType.isUtf8(t)) return [field.name, text]
    if (Arrow.DataType.isBinary(t)) return [field.name, new TextEncoder().encode(text)]
    if (Arrow.DataType.isBool(t)) return [field.name, text === "true"]
    if (Arrow.DataType.isDate(t)) return [field.name, dayOf(text) ?? null]
    if (Arrow.DataType.isTimestamp(t)) return [field.name, microsOf(text) ?? null]
    if (Arrow.DataType.isDecimal(t)) return [field.name, unscaledOf(text, t.scale) ?? null]
    if (Arrow.DataType.isInt(t)) {
      if (!/^-?\d+$/.test(text)) return [field.name, null]
      return [field.name, t.bitWidth === 64 ? BigInt(text) : Number(text)]
    }
    return [field.name, Number(text)]
  }))

