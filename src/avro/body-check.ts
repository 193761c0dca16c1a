/**
 * The structural check of an Avro body against its writer schema, run before avsc decodes it. It walks the body
 * with the bounds-checked cursor (cursor.ts) and keeps nothing: every length and block count must fit in what is
 * left, every varint must end within 10 bytes, every enum and union index must be in range, every int must fit
 * in 32 bits.
 *
 * avsc reads without these checks and looks at its position only at the end. A corrupt body then does harm
 * before it is rejected: a block count of 2^40 makes it loop and allocate until the process aborts, and a length
 * varint that runs off the end of the body reads as NaN, which poisons avsc's shared buffer pool so that every
 * later `bytes` and `fixed` value it decodes comes back empty. Bodies that pass this check give avsc nothing of
 * the kind.
 */
import { corrupt, type Cursor, readBlocks, readInt, readLength, readLong, truncated } from "./cursor.ts"

/** Walks one value of its schema node at the cursor, or throws CorruptBody. */
export type BodyCheck = (c: Cursor) => void

type Json = unknown
type JsonObject = { readonly [key: string]: Json }
const isObject = (value: Json): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value)

const PRIMITIVES = new Set(["null", "boolean", "int", "long", "float", "double", "bytes", "string"])

const nothing: BodyCheck = () => {}
const checkBoolean: BodyCheck = (c) => {
  if (c.pos >= c.end) truncated(c)
  c.pos++
}
const checkInt: BodyCheck = (c) => {
  readInt(c)
}
const checkLong: BodyCheck = (c) => {
  readLong(c)
}
const checkLength: BodyCheck = (c) => {
  const length = readLength(c)
  c.pos += length
}
const checkFixed = (size: number): BodyCheck => (c) => {
  if (c.pos + size > c.end) truncated(c)
  c.pos += size
}

/** A compiled node: its check, and the fewest bytes a value of it takes (what bounds a block's count). */
interface Compiled {
  readonly check: BodyCheck
  readonly minBytes: number
}

class Compiler {
  /** Named types by full name; a record is entered before its fields are compiled, so it may refer to itself. */
  readonly named = new Map<string, { check: BodyCheck; minBytes: number }>()

  fullName(name: string, namespace: string | undefined): string {
    return name.includes(".") || namespace === undefined || namespace === "" ? name : `${namespace}.${name}`
  }

  compile(schema: Json, namespace: string | undefined): Compiled {
    if (typeof schema === "string") {
      if (PRIMITIVES.has(schema)) return this.compile({ type: schema }, namespace)
      const found = this.named.get(this.fullName(schema, namespace)) ?? this.named.get(schema)
      if (found === undefined) throw new Error(`undefined type name: ${schema}`)
      // a reference to a record still being compiled: its size is not known yet, so it counts as 0 (safe: a
      // smaller minimum only loosens the block bound, the zero-byte allowance still caps the count)
      return { check: (c) => found.check(c), minBytes: found.minBytes }
    }
    if (Array.isArray(schema)) {
      const branches = schema.map((branch) => this.compile(branch, namespace))
      const checks = branches.map((branch) => branch.check)
      return {
        check: (c) => {
          const index = readLong(c)
          const branch = checks[index]
          if (branch === undefined) return corrupt(`union branch index ${index} is out of range (${checks.length} branches)`)
          branch(c)
        },
        minBytes: 1
      }
    }
    if (!isObject(schema)) throw new Error(`not an Avro schema: ${JSON.stringify(schema)}`)
    const type = schema["type"]
    if (isObject(type) || Array.isArray(type)) return this.compile(type, namespace)
    switch (type) {
      case "null":
        return { check: nothing, minBytes: 0 }
      case "boolean":
        return { check: checkBoolean, minBytes: 1 }
      case "int":
        return { check: checkInt, minBytes: 1 }
      case "long":
        return { check: checkLong, minBytes: 1 }
      case "float":
        return { check: checkFixed(4), minBytes: 4 }
      case "double":
        return { check: checkFixed(8), minBytes: 8 }
      case "bytes":
      case "string":
        return { check: checkLength, minBytes: 1 }
      case "array": {
        const item = this.compile(schema["items"], namespace)
        const check = item.check
        return { check: (c) => readBlocks(c, item.minBytes, () => check(c)), minBytes: 1 }
      }
      case "map": {
        const value = this.compile(schema["values"], namespace)
        const check = value.check
        return {
          check: (c) =>
            readBlocks(c, 1 + value.minBytes, () => {
              checkLength(c)
              check(c)
            }),
          minBytes: 1
        }
      }
      case "record":
      case "error":
      case "enum":
      case "fixed":
        return this.compileNamed(schema, type, namespace)
      default:
        if (typeof type === "string") return this.compile(type, namespace)
        throw new Error(`not an Avro schema: ${JSON.stringify(schema)}`)
    }
  }

  compileNamed(schema: JsonObject, kind: string, namespace: string | undefined): Compiled {
    const name = schema["name"]
    if (typeof name !== "string") throw new Error(`a ${kind} without a name`)
    const ns = typeof schema["namespace"] === "string" ? schema["namespace"] : namespace
    const full = this.fullName(name, ns)
    const inner = full.includes(".") ? full.slice(0, full.lastIndexOf(".")) : undefined
    if (kind === "enum") {
      const count = Array.isArray(schema["symbols"]) ? schema["symbols"].length : 0
      const compiled = {
        check: (c: Cursor) => {
          const index = readLong(c)
          if (!(index >= 0 && index < count)) corrupt(`enum index ${index} is out of range (${count} symbols)`)
        },
        minBytes: 1
      }
      this.named.set(full, compiled)
      return compiled
    }
    if (kind === "fixed") {
      const size = typeof schema["size"] === "number" ? schema["size"] : 0
      const compiled = { check: checkFixed(size), minBytes: size }
      this.named.set(full, compiled)
      return compiled
    }
    const entry: { check: BodyCheck; minBytes: number } = { check: nothing, minBytes: 0 }
    this.named.set(full, entry)
    const fields = Array.isArray(schema["fields"]) ? schema["fields"] : []
    const compiled = fields.map((field) => this.compile(isObject(field) ? field["type"] : undefined, inner))
    const checks = compiled.map((field) => field.check)
    const count = checks.length
    entry.check = (c) => {
      for (let f = 0; f < count; f++) checks[f]!(c)
    }
    entry.minBytes = compiled.reduce((sum, field) => sum + field.minBytes, 0)
    return entry
  }
}

/** The check of whole bodies of `writerSchema` (a parsed Avro schema, as schema-mapping.ts's parseAvroSchema gives). */
export const compileBodyCheck = (writerSchema: unknown): BodyCheck => new Compiler().compile(writerSchema, undefined).check
