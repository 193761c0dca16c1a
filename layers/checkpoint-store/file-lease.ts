/**
 * The lock of the filesystem CheckpointStore: `<checkpoint>/lock` holds a lease (src/checkpoint/lease.ts) that
 * its holder renews from a fiber while it runs the stream, so the lock dies with its holder: a crashed process's
 * lock is taken over at once on the same host (its pid is dead, or is our own pid, as for a restarted
 * container's pid 1) and after the lease expires from anywhere else (a rescheduled pod). Node has no `flock`
 * without a native addon, and a lease also works where there are no pids at all. Lease times are compared with
 * the local clock, so hosts sharing a checkpoint need clocks that agree to well within a lease.
 */
import { Clock, Duration, Effect, type Scope } from "effect"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { syncDirectory, writeFlushedTemp } from "../local-files.ts"
import { describeHolder, encodeLease, holderOf, type Lease } from "../../src/checkpoint/lease.ts"
import { CheckpointIoError, StreamAlreadyRunningError } from "../../src/services/CheckpointStore.ts"
import {
  type HeldLease,
  judgeHere,
  keepRenewed,
  type LeaseHandle,
  type LeaseOptions,
  leaseTimes,
  markHeld,
  markReleased
} from "./lease-holder.ts"

const reasonOf = (error: unknown): string => {
  const e = error as NodeJS.ErrnoException
  return e.code !== undefined ? `${e.code}: ${e.message}` : String(error)
}

const codeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code

const io = <A>(path: string, run: () => A): Effect.Effect<A, CheckpointIoError> =>
  Effect.try({ try: run, catch: (error) => new CheckpointIoError({ path, reason: reasonOf(error) }) })

const readLock = (lock: string): { readonly text: string; readonly mtimeMs: number } | undefined => {
  let fd: number
  try {
    fd = Fs.openSync(lock, "r")
  } catch (error) {
    if (codeOf(error) === "ENOENT") return undefined
    throw error
  }
  try {
    return { text: Fs.readFileSync(fd, "utf8"), mtimeMs: Fs.fstatSync(fd).mtimeMs }
  } finally {
    Fs.closeSync(fd)
  }
}

/**
 * Creates the lock with `text` unless one exists. The text goes to a flushed temp file first and the lock name is
 * a link to it (link fails with EEXIST atomically), so whoever sees the name sees the whole lease: an empty or
 * partial lock never exists to be judged stale.
 */
const createLock = (lock: string, text: string): boolean => {
  const temp = writeFlushedTemp(lock, text)
  try {
    Fs.linkSync(temp, lock)
  } catch (error) {
    if (codeOf(error) === "EEXIST") return false
    throw error
  } finally {
    Fs.rmSync(temp, { force: true })
  }
  syncDirectory(NodePath.dirname(lock))
  return true
}

/**
 * Removes the stale lock whose text was judged, and only it (true if it did): between that read and now another process may have
 * taken the stale lock over and put its own, live one there. So the lock is renamed to a unique name (atomic:
 * of two takers only one moves it), and if what moved is not the judged text it is linked back. If yet another
 * lock appeared meanwhile, the link back fails; the holder we displaced then finds at its next renewal that its
 * token is gone and stops, so there is still one writer.
 */
const removeStale = (lock: string, staleText: string): boolean => {
  const aside = NodePath.join(NodePath.dirname(lock), `.lock.${randomUUID()}.stale`)
  try {
    Fs.renameSync(lock, aside)
  } catch (error) {
    if (codeOf(error) === "ENOENT") return false
    throw error
  }
  let removed = true
  try {
    if (Fs.readFileSync(aside, "utf8") !== staleText) {
      removed = false
      try {
        Fs.linkSync(aside, lock)
      } catch (error) {
        if (codeOf(error) !== "EEXIST") throw error
      }
    }
  } finally {
    Fs.rmSync(aside, { force: true })
  }
  syncDirectory(NodePath.dirname(lock))
  return removed
}

type Attempt =
  | { readonly _tag: "Created" }
  | { readonly _tag: "Held"; readonly holder: string }
  | { readonly _tag: "Removed"; readonly reason: string }
  | { readonly _tag: "Gone" } // the lock changed under us: look again

/** Holds the lease of the checkpoint in `location` for the scope: takes it (over a stale one), renews it, releases it. */
export const holdLease = (
  location: string,
  options: LeaseOptions = {}
): Effect.Effect<LeaseHandle, StreamAlreadyRunningError | CheckpointIoError, Scope.Scope> =>
  Effect.gen(function*() {
    const { renewMs, leaseMs } = yield* leaseTimes(options)
    const lock = NodePath.join(location, "lock")
    const host = Os.hostname()
    const token = randomUUID()
    const state: HeldLease = yield* Effect.acquireRelease(
      Effect.gen(function*() {
        for (let attempt = 0; attempt < 5; attempt++) {
          const now = yield* Clock.currentTimeMillis
          const lease: Lease = { pid: process.pid, host, token, acquiredAt: now, renewedAt: now, expiresAt: now + leaseMs }
          const outcome = yield* io(lock, (): Attempt => {
            if (createLock(lock, encodeLease(lease))) return { _tag: "Created" }
            const found = readLock(lock)
            if (found === undefined) return { _tag: "Gone" }
            // a file that is not a lease (an older version's lock) ages out one lease after it was written
            const holder = holderOf(found.text, found.mtimeMs + leaseMs)
            const verdict = judgeHere(holder, now, host)
            if (!verdict.stale) return { _tag: "Held", holder: describeHolder(holder, now) }
            return removeStale(lock, found.text) ? { _tag: "Removed", reason: verdict.reason } : { _tag: "Gone" }
          })
          switch (outcome._tag) {
            case "Created":
              markHeld(token)
              return { lease, lost: undefined }
            case "Held":
              return yield* new StreamAlreadyRunningError({ checkpoint: location, holder: outcome.holder })
            case "Removed":
              yield* Effect.logInfo(`took over the stale lock of checkpoint ${location}: ${outcome.reason}`)
              break
            case "Gone":
              break
          }
        }
        return yield* new CheckpointIoError({ path: lock, reason: "the lock kept changing while a stale one was taken over; try again" })
      }),
      (held) =>
        Effect.sync(() => {
          markReleased(token)
          try {
            const found = readLock(lock)
            if (found !== undefined && holderOf(found.text, 0).token === held.lease.token) {
              Fs.rmSync(lock, { force: true })
              syncDirectory(location)
            }
          } catch {
            // best effort: a lock left behind is stale for the next run on this host, and after its lease elsewhere
          }
        })
    )

    const renewOnce = (missing: "look again" | "lost") => Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      return yield* io(lock, (): string | undefined => {
        const found = readLock(lock)
        if (found === undefined) return missing === "lost" ? "the lock file is gone" : missing
        const holder = holderOf(found.text, 0)
        if (holder.token !== token) return `it is now held by ${describeHolder(holder, now)}`
        const next: Lease = { ...state.lease, renewedAt: now, expiresAt: now + leaseMs }
        // a taker that judged our lease expired may replace the lock between the read above and this rename; our
        // lease then replaces theirs and they stop at their next renewal. Renewing every third of a lease makes
        // that need a stall of two renewals, not a race with each one
        Fs.renameSync(writeFlushedTemp(lock, encodeLease(next)), lock)
        syncDirectory(location)
        state.lease = next
        return undefined
      })
    })
    // a taker that moved our lock aside by mistake (removeStale) puts it back within microseconds
    const renewOrLookAgain = Effect.flatMap(renewOnce("look again"), (lost) =>
      lost === "look again" ? Effect.andThen(Effect.sleep(Duration.millis(50)), renewOnce("lost")) : Effect.succeed(lost))
    return yield* keepRenewed(location, renewMs, state, renewOrLookAgain)
  })
