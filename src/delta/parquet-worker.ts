/**
 * The worker side of `parquet-pool.ts`: Arrow IPC stream in, Parquet file bytes out, through the same
 * parquet-wasm writer settings as `encodeParquet`. Runs in a worker thread so that encoding (the largest share of
 * a batch's CPU) overlaps decoding of the next batch on the main thread.
 */
import { parentPort } from "node:worker_threads"
import { encodeIpcToParquet, type ParquetJob } from "./parquet-encode.ts"

parentPort!.on("message", (job: ParquetJob) => {
  try {
    const bytes = encodeIpcToParquet(job.ipc, job.compression, job.rowGroupRows)
    // transfer only a buffer the bytes own (never a view of wasm memory)
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    parentPort!.postMessage({ id: job.id, bytes }, whole ? [bytes.buffer as ArrayBuffer] : [])
  } catch (error) {
    parentPort!.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) })
  }
})
