/**
 * Batch schema widening: when a batch meets a newer writer schema, the batch schema becomes the old one plus the
 * fields it lacks (at any struct depth, always nullable so older rows can hold null). Fields are matched by
 * name; a field whose type changed keeps the batch's type, and records that do not fit it are rejected per
 * record by the builder (ColumnTypeMismatchError) rather than silently converted.
 */
import * as Arrow from "apache-arrow"
import { KAFKA_COLUMN } from "./schema-mapping.ts"

const widenFields = (base: ReadonlyArray<Arrow.Field>, next: ReadonlyArray<Arrow.Field>): Array<Arrow.Field> | undefined => {
  let changed = false
  const byName = new Map(base.map((field) => [field.name, field]))
  const out = base.map((field) => {
    const other = next.find((candidate) => candidate.name === field.name)
    if (other === undefined || !Arrow.DataType.isStruct(field.type) || !Arrow.DataType.isStruct(other.type)) return field
    const children = widenFields(field.type.children, other.type.children)
    if (children === undefined) return field
    changed = true
    return new Arrow.Field(field.name, new Arrow.Struct(children), field.nullable, field.metadata)
  })
  for (const field of next) {
    if (byName.has(field.name) || field.name === KAFKA_COLUMN) continue
    changed = true
    out.push(field.nullable ? field : new Arrow.Field(field.name, field.type, true, field.metadata))
  }
  return changed ? out : undefined
}

/** `base` plus the fields of `next` it lacks (nullable, `_kafka` kept last); undefined when nothing is added. */
export const widenSchema = (base: Arrow.Schema, next: Arrow.Schema): Arrow.Schema | undefined => {
  const kafka = base.fields.find((field) => field.name === KAFKA_COLUMN)
  const values = (schema: Arrow.Schema) => schema.fields.filter((field) => field.name !== KAFKA_COLUMN)
  const fields = widenFields(values(base), values(next))
  if (fields === undefined) return undefined
  return new Arrow.Schema(kafka === undefined ? fields : [...fields, kafka], base.metadata)
}
