/**
 * Nested column accumulators (array -> List, map -> Map, record -> Struct) and `columnFor`, which builds the
 * accumulator tree for an Arrow field. Children are matched to decoded values by field name, so a record
 * written with an older schema (lacking a nullable field) fills the wider columns with nulls.
 */
import * as Arrow from "apache-arrow"
import {
  BoolColumn,
  Column,
  DecimalColumn,
  grownOffsets,
  Int64Column,
  NumberColumn,
  VarBinaryColumn
} from "./columns.ts"
import { UnsupportedAvroSchemaError } from "./errors.ts"

const INITIAL_CAPACITY = 1024

const make = Arrow.makeData as unknown as (props: Record<string, unknown>) => Arrow.Data

/** array<T>: offsets into one child column. */
export class ListColumn extends Column {
  offsets: Int32Array
  readonly child: Column
  constructor(path: string, type: Arrow.List, nullable: boolean, capacity = INITIAL_CAPACITY) {
    super(path, type, nullable, capacity)
    this.offsets = new Int32Array(capacity + 1)
    const element = type.children[0]!
    this.child = columnFor(element, `${path}.${element.name}`)
  }
  protected write(i: number, value: unknown) {
    if (!Array.isArray(value)) return this.mismatch("array", value)
    const child = this.child
    for (let k = 0; k < value.length; k++) child.append(value[k])
    this.offsets[i + 1] = child.length
  }
  protected writeEmpty(i: number) {
    this.offsets[i + 1] = this.offsets[i]!
  }
  protected truncateValues(length: number) {
    this.child.truncate(this.offsets[length]!)
  }
  protected resize(capacity: number) {
    this.offsets = grownOffsets(this.offsets, capacity)
  }
  protected allocate(capacity: number) {
    this.offsets = new Int32Array(capacity + 1)
  }
  protected valueBytes() {
    return this.length * 4 + this.child.byteSize()
  }
  protected toData(length: number, nullCount: number, nullBitmap: Uint8Array | undefined) {
    return make({
      type: this.type,
      length,
      nullCount,
      nullBitmap,
      valueOffsets: this.offsets.subarray(0, length + 1),
      child: this.child.finish()
    })
  }
  override truncate(length: number): void {
    // the child must shrink even when this column keeps its length (a failure inside the last element)
    if (length >= this.length) {
      this.child.truncate(this.offsets[this.length]!)
      return
    }
    super.truncate(length)
  }
}

/** map<T>: offsets into key (Utf8, non-null) and value columns; decoded maps are plain objects (or Maps). */
export class MapColumn extends Column {
  offsets: Int32Array
  readonly keys: VarBinaryColumn
  readonly values: Column
  readonly #entriesType: Arrow.DataType
  constructor(path: string, type: Arrow.Map_, nullable: boolean, capacity = INITIAL_CAPACITY) {
    super(path, type, nullable, capacity)
    this.offsets = new Int32Array(capacity + 1)
    const entries = type.children[0]!
    this.#entriesType = entries.type
    const [keyField, valueField] = (entries.type as Arrow.Struct).children
    this.keys = new VarBinaryColumn(`${path}.key`, keyField!.type, false)
    this.values = columnFor(valueField!, `${path}.value`)
  }
  protected write(i: number, value: unknown) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) {
      return this.mismatch("map", value)
    }
    if (value instanceof Map) {
      for (const [k, v] of value) {
        this.keys.appendString(String(k))
        this.values.append(v)
      }
    } else {
      const record = value as Record<string, unknown>
      for (const k in record) {
        this.keys.appendString(k)
        this.values.append(record[k])
      }
    }
    this.offsets[i + 1] = this.keys.length
  }
  protected writeEmpty(i: number) {
    this.offsets[i + 1] = this.offsets[i]!
  }
  protected truncateValues(length: number) {
    this.keys.truncate(this.offsets[length]!)
    this.values.truncate(this.offsets[length]!)
  }
  override truncate(length: number): void {
    if (length >= this.length) {
      this.keys.truncate(this.offsets[this.length]!)
      this.values.truncate(this.offsets[this.length]!)
      return
    }
    super.truncate(length)
  }
  protected resize(capacity: number) {
    this.offsets = grownOffsets(this.offsets, capacity)
  }
  protected allocate(capacity: number) {
    this.offsets = new Int32Array(capacity + 1)
  }
  protected valueBytes() {
    return this.length * 4 + this.keys.byteSize() + this.values.byteSize()
  }
  protected toData(length: number, nullCount: number, nullBitmap: Uint8Array | undefined) {
    const entries = this.offsets[length]!
    const child = make({ type: this.#entriesType, length: entries, nullCount: 0, children: [this.keys.finish(), this.values.finish()] })
    return make({ type: this.type, length, nullCount, nullBitmap, valueOffsets: this.offsets.subarray(0, length + 1), child })
  }
}

/** record: one child column per field, filled by field name. */
export class StructColumn extends Column {
  readonly children: ReadonlyArray<Column>
  readonly names: ReadonlyArray<string>
  constructor(path: string, type: Arrow.Struct, nullable: boolean, capacity = INITIAL_CAPACITY) {
    super(path, type, nullable, capacity)
    this.children = type.children.map((field) => columnFor(field, path === "" ? field.name : `${path}.${field.name}`))
    this.names = type.children.map((field) => field.name)
  }
  protected write(_i: number, value: unknown) {
    if (typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) {
      return this.mismatch("record", value)
    }
    const record = value as Record<string, unknown>
    const children = this.children
    const names = this.names
    for (let c = 0; c < children.length; c++) children[c]!.append(record[names[c]!])
  }
  protected writeEmpty() {
    for (const child of this.children) child.appendNull()
  }
  protected truncateValues(length: number) {
    for (const child of this.children) child.truncate(length)
  }
  override truncate(length: number): void {
    // children may be one row ahead when a failure hit a later child
    if (length >= this.length) {
      for (const child of this.children) child.truncate(this.length)
      return
    }
    super.truncate(length)
  }
  protected resize() {}
  protected allocate() {}
  protected valueBytes() {
    let bytes = 0
    for (const child of this.children) bytes += child.byteSize()
    return bytes
  }
  protected toData(length: number, nullCount: number, nullBitmap: Uint8Array | undefined) {
    return make({ type: this.type, length, nullCount, nullBitmap, children: this.children.map((child) => child.finish()) })
  }
}

/** The accumulator for an Arrow field of the types schema-mapping.ts produces. */
export const columnFor = (field: Arrow.Field, path: string = field.name): Column => {
  const type = field.type
  const nullable = field.nullable
  switch (type.typeId) {
    case Arrow.Type.Int:
      return (type as Arrow.Int).bitWidth === 64
        ? new Int64Column(path, type, nullable)
        : new NumberColumn(path, type, nullable)
    case Arrow.Type.Float:
    case Arrow.Type.Date:
      return new NumberColumn(path, type, nullable)
    case Arrow.Type.Timestamp:
      return new Int64Column(path, type, nullable)
    case Arrow.Type.Bool:
      return new BoolColumn(path, type, nullable)
    case Arrow.Type.Utf8:
    case Arrow.Type.Binary:
      return new VarBinaryColumn(path, type, nullable)
    case Arrow.Type.Decimal:
      return new DecimalColumn(path, type as Arrow.Decimal, nullable)
    case Arrow.Type.List:
      return new ListColumn(path, type as Arrow.List, nullable)
    case Arrow.Type.Map:
      return new MapColumn(path, type as Arrow.Map_, nullable)
    case Arrow.Type.Struct:
      return new StructColumn(path, type as Arrow.Struct, nullable)
    default:
      throw new UnsupportedAvroSchemaError({ path, reason: `no column accumulator for Arrow type ${type}` })
  }
}
