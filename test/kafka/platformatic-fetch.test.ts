/**
 * The record-batch reading of the @platformatic/kafka layer (layers/kafka/platformatic-fetch.ts), without a
 * broker: offsets and timestamps from batch bases and deltas, records below the position left out, control
 * batches and aborted transactions skipped as a read-committed Java consumer skips them.
 */
import type { RecordsBatch } from "@platformatic/kafka"
import { describe, expect, it } from "vitest"
import { recordsOf } from "../../layers/kafka/platformatic-fetch.ts"

const batch = (
  firstOffset: number,
  values: ReadonlyArray<string>,
  options: { attributes?: number; producerId?: number; maxTimestamp?: number } = {}
): RecordsBatch => ({
  firstOffset: BigInt(firstOffset),
  length: 0,
  partitionLeaderEpoch: 0,
  magic: 2,
  crc: 0,
  attributes: options.attributes ?? 0,
  lastOffsetDelta: Math.max(0, values.length - 1),
  firstTimestamp: 1_700_000_000_000n,
  maxTimestamp: BigInt(options.maxTimestamp ?? 1_700_000_000_009),
  producerId: BigInt(options.producerId ?? -1),
  producerEpoch: 0,
  firstSequence: 0,
  records: values.map((value, i) => ({
    length: 0,
    attributes: 0,
    timestampDelta: BigInt(i * 3),
    offsetDelta: i,
    key: null,
    value: Buffer.from(value),
    headers: []
  }))
})

const TRANSACTIONAL = 0x10
const CONTROL = 0x20

const valuesOf = (records: ReadonlyArray<{ offset: number; value: Uint8Array | null }>) =>
  records.map((record) => `${record.offset}:${Buffer.from(record.value!).toString()}`)

describe("@platformatic/kafka record batches", () => {
  it("gives offsets and timestamps from each batch's base, from the position on", () => {
    const { records, nextOffset } = recordsOf([batch(10, ["a", "b", "c"]), batch(13, ["d"])], 11, null)
    expect(valuesOf(records)).toEqual(["11:b", "12:c", "13:d"])
    expect(records.map((record) => record.timestamp)).toEqual([1_700_000_000_003, 1_700_000_000_006, 1_700_000_000_000])
    expect(nextOffset).toBe(14)
  })

  it("takes log-append time from the batch's max timestamp", () => {
    const { records } = recordsOf([batch(0, ["a", "b"], { attributes: 0x08, maxTimestamp: 42 })], 0, null)
    expect(records.map((record) => record.timestamp)).toEqual([42, 42])
  })

  it("skips control batches and the batches of aborted transactions, but moves past them", () => {
    const { records, nextOffset } = recordsOf([
      batch(0, ["committed-1"], { attributes: TRANSACTIONAL, producerId: 7 }),
      batch(1, ["marker"], { attributes: TRANSACTIONAL | CONTROL, producerId: 7 }),
      batch(2, ["aborted-1", "aborted-2"], { attributes: TRANSACTIONAL, producerId: 8 }),
      batch(4, ["plain"]),
      batch(5, ["marker"], { attributes: TRANSACTIONAL | CONTROL, producerId: 8 }),
      batch(6, ["later-8"], { attributes: TRANSACTIONAL, producerId: 8 })
    ], 0, [{ producerId: 8n, firstOffset: 2n }])
    expect(valuesOf(records)).toEqual(["0:committed-1", "4:plain", "6:later-8"])
    expect(nextOffset).toBe(7)
  })

  it("an empty fetch does not move the position", () => {
    expect(recordsOf([], 5, null)).toEqual({ records: [], nextOffset: undefined })
  })
})
