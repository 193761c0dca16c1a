/**
 * Benchmark data: N demo events (src/demo/events.ts, seed 42) as Avro bodies without framing, written once per N
 * to `.cache/bench/demo-v<version>-<N>.bin` (each body as a 4-byte little-endian length + the bytes), so every pair of runs
 * and both engines read exactly the same records. The producer adds the Confluent header with the registered id.
 */
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { demoEvent, demoEventSchema, encodeDemoEvent } from "../../src/demo/events.ts"

/** Bumped with every change to the demo generator (v2: values of about 230 bytes). */
const DEMO_DATA_VERSION = 2

/** Where benchmark data files are cached. */
export const cacheDir = NodePath.resolve(import.meta.dirname, "../../.cache/bench")

/** The demo schema as Avro JSON in a file (for the producer, Spark's from_avro and the registry). */
export const schemaFile = (): string => {
  Fs.mkdirSync(cacheDir, { recursive: true })
  const file = NodePath.join(cacheDir, "demo-event.avsc")
  Fs.writeFileSync(file, JSON.stringify(demoEventSchema))
  return file
}

/** The bodies file for `n` records (generated on first use); returns its path and total body bytes. */
export const ensureBodies = async (n: number): Promise<{ readonly file: string; readonly bytes: number }> => {
  Fs.mkdirSync(cacheDir, { recursive: true })
  // the version changes whenever the demo generator does, so a cached file never holds older records
  const file = NodePath.join(cacheDir, `demo-v${DEMO_DATA_VERSION}-${n}.bin`)
  if (Fs.existsSync(file)) {
    const size = Fs.statSync(file).size
    return { file, bytes: size - 4 * n }
  }
  const partial = `${file}.${process.pid}.tmp`
  const out = Fs.createWriteStream(partial)
  let bytes = 0
  const chunk: Array<Buffer> = []
  let chunkBytes = 0
  const flush = async () => {
    if (chunk.length === 0) return
    const data = Buffer.concat(chunk)
    chunk.length = 0
    chunkBytes = 0
    if (!out.write(data)) await new Promise<void>((resolve) => out.once("drain", () => resolve()))
  }
  for (let i = 0; i < n; i++) {
    const body = encodeDemoEvent(0, demoEvent(42, i)).subarray(5)
    const length = Buffer.allocUnsafe(4)
    length.writeUInt32LE(body.length)
    chunk.push(length, body)
    chunkBytes += 4 + body.length
    bytes += body.length
    if (chunkBytes > 8 * 1024 * 1024) await flush()
  }
  await flush()
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())))
  Fs.renameSync(partial, file)
  return { file, bytes }
}
