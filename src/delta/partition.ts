/**
 * Partitioned tables laid out as Spark lays them out: `col=value/` directories in partition-column order, values
 * serialized as PROTOCOL.md §Partition Value Serialization says, Hive's escaping in directory names,
 * `__HIVE_DEFAULT_PARTITION__` for null (and the empty string), and `add.path` URI-encoded on top (as Hadoop's
 * `Path.toUri` does: ASCII outside the URI path set becomes %XX, other characters stay).
 */
import * as Arrow from "apache-arrow"
import { isValid, takeData } from "./arrow-data.ts"
import { formatDate, formatDecimal, formatTimestampMicros } from "./value-text.ts"

/** The directory name Spark uses for a null partition value. */
export const nullPartitionName = "__HIVE_DEFAULT_PARTITION__"

const hiveEscaped = new Set(['"', "#", "%", "'", "*", "/", ":", "=", "?", "\\", "\u007f", "{", "[", "]", "^"])

/** Escapes a partition column name or value for a directory name (Spark's `escapePathName`). */
export const escapePartitionPathName = (text: string): string => {
  let out = ""
  for (const char of text) {
    const code = char.charCodeAt(0)
    // Hive escapes every control character from 0x00 (Spark's copy of the list starts at 0x01, and its write then
    // fails on the NUL in the path)
    if (code <= 0x1f || hiveEscaped.has(char)) {
      out += `%${code.toString(16).toUpperCase().padStart(2, "0")}`
    } else out += char
  }
  return out
}

/** Reverses `escapePartitionPathName`. */
export const unescapePartitionPathName = (text: string): string =>
  text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))

const uriPathSafe = /[A-Za-z0-9\-_.!~*'();:@&=+$,/]/

/** Encodes a relative path for `add.path` the way Hadoop's `Path.toUri().toString()` does. */
export const encodeAddPath = (path: string): string => {
  let out = ""
  for (const char of path) {
    const code = char.codePointAt(0)!
    if (code >= 0x80 || uriPathSafe.test(char)) out += char
    else out += `%${code.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return out
}

/** Decodes `add.path` to the storage key (relative path). */
export const decodeAddPath = (path: string): string => decodeURIComponent(path)

/** The directory of one file: `a=1/b=x` (no trailing slash), in partition-column order. */
export const partitionDirectory = (
  columns: ReadonlyArray<string>,
  values: Readonly<Record<string, string | null>>
): string =>
  columns.map((column) => {
    const value = values[column]
    const escaped = value === null || value === undefined || value === "" ? nullPartitionName : escapePartitionPathName(value)
    return `${escapePartitionPathName(column)}=${escaped}`
  }).join("/")

const utf8 = new TextDecoder()

/** The serialized partition value of row `index` of a column, or null. */
export const partitionValueAt = (data: Arrow.Data, index: number): string | null => {
  if (!isValid(data, index)) return null
  const type = data.type
  const at = data.offset + index
  if (Arrow.DataType.isUtf8(type) || Arrow.DataType.isBinary(type)) {
    const offsets = data.valueOffsets as Int32Array
    const bytes = (data.values as Uint8Array).subarray(offsets[at]!, offsets[at + 1]!)
    // binary as Spark casts it to a string: the bytes read as UTF-8 (readers take the value's UTF-8 bytes back;
    // bytes that are not UTF-8 become U+FFFD, as in Spark, since no string reads back as them)
    const text = utf8.decode(bytes)
    return text === "" ? null : text
  }
  if (Arrow.DataType.isBool(type)) {
    const bits = data.values as Uint8Array
    return ((bits[at >> 3]! >> (at & 7)) & 1) === 1 ? "true" : "false"
  }
  if (Arrow.DataType.isDate(type)) return formatDate((data.values as Int32Array)[at]!)
  if (Arrow.DataType.isTimestamp(type)) {
    const micros = (data.values as BigInt64Array)[at]!
    // timestamp_ntz has one form (`YYYY-MM-DD HH:MM:SS.ffffff`); timestamp may also be ISO-8601 in UTC, which
    // the spec recommends because it needs no writer's time zone to read
    return type.timezone ? `${formatTimestampMicros(micros, "T")}Z` : formatTimestampMicros(micros, " ")
  }
  if (Arrow.DataType.isDecimal(type)) {
    const words = data.values as Uint32Array
    const lo = new BigUint64Array(words.buffer, words.byteOffset, words.length >> 1)
    const hi = new BigInt64Array(words.buffer, words.byteOffset, words.length >> 1)
    return formatDecimal((hi[at * 2 + 1]! << 64n) | lo[at * 2]!, type.scale)
  }
  if (Arrow.DataType.isFloat(type)) {
    const v = (data.values as Float64Array)[at]!
    return Number.isFinite(v) ? String(v) : v > 0 ? "Infinity" : v < 0 ? "-Infinity" : "NaN"
  }
  return String((data.values as Int32Array | BigInt64Array)[at])
}

/** One partition's share of a batch: its values, directory and rows. */
export interface PartitionGroup {
  readonly values: Readonly<Record<string, string | null>>
  readonly directory: string
  /** The rows, without the partition columns. */
  readonly table: Arrow.Table
}

/** Splits a table by the values of `columns` and drops those columns from the rows. */
export const splitByPartition = (table: Arrow.Table, columns: ReadonlyArray<string>): Array<PartitionGroup> => {
  const dataFields = table.schema.fields.filter((field) => !columns.includes(field.name))
  const dataSchema = new Arrow.Schema(dataFields, table.schema.metadata)
  const dataIndices = dataFields.map((field) => table.schema.fields.indexOf(field))
  if (columns.length === 0) return [{ values: {}, directory: "", table }]
  const partitionIndices = columns.map((column) => table.schema.fields.findIndex((field) => field.name === column))
  const groups: Array<PartitionGroup> = []
  for (const batch of table.batches) {
    const rows = new Map<string, { values: Record<string, string | null>; indices: Array<number> }>()
    for (let i = 0; i < batch.numRows; i++) {
      const values: Record<string, string | null> = {}
      columns.forEach((column, k) => {
        const index = partitionIndices[k]!
        values[column] = index < 0 ? null : partitionValueAt(batch.data.children[index]!, i)
      })
      const key = JSON.stringify(columns.map((column) => values[column]))
      const group = rows.get(key)
      if (group === undefined) rows.set(key, { values, indices: [i] })
      else group.indices.push(i)
    }
    for (const { values, indices } of rows.values()) {
      const take = new Int32Array(indices)
      const children = dataIndices.map((index) =>
        rows.size === 1 ? batch.data.children[index]! : takeData(batch.data.children[index]!, take)
      )
      const data = Arrow.makeData({
        type: new Arrow.Struct(dataFields),
        length: take.length,
        nullCount: 0,
        children
      })
      groups.push({
        values,
        directory: partitionDirectory(columns, values),
        table: new Arrow.Table(dataSchema, [new Arrow.RecordBatch(dataSchema, data)])
      })
    }
  }
  return mergeGroups(groups)
}

const mergeGroups = (groups: ReadonlyArray<PartitionGroup>): Array<PartitionGroup> => {
  const byDirectory = new Map<string, PartitionGroup>()
  for (const group of groups) {
    const existing = byDirectory.get(group.directory)
    byDirectory.set(
      group.directory,
      existing === undefined ? group : { ...existing, table: existing.table.concat(group.table) }
    )
  }
  return [...byDirectory.values()]
}
