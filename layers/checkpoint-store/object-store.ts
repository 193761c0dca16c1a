/**
 * The CheckpointStore on an object store (S3, Azure), over the same DeltaStorage the tables use: `offsets/<id>`
 * and `commits/<id>` as in the filesystem store (each object is written whole or not at all), and the one-writer
 * lock as a lease object `lock` (src/checkpoint/lease.ts): created with a conditional write, renewed by its holder
 * with an expiry, so a crashed holder blocks a restart for one lease at most. Where the store has conditional
 * replace (S3 and Azure If-Match), taking over a stale lease and renewing one replace exactly the version that
 * was judged, so two takers cannot both win; without it a displaced holder finds at its next renewal that its
 * token is gone and stops (the same race, and the same outcome, as the filesystem lock's).
 */
import { Clock, Effect, Layer, Option, Result, type Scope } from "effect"
import * as Os from "node:os"
import { batchIdOfFileName, decodeCommit, decodePlan, encodeCommit, encodePlan } from "../../src/checkpoint/files.ts"
import { describeHolder, encodeLease, holderOf, type Lease } from "../../src/checkpoint/lease.ts"
import type { DeltaStorage } from "../../src/delta/storage.ts"
import { retryTransient } from "../../src/pipeline/retry.ts"
import { Config } from "../../src/services/Config.ts"
import {
  CheckpointCorruptError,
  CheckpointIoError,
  CheckpointStore,
  StreamAlreadyRunningError
} from "../../src/services/CheckpointStore.ts"
import type { DeltaStorageError } from "../../src/services/DeltaSink.ts"
import { isLocalLocation } from "../../src/config/location.ts"
import { makeResolver, resolveStorageSettings, type StorageSettings } from "../storage/index.ts"
import { type HeldLease, judgeHere, keepRenewed, type LeaseHandle, type LeaseOptions, leaseTimes, markHeld, markReleased } from "./lease-holder.ts"
import * as CheckpointStoreFile from "./filesystem.ts"
import { retainedBatches } from "./filesystem.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const ioError = (error: DeltaStorageError) =>
  new CheckpointIoError({ path: error.path, reason: error.reason, transient: error.transient })
const io = <A>(effect: Effect.Effect<A, DeltaStorageError>) => Effect.mapError(effect, ioError)

/** The lock object: its text, the store's version of it (when the store has conditional replace), its age. */
interface LockObject {
  readonly text: string
  readonly version: string | undefined
  readonly modificationTime: number
}

const readLock = (storage: DeltaStorage): Effect.Effect<Option.Option<LockObject>, DeltaStorageError> =>
  Effect.gen(function*() {
    const stat = yield* storage.stat("lock")
    if (Option.isNone(stat)) return Option.none()
    if (storage.versioned !== undefined) {
      const found = yield* storage.versioned.readVersion("lock")
      return Option.map(found, ({ data, version }) => ({ text: decoder.decode(data), version, modificationTime: stat.value.modificationTime }))
    }
    const data = yield* storage.read("lock")
    return Option.map(data, (bytes) => ({ text: decoder.decode(bytes), version: undefined, modificationTime: stat.value.modificationTime }))
  })

/** Replaces the lock if it is still `found` (conditional where the store allows): true when replaced. */
const replaceLock = (storage: DeltaStorage, found: LockObject, text: string): Effect.Effect<boolean, DeltaStorageError> =>
  storage.versioned !== undefined && found.version !== undefined
    ? storage.versioned.replaceIfVersion("lock", encoder.encode(text), found.version)
    : Effect.as(storage.write("lock", encoder.encode(text)), true)

const holdLease = (storage: DeltaStorage, options: LeaseOptions): Effect.Effect<LeaseHandle, StreamAlreadyRunningError | CheckpointIoError, Scope.Scope> =>
  Effect.gen(function*() {
    const { renewMs, leaseMs } = yield* leaseTimes(options)
    const location = storage.location
    const host = Os.hostname()
    const token = crypto.randomUUID()
    const state: HeldLease = yield* Effect.acquireRelease(
      Effect.gen(function*() {
        for (let attempt = 0; attempt < 5; attempt++) {
          const now = yield* Clock.currentTimeMillis
          const lease: Lease = { pid: process.pid, host, token, acquiredAt: now, renewedAt: now, expiresAt: now + leaseMs }
          if (yield* io(storage.putIfAbsent("lock", encoder.encode(encodeLease(lease))))) {
            markHeld(token)
            return { lease, lost: undefined }
          }
          const found = yield* io(readLock(storage))
          if (Option.isNone(found)) continue
          // a lock object that is not a lease ages out one lease after it was written
          const holder = holderOf(found.value.text, found.value.modificationTime + leaseMs)
          const verdict = judgeHere(holder, now, host)
          if (!verdict.stale) return yield* new StreamAlreadyRunningError({ checkpoint: location, holder: describeHolder(holder, now) })
          if (storage.versioned !== undefined && found.value.version !== undefined) {
            // replace exactly the stale lease we judged: of two takers only one can
            if (yield* io(replaceLock(storage, found.value, encodeLease(lease)))) {
              yield* Effect.logInfo(`took over the stale lock of checkpoint ${location}: ${verdict.reason}`)
              markHeld(token)
              return { lease, lost: undefined }
            }
          } else {
            yield* io(storage.delete("lock"))
            yield* Effect.logInfo(`removed the stale lock of checkpoint ${location}: ${verdict.reason}`)
          }
        }
        return yield* new CheckpointIoError({ path: `${location}/lock`, reason: "the lock kept changing while a stale one was taken over; try again" })
      }),
      (held) =>
        Effect.gen(function*() {
          markReleased(token)
          const found = yield* readLock(storage)
          if (Option.isSome(found) && holderOf(found.value.text, 0).token === held.lease.token) yield* storage.delete("lock")
        }).pipe(Effect.ignore) // best effort: a lock left behind is stale after its lease
    )

    const renewOnce = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const found = yield* io(readLock(storage))
      if (Option.isNone(found)) return "the lock object is gone"
      const holder = holderOf(found.value.text, 0)
      if (holder.token !== token) return `it is now held by ${describeHolder(holder, now)}`
      const next: Lease = { ...state.lease, renewedAt: now, expiresAt: now + leaseMs }
      if (!(yield* io(replaceLock(storage, found.value, encodeLease(next))))) return "another process replaced the lock while it was renewed"
      state.lease = next
      return undefined
    })
    return yield* keepRenewed(location, renewMs, state, renewOnce)
  })

const batchIds = (storage: DeltaStorage, directory: string) =>
  io(storage.list(directory)).pipe(Effect.map((files) =>
    files.flatMap((file) => Option.toArray(batchIdOfFileName(file.path.slice(directory.length + 1)))).sort((a, b) => a - b)
  ))

const readLatest = <A>(storage: DeltaStorage, directory: string, decode: (text: string) => Result.Result<A, string>) =>
  Effect.gen(function*() {
    const ids = yield* batchIds(storage, directory)
    const latest = ids[ids.length - 1]
    if (latest === undefined) return Option.none<A>()
    const path = `${directory}/${latest}`
    const data = yield* io(storage.read(path))
    // listed a moment ago; gone now only if pruned by another process, which the lease rules out
    if (Option.isNone(data)) return yield* new CheckpointIoError({ path: `${storage.location}/${path}`, reason: "listed but not readable" })
    const decoded = decode(decoder.decode(data.value))
    if (Result.isFailure(decoded)) return yield* new CheckpointCorruptError({ file: `${storage.location}/${path}`, reason: decoded.failure })
    return Option.some(decoded.success)
  })

/** A CheckpointStore over `storage` (rooted at the checkpoint location); `options` tune the lock's lease. */
export const make = (storage: DeltaStorage, options: LeaseOptions = {}): CheckpointStore["Service"] => {
  let held: LeaseHandle | undefined
  const checkLease = Effect.suspend(() => held?.check ?? Effect.void)
  // a listing and deletions are requests on an object store: prune every tenth commit rather than after each
  const prune = (directory: string, keepFrom: number) =>
    Effect.gen(function*() {
      for (const id of yield* batchIds(storage, directory)) if (id < keepFrom) yield* io(storage.delete(`${directory}/${id}`))
    })
  return CheckpointStore.of({
    location: storage.location,
    acquire: Effect.gen(function*() {
      const handle = yield* holdLease(storage, options)
      held = handle
      yield* Effect.addFinalizer(() => Effect.sync(() => { if (held === handle) held = undefined }))
    }),
    read: Effect.gen(function*() {
      yield* checkLease
      const lastPlan = yield* readLatest(storage, "offsets", decodePlan)
      const lastCommit = yield* readLatest(storage, "commits", decodeCommit)
      return { lastPlan, lastCommit }
    }),
    plan: (plan) => checkLease.pipe(Effect.andThen(io(storage.write(`offsets/${plan.batchId}`, encoder.encode(encodePlan(plan))))), Effect.asVoid),
    commit: (commit) =>
      Effect.gen(function*() {
        yield* checkLease
        yield* io(storage.write(`commits/${commit.batchId}`, encoder.encode(encodeCommit(commit))))
        const keepFrom = commit.batchId - retainedBatches + 1
        if (keepFrom > 0 && commit.batchId % 10 === 0) {
          yield* prune("offsets", keepFrom)
          yield* prune("commits", keepFrom)
        }
      })
  })
}

/**
 * The CheckpointStore at `location` by its scheme: the filesystem store for a local path, this one (probed for
 * conditional writes) for an object-store URL.
 */
export const makeAt = (location: string, settings?: StorageSettings, options: LeaseOptions = {}) =>
  Effect.gen(function*() {
    if (isLocalLocation(location)) return CheckpointStoreFile.make(location, options)
    const resolve = yield* makeResolver(settings)
    const storage = yield* io(resolve(location, location, "checkpoint"))
    return make(storage, options)
  })

/**
 * The CheckpointStore at the job's `checkpointLocation`, with the credentials of its `storage` section; an
 * object store that cannot be reached at start-up (the probe) is retried on the job's retry schedule, as Kafka is.
 */
export const layerConfig = Layer.effect(
  CheckpointStore,
  Effect.gen(function*() {
    const job = yield* Config
    if (isLocalLocation(job.checkpointLocation)) return CheckpointStoreFile.make(job.checkpointLocation)
    const settings = yield* resolveStorageSettings(job.storage, job.secrets.scope)
    return yield* retryTransient(`opening checkpoint ${job.checkpointLocation}`, job.stream.retry, makeAt(job.checkpointLocation, settings))
  })
)

/** The CheckpointStore layer at a location, with settings given. */
export const layer = (location: string, settings?: StorageSettings, options: LeaseOptions = {}) =>
  Layer.effect(CheckpointStore, makeAt(location, settings, options))
