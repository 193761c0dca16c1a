import { assert, describe, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import { afterEach, vi } from "vitest"
import { decodeParquet } from "../../src/delta/parquet.ts"
import { encodeIpcToParquet } from "../../src/delta/parquet-encode.ts"

const table = (rows: number) =>
  Arrow.tableFromArrays({ id: Int32Array.from({ length: rows }, (_, i) => i), name: Array.from({ length: rows }, (_, i) => `row ${i}`) })

const ipcOf = (rows: number) => Arrow.tableToIPC(table(rows), "stream")

// the pool reads its settings when loaded: each case loads a fresh copy with its environment
const loadPool = async (env: Record<string, string>) => {
  vi.resetModules()
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value)
  return import("../../src/delta/parquet-pool.ts")
}

afterEach(() => {
  vi.unstubAllEnvs()
})

describe("Parquet encoding memory", () => {
  it("a consumed IPC buffer is released once parquet-wasm has copied it; an unconsumed one is left alone", () => {
    const consumed = ipcOf(1000)
    const kept = ipcOf(1000)
    const a = encodeIpcToParquet(consumed, "snappy", 1024, true)
    const b = encodeIpcToParquet(kept, "snappy", 1024)
    assert.strictEqual(consumed.buffer.byteLength, 0)
    assert.isAbove(kept.buffer.byteLength, 0)
    assert.deepStrictEqual(a, b)
    assert.strictEqual(decodeParquet(a).numRows, 1000)
  })

  it("a worker whose wasm memory passed the bound is replaced by a fresh one for the next file", async () => {
    const pool = await loadPool({ KAFKA_DELTA_PARQUET_WORKER_MEMORY: "1" })
    for (let k = 0; k < 3; k++) {
      const bytes = await pool.encodeOffThread(ipcOf(2000), "snappy", 1024)
      assert.strictEqual(decodeParquet(bytes).getChild("name")?.get(1999), "row 1999")
    }
    assert.strictEqual(pool.parquetWorkersStarted(), 3)
  })

  it("a setting that is not an integer is named on stderr and the default is used", async () => {
    const written: Array<string> = []
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    })
    try {
      const pool = await loadPool({ KAFKA_DELTA_PARQUET_WORKER_MEMORY: "96MiB" })
      assert.strictEqual(pool.workerMemoryBound, 96 * 1024 * 1024)
    } finally {
      spy.mockRestore()
    }
    assert.deepStrictEqual(written, ['kafka-delta: ignoring KAFKA_DELTA_PARQUET_WORKER_MEMORY="96MiB": expected an integer of at least 1; using 100663296\n'])
  })

  it("under the bound one worker encodes every file", async () => {
    const pool = await loadPool({})
    for (let k = 0; k < 3; k++) assert.strictEqual(decodeParquet(await pool.encodeOffThread(ipcOf(2000), "snappy", 1024)).numRows, 2000)
    assert.strictEqual(pool.parquetWorkersStarted(), 1)
  })
})
