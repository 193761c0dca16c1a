/** The local S3-compatible server of scripts/services.sh (moto) for tests: a client and fresh buckets. */
import { CreateBucketCommand, type S3Client } from "@aws-sdk/client-s3"
import { Effect, Redacted } from "effect"
import { makeS3Client, type S3Settings } from "../../../layers/storage/s3.ts"

/** The server's settings, from `services.sh env` (moto accepts any credentials). */
export const testS3Settings: S3Settings = {
  endpoint: process.env["KAFKA_DELTA_TEST_S3_ENDPOINT"] ?? "http://127.0.0.1:9000",
  region: process.env["KAFKA_DELTA_TEST_S3_REGION"] ?? "us-east-1",
  forcePathStyle: true,
  credentials: {
    accessKeyId: Redacted.make(process.env["KAFKA_DELTA_TEST_S3_ACCESS_KEY_ID"] ?? "kd-test"),
    secretAccessKey: Redacted.make(process.env["KAFKA_DELTA_TEST_S3_SECRET_ACCESS_KEY"] ?? "kd-test-secret")
  }
}

/** A client of the test server, destroyed with the scope. */
export const testS3Client = Effect.acquireRelease(
  Effect.sync(() => makeS3Client(testS3Settings)),
  (client) => Effect.sync(() => client.destroy())
)

/** Creates a bucket with a unique name (tests run concurrently) and returns its name. */
export const freshBucket = (client: S3Client, hint: string) =>
  Effect.promise(async () => {
    const bucket = `kd-${hint}-${crypto.randomUUID().slice(0, 8)}`.toLowerCase()
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
    return bucket
  })
