/**
 * The one place schemas are reconciled: the table's schema, the writer schemas of the records in the current
 * batch, the schemas of a partition's segments and the schema a batch is committed with. A writer schema is checked
 * against the batch's schema (the table's, widened by each writer schema whose records the batch holds) the first
 * time the batch uses it, so a schema the table cannot take, or one that fits the table but not a writer schema
 * already in the batch (a new nullable field as int in one, string in the other), stops the run with
 * SchemaMismatchError before any of its records is decoded, rather than as a defect at the seal.
 */
import type * as Arrow from "apache-arrow"
import { SchemaMismatchError } from "../services/DeltaSink.ts"
import type { Codec, WriterSchema } from "./decoding.ts"

const schemaKeys = new WeakMap<Arrow.Schema, string>()
// the decode loop compares a segment's schema with the writer's for every record, and printing an Arrow schema
// costs microseconds (about a third of the main thread's CPU in a profile), so each schema object's key is
// computed once: schemas are never mutated, and a builder or writer keeps its schema object for life
const schemaKey = (schema: Arrow.Schema): string => {
  let key = schemaKeys.get(schema)
  if (key === undefined) {
    key = schema.fields.map((f) => `${f.name}:${String(f.type)}:${f.nullable}`).join("|")
    schemaKeys.set(schema, key)
  }
  return key
}

/** The table's schema as the next commit will find it, the current batch's schema and the writer schemas admitted into it. */
export class BatchSchema {
  private readonly codec: Codec
  private readonly table: string
  /** The table's schema once every sealed batch has committed (undefined: no table yet). */
  private tableSchema: Arrow.Schema | undefined
  private schema: Arrow.Schema | undefined
  private readonly admitted = new Set<number>()

  constructor(codec: Codec, table: string, tableSchema: Arrow.Schema | undefined) {
    this.codec = codec
    this.table = table
    this.tableSchema = tableSchema
    this.schema = tableSchema
  }

  /** Widens the batch's schema by `writer`, or says why it cannot take it. */
  admit(writer: WriterSchema): SchemaMismatchError | undefined {
    if (this.admitted.has(writer.id)) return undefined
    if (this.schema !== undefined) {
      const wider = this.codec.widen(this.schema, writer.arrowSchema)
      if (wider !== undefined && "problems" in wider) {
        const others = [...this.admitted]
        const against = others.length === 0 ? "" : `; the batch also holds records of writer schema id ${others.join(", ")}, whose new fields the same commit adds`
        return new SchemaMismatchError({ table: this.table, problems: wider.problems.map((p) => `${p} (writer schema id ${writer.id}${against})`) })
      }
      if (wider !== undefined) this.schema = wider
    } else {
      this.schema = writer.arrowSchema
    }
    this.admitted.add(writer.id)
    return undefined
  }

  /**
   * The schema a partition's open segment (of schema `segment`) must switch to before taking `writer`'s records:
   * undefined when it takes them as they are (the common case, checked without allocating), or the mismatch.
   */
  segmentSchema(segment: Arrow.Schema, writer: WriterSchema): Arrow.Schema | SchemaMismatchError | undefined {
    if (schemaKey(segment) === schemaKey(writer.arrowSchema)) return undefined
    const wider = this.codec.widen(segment, writer.arrowSchema)
    if (wider !== undefined && "problems" in wider) {
      return new SchemaMismatchError({ table: this.table, problems: wider.problems.map((p) => `${p} (writer schema id ${writer.id})`) })
    }
    return wider
  }

  /**
   * The schema a sealed batch is committed with: the table's widened by its segments' schemas (undefined when
   * there are no rows and no table). From here on it is taken as the table's, so the next batch's writer-schema
   * checks and seal already see it.
   */
  seal(segments: ReadonlyArray<Arrow.Table>): Arrow.Schema | undefined {
    let schema = this.tableSchema
    for (const segment of segments) {
      if (schema === undefined) {
        schema = segment.schema
        continue
      }
      const wider = this.codec.widen(schema, segment.schema)
      // every writer schema was admitted into the batch's schema, so segments always merge
      if (wider !== undefined && "problems" in wider) throw new Error(`segments do not merge: ${wider.problems.join("; ")}`)
      if (wider !== undefined) schema = wider
    }
    if (schema !== undefined) this.tableSchema = schema
    this.schema = this.tableSchema
    this.admitted.clear()
    return schema
  }
}
