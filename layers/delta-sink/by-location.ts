/**
 * The live DeltaSink for tables anywhere: each table's storage is chosen by its location's scheme (a local path,
 * S3, Azure; see layers/storage/index.ts) and an object store is probed for conditional writes before the first
 * commit. The protocol is the filesystem sink's (`makeWith`), unchanged.
 */
import { Config, Effect, Layer, type Scope } from "effect"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { defaultStorageSettings, makeResolver, type StorageSettings } from "../storage/index.ts"
import { type FilesystemDeltaSinkOptions, makeWith } from "./filesystem.ts"

/** Options of the by-location DeltaSink: the writer settings and how to reach the object stores. */
export interface ByLocationDeltaSinkOptions extends FilesystemDeltaSinkOptions {
  readonly storage?: StorageSettings
}

/** The DeltaSink service; its object-store clients close with the scope. */
export const make = (options: ByLocationDeltaSinkOptions = {}): Effect.Effect<DeltaSink["Service"], never, Scope.Scope> =>
  Effect.flatMap(
    makeResolver(options.storage ?? defaultStorageSettings),
    (resolve) => makeWith((table) => resolve(table.location, table.name, "table"), options)
  )

/** The DeltaSink as a layer. */
export const layer = (options: ByLocationDeltaSinkOptions = {}) => Layer.effect(DeltaSink, make(options))

/** The DeltaSink with options read from configuration. */
export const layerConfig = (config: Config.Wrap<ByLocationDeltaSinkOptions>) =>
  Layer.effect(DeltaSink, Effect.flatMap(Config.unwrap(config), make))
