/**
 * The schema the current batch will be committed with: the table's, widened by each writer schema whose records
 * the batch holds. A writer schema is checked against it the first time the batch uses it, so a schema the table
 * cannot take, or one that fits the table but not a writer schema already in the batch (a new nullable field as
 * int in one, string in the other), stops the run with SchemaMismatchError before any of its records is decoded,
 * rather than as a defect at the seal.
 */
import type * as Arrow from "apache-arrow"
import { SchemaMismatchError } from "../services/DeltaSink.ts"
import type { Codec, WriterSchema } from "./decoding.ts"

/** The current batch's schema and the writer schemas admitted into it. */
export class BatchSchema {
  private readonly codec: Codec
  private readonly table: string
  private schema: Arrow.Schema | undefined
  private readonly admitted = new Set<number>()

  constructor(codec: Codec, table: string, tableSchema: Arrow.Schema | undefined) {
    this.codec = codec
    this.table = table
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

  /** Starts the next batch from `tableSchema` (the schema the sealed batch will leave the table with). */
  reset(tableSchema: Arrow.Schema | undefined): void {
    this.schema = tableSchema
    this.admitted.clear()
  }
}
