/**
 * Delta table storage on Azure Blob Storage and ADLS Gen2, through the official SDK's blob endpoint (which serves
 * hierarchical-namespace accounts too). Put-if-absent is a conditional create (`If-None-Match: *`), the commit
 * primitive the protocol needs; a blob upload replaces a blob atomically, so `write` needs no temp name; and
 * `versioned` replaces a blob only if its ETag is unchanged (`If-Match`), for the checkpoint's lease. Every
 * failure is a DeltaStorageError whose reason names the URL's part at fault and the fix; credentials stay
 * Redacted and are scrubbed from any message the SDK or the network returns. The SDKs load on first use (about
 * 0.8 s), so a run on local tables does not pay for them.
 */
import type { TokenCredential } from "@azure/identity"
import type { BlobItem, ContainerClient } from "@azure/storage-blob"
import { Effect, Option, Redacted, Result } from "effect"
import type { DeltaStorage, FileInfo, VersionedStorage } from "../../src/delta/storage.ts"
import { DeltaStorageError } from "../../src/services/DeltaSink.ts"

/** Where a table lives on Azure: the account (absent for `az://`), the container and the path under it. */
export interface AzureLocation {
  /** The URL as written (for messages and readers), without a trailing `/`. */
  readonly url: string
  /** The storage account, from the `abfss://` host; `az://` leaves it to the endpoint. */
  readonly account: string | undefined
  readonly container: string
  /** The blob name prefix of the table root, without leading or trailing `/`; "" for the container root. */
  readonly prefix: string
  /** The blob service URL derived from the host (`https://<account>.blob.<suffix>`), when the URL names one. */
  readonly endpoint: string | undefined
}

/** How to reach and authenticate to the account; without a key or token, DefaultAzureCredential is used. */
export interface AzureStorageOptions {
  /** The table name used in error messages (default: the URL). */
  readonly table?: string
  /** Shared key of the account (`storage.azure.accountKey`). */
  readonly accountKey?: Redacted.Redacted<string>
  /** SAS token, with or without the leading `?` (`storage.azure.sasToken`). */
  readonly sasToken?: Redacted.Redacted<string>
  /** A token credential to use instead of DefaultAzureCredential (tests, custom identities). */
  readonly tokenCredential?: TokenCredential
  /** Blob service URL override (`storage.azure.endpoint`), e.g. Azurite's `http://127.0.0.1:10000/devstoreaccount1`. */
  readonly endpoint?: string
  /** The SDK's attempts per request, throttling included (default 3); the stream's retry takes over after. */
  readonly maxTries?: number
  /** Results per list request (default and maximum 5000). */
  readonly pageSize?: number
}

const accepted = "abfss://<container>@<account>.dfs.core.windows.net/<prefix> or az://<container>/<prefix>"
// container names: 3-63 lowercase letters, digits and single hyphens (Azurite and Azure both enforce it)
const containerName = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/

/** The parts of an Azure URL, as src/config's location parser also gives them (`host` only for `abfss://`). */
export interface AzureUrlParts {
  readonly scheme: "abfss" | "az"
  readonly container: string
  readonly account: string | undefined
  readonly host: string | undefined
  readonly prefix: string
}

/** The location of parsed URL parts: the blob endpoint of an `abfss://` host is its `.dfs.` swapped for `.blob.`. */
export const azureLocationFromParts = (parts: AzureUrlParts): AzureLocation => {
  const host = parts.host?.toLowerCase()
  const prefix = parts.prefix.split("/").filter((part) => part !== "").join("/")
  const authority = host === undefined ? parts.container : `${parts.container}@${host}`
  return {
    url: `${parts.scheme}://${authority}${prefix === "" ? "" : `/${prefix}`}`,
    account: parts.account?.toLowerCase(),
    container: parts.container,
    prefix,
    endpoint: host === undefined ? undefined : `https://${host.replace(/^([^.]+)\.dfs\./, "$1.blob.")}`
  }
}

/** Parses `abfss://container@account.dfs.<suffix>/prefix` or `az://container/prefix`; the failure names the forms. */
export const parseAzureUrl = (url: string): Result.Result<AzureLocation, string> => {
  const match = /^(abfss|az):\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url.trim())
  if (match === null) return Result.fail(`"${url}" is not an Azure URL: use ${accepted}`)
  const scheme = match[1]!.toLowerCase() as "abfss" | "az"
  const authority = match[2]!
  const prefix = match[3] ?? ""
  if (scheme === "abfss") {
    const host = /^([^@]+)@(([a-z0-9]{3,24})\.dfs\.[a-z0-9.-]+)$/i.exec(authority)
    if (host === null) return Result.fail(`"${url}" has no <container>@<account>.dfs.<domain> host: use ${accepted}`)
    if (!containerName.test(host[1]!)) return Result.fail(notContainer(url, host[1]!))
    return Result.succeed(azureLocationFromParts({ scheme, container: host[1]!, account: host[3]!, host: host[2]!, prefix }))
  }
  if (authority.includes("@")) return Result.fail(`"${url}": az:// takes no account (set storage.azure.endpoint): use ${accepted}`)
  if (!containerName.test(authority)) return Result.fail(notContainer(url, authority))
  return Result.succeed(azureLocationFromParts({ scheme, container: authority, account: undefined, host: undefined, prefix }))
}

const notContainer = (url: string, container: string) =>
  `"${url}": "${container}" is not a container name (3-63 lowercase letters, digits, hyphens)`

/** The service URL and the account: the endpoint override wins; an Azurite-style URL carries the account in its path. */
const resolveService = (location: AzureLocation, options: AzureStorageOptions): Result.Result<{ url: string; account: string }, string> => {
  const override = options.endpoint?.replace(/\/+$/, "")
  const url = override ?? location.endpoint
  if (url === undefined) return Result.fail(`${location.url} names no account: set storage.azure.endpoint or use abfss://`)
  let account = location.account
  if (account === undefined) {
    try {
      const parsed = new URL(url)
      account = parsed.pathname.split("/").find((part) => part !== "") ?? parsed.hostname.split(".")[0]
    } catch {
      return Result.fail(`storage.azure.endpoint "${url}" is not a URL (e.g. https://<account>.blob.core.windows.net)`)
    }
  }
  if (account === undefined || account === "") return Result.fail(`no account in ${url}: set storage.azure.endpoint`)
  return Result.succeed({ url, account })
}

const secretsOf = (options: AzureStorageOptions): ReadonlyArray<string> =>
  [options.accountKey, options.sasToken]
    .filter((secret): secret is Redacted.Redacted<string> => secret !== undefined)
    .flatMap((secret) => {
      const raw = Redacted.value(secret)
      return [raw, raw.replace(/^\?/, ""), encodeURIComponent(raw)].filter((s) => s.length >= 4)
    })

/** The SDK's error, as the parts the messages need. */
interface Failure {
  readonly status: number | undefined
  readonly code: string
  readonly name: string
  readonly message: string
}

const failureOf = (error: unknown): Failure => {
  const e = error as {
    statusCode?: number
    code?: string
    name?: string
    message?: string
    details?: { errorCode?: string }
    response?: { headers?: { get?: (name: string) => string | undefined } }
  }
  // the header survives a body the SDK could not parse (its code is then PARSE_ERROR)
  const header = e?.response?.headers?.get?.("x-ms-error-code")
  const message = String(e?.message ?? error).split("\n")[0]!.trim() // Azure appends "RequestId:... Time:..." lines
  return {
    status: typeof e?.statusCode === "number" ? e.statusCode : undefined,
    code: e?.details?.errorCode ?? header ?? e?.code ?? "",
    name: e?.name ?? "",
    message
  }
}

const isNotFound = (f: Failure) => f.status === 404 && f.code !== "ContainerNotFound"

/** Storage over the blobs under `location` (a container and a prefix). */
export const makeAzureStorage = (location: AzureLocation, options: AzureStorageOptions = {}): DeltaStorage & { readonly versioned: VersionedStorage } => {
  const table = options.table ?? location.url
  const secrets = secretsOf(options)
  // a URL in a message may carry the SAS signature in another encoding than the token given
  const scrub = (text: string) =>
    secrets.reduce((out, secret) => out.split(secret).join("<redacted>"), text.replace(/\s+/g, " ").trim())
      .replace(/([?&](?:amp;)?sig=)[^&\s"'<]+/gi, "$1<redacted>")
  const service = resolveService(location, options)
  const serviceUrl = Result.isSuccess(service) ? service.success.url : "(no endpoint)"
  const credentialKeys = options.accountKey !== undefined
    ? "storage.azure.accountKey"
    : options.sasToken !== undefined
    ? "storage.azure.sasToken"
    : "the DefaultAzureCredential identity (az login, managed identity or AZURE_* variables)"

  let client: Promise<ContainerClient> | undefined
  const connect = async (): Promise<ContainerClient> => {
    if (Result.isFailure(service)) throw { name: "AzureConfigError", message: service.failure }
    const { account, url } = service.success
    const { AnonymousCredential, BlobServiceClient, StorageSharedKeyCredential } = await import("@azure/storage-blob")
    const pipelineOptions = { retryOptions: { maxTries: options.maxTries ?? 3 } }
    const blobService = options.accountKey !== undefined
      ? new BlobServiceClient(url, new StorageSharedKeyCredential(account, Redacted.value(options.accountKey)), pipelineOptions)
      : options.sasToken !== undefined
      ? new BlobServiceClient(`${url}?${Redacted.value(options.sasToken).replace(/^\?/, "")}`, new AnonymousCredential(), pipelineOptions)
      : new BlobServiceClient(url, options.tokenCredential ?? new (await import("@azure/identity")).DefaultAzureCredential(), pipelineOptions)
    return blobService.getContainerClient(location.container)
  }
  const container = (): Promise<ContainerClient> => {
    client ??= connect()
    // a failed set-up is tried again on the next call rather than cached
    client.catch(() => { client = undefined })
    return client
  }

  const root = location.prefix === "" ? "" : `${location.prefix}/`
  const blobName = (path: string) => `${root}${path.replace(/^\/+/, "")}`
  const urlOf = (path: string) => (path === "" ? location.url : `${location.url}/${path.replace(/^\/+/, "")}`)

  const toError = (path: string, verb: string, error: unknown): DeltaStorageError => {
    const f = failureOf(error)
    const at = urlOf(path)
    const fail = (reason: string, transient = false) =>
      new DeltaStorageError({ table, path: at, reason: scrub(reason), transient })
    if (f.name === "AzureConfigError") return fail(f.message)
    if (f.name === "CredentialUnavailableError" || f.name === "AggregateAuthenticationError") {
      return fail(`no Azure credential to ${verb}: set storage.azure.accountKey or sasToken, or sign in (az login, managed identity, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET)`)
    }
    if (f.code === "ContainerNotFound") {
      return fail(`container "${location.container}" does not exist on ${serviceUrl}: create it (e.g. az storage container create -n ${location.container}) or fix the URL`)
    }
    if (f.code === "AuthenticationFailed" || f.status === 401 || f.name === "AuthenticationError") {
      return fail(`authentication to ${serviceUrl} failed (${f.code || f.status}) to ${verb}: check ${credentialKeys}`)
    }
    // Azure's AuthorizationFailure covers a SAS without the permission, the account's firewall, and (on Azurite) a
    // wrong key, so it names both fixes
    if (f.code === "AuthorizationFailure") {
      return fail(`not authorized to ${verb} on ${serviceUrl} (AuthorizationFailure): check ${credentialKeys}, its permissions on container "${location.container}" and the account's firewall`)
    }
    if (f.status === 403) {
      return fail(options.sasToken !== undefined
        ? `no permission to ${verb} (${f.code || 403}): storage.azure.sasToken needs read, add, create, write, delete and list permissions on container "${location.container}"`
        : options.accountKey !== undefined
        ? `no permission to ${verb} (${f.code || 403}) with storage.azure.accountKey: check that the account allows shared-key access and its firewall admits this host`
        : `no permission to ${verb} (${f.code || 403}): grant the DefaultAzureCredential identity the "Storage Blob Data Contributor" role on container "${location.container}"`)
    }
    if (f.status === 429 || f.status === 503 || f.code === "ServerBusy") {
      return fail(`${serviceUrl} is throttling (${f.status} ${f.code}) after ${options.maxTries ?? 3} tries to ${verb}; retried with backoff`, true)
    }
    if (f.status === undefined) {
      return fail(`cannot reach ${serviceUrl} to ${verb} (${f.code || f.name}: ${f.message}): check storage.azure.endpoint and the network`, true)
    }
    // scrubbed before it is cut, so that no part of a secret survives
    const detail = scrub(f.message)
    return fail(`${verb} failed: ${f.status} ${f.code} ${detail.length > 300 ? `${detail.slice(0, 300)}...` : detail}`, f.status >= 500 || f.status === 408)
  }

  const call = <A>(path: string, verb: string, run: () => Promise<A>) =>
    Effect.tryPromise({ try: run, catch: (error) => toError(path, verb, error) })

  const infoOf = (path: string, item: { contentLength?: number; lastModified?: Date }): FileInfo => ({
    path,
    size: item.contentLength ?? 0,
    modificationTime: item.lastModified?.getTime() ?? 0
  })

  // hierarchical-namespace accounts list their directories as empty blobs marked hdi_isfolder
  const isDirectory = (item: BlobItem) =>
    item.metadata?.["hdi_isfolder"] === "true"

  // filled in place from the stream: a data file is held once, not as chunks and their concatenation
  const download = (path: string, verb: string) =>
    call(path, verb, async () => {
      try {
        const response = await (await container()).getBlockBlobClient(blobName(path)).download(0)
        const out = new Uint8Array(response.contentLength ?? 0)
        let at = 0
        for await (const chunk of response.readableStreamBody as AsyncIterable<Buffer>) {
          if (at + chunk.length > out.length) throw new Error(`${path}: more bytes than its Content-Length ${out.length}`)
          out.set(chunk, at)
          at += chunk.length
        }
        if (at !== out.length) throw new Error(`${path}: ${at} of ${out.length} bytes arrived`)
        return Option.some({ data: out, version: response.etag ?? "" })
      } catch (error) {
        if (isNotFound(failureOf(error))) return Option.none()
        throw error
      }
    })

  // If-Match on the ETag the download returned: the checkpoint lease is renewed or taken over only if nobody
  // replaced it since it was judged
  const versioned: VersionedStorage = {
    readVersion: (path) => download(path, "read"),
    replaceIfVersion: (path, data, version) =>
      call(path, "replace", async () => {
        try {
          await (await container()).getBlockBlobClient(blobName(path)).upload(data, data.byteLength, { conditions: { ifMatch: version } })
          return true
        } catch (error) {
          const f = failureOf(error)
          // 412: another ETag now; 404: the blob is gone (a conditional upload of a missing blob fails so)
          if ((f.status === 412 && f.code !== "LeaseIdMissing") || isNotFound(f)) return false
          throw error
        }
      })
  }

  return {
    table,
    location: location.url,
    versioned,
    read: (path) => Effect.map(download(path, "read"), Option.map(({ data }) => data)),
    list: (directory, options_) =>
      call(directory, "list", async () => {
        const dir = directory.replace(/^\/+|\/+$/g, "")
        const prefix = dir === "" ? root : `${root}${dir}/`
        const maxPageSize = Math.min(options.pageSize ?? 5000, 5000)
        const out: Array<FileInfo> = []
        const add = (item: BlobItem) => {
          if (!isDirectory(item)) out.push(infoOf(item.name.slice(root.length), item.properties))
        }
        if (options_?.recursive === true) {
          for await (const page of (await container()).listBlobsFlat({ prefix, includeMetadata: true }).byPage({ maxPageSize })) {
            for (const item of page.segment.blobItems) add(item)
          }
        } else {
          const pages = (await container()).listBlobsByHierarchy("/", { prefix, includeMetadata: true }).byPage({ maxPageSize })
          for await (const page of pages) for (const item of page.segment.blobItems) add(item)
        }
        return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      }),
    // A single Put Blob: the content is not visible before it returns, so "before publish" is just before it.
    putIfAbsent: (path, data, putOptions) =>
      call(path, "create", async () => {
        putOptions?.beforePublish?.()
        try {
          await (await container()).getBlockBlobClient(blobName(path)).upload(data, data.byteLength, {
            conditions: { ifNoneMatch: "*" }
          })
          return true
        } catch (error) {
          const f = failureOf(error)
          if ((f.status === 409 && f.code === "BlobAlreadyExists") || (f.status === 412 && f.code !== "LeaseIdMissing")) {
            return false
          }
          throw error
        }
      }),
    // uploadData is one Put Blob up to its single-shot size, else staged blocks committed by one Put Block List:
    // readers see the old or the new blob either way
    write: (path, data) =>
      call(path, "write", async () => {
        const response = await (await container()).getBlockBlobClient(blobName(path)).uploadData(data)
        return { path, size: data.byteLength, modificationTime: response.lastModified?.getTime() ?? Date.now() }
      }),
    delete: (path) =>
      call(path, "delete", async () => {
        await (await container()).getBlockBlobClient(blobName(path)).deleteIfExists()
      }),
    stat: (path) =>
      call(path, "stat", async () => {
        try {
          const properties = await (await container()).getBlockBlobClient(blobName(path)).getProperties()
          return Option.some(infoOf(path, properties))
        } catch (error) {
          if (isNotFound(failureOf(error))) return Option.none()
          throw error
        }
      })
  }
}
