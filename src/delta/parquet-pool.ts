/**
 * Parquet encoding off the main thread: one worker thread (by default) that turns Arrow IPC into Parquet bytes.
 * The main thread runs kafkajs, decoding and the Delta log; parquet-wasm is the largest single share of a
 * batch's CPU, and on a small machine the second core is otherwise idle while a batch is encoded. The worker is
 * started on first use and unref'd, so it never keeps a process alive.
 *
 * `KAFKA_DELTA_PARQUET_WORKERS=0` encodes on the calling thread (the same bytes; for comparison and debugging).
 * parquet-wasm's memory grows to the largest file encoded and never shrinks, in the worker as on the main thread.
 */
import { Worker } from "node:worker_threads"
import { type Compression, encodeIpcToParquet, type ParquetJob } from "./parquet-encode.ts"

interface Pending {
  readonly resolve: (bytes: Uint8Array) => void
  readonly reject: (error: Error) => void
}

const configured = Number(process.env["KAFKA_DELTA_PARQUET_WORKERS"] ?? 1)
const workerCount = Number.isInteger(configured) && configured >= 0 ? configured : 1

let workers: Array<{ readonly worker: Worker; busy: number }> | undefined
const pending = new Map<number, Pending>()
let nextId = 0

// the worker module sits beside this one: .ts when run from source (type stripping), .js when built
const workerUrl = new URL(`./parquet-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url)

const start = () => {
  workers = Array.from({ length: workerCount }, () => {
    const worker = new Worker(workerUrl)
    const entry = { worker, busy: 0 }
    worker.on("message", (message: { id: number; bytes?: Uint8Array; error?: string }) => {
      entry.busy--
      if (entry.busy === 0) worker.unref()
      const waiting = pending.get(message.id)
      pending.delete(message.id)
      if (waiting === undefined) return
      if (message.bytes !== undefined) waiting.resolve(message.bytes)
      else waiting.reject(new Error(`Parquet encoding failed: ${message.error}`))
    })
    worker.on("error", (error) => {
      // a dead worker fails what it held; the next job starts a fresh pool
      for (const [id, waiting] of pending) {
        pending.delete(id)
        waiting.reject(error)
      }
      workers = undefined
    })
    worker.unref()
    return entry
  })
  return workers
}

/** Encodes an Arrow IPC stream as Parquet on a worker thread (or inline with 0 workers); the IPC buffer is transferred. */
export const encodeOffThread = (ipc: Uint8Array, compression: Compression, rowGroupRows: number): Promise<Uint8Array> => {
  if (workerCount === 0) {
    try {
      return Promise.resolve(encodeIpcToParquet(ipc, compression, rowGroupRows))
    } catch (error) {
      return Promise.reject(error)
    }
  }
  const pool = workers ?? start()
  let entry = pool[0]!
  for (const candidate of pool) if (candidate.busy < entry.busy) entry = candidate
  const id = nextId++
  const job: ParquetJob = { id, ipc, compression, rowGroupRows }
  return new Promise<Uint8Array>((resolve, reject) => {
    pending.set(id, { resolve, reject })
    if (entry.busy++ === 0) entry.worker.ref() // a job in flight keeps the process alive until it answers
    // transfer when the IPC owns its whole buffer; otherwise it is copied
    const whole = ipc.byteOffset === 0 && ipc.byteLength === ipc.buffer.byteLength
    entry.worker.postMessage(job, whole ? [ipc.buffer as ArrayBuffer] : [])
  })
}
