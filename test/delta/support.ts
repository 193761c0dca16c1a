/**
 * Helpers of the Delta tests: the Python (delta-rs) reader, temp directories, the Spark fixtures, and an
 * all-types schema with rows and their canonical form (what read_table.py prints).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Arrow from "apache-arrow"
import { tableOf } from "../../src/delta/arrow-values.ts"

const repo = path.resolve(import.meta.dirname, "../..")

/** The Python with deltalake: `$PYTHON`, else the project venv; throws (fails the test) when missing. */
export const python = (): string => {
  const candidate = process.env["PYTHON"] ?? path.join(repo, ".cache/venv/bin/python")
  if (!fs.existsSync(candidate)) {
    throw new Error(`Python with deltalake not found at ${candidate}: run \`bash scripts/python-env.sh\` (or set PYTHON)`)
  }
  return candidate
}

/** What read_table.py prints. */
export interface DeltaRead {
  readonly version: number
  readonly numRows: number
  readonly schema: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Record<string, unknown>>
  readonly partitionColumns: ReadonlyArray<string>
  readonly protocol: readonly [number, number]
  readonly history: ReadonlyArray<{ readonly version: number; readonly operation: string }>
  readonly txn: Readonly<Record<string, number | null>>
  readonly files: number
}

/** Reads a table with delta-rs. */
export const readWithDeltaRs = (table: string, appIds: ReadonlyArray<string> = []): DeltaRead => {
  const out = execFileSync(python(), [path.join(repo, "scripts/delta-readers/read_table.py"), table, ...appIds], {
    encoding: "utf8",
    maxBuffer: 1 << 30
  })
  return JSON.parse(out) as DeltaRead
}

/** A fresh temporary directory. */
export const tempDir = (prefix = "kafka-delta-test-"): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

/** Where the Spark-written fixture tables (Delta Acceptance Testing, see its README.md) live in the repository. */
export const fixturesDirectory = path.join(repo, "test/fixtures/dat")

/** The Spark-written fixture table `name` (copied when `copyTo` is given); throws when the fixtures are missing. */
export const fixture = (name: string, copyTo?: string): string => {
  const source = path.join(fixturesDirectory, name, "delta")
  if (!fs.existsSync(source)) throw new Error(`Spark fixture missing: ${source}`)
  if (copyTo === undefined) return source
  fs.cpSync(source, copyTo, { recursive: true })
  return copyTo
}

/** The `_kafka` struct every batch carries. */
export const kafkaType = new Arrow.Struct([
  new Arrow.Field("topic", new Arrow.Utf8(), false),
  new Arrow.Field("partition", new Arrow.Int32(), false),
  new Arrow.Field("offset", new Arrow.Int64(), false),
  new Arrow.Field("timestamp", new Arrow.TimestampMicrosecond("UTC"), false),
  new Arrow.Field("key", new Arrow.Binary(), true)
])

const field = (name: string, type: Arrow.DataType, nullable = true) => new Arrow.Field(name, type, nullable)

/** A schema with every type the sink receives. */
export const allTypesSchema = new Arrow.Schema([
  field("id", new Arrow.Int64(), false),
  field("i", new Arrow.Int32()),
  field("f", new Arrow.Float32()),
  field("d", new Arrow.Float64()),
  field("b", new Arrow.Bool()),
  field("s", new Arrow.Utf8()),
  field("bin", new Arrow.Binary()),
  field("dec", new Arrow.Decimal(2, 18, 128)),
  field("big", new Arrow.Decimal(6, 38, 128)),
  field("small", new Arrow.Decimal(1, 5, 128)),
  field("day", new Arrow.DateDay()),
  field("ts", new Arrow.TimestampMicrosecond("UTC")),
  field("tags", new Arrow.List(field("item", new Arrow.Utf8()))),
  field(
    "attrs",
    new Arrow.Map_(field("entries", new Arrow.Struct<any>([field("key", new Arrow.Utf8(), false), field("value", new Arrow.Int64())]), false) as Arrow.Field<Arrow.Struct<any>>)
  ),
  field("addr", new Arrow.Struct([field("street", new Arrow.Utf8()), field("zip", new Arrow.Int32()), field("geo", new Arrow.Struct([field("lat", new Arrow.Float64()), field("lon", new Arrow.Float64())]))])),
  field("dt", new Arrow.Utf8()),
  field("_kafka", kafkaType, false)
])

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")

/** Row `n` of the all-types schema, as JS values for `tableOf`. */
export const allTypesRow = (n: number, partition = 0): Record<string, unknown> => {
  const nul = n % 7 === 3
  return {
    id: BigInt(n) * 1_000_000_007n + 9_007_199_254_740_993n,
    i: nul ? null : n * 31 - 1000,
    f: nul ? null : Math.fround(n / 8),
    d: nul ? null : n * 1.5 - 0.25,
    b: nul ? null : n % 2 === 0,
    s: nul ? null : n % 5 === 0 ? "ümlaut ✓ 😈 " + "x".repeat(40) : `s-${n}`,
    bin: nul ? null : new Uint8Array([n & 255, 0, 255]),
    dec: nul ? null : BigInt(n) * 12345n - 99999n,
    big: nul ? null : 12345678901234567890123456789012n * BigInt(n % 3 === 0 ? -1 : 1) + BigInt(n),
    small: nul ? null : BigInt((n % 1000) - 500),
    day: nul ? null : 19000 + n,
    ts: nul ? null : 1_767_225_600_123_456n + BigInt(n) * 1_000_001n,
    tags: nul ? null : Array.from({ length: n % 4 }, (_, k) => (k === 1 ? null : `t${k}`)),
    attrs: nul ? null : new Map(Array.from({ length: n % 3 }, (_, k) => [`k${k}`, k === 1 ? null : BigInt(n) << 40n])),
    addr: nul ? null : { street: n % 4 === 0 ? null : `street ${n}`, zip: n, geo: n % 6 === 0 ? null : { lat: n / 3, lon: -n } },
    dt: n % 11 === 0 ? null : ["2026-01-01", "a b:c/d%e", "x=y#z"][n % 3],
    _kafka: { topic: "orders", partition, offset: BigInt(n), timestamp: 1_767_225_600_000_000n + BigInt(n) * 1000n, key: n % 2 ? null : new Uint8Array([n & 255]) }
  }
}

/** The canonical form of row `n` (as read_table.py prints it; partition columns included). */
export const allTypesCanonical = (n: number, partition = 0): Record<string, unknown> => {
  const row = allTypesRow(n, partition)
  const dec = (v: unknown, scale: number) => {
    if (v === null) return null
    const big = v as bigint
    const neg = big < 0n
    const digits = (neg ? -big : big).toString().padStart(scale + 1, "0")
    return `${neg ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`
  }
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v))
  const k = row["_kafka"] as Record<string, unknown>
  return {
    id: str(row["id"]),
    i: str(row["i"]),
    f: row["f"],
    d: row["d"],
    b: row["b"],
    s: row["s"],
    bin: row["bin"] === null ? null : hex(row["bin"] as Uint8Array),
    dec: dec(row["dec"], 2),
    big: dec(row["big"], 6),
    small: dec(row["small"], 1),
    day: row["day"] === null ? null : new Date((row["day"] as number) * 86400000).toISOString().slice(0, 10),
    ts: str(row["ts"]),
    tags: row["tags"],
    attrs: row["attrs"] === null ? null : [...(row["attrs"] as Map<string, bigint | null>)].map(([key, v]) => [key, str(v)]),
    addr: row["addr"] === null ? null : (() => {
      const a = row["addr"] as { street: string | null; zip: number; geo: { lat: number; lon: number } | null }
      return { street: a.street, zip: str(a.zip), geo: a.geo === null ? null : { lat: a.geo.lat, lon: a.geo.lon } }
    })(),
    dt: row["dt"],
    _kafka: { topic: k["topic"], partition: str(k["partition"]), offset: str(k["offset"]), timestamp: str(k["timestamp"]), key: k["key"] === null ? null : hex(k["key"] as Uint8Array) }
  }
}

/** A batch of the all-types schema: rows `from` until `to`. */
export const allTypesBatch = (from: number, to: number, partition = 0): Arrow.Table =>
  tableOf(allTypesSchema, Array.from({ length: to - from }, (_, i) => allTypesRow(from + i, partition)))

/** Sorts canonical rows by a key, for order-insensitive comparison. */
export const sortBy = <A extends Record<string, unknown>>(rows: ReadonlyArray<A>, key: (row: A) => string | number | bigint) =>
  [...rows].sort((a, b) => {
    const x = key(a)
    const y = key(b)
    return x < y ? -1 : x > y ? 1 : 0
  })
