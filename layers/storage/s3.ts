/**
 * DeltaStorage on Amazon S3 and S3-compatible stores, through the official SDK (`@aws-sdk/client-s3`, and
 * `@aws-sdk/lib-storage` for multipart uploads of large data files). The commit primitive is a conditional
 * PutObject (`If-None-Match: *`, answered 412 when the key exists), which S3 has enforced since August 2024; the
 * start-up probe (probe.ts) refuses a store that does not. Throttling (503 SlowDown, 429) is retried by the SDK's
 * standard retry strategy, with backoff, and what is still failing after that is a transient DeltaStorageError
 * for the stream's own retry schedule.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type ListObjectsV2CommandOutput,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig
} from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import { Effect, Option, Redacted } from "effect"
import { formatLocation, type S3Location } from "../../src/config/location.ts"
import type { DeltaStorage, FileInfo, VersionedStorage } from "../../src/delta/storage.ts"
import { DeltaStorageError } from "../../src/services/DeltaSink.ts"

/** How to reach S3: resolved settings (`storage.s3` with its secrets read), all optional. */
export interface S3Settings {
  readonly endpoint?: string | undefined
  readonly region?: string | undefined
  readonly forcePathStyle?: boolean | undefined
  /** Static credentials from the secret scope; the AWS default chain when absent. */
  readonly credentials?: {
    readonly accessKeyId: Redacted.Redacted<string>
    readonly secretAccessKey: Redacted.Redacted<string>
    readonly sessionToken?: Redacted.Redacted<string> | undefined
  } | undefined
  /** Attempts per request, throttling included (the SDK's standard retry strategy; default 5). */
  readonly maxAttempts?: number | undefined
}

/** Data files larger than this go up as multipart uploads of `partSize` parts. */
export const multipartThreshold = 16 * 1024 * 1024
const partSize = 8 * 1024 * 1024

/** An S3 client for `settings` (the SDK reads the default credential chain and region itself when not given). */
export const makeS3Client = (settings: S3Settings): S3Client => {
  const config: S3ClientConfig = {
    maxAttempts: settings.maxAttempts ?? 5,
    // an S3-compatible server has no region of its own; the SDK insists on one for signing
    ...(settings.region !== undefined ? { region: settings.region } : settings.endpoint !== undefined && process.env["AWS_REGION"] === undefined ? { region: "us-east-1" } : {}),
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    ...(settings.forcePathStyle === undefined ? {} : { forcePathStyle: settings.forcePathStyle }),
    ...(settings.credentials === undefined ? {} : {
      credentials: {
        accessKeyId: Redacted.value(settings.credentials.accessKeyId),
        secretAccessKey: Redacted.value(settings.credentials.secretAccessKey),
        ...(settings.credentials.sessionToken === undefined ? {} : { sessionToken: Redacted.value(settings.credentials.sessionToken) })
      }
    })
  }
  return new S3Client(config)
}

interface SdkError {
  readonly name?: string
  readonly code?: string
  readonly message?: string
  readonly $retryable?: unknown
  readonly $metadata?: { readonly httpStatusCode?: number }
}

const networkCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "TimeoutError", "RequestTimeout", "RequestTimeTooSkewed"])

/** What an SDK failure means for a person (one line naming the fix) and whether a retry may help. */
export const describeS3Error = (error: unknown, bucket: string, endpoint: string | undefined): { readonly reason: string; readonly transient: boolean } => {
  const e = (error ?? {}) as SdkError
  const name = e.name ?? e.code ?? "Error"
  const status = e.$metadata?.httpStatusCode
  const where = endpoint ?? "AWS S3"
  if (name === "NoSuchBucket") return { reason: `bucket ${bucket} does not exist (NoSuchBucket): create it, or correct the bucket in the location`, transient: false }
  if (name === "InvalidAccessKeyId" || name === "SignatureDoesNotMatch" || name === "ExpiredToken" || name === "InvalidToken" || name === "CredentialsProviderError" || name === "TokenRefreshRequired") {
    return { reason: `${where} refused the credentials (${name}): check storage.s3.accessKeyId/secretAccessKey/sessionToken in the secret scope, or the AWS default chain (AWS_ACCESS_KEY_ID, profile, web identity, instance role)`, transient: false }
  }
  if (name === "AccessDenied" || name === "Forbidden" || status === 403) {
    return { reason: `access denied (${name}): the credentials need s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on bucket ${bucket} and this prefix`, transient: false }
  }
  if (name === "SlowDown" || name === "TooManyRequests" || status === 429 || status === 503) {
    return { reason: `${where} is throttling requests (${name}, HTTP ${status ?? "?"}), still after the SDK's retries; retried on stream.retry`, transient: true }
  }
  if (networkCodes.has(name) || (e.code !== undefined && networkCodes.has(e.code))) {
    return { reason: `cannot reach ${where} (${e.code ?? name}: ${e.message ?? ""}); check storage.s3.endpoint and the network (retried on stream.retry)`, transient: true }
  }
  if (name === "ConditionalRequestConflict" || status === 409) {
    // S3's answer while another conditional write of the same key is in flight: retry, then the condition decides
    return { reason: `a concurrent conditional write of the same object is in progress (${name}); retried on stream.retry`, transient: true }
  }
  if (typeof e.message === "string" && e.message.includes("Region is missing")) {
    return { reason: "no AWS region: set storage.s3.region, or AWS_REGION", transient: false }
  }
  const transient = e.$retryable !== undefined || (status !== undefined && status >= 500)
  return { reason: `${name}${status === undefined ? "" : ` (HTTP ${status})`}: ${e.message ?? String(error)}`, transient }
}

const statusOf = (error: unknown): number | undefined => (error as SdkError).$metadata?.httpStatusCode
const nameOf = (error: unknown): string | undefined => (error as SdkError).name

/** Options of `s3Storage`. */
export interface S3StorageOptions {
  /** The table (or checkpoint) name for messages. */
  readonly table: string
  readonly client: S3Client
  /** For messages: the endpoint the client talks to (AWS when absent). */
  readonly endpoint?: string | undefined
  /** Keys per ListObjectsV2 page (default 1000, S3's maximum; tests make it small to cross pages). */
  readonly listPageSize?: number | undefined
}

/** DeltaStorage under `location` (bucket and prefix), through `options.client`. */
export const s3Storage = (location: S3Location, options: S3StorageOptions): DeltaStorage & { readonly versioned: VersionedStorage } => {
  const { client } = options
  const Bucket = location.bucket
  const root = location.prefix === "" ? "" : `${location.prefix}/`
  const url = formatLocation(location)
  const keyOf = (path: string) => `${root}${path}`
  const fail = (path: string, error: unknown) => {
    const { reason, transient } = describeS3Error(error, Bucket, options.endpoint)
    return new DeltaStorageError({ table: options.table, path: `${url}/${path}`, reason, transient })
  }
  const send = <A>(path: string, run: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({ try: run, catch: (error) => fail(path, error) })
  // a missing key is an answer, not an error: caught before the error mapping
  const orNone = <A>(path: string, run: (signal: AbortSignal) => Promise<A>, missing: (error: unknown) => boolean) =>
    send(path, async (signal) => {
      try {
        return Option.some(await run(signal))
      } catch (error) {
        if (missing(error)) return Option.none<A>()
        throw error
      }
    })
  const isMissingKey = (error: unknown) => nameOf(error) === "NoSuchKey" || (statusOf(error) === 404 && nameOf(error) !== "NoSuchBucket")
  const info = (path: string, size: number, modified: Date | undefined): FileInfo => ({
    path,
    size,
    modificationTime: modified?.getTime() ?? Date.now()
  })
  const put = (path: string, data: Uint8Array, condition: { IfNoneMatch?: string; IfMatch?: string }) =>
    send(path, async (signal) => {
      try {
        await client.send(new PutObjectCommand({ Bucket, Key: keyOf(path), Body: data, ContentLength: data.byteLength, ...condition }), { abortSignal: signal })
        return true
      } catch (error) {
        // 412: the condition did not hold (the key exists, or has another ETag); 409 ConditionalRequestConflict
        // (a concurrent conditional write of the same key) stays an error: transient, and the caller retries
        if (statusOf(error) === 412 || nameOf(error) === "PreconditionFailed") return false
        throw error
      }
    })
  const versioned: VersionedStorage = {
    readVersion: (path) =>
      orNone(path, async (signal) => {
        const out = await client.send(new GetObjectCommand({ Bucket, Key: keyOf(path) }), { abortSignal: signal })
        return { data: await out.Body!.transformToByteArray(), version: out.ETag ?? "" }
      }, isMissingKey),
    replaceIfVersion: (path, data, version) => put(path, data, { IfMatch: version })
  }
  return {
    table: options.table,
    location: url,
    versioned,
    read: (path) =>
      orNone(path, async (signal) => {
        const out = await client.send(new GetObjectCommand({ Bucket, Key: keyOf(path) }), { abortSignal: signal })
        return await out.Body!.transformToByteArray()
      }, isMissingKey),
    list: (directory, listOptions) =>
      send(directory, async (signal) => {
        const dir = directory.replace(/\/+$/, "")
        const Prefix = dir === "" ? root : `${keyOf(dir)}/`
        const out: Array<FileInfo> = []
        const pages = paginateListObjectsV2(
          { client, pageSize: options.listPageSize ?? 1000 },
          { Bucket, Prefix, ...(listOptions?.recursive === true ? {} : { Delimiter: "/" }) }
        )
        for await (const page of pages as AsyncIterable<ListObjectsV2CommandOutput>) {
          if (signal.aborted) throw signal.reason
          for (const object of page.Contents ?? []) {
            // zero-byte "directory" markers some tools create are not files
            if (object.Key === undefined || object.Key.endsWith("/")) continue
            out.push(info(object.Key.slice(root.length), object.Size ?? 0, object.LastModified))
          }
        }
        return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      }),
    // S3 makes a PUT visible whole or not at all, so the content is "durable but invisible" only in the sense
    // that nothing has been sent yet: crash tests' beforePublish runs just before the request
    putIfAbsent: (path, data, putOptions) =>
      Effect.suspend(() => {
        putOptions?.beforePublish?.()
        return put(path, data, { IfNoneMatch: "*" })
      }),
    write: (path, data) =>
      send(path, async (signal) => {
        if (data.byteLength > multipartThreshold) {
          // lib-storage slices the buffer into parts (views, not copies), so a data file is held once
          const upload = new Upload({ client, params: { Bucket, Key: keyOf(path), Body: data }, partSize, queueSize: 4, leavePartsOnError: false })
          const abort = () => void upload.abort()
          signal.addEventListener("abort", abort, { once: true })
          try {
            await upload.done()
          } finally {
            signal.removeEventListener("abort", abort)
          }
        } else {
          await client.send(new PutObjectCommand({ Bucket, Key: keyOf(path), Body: data, ContentLength: data.byteLength }), { abortSignal: signal })
        }
        return info(path, data.byteLength, undefined)
      }),
    delete: (path) =>
      send(path, async (signal) => {
        await client.send(new DeleteObjectCommand({ Bucket, Key: keyOf(path) }), { abortSignal: signal })
      }),
    stat: (path) =>
      orNone(path, async (signal) => {
        const out = await client.send(new HeadObjectCommand({ Bucket, Key: keyOf(path) }), { abortSignal: signal })
        return info(path, out.ContentLength ?? 0, out.LastModified)
      }, isMissingKey)
  }
}
