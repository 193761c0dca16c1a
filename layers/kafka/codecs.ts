/**
 * The compression codecs of Kafka record batches, for the kafkajs KafkaSource: kafkajs 2.2.4 ships gzip only and
 * throws "not implemented" for snappy, lz4 and zstd, which made every topic whose producers compress unreadable.
 *
 * - gzip and zstd come from `node:zlib` (zstd is built into Node 22.15 and later).
 * - snappy comes from `snappy` (napi-rs, prebuilt binaries on npm). Kafka's Java producer frames snappy the
 *   xerial way (a magic header, then length-prefixed blocks); librdkafka may send one raw snappy block. Both are
 *   read.
 * - lz4 comes from `lz4-napi` (napi-rs over lz4_flex, prebuilt binaries on npm): Kafka's v2 record batches carry
 *   standard LZ4 frames.
 *
 * All of them decompress off the main thread (libuv's pool) and read the fetch response's bytes in place.
 * A failure is thrown as a `DecompressionFailure` naming the codec; the record-batch decoder turns it into a
 * typed, fatal error with the batch's topic, partition and offset.
 */
import { compressFrame, decompressFrame } from "lz4-napi"
import { createRequire } from "node:module"
import { promisify } from "node:util"
import * as Zlib from "node:zlib"
import { compress as snappyCompress, uncompress as snappyUncompress } from "snappy"

/** The codec ids of a record batch's attributes (the low three bits), by name. */
export const codecIds = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const

/** The codec name of a record batch's attributes, or `unknown codec <id>` for ids Kafka does not define. */
export const codecName = (attributes: number): string => {
  const id = attributes & 0x07
  const name = Object.entries(codecIds).find(([, value]) => value === id)?.[0]
  return name ?? `unknown codec ${id}`
}

/** Decompressing a batch failed: corrupt data, or a codec we cannot read. Carries the codec's name. */
export class DecompressionFailure extends Error {
  override readonly name = "KafkaDeltaDecompressionFailure"
  readonly codec: string
  readonly reason: string
  constructor(codec: string, reason: string) {
    super(`cannot decompress ${codec}: ${reason}`)
    this.codec = codec
    this.reason = reason
  }
}

/** The record that stands for a batch that could not be decompressed (see `makeRecordBatchDecoder` in kafkajs-fast-records.ts). */
export interface FailedBatchRecord {
  readonly magicByte: number
  readonly attributes: number
  readonly timestamp: string
  /** The batch's last offset. */
  readonly offset: string
  readonly key: null
  readonly value: null
  readonly headers: Record<string, never>
  readonly isControlRecord: false
  readonly batchContext: object
  readonly decompressionFailure: {
    readonly codec: string
    readonly reason: string
    /** The batch's first offset. */
    readonly firstOffset: string
  }
}

/** A codec as kafkajs's `CompressionCodecs` registry holds it. */
export interface KafkajsCodec {
  readonly compress: (encoder: { readonly buffer: Buffer }) => Promise<Buffer>
  readonly decompress: (buffer: Buffer) => Promise<Buffer>
}

const gzip = promisify(Zlib.gzip)
const unzip = promisify(Zlib.unzip)
const zstdCompress = promisify(Zlib.zstdCompress)
const zstdDecompress = promisify(Zlib.zstdDecompress)

const reasonOf = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ")

const failingAs = (codec: string, decompress: (buffer: Buffer) => Promise<Buffer>) => async (buffer: Buffer) => {
  try {
    return await decompress(buffer)
  } catch (error) {
    throw error instanceof DecompressionFailure ? error : new DecompressionFailure(codec, reasonOf(error))
  }
}

/** `\x82SNAPPY\x00`, then a version and a compatible-version int32: the xerial snappy-java stream header. */
const xerialMagic = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])
const xerialHeaderLength = 16
/** snappy-java's default block size; Kafka's Java producer writes blocks of at most this many bytes. */
const xerialBlockSize = 32 * 1024

const uncompressBlock = async (block: Uint8Array): Promise<Buffer> => (await snappyUncompress(block, { asBuffer: true })) as Buffer

/** Raw snappy, or the xerial framing: blocks each prefixed with its int32 length, decompressed side by side. */
export const snappyDecompress = async (buffer: Buffer): Promise<Buffer> => {
  if (buffer.length < xerialHeaderLength || !buffer.subarray(0, xerialMagic.length).equals(xerialMagic)) {
    return uncompressBlock(buffer)
  }
  const blocks: Array<Uint8Array> = []
  let position = xerialHeaderLength
  while (position < buffer.length) {
    if (position + 4 > buffer.length) throw new DecompressionFailure("snappy", `xerial block length cut short at byte ${position}`)
    const length = buffer.readInt32BE(position)
    position += 4
    if (length < 0 || position + length > buffer.length) {
      throw new DecompressionFailure("snappy", `xerial block of ${length} bytes at byte ${position - 4} overruns the ${buffer.length}-byte batch`)
    }
    blocks.push(buffer.subarray(position, position + length))
    position += length
  }
  const parts = await Promise.all(blocks.map(uncompressBlock))
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts)
}

/** Snappy in the xerial framing, as Kafka's Java producer writes it (for tests that build batches). */
export const snappyXerialCompress = async (buffer: Buffer): Promise<Buffer> => {
  const header = Buffer.alloc(xerialHeaderLength)
  xerialMagic.copy(header)
  header.writeInt32BE(1, 8)
  header.writeInt32BE(1, 12)
  const chunks: Array<Buffer> = [header]
  for (let start = 0; start < buffer.length; start += xerialBlockSize) {
    const block = await snappyCompress(buffer.subarray(start, start + xerialBlockSize))
    const length = Buffer.alloc(4)
    length.writeInt32BE(block.length)
    chunks.push(length, block)
  }
  return Buffer.concat(chunks)
}

/** The codecs by kafkajs compression type, failures thrown as `DecompressionFailure`. */
export const kafkajsCodecs: Readonly<Record<1 | 2 | 3 | 4, KafkajsCodec>> = {
  [codecIds.gzip]: {
    compress: (encoder) => gzip(encoder.buffer),
    decompress: failingAs("gzip", (buffer) => unzip(buffer))
  },
  [codecIds.snappy]: {
    compress: (encoder) => snappyXerialCompress(encoder.buffer),
    decompress: failingAs("snappy", snappyDecompress)
  },
  [codecIds.lz4]: {
    compress: (encoder) => compressFrame(encoder.buffer),
    decompress: failingAs("lz4", (buffer) => decompressFrame(buffer))
  },
  [codecIds.zstd]: {
    compress: (encoder) => zstdCompress(encoder.buffer),
    decompress: failingAs("zstd", (buffer) => zstdDecompress(buffer))
  }
}

/**
 * Puts these codecs into kafkajs's `CompressionCodecs` registry, the one its record decoders look codecs up in.
 * Taken from kafkajs's compression module rather than its index: Node's ESM import of the CommonJS index does not
 * see that export, and loading the index here would load kafkajs's fetch path before the fast decoder is installed.
 */
export const registerKafkajsCodecs = (): void => {
  const require = createRequire(import.meta.url)
  const { Codecs } = require(require.resolve("kafkajs/src/protocol/message/compression/index.js")) as {
    Codecs: Record<number, () => unknown>
  }
  for (const [id, codec] of Object.entries(kafkajsCodecs)) Codecs[Number(id)] = () => codec
}
