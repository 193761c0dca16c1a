/**
 * The record-batch codecs of the kafkajs layer (layers/kafka/codecs.ts) on batches encoded by kafkajs's own
 * producer-side encoder: every codec decodes, on the fast path and on kafkajs's own, to the same records; snappy
 * in both framings; and a batch that cannot be decompressed decodes to one record that names its codec and
 * offsets (the fast path), or throws a DecompressionFailure (kafkajs's own path).
 */
// before kafkajs, as the live layer has it
import { install, makeRecordBatchDecoder, originals } from "../../layers/kafka/kafkajs-fast-records.ts"
import "../../layers/kafka/kafkajs.ts"
import { createRequire } from "node:module"
import { compress as snappyRaw } from "snappy"
import { describe, expect, it } from "vitest"
import { codecIds, codecName, DecompressionFailure, snappyDecompress, snappyXerialCompress } from "../../layers/kafka/codecs.ts"

const require = createRequire(import.meta.url)
const load = (path: string) => require(require.resolve(`kafkajs/${path}`))
const { RecordBatch } = load("src/protocol/recordBatch/v0/index.js")
const Record = load("src/protocol/recordBatch/record/v0/index.js")
const Decoder = load("src/protocol/decoder.js")
const Long = load("src/utils/long.js")

install()
const fast = makeRecordBatchDecoder()
const original = originals.recordBatchDecoder as (decoder: unknown) => Promise<{ records: Array<Record<string, unknown>> }>

const codecs = ["gzip", "snappy", "lz4", "zstd"] as const

/** A batch of `count` records from `firstOffset`, values `v<offset>-` padded to `size` bytes, compressed by `codec`. */
const encodeBatch = async (codec: number, firstOffset: number, count: number, size = 40): Promise<Buffer> => {
  const encoder = await RecordBatch({
    compression: codec,
    firstOffset: Long.fromValue(String(firstOffset)),
    firstTimestamp: Long.fromValue("1732400000000"),
    maxTimestamp: Long.fromValue("1732400000000"),
    lastOffsetDelta: count - 1,
    records: Array.from({ length: count }, (_, i) =>
      Record({
        offsetDelta: i,
        timestampDelta: Long.fromValue(i),
        key: Buffer.from(`k${i}`),
        value: Buffer.from(`v${firstOffset + i}-`.padEnd(size, String.fromCharCode(97 + (i % 26))))
      }))
  })
  return encoder.buffer
}

/** The batch header's length: the compressed records start right after it. */
const headerLength = 61

/** Overwrites the compressed data from `skip` bytes past its start with 0xff (keeping each format's magic). */
const corrupt = (batch: Buffer, skip: number): Buffer => {
  const copy = Buffer.from(batch)
  copy.fill(0xff, headerLength + skip)
  return copy
}

const decodeAll = async (decode: (decoder: any) => Promise<{ records: Array<Record<string, unknown>> }>, bytes: Buffer) => {
  const decoder = new Decoder(bytes)
  const records: Array<Record<string, unknown>> = []
  while (decoder.canReadBytes(49)) records.push(...(await decode(decoder)).records)
  return records
}

const valuesOf = (records: ReadonlyArray<Record<string, unknown>>) =>
  records.map((record) => `${String(record["offset"])}:${(record["value"] as Buffer).toString()}`)

describe("kafkajs record-batch codecs", () => {
  for (const codec of codecs) {
    it(`decodes ${codec} batches on the fast path as kafkajs's own decoder does`, async () => {
      const bytes = Buffer.concat([await encodeBatch(codecIds[codec], 100, 50, 2_000), await encodeBatch(codecIds[codec], 150, 3)])
      // the batch really is compressed with this codec
      expect(codecName(bytes.readInt16BE(21))).toBe(codec)
      const mine = await decodeAll(fast, bytes)
      expect(mine).toEqual(await decodeAll(original, bytes))
      expect(mine.map((record) => record["offset"])).toEqual(Array.from({ length: 53 }, (_, i) => String(100 + i)))
      expect((mine[49]!["value"] as Buffer).toString()).toBe(`v149-`.padEnd(2_000, "x"))
    })
  }

  it("reads snappy as the Java producer frames it (xerial, several blocks) and as one raw block (librdkafka)", async () => {
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => `${i},`).join(""))
    const xerial = await snappyXerialCompress(data)
    expect(xerial.subarray(0, 8)).toEqual(Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]))
    expect(await snappyDecompress(xerial)).toEqual(data)
    expect(await snappyDecompress(await snappyRaw(data))).toEqual(data)
    expect(await snappyDecompress(await snappyRaw(Buffer.alloc(0)))).toEqual(Buffer.alloc(0))
  })

  // how far into each format's data to start corrupting: past gzip's header, xerial's header and first block
  // length, and lz4's and zstd's magic numbers
  const skips = { gzip: 10, snappy: 20, lz4: 4, zstd: 4 } as const
  for (const codec of codecs) {
    it(`a corrupt ${codec} batch decodes to one record naming the codec and the batch's offsets`, async () => {
      const good = await encodeBatch(codecIds[codec], 7, 2)
      const bad = corrupt(await encodeBatch(codecIds[codec], 9, 40, 200), skips[codec])
      const records = await decodeAll(fast, Buffer.concat([good, bad]))
      expect(valuesOf(records.slice(0, 2))).toEqual([`7:v7-${"a".repeat(37)}`, `8:v8-${"b".repeat(37)}`])
      expect(records).toHaveLength(3)
      const failed = records[2]!
      expect(failed["offset"]).toBe("48") // the batch's last offset
      expect(failed["value"]).toBeNull()
      expect(failed["decompressionFailure"]).toEqual({ codec, reason: expect.any(String), firstOffset: "9" })
      // kafkajs's own decoder, with the same codecs, throws instead (the layer maps it to the same typed error)
      await expect(decodeAll(original, bad)).rejects.toBeInstanceOf(DecompressionFailure)
    })
  }

  it("a batch whose codec id Kafka does not define decodes to one record naming it", async () => {
    const batch = await encodeBatch(codecIds.none, 0, 3)
    batch.writeInt16BE(batch.readInt16BE(21) | 6, 21)
    const records = await decodeAll(fast, batch)
    expect(records).toHaveLength(1)
    expect(records[0]!["decompressionFailure"]).toEqual({
      codec: "unknown codec 6",
      reason: "Kafka defines codecs 1 to 4 only",
      firstOffset: "0"
    })
  })
})
