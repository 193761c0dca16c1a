/**
 * The worker side of `parquet-pool.ts`: Arrow IPC stream in, Parquet file bytes out, through the same
 * parquet-wasm writer settings as `encodeParquet`. Runs in a worker thread so that encoding (the largest share of
 * a batch's CPU) overlaps decoding of the next batch on the main thread. Each answer carries the size of the
 * worker's wasm memory, which never shrinks, so the pool can replace a worker that grew too large.
 */
import { parentPort } from "node:worker_threads"
import { encodeIpcToParquet, type ParquetJob, wasmMemoryBytes } from "./parquet-encode.ts"

parentPort!.on("message", (job: ParquetJob) => {
  try {
    // the IPC buffer was transferred (or copied) to this thread: nothing else reads it
    const bytes = encodeIpcToParquet(job.ipc, job.compression, job.rowGroupRows, true)
    // transfer only a buffer the bytes own (never a view of wasm memory)
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    parentPort!.postMessage({ id: job.id, bytes, wasmBytes: wasmMemoryBytes() }, whole ? [bytes.buffer as ArrayBuffer] : [])
  } catch (error) {
    parentPort!.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error), wasmBytes: wasmMemoryBytes() })
  }
})
