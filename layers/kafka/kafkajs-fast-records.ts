/**
 * A faster drop-in for two kafkajs 2.2.4 internals on the consume path, installed before kafkajs loads them:
 *
 * - the record-batch decoder (`protocol/recordBatch/v0/decoder.js`). kafkajs computes every record's offset and
 *   timestamp with its 64-bit `Long` class: it parses the batch's first offset and first timestamp from
 *   strings again for every record, adds the delta, and prints the result (and reads each timestamp delta as a
 *   `Long`, one object per byte). It also slices a sub-buffer and builds a new `Decoder` per record and folds
 *   the (usually absent) headers with object spreads. In a profile of a 2M-record run, those helpers were the
 *   largest share of kafkajs's time on the main thread, and a good part of its garbage.
 * - the consumer's `Batch` class (`consumer/batch.js`), which parses every record's offset string into a
 *   `Long` once more to drop records below the fetched offset.
 *
 * The replacements return exactly what kafkajs's own code returns (offsets and timestamps as decimal strings, the
 * same fields, the same errors for a partial batch) but do the arithmetic in doubles while the values are exact
 * in them (below 2^53, i.e. always for offsets and millisecond timestamps), and fall back to `Long` otherwise.
 * `test/kafka/kafkajs-fast-records.test.ts` checks them field by field against kafkajs's originals on encoded
 * record batches. One difference on purpose: a batch that cannot be decompressed (corrupt, or a codec with no
 * implementation) decodes to one `FailedBatchRecord` instead of failing the whole fetch, so that the consumer can
 * report it with its topic and partition.
 *
 * How it is installed: kafkajs is CommonJS, and its modules take the decoder and the class from the require
 * cache when they are first loaded. `install()` loads the two original modules and replaces their exports in
 * the cache, so the modules that load after it (the fetch response decoder, the consumer group) get these.
 * It is a no-op for any kafkajs version but 2.2.4, and when kafkajs's fetch path was already loaded (then the
 * originals stay in use; `installed()` says which). `layers/kafka/kafkajs.ts` imports this module before
 * kafkajs.
 */
import { createRequire } from "node:module"
import { codecName, DecompressionFailure, type FailedBatchRecord } from "./codecs.ts"

const require = createRequire(import.meta.url)

/** The kafkajs version whose internals these replacements mirror. */
export const patchedVersion = "2.2.4"

// the kafkajs internals used here (CommonJS, untyped)
interface KafkajsDecoder {
  buffer: Buffer
  offset: number
  readInt8(): number
  readInt16(): number
  readInt32(): number
  readInt64(): { toString(): string }
  readVarInt(): number
  readVarLong(): unknown
  readVarIntBytes(): Buffer | null
  readVarIntArray<T>(reader: (decoder: KafkajsDecoder) => T): Array<T>
  readAll(): Buffer
  slice(length: number): KafkajsDecoder
  forward(length: number): void
}
type LongLike = { add(other: unknown): LongLike; gte(other: unknown): boolean; toString(): string }
interface LongStatic {
  fromValue(value: unknown): LongLike
}

const resolve = (path: string) => require.resolve(`kafkajs/${path}`)
const load = <T>(path: string): T => require(resolve(path)) as T

/** A decimal string that is an integer exactly representable as a double. */
const exact = (text: string): number | undefined => {
  const value = Number(text)
  return Number.isSafeInteger(value) ? value : undefined
}

/**
 * The record-batch decoder: the same result as kafkajs's `recordBatch/v0/decoder.js` for the same bytes. A record
 * that is malformed (a field past its stated length, a negative length, more headers than bytes) is decoded by
 * kafkajs's own record decoder instead, which reads it as kafkajs always has (a corrupt record's fields come out
 * cut short, and the Avro decoder then reports it as a bad record). `onMalformed: "throw"` throws instead (the
 * test uses it: kafkajs's reading of some corrupt records does not end). Exported for the test.
 */
export const makeRecordBatchDecoder = (options: { readonly onMalformed?: "kafkajs" | "throw" } = {}) => {
  const Decoder = load<new(buffer: Buffer) => KafkajsDecoder>("src/protocol/decoder.js")
  const Long = load<LongStatic>("src/utils/long.js")
  const { KafkaJSPartialMessageError } = load<{ KafkaJSPartialMessageError: new(message: string) => Error }>("src/errors.js")
  const { lookupCodecByAttributes } = load<{ lookupCodecByAttributes: (attributes: number) => { decompress(buffer: Buffer): Promise<Buffer> } | undefined }>("src/protocol/message/compression/index.js")
  const TimestampTypes = load<{ LOG_APPEND_TIME: number; CREATE_TIME: number }>("src/protocol/timestampTypes.js")
  const RecordDecoder = load<(decoder: KafkajsDecoder, context: object) => object>("src/protocol/recordBatch/record/v0/decoder.js")

  const TIMESTAMP_TYPE_FLAG_MASK = 0x8
  const TRANSACTIONAL_FLAG_MASK = 0x10
  const CONTROL_FLAG_MASK = 0x20

  /**
   * A zig-zag varlong as a double when it is exact in one (7 bytes or fewer: below 2^49 before zig-zag), else
   * undefined with the decoder left where it was.
   */
  const readSmallVarLong = (decoder: KafkajsDecoder): number | undefined => {
    const buffer = decoder.buffer
    let position = decoder.offset
    let result = 0
    let scale = 1
    for (let i = 0; i < 7; i++) {
      const byte = buffer[position++]
      if (byte === undefined) return undefined
      result += (byte & 0x7f) * scale
      if (byte < 0x80) {
        decoder.offset = position
        return result % 2 === 0 ? result / 2 : -(result + 1) / 2
      }
      scale *= 128
    }
    return undefined
  }

  /**
   * kafkajs's `readVarIntBytes`, except that a negative length other than -1 (null) throws: kafkajs would move
   * its position backwards, and only reads that go forwards can be checked against the record's end.
   */
  const readBytes = (decoder: KafkajsDecoder): Buffer | null => {
    const length = decoder.readVarInt()
    if (length === -1) return null
    if (length < 0) throw new RangeError("negative length")
    const bytes = decoder.buffer.slice(decoder.offset, decoder.offset + length)
    decoder.offset += length
    return bytes
  }

  // as kafkajs folds them, a repeated key into an array (a null key becomes "null", as there)
  const foldHeaders = (headers: Array<{ key: string | null; value: Buffer | null }>) =>
    headers.reduce<Record<string, unknown>>((obj, { key, value }) => ({
      ...obj,
      [String(key)]: obj[String(key)] === undefined ? value : Array.isArray(obj[String(key)]) ? (obj[String(key)] as Array<unknown>).concat([value]) : [obj[String(key)], value]
    }), {})

  interface Context {
    readonly firstOffset: string
    readonly firstTimestamp: string
    readonly maxTimestamp: string
    readonly timestampType: number
    readonly isControlBatch: boolean
    readonly magicByte: number
  }

  // kafkajs's way: the record sliced into a Decoder of its own, read by kafkajs's record decoder. Taken for a
  // record the in-place read finds malformed, so even a corrupt record decodes (or fails) as kafkajs has it.
  const decodeRecordAsKafkajs = (decoder: KafkajsDecoder, context: Context) =>
    RecordDecoder(new Decoder(decoder.readVarIntBytes()!), context)

  // one record, read in place
  const decodeRecord = (decoder: KafkajsDecoder, context: Context, baseOffset: number | undefined, baseTimestamp: number | undefined) => {
    const start = decoder.offset
    try {
      const length = decoder.readVarInt()
      const end = decoder.offset + length
      const attributes = decoder.readInt8()
      const small = readSmallVarLong(decoder)
      const timestampDelta = small === undefined ? decoder.readVarLong() : small
      const timestamp = context.timestampType === TimestampTypes.LOG_APPEND_TIME && context.maxTimestamp
        ? context.maxTimestamp
        : baseTimestamp !== undefined && small !== undefined && Number.isSafeInteger(baseTimestamp + small)
        ? String(baseTimestamp + small)
        : Long.fromValue(context.firstTimestamp).add(timestampDelta).toString()
      const offsetDelta = decoder.readVarInt()
      const offset = baseOffset !== undefined && Number.isSafeInteger(baseOffset + offsetDelta)
        ? String(baseOffset + offsetDelta)
        : Long.fromValue(context.firstOffset).add(offsetDelta).toString()
      const key = readBytes(decoder)
      const value = readBytes(decoder)
      const headerCount = decoder.readVarInt()
      let headers: Record<string, unknown> = {}
      if (headerCount > end - decoder.offset) {
        throw new RangeError("more headers than bytes left") // each takes two bytes at least
      } else if (headerCount > 0) {
        const list = new Array<{ key: string | null; value: Buffer | null }>(headerCount)
        for (let i = 0; i < headerCount; i++) {
          const headerKey = readBytes(decoder)
          list[i] = { key: headerKey === null ? null : headerKey.toString("utf8"), value: readBytes(decoder) }
        }
        headers = foldHeaders(list)
      } else if (headerCount < -1) {
        throw new RangeError("invalid header count")
      }
      // every field must lie inside the record's stated length (kafkajs reads inside a slice of it)
      if (length < 0 || decoder.offset > end || end > decoder.buffer.length) {
        throw new RangeError("record overran its length")
      }
      decoder.offset = end
      return {
        magicByte: context.magicByte,
        attributes,
        timestamp,
        offset,
        key,
        value,
        headers,
        isControlRecord: context.isControlBatch,
        batchContext: context
      }
    } catch (error) {
      if (options.onMalformed === "throw") throw error
      decoder.offset = start
      return decodeRecordAsKafkajs(decoder, context)
    }
  }

  // the batch's records, decompressed by the codec kafkajs's registry holds (layers/kafka/codecs.ts registers
  // them); any failure becomes a DecompressionFailure naming the codec
  const decompress = async (attributes: number, buffer: Buffer): Promise<Buffer> => {
    const codec = codecName(attributes)
    if ((attributes & 0x07) > 4) throw new DecompressionFailure(codec, "Kafka defines codecs 1 to 4 only")
    try {
      return await lookupCodecByAttributes(attributes)!.decompress(buffer)
    } catch (error) {
      if (error instanceof DecompressionFailure) throw error
      throw new DecompressionFailure(codec, error instanceof Error ? error.message : String(error))
    }
  }

  const decodeRecords = async (attributes: number, recordsDecoder: KafkajsDecoder, context: Context) => {
    const baseOffset = exact(context.firstOffset)
    const baseTimestamp = exact(context.firstTimestamp)
    if ((attributes & 0x07) === 0) {
      const length = recordsDecoder.readInt32()
      if (length === -1) return []
      const records = new Array(length)
      for (let i = 0; i < length; i++) records[i] = decodeRecord(recordsDecoder, context, baseOffset, baseTimestamp)
      return records
    }
    const length = recordsDecoder.readInt32()
    if (length <= 0) return []
    const decompressed = new Decoder(await decompress(attributes, recordsDecoder.readAll()))
    const records = new Array(length)
    for (let i = 0; i < length; i++) records[i] = decodeRecord(decompressed, context, baseOffset, baseTimestamp)
    return records
  }

  // A batch that cannot be decompressed stands in the fetch as one record that says so, at the batch's last
  // offset: kafkajs drops it with the rest of the batch when the batch lies below the fetched offset, and
  // otherwise hands it to the consumer, which knows the topic and partition and fails with a typed error. Thrown
  // here instead, the error would lose them and end in kafkajs's retries of the whole fetch.
  const failedBatchRecord = (context: Context & { readonly lastOffsetDelta: number }, attributes: number, failure: DecompressionFailure) => {
    const base = exact(context.firstOffset)
    const lastOffset = base !== undefined && Number.isSafeInteger(base + context.lastOffsetDelta)
      ? String(base + context.lastOffsetDelta)
      : Long.fromValue(context.firstOffset).add(context.lastOffsetDelta).toString()
    const record: FailedBatchRecord = {
      magicByte: context.magicByte,
      attributes,
      timestamp: context.firstTimestamp,
      offset: lastOffset,
      key: null,
      value: null,
      headers: {},
      isControlRecord: false,
      batchContext: context,
      decompressionFailure: { codec: failure.codec, reason: failure.reason, firstOffset: context.firstOffset }
    }
    return record
  }

  return async (fetchDecoder: KafkajsDecoder) => {
    const firstOffset = fetchDecoder.readInt64().toString()
    const length = fetchDecoder.readInt32()
    const decoder = fetchDecoder.slice(length)
    fetchDecoder.forward(length)
    const remainingBytes = Buffer.byteLength(decoder.buffer)
    if (remainingBytes < length) {
      throw new KafkaJSPartialMessageError(
        `Tried to decode a partial record batch: remainingBytes(${remainingBytes}) < recordBatchLength(${length})`
      )
    }
    const partitionLeaderEpoch = decoder.readInt32()
    const magicByte = decoder.readInt8()
    decoder.readInt32() // crc: kafkajs does not check it either
    const attributes = decoder.readInt16()
    const lastOffsetDelta = decoder.readInt32()
    const firstTimestamp = decoder.readInt64().toString()
    const maxTimestamp = decoder.readInt64().toString()
    const producerId = decoder.readInt64().toString()
    const producerEpoch = decoder.readInt16()
    const firstSequence = decoder.readInt32()
    const recordContext = {
      firstOffset,
      firstTimestamp,
      partitionLeaderEpoch,
      inTransaction: (attributes & TRANSACTIONAL_FLAG_MASK) > 0,
      isControlBatch: (attributes & CONTROL_FLAG_MASK) > 0,
      lastOffsetDelta,
      producerId,
      producerEpoch,
      firstSequence,
      maxTimestamp,
      timestampType: (attributes & TIMESTAMP_TYPE_FLAG_MASK) > 0 ? TimestampTypes.LOG_APPEND_TIME : TimestampTypes.CREATE_TIME
    }
    const context = { ...recordContext, magicByte }
    try {
      return { ...recordContext, records: await decodeRecords(attributes, decoder, context) }
    } catch (error) {
      if (!(error instanceof DecompressionFailure)) throw error
      return { ...recordContext, records: [failedBatchRecord(context, attributes, error)] }
    }
  }
}

/**
 * kafkajs's consumer `Batch` with the offset filter done in doubles when the offsets are exact in them. Exported
 * for the test, which compares it with the original.
 */
export const makeBatchClass = () => {
  type Message = { readonly offset: string; readonly isControlRecord?: boolean }
  type PartitionData = { readonly partition: number; readonly highWatermark: string; readonly messages: Array<Message>; readonly abortedTransactions?: unknown }
  const Original = load<new(topic: string, fetchedOffset: string, partitionData: PartitionData) => object>("src/consumer/batch.js")
  const Long = load<LongStatic>("src/utils/long.js")
  const filterAbortedMessages = load<(input: { messages: Array<Message>; abortedTransactions: unknown }) => Array<Message>>("src/consumer/filterAbortedMessages.js")

  // the original's methods, on a class whose constructor does the same in doubles
  function Batch(this: Record<string, unknown>, topic: string, fetchedOffset: string, partitionData: PartitionData) {
    this["fetchedOffset"] = fetchedOffset
    const { abortedTransactions, messages } = partitionData
    this["topic"] = topic
    this["partition"] = partitionData.partition
    this["highWatermark"] = partitionData.highWatermark
    this["rawMessages"] = messages
    const fetched = exact(String(fetchedOffset))
    let within: Array<Message>
    if (fetched === undefined) {
      const longFetched = Long.fromValue(fetchedOffset)
      within = messages.filter((message) => Long.fromValue(message.offset).gte(longFetched))
    } else {
      // offsets are sorted within a fetch, but the original does not rely on it either
      within = messages.filter((message) => {
        const offset = exact(message.offset)
        return offset === undefined ? Long.fromValue(message.offset).gte(Long.fromValue(fetchedOffset)) : offset >= fetched
      })
    }
    this["messagesWithinOffset"] = within
    this["messages"] = filterAbortedMessages({ messages: within, abortedTransactions }).filter((message) => !message.isControlRecord)
  }
  Batch.prototype = Original.prototype
  return Batch as unknown as typeof Original
}

/** kafkajs's own decoder and class, as loaded by `install` (for the test's comparison). */
export const originals: { recordBatchDecoder?: unknown; Batch?: unknown } = {}

let state: "installed" | "skipped: kafkajs version" | "skipped: already loaded" | undefined

/** Installs the replacements (once); returns whether they are in use. */
export const install = (): boolean => {
  if (state === undefined) {
    const version = kafkajsVersion()
    const targets = ["src/protocol/recordBatch/v0/decoder.js", "src/consumer/batch.js"]
    // the modules that capture them at load: if one is loaded, the original is already in use
    const users = ["src/protocol/requests/fetch/v4/decodeMessages.js", "src/consumer/consumerGroup.js"]
    if (version !== patchedVersion) state = "skipped: kafkajs version"
    else if (users.some((path) => require.cache[resolve(path)] !== undefined)) state = "skipped: already loaded"
    else {
      const replacements = [makeRecordBatchDecoder(), makeBatchClass()]
      // the original modules, loaded so the cache holds real modules to change
      originals.recordBatchDecoder = load(targets[0]!)
      originals.Batch = load(targets[1]!)
      targets.forEach((path, i) => {
        require.cache[resolve(path)]!.exports = replacements[i]
      })
      state = "installed"
    }
  }
  return state === "installed"
}

/** Whether `install` put the replacements in place, and why not. */
export const installed = () => state

/**
 * One line for the log when the replacements are not in use (kafkajs then reads as it always has, at about twice
 * the CPU per record), or undefined when they are.
 */
export const notInstalledWarning = (reason: ReturnType<typeof installed>, version: string): string | undefined => {
  switch (reason) {
    case "installed":
    case undefined:
      return undefined
    case "skipped: kafkajs version":
      return `kafkajs ${version} is not ${patchedVersion}: its own record decoding is used, about twice the CPU per record; pin kafkajs ${patchedVersion} for kafka-delta's`
    case "skipped: already loaded":
      return "kafkajs's fetch path was loaded before kafka-delta's kafkajs layer: its own record decoding is used, about twice the CPU per record; import the layer before kafkajs"
  }
}

/** The kafkajs version installed. */
export const kafkajsVersion = (): string => load<{ version: string }>("package.json").version

install()
