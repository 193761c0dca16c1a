/**
 * A DeltaSink that runs the real Delta protocol (Parquet files, NDJSON commits, log checkpoints) over in-memory
 * storage: for tests that need the protocol's behaviour without a disk. Share one `MemoryFiles` between two
 * services to simulate two processes writing one table.
 */
import { Config, Effect, Layer } from "effect"
import { makeMemoryFiles, type MemoryFiles, memoryStorage } from "../../src/delta/storage.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { type FilesystemDeltaSinkOptions, makeWith } from "./filesystem.ts"

/** Options of the memory-storage DeltaSink. */
export interface MemoryStorageDeltaSinkOptions extends FilesystemDeltaSinkOptions {
  /** The in-memory file system (default: a fresh one). */
  readonly files?: MemoryFiles
}

/** The memory-storage DeltaSink service. */
export const make = (options: MemoryStorageDeltaSinkOptions = {}) => {
  const files = options.files ?? makeMemoryFiles()
  return makeWith((table) => memoryStorage(table.name, table.location, files), options)
}

/** The memory-storage DeltaSink as a layer. */
export const layer = (options: MemoryStorageDeltaSinkOptions = {}) => Layer.effect(DeltaSink, make(options))

/** The memory-storage DeltaSink with writer options read from configuration. */
export const layerConfig = (config: Config.Wrap<FilesystemDeltaSinkOptions>) =>
  Layer.effect(DeltaSink, Effect.flatMap(Config.unwrap(config), (options) => make(options)))
