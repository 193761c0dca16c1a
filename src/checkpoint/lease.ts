/**
 * The checkpoint's one-writer lease: what a lock file says (who holds it, until when) and the pure decision
 * whether a lock found on disk is stale and may be taken over. A pid alone cannot tell a dead holder from a live
 * one (a restarted container's process has the same pid, a rescheduled pod is on another host), so the holder
 * renews an expiry, and a lock whose expiry has passed is stale wherever its holder ran. Kept free of I/O so
 * every rule is unit-tested, and so that a store without pids (an object store) can use the same lease.
 */
import { Result, Schema } from "effect"

/** The content of a lock file: the holder and its lease, times in ms since the epoch. */
export interface Lease {
  readonly pid: number
  readonly host: string
  /** Random per acquisition: tells this holder's lock from any other, also one with the same pid and host. */
  readonly token: string
  readonly acquiredAt: number
  readonly renewedAt: number
  /** After this instant the lock is stale unless renewed. */
  readonly expiresAt: number
}

/** What is known of the holder of a lock found on disk; fields are missing when the file does not say them. */
export interface Holder {
  readonly pid?: number | undefined
  readonly host?: string | undefined
  readonly token?: string | undefined
  readonly expiresAt: number
}

/** Who is asking, and how it sees the world. */
export interface Claimant {
  readonly now: number
  readonly pid: number
  readonly host: string
  /** Whether a process with this pid exists on the claimant's host. */
  readonly isAlive: (pid: number) => boolean
  /** Whether this process holds the lease with this token right now (another run in the same process). */
  readonly holdsHere: (token: string) => boolean
}

/** Whether a lock may be taken over, and why. */
export type Verdict =
  | { readonly stale: true; readonly reason: string }
  | { readonly stale: false }

const LeaseFile = Schema.Struct({
  version: Schema.Literal(1),
  pid: Schema.Int,
  host: Schema.String,
  token: Schema.String,
  acquiredAt: Schema.Number,
  renewedAt: Schema.Number,
  expiresAt: Schema.Number
})

/** The text of a lock file. */
export const encodeLease = (lease: Lease): string => JSON.stringify({ version: 1, ...lease })

/** Parses a lock file written by `encodeLease`, or says why it is not one. */
export const decodeLease = (text: string): Result.Result<Lease, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return Result.fail(text.length === 0 ? "empty file" : "not JSON")
  }
  const decoded = Schema.decodeUnknownResult(LeaseFile)(json)
  if (Result.isFailure(decoded)) return Result.fail(decoded.failure.message.split("\n")[0] ?? "bad shape")
  const { version: _, ...lease } = decoded.success
  return Result.succeed(lease)
}

/**
 * The holder named by a lock file's text. A file that is not a lease (a lock of an earlier version, which held
 * only pid and host, or anything else) keeps whatever pid and host it names and expires at `fallbackExpiresAt`
 * (the caller passes the file's age plus one lease), so it is never held forever and never taken over at once.
 */
export const holderOf = (text: string, fallbackExpiresAt: number): Holder => {
  const lease = decodeLease(text)
  if (Result.isSuccess(lease)) return lease.success
  let json: { pid?: unknown; host?: unknown } = {}
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === "object" && parsed !== null) json = parsed
  } catch {
    // not JSON: nothing is known but the file's age
  }
  return {
    pid: typeof json.pid === "number" && Number.isInteger(json.pid) ? json.pid : undefined,
    host: typeof json.host === "string" ? json.host : undefined,
    expiresAt: fallbackExpiresAt
  }
}

/** Whether the lock of `holder` is stale for `claimant`, and why. */
export const judge = (holder: Holder, claimant: Claimant): Verdict => {
  if (holder.host === claimant.host && holder.pid !== undefined) {
    if (holder.pid === claimant.pid) {
      // our own pid: either another run in this very process (its token is one we hold) or a previous
      // incarnation of this process, such as a restarted container's pid 1, which cannot hold it any more
      if (holder.token === undefined || !claimant.holdsHere(holder.token)) {
        return { stale: true, reason: `it names this process (${holder.pid} on ${holder.host}), which is not running the stream: an earlier run of it ended without releasing it` }
      }
      return { stale: false }
    }
    if (!claimant.isAlive(holder.pid)) return { stale: true, reason: `process ${holder.pid} on ${holder.host} no longer exists` }
  }
  if (claimant.now >= holder.expiresAt) {
    return { stale: true, reason: `its lease expired ${Math.round((claimant.now - holder.expiresAt) / 1000)}s ago` }
  }
  return { stale: false }
}

/** The holder in words, for StreamAlreadyRunningError: who, and when its lease ends unless renewed. */
export const describeHolder = (holder: Holder, now: number): string =>
  `process ${holder.pid ?? "?"} on ${holder.host ?? "?"} (lease expires in ${Math.max(0, Math.ceil((holder.expiresAt - now) / 1000))}s unless renewed)`
