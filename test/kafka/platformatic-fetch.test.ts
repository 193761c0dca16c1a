/**
 * The record-batch reading of the @platformatic/kafka layer (layers/kafka/platformatic-fetch.ts), without a
 * broker: offsets and timestamps from batch bases and deltas, records below the position left out, control
 * batches and aborted transactions skipped as a read-committed Java consumer skips them; and the fetch loop
 * against a scripted client: positions, a log start that moved past us, a log truncated below our position.
 */
import { compressionsAlgorithms, type Consumer, type RecordsBatch } from "@platformatic/kafka"
import { Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { toSourceError } from "../../layers/kafka/platformatic.ts"
import { type FetchContext, fetchStream, recordsOf } from "../../layers/kafka/platformatic-fetch.ts"
import * as Zlib from "node:zlib"
import { isTransient } from "../../src/pipeline/errors.ts"
import { KafkaUnavailableError, type PartitionOffsets, type SourceEvent } from "../../src/services/KafkaSource.ts"

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

/** A client whose partition 0 answers from `log` (offsets `earliest`..`latest - 1`), or OFFSET_OUT_OF_RANGE. */
const scripted = (log: { earliest: number; latest: number }, onFetch: (count: number) => void = () => undefined) => {
  const fetched: Array<number> = []
  const client = {
    fetch: async (options: { topics: Array<{ partitions: Array<{ partition: number; fetchOffset: bigint }> }> }) => {
      const from = Number(options.topics[0]!.partitions[0]!.fetchOffset)
      fetched.push(from)
      onFetch(fetched.length)
      const outOfRange = from < log.earliest || from > log.latest
      const values = outOfRange ? [] : Array.from({ length: log.latest - from }, (_, i) => `v${from + i}`)
      return {
        throttleTimeMs: 0,
        errorCode: 0,
        sessionId: 0,
        responses: [{
          topicId: "id",
          partitions: [{
            partitionIndex: 0,
            errorCode: outOfRange ? 1 : 0,
            highWatermark: BigInt(log.latest),
            lastStableOffset: BigInt(log.latest),
            logStartOffset: BigInt(log.earliest),
            abortedTransactions: null,
            preferredReadReplica: -1,
            records: values.length === 0 ? [] : [batch(from, values)]
          }]
        }]
      }
    }
  }
  const context: FetchContext = {
    client: client as unknown as Consumer,
    offsets: () => Effect.sync((): ReadonlyArray<PartitionOffsets> => [{ partition: 0, earliest: log.earliest, latest: log.latest }]),
    layout: () => Effect.succeed({ id: "id", partitions: [{ partition: 0, leader: 1, leaderEpoch: 0 }] }),
    fail: (error) => new KafkaUnavailableError({ brokers: "fake", reason: String(error) }),
    maxBytes: 1 << 20,
    maxBytesPerPartition: 1 << 20,
    maxWaitMillis: () => 1
  }
  return { context, fetched }
}

const describeEvent = (event: SourceEvent) =>
  event._tag === "RecordsFetched"
    ? `records ${event.records.map((r) => r.offset).join(",")} next ${event.nextOffset}`
    : `out of range: requested ${event.requested}, earliest ${event.earliest}${event.logEnd === undefined ? "" : `, log end ${event.logEnd}`}`

describe("@platformatic/kafka fetch loop (scripted client)", () => {
  it("a log truncated below our position is OffsetOutOfRange with logEnd, once; reading goes on from our position", async () => {
    const log = { earliest: 0, latest: 4 }
    const { context, fetched } = scripted(log, (count) => {
      if (count === 2) log.latest = 2 // an unclean leader election: the new leader's log ends at 2
      if (count === 5) log.latest = 6 // the log grows past our position again
    })
    const seen: Array<string> = []
    await Effect.runPromise(fetchStream(context, { topic: "t", start: new Map([[0, 0]]), otherwise: "earliest" }).pipe(
      Stream.tap((event) => Effect.sync(() => seen.push(describeEvent(event)))),
      Stream.takeUntil(() => seen.length === 3),
      Stream.runDrain,
      Effect.timeout("5 seconds")
    ))
    expect(seen).toEqual(["records 0,1,2,3 next 4", "out of range: requested 4, earliest 0, log end 2", "records 4,5 next 6"])
    expect(fetched).toEqual([0, 4, 4, 4, 4]) // never back to the log start
  })

  it("a position below the log start is OffsetOutOfRange, then records from the log start", async () => {
    const { context } = scripted({ earliest: 3, latest: 5 })
    const events = await Effect.runPromise(fetchStream(context, { topic: "t", start: new Map([[0, 1]]), otherwise: "earliest" }).pipe(
      Stream.take(2),
      Stream.runCollect,
      Effect.timeout("5 seconds")
    ))
    expect([...events].map(describeEvent)).toEqual(["out of range: requested 1, earliest 3", "records 3,4 next 5"])
  })
})

describe("@platformatic/kafka error mapping", () => {
  const context = { brokers: "b:9092", user: undefined, mechanism: "PLAINTEXT", scrub: (text: string) => text }
  const thrown = (f: () => unknown): unknown => {
    try {
      f()
    } catch (error) {
      return error
    }
    throw new Error("did not throw")
  }

  it("corrupt compressed data is KafkaDecompressionError naming the codec, fatal", () => {
    const garbage = Buffer.from("garbage-garbage-garbage")
    const cases = [
      [thrown(() => compressionsAlgorithms.snappy.decompressSync(garbage)), "snappy or lz4"],
      [thrown(() => compressionsAlgorithms.lz4.decompressSync(garbage)), "snappy or lz4"],
      [thrown(() => Zlib.zstdDecompressSync(garbage)), "zstd"],
      [thrown(() => Zlib.gunzipSync(garbage)), "gzip"]
    ] as const
    for (const [error, codec] of cases) {
      const mapped = toSourceError(new AggregateError([error], "fetch failed"), context, "orders")
      expect(mapped._tag).toBe("KafkaDecompressionError")
      expect(mapped._tag === "KafkaDecompressionError" && mapped.codec).toBe(codec)
      expect(mapped.message).toMatch(new RegExp(`^cannot decompress the ${codec} record batch at topic orders: `))
      expect(isTransient(mapped)).toBe(false)
    }
  })

  it("a missing topic is TopicNotFoundError; anything else is KafkaUnavailableError", () => {
    expect(toSourceError(new Error("Unknown topic orders."), context, "orders")._tag).toBe("TopicNotFoundError")
    expect(toSourceError(new Error("connect ECONNREFUSED"), context, "orders")._tag).toBe("KafkaUnavailableError")
  })
})
