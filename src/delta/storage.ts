/**
 * The storage a Delta table lives on, reduced to what the protocol needs: read, list, put-if-absent (the atomic
 * commit primitive), write (atomic replace), delete and stat. Paths are relative to the table root and use `/`.
 * Each store (local disk, S3, Azure) implements it in layers/storage/ without touching the protocol code. `memoryStorage` is the
 * in-memory implementation for unit tests.
 */
import { Effect, Option } from "effect"
import { DeltaStorageError } from "../services/DeltaSink.ts"

/** A file under the table root. */
export interface FileInfo {
  /** Relative to the table root, `/`-separated. */
  readonly path: string
  readonly size: number
  /** Milliseconds since the epoch. */
  readonly modificationTime: number
}

/** Options of `putIfAbsent`. */
export interface PutOptions {
  /** Runs after the content is durable but before it becomes visible (crash tests hook in here). */
  readonly beforePublish?: () => void
}

/**
 * Conditional replace, for stores that have it (S3 and Azure `If-Match` on an ETag): lets a lease be renewed only
 * if nobody replaced it since it was read. Optional; without it the lease's renewal has a documented race.
 */
export interface VersionedStorage {
  /** The file and an opaque version of it (an ETag), or none. */
  readonly readVersion: (path: string) => Effect.Effect<Option.Option<{ readonly data: Uint8Array; readonly version: string }>, DeltaStorageError>
  /** Replaces the file if its version is still `version`: true when replaced, false when it changed or is gone. */
  readonly replaceIfVersion: (path: string, data: Uint8Array, version: string) => Effect.Effect<boolean, DeltaStorageError>
}

/** Table storage; every failure is a DeltaStorageError naming the table and the path. */
export interface DeltaStorage {
  /** The table name used in error messages. */
  readonly table: string
  /** The table root, for messages and readers. */
  readonly location: string
  /** The whole file, or none when it does not exist. */
  readonly read: (path: string) => Effect.Effect<Option.Option<Uint8Array>, DeltaStorageError>
  /** Files under a directory (recursively when asked); an absent directory lists as empty. */
  readonly list: (
    directory: string,
    options?: { readonly recursive?: boolean }
  ) => Effect.Effect<ReadonlyArray<FileInfo>, DeltaStorageError>
  /** Creates the file atomically if it does not exist: true when created, false when it already existed. */
  readonly putIfAbsent: (path: string, data: Uint8Array, options?: PutOptions) => Effect.Effect<boolean, DeltaStorageError>
  /** Creates or replaces the file; readers see the old or the new content, never a part. */
  readonly write: (path: string, data: Uint8Array) => Effect.Effect<FileInfo, DeltaStorageError>
  /** Deletes the file; deleting an absent file succeeds. */
  readonly delete: (path: string) => Effect.Effect<void, DeltaStorageError>
  /** The file's size and time, or none. */
  readonly stat: (path: string) => Effect.Effect<Option.Option<FileInfo>, DeltaStorageError>
  /** Conditional replace, when the store has it. */
  readonly versioned?: VersionedStorage | undefined
}

/** An in-memory file system: path -> bytes and time. */
export interface MemoryFiles {
  readonly files: Map<string, { readonly data: Uint8Array; readonly modificationTime: number }>
}

/** A fresh, empty in-memory file system (share it between storages to simulate two processes). */
export const makeMemoryFiles = (): MemoryFiles => ({ files: new Map() })

/** Storage over an in-memory file system; `now` supplies modification times (tests move it to expire logs). */
export const memoryStorage = (
  table: string,
  location: string,
  files: MemoryFiles = makeMemoryFiles(),
  now: () => number = Date.now
): DeltaStorage => {
  const key = (path: string) => `${location}/${path}`
  const info = (path: string, entry: { readonly data: Uint8Array; readonly modificationTime: number }): FileInfo => ({
    path,
    size: entry.data.byteLength,
    modificationTime: entry.modificationTime
  })
  return {
    table,
    location,
    read: (path) => Effect.sync(() => Option.fromUndefinedOr(files.files.get(key(path))?.data)),
    list: (directory, options) =>
      Effect.sync(() => {
        const prefix = directory === "" ? `${location}/` : `${location}/${directory.replace(/\/$/, "")}/`
        const out: Array<FileInfo> = []
        for (const [name, entry] of files.files) {
          if (!name.startsWith(prefix)) continue
          const rest = name.slice(prefix.length)
          if (options?.recursive !== true && rest.includes("/")) continue
          out.push(info(name.slice(location.length + 1), entry))
        }
        return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      }),
    putIfAbsent: (path, data, options) =>
      Effect.sync(() => {
        if (files.files.has(key(path))) return false
        options?.beforePublish?.()
        files.files.set(key(path), { data: data.slice(), modificationTime: now() })
        return true
      }),
    write: (path, data) =>
      Effect.sync(() => {
        const entry = { data: data.slice(), modificationTime: now() }
        files.files.set(key(path), entry)
        return info(path, entry)
      }),
    delete: (path) => Effect.sync(() => void files.files.delete(key(path))),
    stat: (path) =>
      Effect.sync(() => {
        const entry = files.files.get(key(path))
        return entry === undefined ? Option.none() : Option.some(info(path, entry))
      })
  }
}

/** A storage failure for `path`. */
export const storageError = (storage: DeltaStorage, path: string, reason: string, transient = false) =>
  new DeltaStorageError({ table: storage.table, path, reason, transient })
