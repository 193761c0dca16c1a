/**
 * A separate process that takes the lock of an S3 checkpoint and holds it until killed (for the SIGKILL test):
 * `node hold-s3-lease.ts <bucket> <prefix>` prints `held` once it holds the lease.
 */
import { Effect } from "effect"
import * as ObjectStore from "../../../layers/checkpoint-store/object-store.ts"
import { s3Storage } from "../../../layers/storage/s3.ts"
import { testS3Client } from "./s3.ts"

const [bucket, prefix] = process.argv.slice(2)
Effect.runFork(Effect.scoped(Effect.gen(function*() {
  const client = yield* testS3Client
  const store = ObjectStore.make(s3Storage({ _tag: "S3", scheme: "s3", bucket: bucket!, prefix: prefix! }, { table: "ckpt", client }), {
    renewInterval: "500 millis",
    leaseDuration: "20 seconds"
  })
  yield* store.acquire
  yield* Effect.sync(() => process.stdout.write("held\n"))
  yield* Effect.never
})))
