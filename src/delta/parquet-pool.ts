/**
 * Parquet encoding off the main thread: one worker thread (by default) that turns Arrow IPC into Parquet bytes.
 * The main thread runs kafkajs, decoding and the Delta log; parquet-wasm is the largest single share of a
 * batch's CPU, and on a small machine the second core is otherwise idle while a batch is encoded. The worker is
 * started on first use and unref'd, so it never keeps a process alive.
 *
 * parquet-wasm's memory grows to the largest file encoded (about three times the file's Arrow bytes) and never
 * shrinks, so a worker whose wasm memory went past `KAFKA_DELTA_PARQUET_WORKER_MEMORY` bytes (default 96 MiB,
 * i.e. a file about twice the default batch) is retired once its jobs are done and a fresh one takes the next
 * job: one unusually large batch does not keep its memory for the rest of the run.
 *
 * `KAFKA_DELTA_PARQUET_WORKERS=0` encodes on the calling thread (the same bytes; for comparison and debugging).
 */
import { Worker } from "node:worker_threads"
import { type Compression, encodeIpcToParquet, type ParquetJob } from "./parquet-encode.ts"

interface Pending {
  readonly resolve: (bytes: Uint8Array) => void
  readonly reject: (error: Error) => void
}

interface Entry {
  readonly worker: Worker
  busy: number
  /** Past the memory bound: takes no new jobs, and ends when its last one is answered. */
  retiring: boolean
}

/** An integer setting from the environment; a value that is not one is named on stderr and the default used. */
const setting = (name: string, fallback: number, min: number): number => {
  const text = process.env[name]
  if (text === undefined || text === "") return fallback
  const value = Number(text)
  if (Number.isInteger(value) && value >= min) return value
  process.stderr.write(`kafka-delta: ignoring ${name}=${JSON.stringify(text)}: expected an integer of at least ${min}; using ${fallback}\n`)
  return fallback
}
const workerCount = setting("KAFKA_DELTA_PARQUET_WORKERS", 1, 0)

/** Wasm memory (bytes) above which a Parquet worker is replaced. */
export const workerMemoryBound = setting("KAFKA_DELTA_PARQUET_WORKER_MEMORY", 96 * 1024 * 1024, 1)

let workers: Array<Entry> = []
const pending = new Map<number, Pending>()
let nextId = 0
let started = 0

/** Workers started so far in this process (diagnostics and tests). */
export const parquetWorkersStarted = (): number => started

// the worker module sits beside this one: .ts when run from source (type stripping), .js when built
const workerUrl = new URL(`./parquet-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url)

const retire = (entry: Entry) => {
  entry.retiring = true
  workers = workers.filter((other) => other !== entry)
  if (entry.busy === 0) void entry.worker.terminate()
}

const spawn = (): Entry => {
  const worker = new Worker(workerUrl)
  started++
  const entry: Entry = { worker, busy: 0, retiring: false }
  worker.on("message", (message: { id: number; bytes?: Uint8Array; error?: string; wasmBytes?: number }) => {
    entry.busy--
    const waiting = pending.get(message.id)
    pending.delete(message.id)
    if (!entry.retiring && (message.wasmBytes ?? 0) > workerMemoryBound) retire(entry)
    else if (entry.busy === 0) {
      if (entry.retiring) void entry.worker.terminate()
      else worker.unref()
    }
    if (waiting === undefined) return
    if (message.bytes !== undefined) waiting.resolve(message.bytes)
    else waiting.reject(new Error(`Parquet encoding failed: ${message.error}`))
  })
  worker.on("error", (error) => {
    // a dead worker fails what is in flight; the next job starts a fresh pool
    for (const [id, waiting] of pending) {
      pending.delete(id)
      waiting.reject(error)
    }
    for (const other of workers) if (other !== entry) void other.worker.terminate()
    workers = []
  })
  worker.unref()
  return entry
}

/**
 * Encodes an Arrow IPC stream as Parquet on a worker thread (or inline with 0 workers). The IPC buffer is
 * consumed: transferred to the worker, or released inline once copied into parquet-wasm.
 */
export const encodeOffThread = (ipc: Uint8Array, compression: Compression, rowGroupRows: number): Promise<Uint8Array> => {
  if (workerCount === 0) {
    try {
      return Promise.resolve(encodeIpcToParquet(ipc, compression, rowGroupRows, true))
    } catch (error) {
      return Promise.reject(error)
    }
  }
  while (workers.length < workerCount) workers.push(spawn())
  let entry = workers[0]!
  for (const candidate of workers) if (candidate.busy < entry.busy) entry = candidate
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
