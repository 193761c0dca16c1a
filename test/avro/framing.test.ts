import { describe, expect, it } from "@effect/vitest"
import { BadFramingError } from "../../src/avro/errors.ts"
import { parseFrame } from "../../src/avro/framing.ts"

describe("parseFrame", () => {
  it("reads the big-endian schema id and the body offset", () => {
    const value = Uint8Array.of(0, 0x01, 0x02, 0x03, 0x04, 9, 9)
    expect(parseFrame(value)).toEqual({ _tag: "Frame", schemaId: 0x01020304, bodyOffset: 5 })
  })

  it("accepts an empty body (a record with no fields)", () => {
    expect(parseFrame(Uint8Array.of(0, 0, 0, 0, 42))).toEqual({ _tag: "Frame", schemaId: 42, bodyOffset: 5 })
  })

  it("reads a Buffer subarray at a non-zero byteOffset", () => {
    const all = Buffer.from([7, 7, 0, 0, 0, 1, 0, 5])
    expect(parseFrame(all.subarray(2))).toEqual({ _tag: "Frame", schemaId: 256, bodyOffset: 5 })
  })

  it("reports a tombstone", () => {
    const result = parseFrame(null)
    expect(result).toBeInstanceOf(BadFramingError)
    expect(result).toMatchObject({ _tag: "BadFramingError", problem: "tombstone" })
    expect((result as BadFramingError).message).toContain("tombstone")
  })

  it.each([0, 1, 4])("reports a %i-byte value as too short", (length) => {
    const result = parseFrame(new Uint8Array(length))
    expect(result).toMatchObject({ _tag: "BadFramingError", problem: "too-short", length })
    expect((result as BadFramingError).message).toContain(`${length} bytes`)
  })

  it("reports a bad magic byte with the byte it found", () => {
    const result = parseFrame(Uint8Array.of(0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d)) // '{"a":1}'
    expect(result).toMatchObject({ _tag: "BadFramingError", problem: "bad-magic-byte", firstByte: 0x7b })
    expect((result as BadFramingError).message).toContain("magic byte 0")
  })

  it("returns instead of throwing", () => {
    expect(() => parseFrame(Uint8Array.of(1))).not.toThrow()
  })
})
