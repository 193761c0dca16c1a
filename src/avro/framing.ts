/**
 * Confluent wire framing: magic byte 0, the writer schema id as a 4-byte big-endian int, then the Avro body.
 * This runs once per record, so a bad frame is returned as a value (never thrown) and a good one costs one
 * small object.
 */
import { BadFramingError } from "./errors.ts"

/** Bytes before the Avro body: magic byte plus schema id. */
export const HEADER_LENGTH = 5

/** A well-framed value: the writer schema id and where the Avro body starts. */
export interface Frame {
  readonly _tag: "Frame"
  readonly schemaId: number
  readonly bodyOffset: number
}

/** The result of reading a value's framing. */
export type FrameResult = Frame | BadFramingError

/** Reads the Confluent framing of a Kafka record value. */
export const parseFrame = (value: Uint8Array | null): FrameResult => {
  if (value === null) return new BadFramingError({ problem: "tombstone", length: 0 })
  if (value.length < HEADER_LENGTH) {
    return value.length === 0
      ? new BadFramingError({ problem: "too-short", length: 0 })
      : new BadFramingError({ problem: "too-short", length: value.length, firstByte: value[0]! })
  }
  const magic = value[0]!
  if (magic !== 0) return new BadFramingError({ problem: "bad-magic-byte", length: value.length, firstByte: magic })
  // schema ids are non-negative int32s; read as unsigned then sign-fold like Java's readInt
  const schemaId = ((value[1]! << 24) | (value[2]! << 16) | (value[3]! << 8) | value[4]!)
  return { _tag: "Frame", schemaId, bodyOffset: HEADER_LENGTH }
}

/** Frames an Avro body as Confluent producers do: magic byte 0, the schema id as a 4-byte big-endian int, the body. */
export const encodeFrame = (schemaId: number, body: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length)
  out[0] = 0
  out.writeInt32BE(schemaId, 1)
  out.set(body, HEADER_LENGTH)
  return out
}

/** Whether a framing result is a good frame. */
export const isFrame = (result: FrameResult): result is Frame => result._tag === "Frame"
