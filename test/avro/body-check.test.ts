/**
 * The structural check that runs before avsc: what it must reject (each with the reason it names), and that it
 * accepts exactly what avsc's own encoder writes, named and self-referencing types included.
 */
import { describe, expect, it } from "@effect/vitest"
import { compileBodyCheck } from "../../src/avro/body-check.ts"
import { CorruptBody, Cursor } from "../../src/avro/cursor.ts"
import { encoderType } from "./support.ts"

const run = (schema: unknown, bytes: ReadonlyArray<number> | Buffer): string | number => {
  const cursor = new Cursor()
  cursor.buf = Buffer.from(bytes)
  cursor.end = cursor.buf.length
  try {
    compileBodyCheck(schema)(cursor)
    return cursor.pos
  } catch (error) {
    if (error instanceof CorruptBody) return error.reason
    throw error
  }
}

describe("body check", () => {
  it("walks to the end of bodies avsc writes, named and recursive types included", () => {
    const schema = {
      type: "record",
      name: "Node",
      namespace: "t",
      fields: [
        { name: "colour", type: { type: "enum", name: "Colour", symbols: ["RED", "GREEN"] } },
        { name: "id", type: { type: "fixed", name: "Id", size: 3 } },
        { name: "again", type: "t.Colour" },
        { name: "tags", type: { type: "map", values: ["null", "double", "Id"] } },
        { name: "next", type: ["null", "Node"] }
      ]
    }
    const value = {
      colour: "GREEN",
      id: Buffer.from([1, 2, 3]),
      again: "RED",
      tags: { a: null, b: 1.5, c: Buffer.from([4, 5, 6]) },
      next: { colour: "RED", id: Buffer.from([7, 8, 9]), again: "GREEN", tags: {}, next: null }
    }
    const body = encoderType(schema).toBuffer(value)
    expect(run(schema, body)).toBe(body.length)
    for (let cut = 0; cut < body.length; cut++) expect(typeof run(schema, body.subarray(0, cut))).toBe("string")
  })

  it("names what is wrong", () => {
    const record = (type: unknown) => ({ type: "record", name: "R", fields: [{ name: "v", type }] })
    expect(run(record({ type: "enum", name: "E", symbols: ["A"] }), [2])).toContain("enum index 1 is out of range (1 symbols)")
    expect(run(record(["null", "int"]), [4])).toContain("union branch index 2 is out of range (2 branches)")
    expect(run(record("int"), [0x80, 0x80, 0x80, 0x80, 0x10])).toContain("outside the 32-bit range")
    expect(run(record("long"), [...Array(11).fill(0x80), 0])).toContain("more than 10 bytes")
    expect(run(record("string"), [3])).toContain("negative length -2")
    expect(run(record("bytes"), [8, 1, 2])).toContain("truncated")
    expect(run(record("double"), [1, 2, 3])).toContain("truncated")
    expect(run(record({ type: "array", items: "long" }), [20, 0, 0])).toContain("a block of 10 items cannot fit in the 2 bytes left")
    expect(run(record({ type: "map", values: "long" }), [4, 2, 0x61, 0])).toContain("a block of 2 items cannot fit in the 3 bytes left")
  })
})
