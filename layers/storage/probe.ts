/**
 * The start-up probe of an object store: exactly-once rests on put-if-absent (two writers must never both create
 * one log version), and a store that ignores `If-None-Match: *` (an old S3-compatible server, a proxy that drops
 * the header) would let both writers "win". So before the first commit a probe object is created twice with the
 * condition; the second create must be refused. The probe object is deleted afterwards.
 */
import { Effect } from "effect"
import type { DeltaStorage } from "../../src/delta/storage.ts"
import { DeltaStorageError } from "../../src/services/DeltaSink.ts"

/** Checks that `storage` refuses a second conditional create, with a probe object under `directory`. */
export const probeConditionalWrites = (storage: DeltaStorage, directory: string): Effect.Effect<void, DeltaStorageError> =>
  Effect.gen(function*() {
    const path = `${directory === "" ? "" : `${directory.replace(/\/+$/, "")}/`}.kafka-delta-probe-${crypto.randomUUID()}`
    const first = yield* storage.putIfAbsent(path, new TextEncoder().encode("1"))
    const second = yield* storage.putIfAbsent(path, new TextEncoder().encode("2")).pipe(
      Effect.ensuring(Effect.ignore(storage.delete(path)))
    )
    if (first && !second) return
    return yield* new DeltaStorageError({
      table: storage.table,
      path: `${storage.location}/${path}`,
      reason: first
        ? `the store at ${storage.location} accepted a second create of the same object with If-None-Match: *, so two writers could commit the same table version; use a store that enforces conditional writes (AWS S3 does; for an S3-compatible server check its conditional-write support) or a proxy that passes the If-None-Match header`
        : `the store at ${storage.location} refused to create a new probe object with If-None-Match: *; check that the store supports conditional writes`,
      transient: false
    })
  })
