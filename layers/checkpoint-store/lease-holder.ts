/**
 * Holding a checkpoint lease, whatever stores the lock (a file, file-lease.ts, or an object, object-store.ts): the
 * lease's timing options, how this process judges a lock it finds (src/checkpoint/lease.ts has the pure rules),
 * and the fiber that renews a held lease until it is lost. Only how the lock is created, read, replaced and
 * removed differs between the stores.
 */
import { Clock, Duration, Effect, type Scope } from "effect"
import { type Holder, judge, type Lease, type Verdict } from "../../src/checkpoint/lease.ts"
import { type CheckpointIoError, CheckpointLeaseLostError } from "../../src/services/CheckpointStore.ts"

/** How long the lock's lease lasts and how often its holder renews it. */
export interface LeaseOptions {
  /** How often the holder renews its lease (default 5 seconds). */
  readonly renewInterval?: Duration.Input | undefined
  /**
   * How long a lease lasts unrenewed (default 3 renew intervals: two renewals may stall or fail before another
   * host may take the lock over). A crashed holder on another host blocks a restart this long at most.
   */
  readonly leaseDuration?: Duration.Input | undefined
}

/** The renew interval when none is given. */
export const defaultRenewInterval: Duration.Duration = Duration.seconds(5)

/** A held lease: `check` fails once it is lost, and renews it first if it has run out on our clock. */
export interface LeaseHandle {
  readonly check: Effect.Effect<void, CheckpointLeaseLostError | CheckpointIoError>
}

/** The renew interval and the lease's duration in milliseconds; dies on options no lease can keep. */
export const leaseTimes = (options: LeaseOptions): Effect.Effect<{ readonly renewMs: number; readonly leaseMs: number }> =>
  Effect.suspend(() => {
    const renewMs = Duration.toMillis(options.renewInterval ?? defaultRenewInterval)
    const leaseMs = Duration.toMillis(options.leaseDuration ?? renewMs * 3)
    if (!(renewMs > 0) || !(leaseMs > renewMs)) {
      return Effect.die(new RangeError(`lease options: leaseDuration (${leaseMs} ms) must be longer than renewInterval (${renewMs} ms), and both positive`))
    }
    return Effect.succeed({ renewMs, leaseMs })
  })

// the tokens of the leases this process holds now, across stores: a lock naming our own pid is another run in
// this process if its token is here, and a previous incarnation of this process if not
const heldHere = new Set<string>()

/** Records that this process holds the lease with `token` from now on. */
export const markHeld = (token: string): void => {
  heldHere.add(token)
}

/** Records that this process no longer holds the lease with `token`. */
export const markReleased = (token: string): void => {
  heldHere.delete(token)
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Whether the lock of `holder` is stale for this process on `host` at `now`, and why. */
export const judgeHere = (holder: Holder, now: number, host: string): Verdict =>
  judge(holder, { now, pid: process.pid, host, isAlive, holdsHere: (token) => heldHere.has(token) })

/** A lease this process took: the lease as last renewed, and the error once it is lost. */
export interface HeldLease {
  lease: Lease
  lost: CheckpointLeaseLostError | undefined
}

/**
 * Renews `held` from a fiber of the scope every `renewMs` until it is lost. `renewOnce` renews it in the store
 * (updating `held.lease`) or says why it is lost; a lost lease fails every later `check`.
 */
export const keepRenewed = (
  location: string,
  renewMs: number,
  held: HeldLease,
  renewOnce: Effect.Effect<string | undefined, CheckpointIoError>
): Effect.Effect<LeaseHandle, never, Scope.Scope> =>
  Effect.gen(function*() {
    const renew = Effect.gen(function*() {
      if (held.lost !== undefined) return yield* held.lost
      const lost = yield* renewOnce
      if (lost !== undefined) {
        markReleased(held.lease.token)
        held.lost = new CheckpointLeaseLostError({ checkpoint: location, reason: lost })
        return yield* held.lost
      }
    })

    yield* Effect.forkScoped(Effect.gen(function*() {
      while (held.lost === undefined) {
        yield* Effect.sleep(Duration.millis(renewMs))
        yield* renew.pipe(
          Effect.catchTag("CheckpointIoError", (error) => Effect.logWarning(`could not renew the lock of checkpoint ${location}, trying again: ${error.message}`)),
          Effect.catchTag("CheckpointLeaseLostError", (error) => Effect.logError(error.message))
        )
      }
    }))

    return {
      check: Effect.suspend(() => {
        if (held.lost !== undefined) return Effect.fail(held.lost)
        return Effect.flatMap(Clock.currentTimeMillis, (now) => (now < held.lease.expiresAt ? Effect.void : renew))
      })
    }
  })
