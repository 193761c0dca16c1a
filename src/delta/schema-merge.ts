/**
 * Schema evolution on append: whether a batch schema fits the table schema, and the merged schema when it only
 * adds nullable fields. Anything that would break readers (a type change, a required field added, a
 * non-nullable field missing, names that differ only by case) is reported as a problem naming the field path.
 */
import type { DeltaField, DeltaStructType, DeltaType } from "./schema.ts"

/** The outcome of merging a batch schema into a table schema. */
export type MergeResult =
  | { readonly _tag: "Merged"; readonly schema: DeltaStructType; readonly changed: boolean }
  | { readonly _tag: "Problems"; readonly problems: ReadonlyArray<string> }

/** A readable form of a Delta type for messages. */
export const showType = (type: DeltaType): string => {
  if (typeof type === "string") return type
  switch (type.type) {
    case "struct":
      return `struct<${type.fields.map((field) => `${field.name}:${showType(field.type)}`).join(",")}>`
    case "array":
      return `array<${showType(type.elementType)}>`
    case "map":
      return `map<${showType(type.keyType)},${showType(type.valueType)}>`
  }
}

const duplicates = (fields: ReadonlyArray<DeltaField>, path: string, problems: Array<string>) => {
  const seen = new Map<string, string>()
  for (const field of fields) {
    const lower = field.name.toLowerCase()
    const other = seen.get(lower)
    if (other !== undefined) {
      problems.push(`${path}${field.name}: duplicate of ${path}${other} ignoring case (Delta names are case-insensitive)`)
    } else seen.set(lower, field.name)
  }
}

const mergeType = (
  table: DeltaType,
  incoming: DeltaType,
  path: string,
  allowAdd: boolean,
  problems: Array<string>
): { readonly type: DeltaType; readonly changed: boolean } => {
  if (typeof table !== "string" && typeof incoming !== "string") {
    if (table.type === "struct" && incoming.type === "struct") {
      return mergeStruct(table, incoming, `${path}.`, allowAdd, problems)
    }
    if (table.type === "array" && incoming.type === "array") {
      if (incoming.containsNull && !table.containsNull) {
        problems.push(`${path}: array elements may be null in the batch but not in the table`)
      }
      const element = mergeType(table.elementType, incoming.elementType, `${path}.element`, allowAdd, problems)
      return { type: { ...table, elementType: element.type }, changed: element.changed }
    }
    if (table.type === "map" && incoming.type === "map") {
      if (incoming.valueContainsNull && !table.valueContainsNull) {
        problems.push(`${path}: map values may be null in the batch but not in the table`)
      }
      if (showType(table.keyType) !== showType(incoming.keyType)) {
        problems.push(`${path}: map key type ${showType(table.keyType)} in the table, ${showType(incoming.keyType)} in the batch`)
      }
      const value = mergeType(table.valueType, incoming.valueType, `${path}.value`, allowAdd, problems)
      return { type: { ...table, valueType: value.type }, changed: value.changed }
    }
  }
  if (showType(table) !== showType(incoming)) {
    problems.push(`${path}: type ${showType(table)} in the table, ${showType(incoming)} in the batch`)
  }
  return { type: table, changed: false }
}

const mergeStruct = (
  table: DeltaStructType,
  incoming: DeltaStructType,
  prefix: string,
  allowAdd: boolean,
  problems: Array<string>
): { readonly type: DeltaStructType; readonly changed: boolean } => {
  duplicates(incoming.fields, prefix, problems)
  const exact = new Map(incoming.fields.map((field) => [field.name, field]))
  const lower = new Map(incoming.fields.map((field) => [field.name.toLowerCase(), field]))
  let changed = false
  const fields: Array<DeltaField> = []
  for (const field of table.fields) {
    const path = `${prefix}${field.name}`
    const match = exact.get(field.name)
    if (match === undefined) {
      const caseOnly = lower.get(field.name.toLowerCase())
      if (caseOnly !== undefined) {
        problems.push(`${path}: named ${prefix}${caseOnly.name} in the batch (names differ only by case)`)
      } else if (!field.nullable) {
        problems.push(`${path}: non-nullable field removed (the batch lacks it)`)
      }
      fields.push(field)
      continue
    }
    if (match.nullable && !field.nullable) {
      problems.push(`${path}: nullable in the batch but non-nullable in the table`)
    }
    const merged = mergeType(field.type, match.type, path, allowAdd, problems)
    changed ||= merged.changed
    fields.push(merged.changed ? { ...field, type: merged.type } : field)
  }
  const tableLower = new Set(table.fields.map((field) => field.name.toLowerCase()))
  for (const field of incoming.fields) {
    if (tableLower.has(field.name.toLowerCase())) continue
    const path = `${prefix}${field.name}`
    if (!field.nullable) problems.push(`${path}: required field added (only nullable fields can be added)`)
    else if (!allowAdd) problems.push(`${path}: not in the table and mergeSchema is off`)
    else {
      fields.push({ ...field, metadata: {} })
      changed = true
    }
  }
  return { type: changed ? { type: "struct", fields } : table, changed }
}

/** Merges `incoming` (the batch schema) into `table`; new nullable fields are appended when `allowAdd`. */
export const mergeSchema = (table: DeltaStructType, incoming: DeltaStructType, allowAdd = true): MergeResult => {
  const problems: Array<string> = []
  const merged = mergeStruct(table, incoming, "", allowAdd, problems)
  return problems.length > 0
    ? { _tag: "Problems", problems }
    : { _tag: "Merged", schema: merged.type, changed: merged.changed }
}

/** Problems of a schema on its own: names that collide ignoring case, at any depth. */
export const validateSchema = (schema: DeltaStructType): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const visit = (type: DeltaType, path: string) => {
    if (typeof type === "string") return
    if (type.type === "struct") {
      duplicates(type.fields, path, problems)
      for (const field of type.fields) visit(field.type, `${path}${field.name}.`)
    } else if (type.type === "array") visit(type.elementType, `${path}element.`)
    else {
      visit(type.keyType, `${path}key.`)
      visit(type.valueType, `${path}value.`)
    }
  }
  visit(schema, "")
  return problems
}
