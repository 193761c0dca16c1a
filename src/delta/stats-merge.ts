/**
 * Merging `add.stats` of consecutive parts of one file (the row groups optimize copies into an output file), so
 * the output's stats come from `computeStats` run one row group at a time instead of over the whole file's
 * decoded rows. Numbers are kept as their exact JSON text (longs and decimals never pass through a double).
 * A part that has rows in a column but no bound for it (NaN, a date out of range, a string with no upper bound)
 * leaves the merged column without that bound, as `computeStats` over the whole file would.
 */
import type { DeltaStructType, DeltaType } from "./schema.ts"

/** A JSON number kept as its source text. */
class Exact {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

type Value = string | Exact | Tree | undefined
interface Tree {
  readonly [key: string]: Value
}

/** Parses stats JSON keeping every number's exact text (`JSON.parse` source access, Node 21+). */
const parseExact = (text: string): Tree =>
  JSON.parse(text, (_key, value, context?: { readonly source?: string }) =>
    typeof value === "number" ? new Exact(context?.source ?? String(value)) : value) as Tree

const render = (value: Value): string => {
  if (value instanceof Exact) return value.text
  if (typeof value === "string") return JSON.stringify(value)
  if (value === undefined) return "null"
  return `{${Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => `${JSON.stringify(k)}:${render(v)}`).join(",")}}`
}

const utf8 = new TextEncoder()

const unscaled = (text: string): bigint => BigInt(text.replace(".", ""))

/** Orders two bounds of a column of `type` (<0, 0, >0). */
const compare = (type: string, a: Value, b: Value): number => {
  const ta = a instanceof Exact ? a.text : String(a)
  const tb = b instanceof Exact ? b.text : String(b)
  if (type === "long") return Number(BigInt(ta) - BigInt(tb) > 0n) - Number(BigInt(ta) - BigInt(tb) < 0n)
  if (type.startsWith("decimal")) {
    const d = unscaled(ta) - unscaled(tb)
    return d > 0n ? 1 : d < 0n ? -1 : 0
  }
  if (["byte", "short", "integer", "float", "double"].includes(type)) return Number(ta) - Number(tb)
  // strings in Spark's order (UTF-8 bytes); dates and timestamps are fixed-width text in years 1-9999
  return Buffer.compare(utf8.encode(ta), utf8.encode(tb))
}

const child = (tree: Value, name: string): Value =>
  tree !== undefined && typeof tree === "object" && !(tree instanceof Exact) ? tree[name] : undefined

const count = (value: Value): number => (value instanceof Exact ? Number(value.text) : 0)

interface Part {
  readonly records: number
  readonly min: Value
  readonly max: Value
  readonly nulls: Value
}

/** The merged bounds and null counts of one struct level, in schema order. */
const mergeLevel = (struct: DeltaStructType, parts: ReadonlyArray<Part>) => {
  const min: Record<string, Value> = {}
  const max: Record<string, Value> = {}
  const nulls: Record<string, Value> = {}
  for (const field of struct.fields) {
    const sub = parts.map((part) => ({
      records: part.records,
      min: child(part.min, field.name),
      max: child(part.max, field.name),
      nulls: child(part.nulls, field.name)
    }))
    if (typeof field.type !== "string" && field.type.type === "struct") {
      if (sub.every((part) => part.nulls === undefined)) continue
      const inner = mergeLevel(field.type, sub)
      if (Object.keys(inner.min).length > 0) min[field.name] = inner.min
      if (Object.keys(inner.max).length > 0) max[field.name] = inner.max
      if (Object.keys(inner.nulls).length > 0) nulls[field.name] = inner.nulls
      continue
    }
    // a column without a null count in some part had no stats there: it has none in the merged file either
    if (sub.some((part) => !(part.nulls instanceof Exact))) continue
    nulls[field.name] = new Exact(String(sub.reduce((sum, part) => sum + count(part.nulls), 0)))
    const type = field.type as DeltaType
    if (typeof type !== "string") continue
    const bound = (pick: (part: Part) => Value, better: (order: number) => boolean): Value => {
      let best: Value = undefined
      for (const part of sub) {
        const value = pick(part)
        if (value === undefined) {
          if (count(part.nulls) === part.records) continue // all null there: no bound expected
          return undefined
        }
        if (best === undefined || better(compare(type, value, best))) best = value
      }
      return best
    }
    const low = bound((part) => part.min, (order) => order < 0)
    const high = bound((part) => part.max, (order) => order > 0)
    if (low !== undefined) min[field.name] = low
    if (high !== undefined) max[field.name] = high
  }
  return { min, max, nulls }
}

/** The `add.stats` of a file made of parts whose stats are `stats`, in order; `schema` is the data schema. */
export const mergeStats = (stats: ReadonlyArray<string>, schema: DeltaStructType): string => {
  const parsed = stats.map(parseExact)
  const parts: Array<Part> = parsed.map((tree) => ({
    records: count(tree["numRecords"]),
    min: tree["minValues"],
    max: tree["maxValues"],
    nulls: tree["nullCount"]
  }))
  const merged = mergeLevel(schema, parts)
  return render({
    numRecords: new Exact(String(parts.reduce((sum, part) => sum + part.records, 0))),
    minValues: merged.min,
    maxValues: merged.max,
    nullCount: merged.nulls
  })
}
