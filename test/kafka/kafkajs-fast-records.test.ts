/**
 * The kafkajs fast path (layers/kafka/kafkajs-fast-records.ts) against kafkajs's own record-batch decoder and
 * Batch class: record batches encoded by kafkajs's producer-side encoder (offsets and timestamps past 2^53,
 * negative and large timestamp deltas, log-append time, headers, null keys and values, gzip, control batches,
 * a partial batch at the end of a fetch, and random corruption) must decode to the same objects, or fail alike.
 */
import fc from "fast-check"
import { createRequire } from "node:module"
import { describe, expect, it } from "vitest"
import {
  install,
  installed,
  makeBatchClass,
  makeRecordBatchDecoder,
  notInstalledWarning,
  originals
} from "../../layers/kafka/kafkajs-fast-records.ts"

const require = createRequire(import.meta.url)
const load = (path: string) => require(require.resolve(`kafkajs/${path}`))
const { RecordBatch } = load("src/protocol/recordBatch/v0/index.js")
const Record = load("src/protocol/recordBatch/record/v0/index.js")
const Decoder = load("src/protocol/decoder.js")
const Long = load("src/utils/long.js")
const { Types: Compression } = load("src/protocol/message/compression/index.js")

install()
const fast = makeRecordBatchDecoder()
const strict = makeRecordBatchDecoder({ onMalformed: "throw" })
const original = originals.recordBatchDecoder as (decoder: unknown) => Promise<unknown>
const FastBatch = makeBatchClass() as unknown as new(topic: string, fetched: string, data: unknown) => Record<string, any>
const OriginalBatch = originals.Batch as new(topic: string, fetched: string, data: unknown) => Record<string, any>

interface RecordInput {
  readonly offsetDelta: number
  readonly timestampDelta: number | string
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly headers?: Record<string, Buffer | Array<Buffer>> | undefined
}

const encodeBatch = async (options: {
  firstOffset: string
  firstTimestamp: string
  maxTimestamp?: string
  records: ReadonlyArray<RecordInput>
  compression?: number
}): Promise<Buffer> => {
  const encoder = await RecordBatch({
    compression: options.compression ?? Compression.None,
    firstOffset: Long.fromValue(options.firstOffset),
    firstTimestamp: Long.fromValue(options.firstTimestamp),
    maxTimestamp: Long.fromValue(options.maxTimestamp ?? options.firstTimestamp),
    lastOffsetDelta: Math.max(0, ...options.records.map((r) => r.offsetDelta)),
    records: options.records.map((r) => Record({ ...r, timestampDelta: Long.fromValue(r.timestampDelta) }))
  })
  return encoder.buffer
}

/** Sets record-batch attribute bits (byte 21-22 of the batch; kafkajs does not check the CRC). */
const withAttributes = (batch: Buffer, bits: number): Buffer => {
  const copy = Buffer.from(batch)
  copy.writeInt16BE(copy.readInt16BE(21) | bits, 21)
  return copy
}

/** Decodes every record batch in `bytes` as the fetch response decoder does, or the error it fails with. */
const decodeAll = async (decode: (decoder: any) => Promise<any>, bytes: Buffer) => {
  const decoder = new Decoder(bytes)
  const records: Array<unknown> = []
  try {
    while (decoder.canReadBytes(49)) {
      try {
        records.push(...(await decode(decoder)).records)
      } catch (error) {
        if ((error as Error).name === "KafkaJSPartialMessageError") return { records, partial: (error as Error).message }
        throw error
      }
    }
    return { records }
  } catch (error) {
    return { records, error: `${(error as Error).name}: ${(error as Error).message}` }
  }
}

const sameAsKafkajs = async (bytes: Buffer) => {
  const mine = await decodeAll(fast, bytes)
  const theirs = await decodeAll(original, bytes)
  expect(mine).toEqual(theirs)
  return theirs
}

const value = (text: string) => Buffer.from(text)

describe("kafkajs fast record decoding", () => {
  it("is installed by the kafkajs layer before kafkajs loads its fetch path", async () => {
    await import("../../layers/kafka/kafkajs.ts")
    expect(installed()).toBe("installed")
    // the fetch decoder and the consumer now take the replacements from the require cache
    expect(load("src/protocol/recordBatch/v0/decoder.js")).not.toBe(originals.recordBatchDecoder)
    expect(load("src/consumer/batch.js")).not.toBe(originals.Batch)
  })

  it("says in one line why kafkajs's own decoding is used when the replacements are not installed", () => {
    expect(notInstalledWarning("installed", "2.2.4")).toBeUndefined()
    expect(notInstalledWarning("skipped: kafkajs version", "2.3.0")).toMatch(/^kafkajs 2\.3\.0 is not 2\.2\.4: .*pin kafkajs 2\.2\.4/)
    expect(notInstalledWarning("skipped: already loaded", "2.2.4")).toMatch(/import the layer before kafkajs$/)
  })

  it("decodes plain batches as kafkajs does, offsets and timestamps included", async () => {
    const bytes = Buffer.concat([
      await encodeBatch({
        firstOffset: "0",
        firstTimestamp: "1732400000000",
        records: [
          { offsetDelta: 0, timestampDelta: 0, key: null, value: value("a") },
          { offsetDelta: 1, timestampDelta: 5, key: value("k"), value: null },
          { offsetDelta: 2, timestampDelta: -3, key: value(""), value: value("") }
        ]
      }),
      await encodeBatch({
        firstOffset: "123456789",
        firstTimestamp: "-1",
        records: [{ offsetDelta: 0, timestampDelta: 0, key: null, value: value("no timestamp") }]
      })
    ])
    const decoded = await sameAsKafkajs(bytes)
    expect(decoded.records.map((r: any) => [r.offset, r.timestamp])).toEqual([
      ["0", "1732400000000"],
      ["1", "1732400000005"],
      ["2", "1732399999997"],
      ["123456789", "-1"]
    ])
  })

  it("falls back to 64-bit arithmetic past 2^53 and for deltas longer than 7 bytes", async () => {
    const bytes = Buffer.concat([
      await encodeBatch({
        firstOffset: "9007199254740990",
        firstTimestamp: "9007199254740000",
        records: [
          { offsetDelta: 0, timestampDelta: 0, key: null, value: value("x") },
          { offsetDelta: 5, timestampDelta: 2000, key: null, value: value("y") }
        ]
      }),
      await encodeBatch({
        firstOffset: "10",
        firstTimestamp: "0",
        records: [
          { offsetDelta: 0, timestampDelta: "1125899906842624", key: null, value: value("2^50") },
          { offsetDelta: 1, timestampDelta: "-4611686018427387904", key: null, value: value("-2^62") }
        ]
      })
    ])
    const decoded = await sameAsKafkajs(bytes)
    expect(decoded.records.map((r: any) => [r.offset, r.timestamp])).toEqual([
      ["9007199254740990", "9007199254740000"],
      ["9007199254740995", "9007199254742000"],
      ["10", "1125899906842624"],
      ["11", "-4611686018427387904"]
    ])
  })

  it("decodes headers, log-append time, control and gzip batches as kafkajs does", async () => {
    const records: Array<RecordInput> = [
      { offsetDelta: 0, timestampDelta: 1, key: value("k1"), value: value("v1"), headers: { a: value("1"), b: [value("2"), value("3")] } },
      { offsetDelta: 1, timestampDelta: 2, key: null, value: value("v2") }
    ]
    const plain = await encodeBatch({ firstOffset: "40", firstTimestamp: "1000", maxTimestamp: "5000", records })
    const gzip = await encodeBatch({ firstOffset: "42", firstTimestamp: "1000", records, compression: Compression.GZIP })
    const decoded = await sameAsKafkajs(Buffer.concat([plain, withAttributes(plain, 0x8), withAttributes(plain, 0x20 | 0x10), gzip]))
    expect(decoded.records).toHaveLength(8)
    expect((decoded.records[0] as any).headers).toEqual({ a: value("1"), b: [value("2"), value("3")] })
    expect((decoded.records[2] as any).timestamp).toBe("5000") // log-append time: the batch's max timestamp
    expect((decoded.records[4] as any).isControlRecord).toBe(true)
    expect((decoded.records[7] as any).value).toEqual(value("v2"))
  })

  it("stops at a partial batch at the end of a fetch as kafkajs does", async () => {
    const whole = await encodeBatch({ firstOffset: "0", firstTimestamp: "0", records: [{ offsetDelta: 0, timestampDelta: 0, key: null, value: value("complete") }] })
    const cut = await encodeBatch({ firstOffset: "1", firstTimestamp: "0", records: [{ offsetDelta: 0, timestampDelta: 0, key: null, value: Buffer.alloc(500, 7) }] })
    const decoded = await sameAsKafkajs(Buffer.concat([whole, cut.subarray(0, 200)]))
    expect(decoded.records).toHaveLength(1)
    expect(decoded.partial).toMatch(/partial record batch/)
  })

  it("reads a record whose value overruns its length as kafkajs does", async () => {
    const bytes = await encodeBatch({
      firstOffset: "7",
      firstTimestamp: "0",
      records: [
        { offsetDelta: 0, timestampDelta: 0, key: null, value: value("first") },
        { offsetDelta: 1, timestampDelta: 0, key: null, value: value("second") }
      ]
    })
    // the first record's value length (a zig-zag varint after length, attributes, deltas and the null key) says 60
    const at = bytes.indexOf(Buffer.from("first")) - 1
    expect(bytes[at]).toBe(10) // 5, zig-zagged
    bytes[at] = 120
    const decoded = await sameAsKafkajs(bytes)
    expect((decoded.records[0] as any).value.length).toBeLessThan(60) // cut short at the record's end, as kafkajs has it
    expect((await decodeAll(strict, bytes)).error).toMatch(/^RangeError/)
  })

  it("decodes records like kafkajs whenever it reads them in place, with random bytes corrupted", async () => {
    const recordArb = fc.record({
      timestampDelta: fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }).map(String)),
      key: fc.option(fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b))),
      value: fc.option(fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b))),
      headers: fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 3 }), fc.uint8Array({ maxLength: 4 }).map((b) => Buffer.from(b)), { maxKeys: 2 }), { nil: undefined })
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 6 }),
        fc.oneof(fc.constant("0"), fc.bigInt({ min: 0n, max: 2n ** 63n - 1000n }).map(String)),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        async (records, firstOffset, corruptions) => {
          const bytes = await encodeBatch({
            firstOffset,
            firstTimestamp: "1732400000000",
            records: records.map((r, i) => ({ ...r, offsetDelta: i, key: r.key ?? null, value: r.value ?? null, ...(r.headers === undefined ? {} : { headers: r.headers }) }))
          })
          // corrupt bytes after the batch header (61 bytes), where the records are
          for (const [at, byte] of corruptions) if (bytes.length > 61) bytes[61 + (at % (bytes.length - 61))] = byte
          const mine = await decodeAll(strict, bytes)
          if (mine.error !== undefined) {
            // malformed: the default decoder hands such a record to kafkajs's own reader, whose reading of some
            // corrupt records does not end (a huge header count reads zeros past the end), so no comparison
            expect(corruptions.length).toBeGreaterThan(0)
            return
          }
          expect(mine).toEqual(await decodeAll(original, bytes))
        }
      ),
      { numRuns: 2000 }
    )
  })
})

describe("kafkajs fast Batch", () => {
  const message = (offset: string, extra: object = {}) => ({ offset, value: Buffer.from(offset), isControlRecord: false, ...extra })
  const methods = (batch: Record<string, any>) => ({
    messages: batch["messages"],
    within: batch["messagesWithinOffset"],
    first: batch["firstOffset"](),
    last: batch["lastOffset"](),
    empty: batch["isEmpty"](),
    lag: batch["offsetLag"](),
    lagLow: batch["offsetLagLow"]()
  })

  it.each([
    ["below the fetched offset dropped", "5", ["3", "4", "5", "6"]],
    ["all above", "0", ["0", "1", "2"]],
    ["all below", "10", ["7", "8"]],
    ["past 2^53", "9007199254740993", ["9007199254740992", "9007199254740993", "9007199254740994"]],
    ["a control record", "0", ["0", "1"]]
  ])("keeps and drops the same messages as kafkajs: %s", (_name, fetched, offsets) => {
    const data = () => ({
      partition: 3,
      highWatermark: "9007199254741000",
      abortedTransactions: [],
      messages: offsets.map((offset, i) => message(offset, _name === "a control record" && i === 1 ? { isControlRecord: true } : {}))
    })
    const mine = new FastBatch("t", fetched, data())
    const theirs = new OriginalBatch("t", fetched, data())
    expect(methods(mine)).toEqual(methods(theirs))
    expect(mine).toBeInstanceOf(OriginalBatch)
  })
})
