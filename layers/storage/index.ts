/**
 * Storage by location: picks the DeltaStorage implementation from a location's scheme (a local path, `s3://` or
 * `s3a://`, `abfss://` or `az://`), with the credentials and endpoints of the environment's `storage` section,
 * and probes each object-store location once for conditional writes before it is used (probe.ts). The DeltaSink
 * and the CheckpointStore live layers both take their storage from here, so a store plugs in at one place.
 *
 * Azure locations go to layers/storage/azure.ts (`makeAzureStorage`), S3 ones to layers/storage/s3.ts.
 */
import { Effect, Redacted, type Scope } from "effect"
import type { StorageSection } from "../../src/config/environment-file.ts"
import { type AzureLocation, formatLocation, parseLocation } from "../../src/config/location.ts"
import type { DeltaStorage } from "../../src/delta/storage.ts"
import { DeltaStorageError } from "../../src/services/DeltaSink.ts"
import { type SecretNotFoundError, type SecretReadError, Secrets } from "../../src/services/Secrets.ts"
import { localStorage } from "../delta-sink/filesystem.ts"
import { probeConditionalWrites } from "./probe.ts"
import { azureLocationFromParts, makeAzureStorage } from "./azure.ts"
import { makeS3Client, type S3Settings, s3Storage } from "./s3.ts"

/** How to reach Azure: resolved `storage.azure` settings (secrets read), all optional. */
export interface AzureSettings {
  readonly accountKey?: Redacted.Redacted<string> | undefined
  readonly sasToken?: Redacted.Redacted<string> | undefined
  /** e.g. Azurite's `http://127.0.0.1:10000/devstoreaccount1`; `https://<account>.blob.core.windows.net` when absent. */
  readonly endpoint?: string | undefined
}

/** The resolved `storage` section. */
export interface StorageSettings {
  readonly s3: S3Settings
  readonly azure: AzureSettings
}

/** What `makeAzureStorage` is given besides the location. */
export interface AzureStorageOptions {
  /** The table (or checkpoint) name for messages. */
  readonly table: string
  readonly settings: AzureSettings
}

/** The Azure layer's entry point: DeltaStorage under an `abfss://` or `az://` location. */
export type AzureStorageFactory = (location: AzureLocation, options: AzureStorageOptions) => DeltaStorage

/**
 * The Azure settings the process environment gives, as the az CLI reads them (`AZURE_STORAGE_KEY`,
 * `AZURE_STORAGE_SAS_TOKEN`) and delta-rs (`AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_ENDPOINT`): what a
 * command given a bare URL (`vacuum --table az://...`) has, as S3 has the AWS default chain's variables.
 */
export const azureSettingsFromEnvironment = (env: NodeJS.ProcessEnv = process.env): AzureSettings => {
  const value = (...names: ReadonlyArray<string>) => names.map((name) => env[name]).find((v) => v !== undefined && v !== "")
  const key = value("AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY")
  const sas = value("AZURE_STORAGE_SAS_TOKEN")
  return {
    accountKey: key === undefined ? undefined : Redacted.make(key),
    sasToken: sas === undefined ? undefined : Redacted.make(sas),
    endpoint: value("AZURE_STORAGE_ENDPOINT")
  }
}

/**
 * The Azure DeltaStorage (Blob endpoint of the account; ADLS Gen2 and plain Blob accounts alike). A `storage.azure`
 * credential wins over the environment's; with neither, DefaultAzureCredential.
 */
const azureStores: AzureStorageFactory | undefined = (location, options) => {
  const fromEnv = azureSettingsFromEnvironment()
  const configured = options.settings.accountKey !== undefined || options.settings.sasToken !== undefined
  const accountKey = configured ? options.settings.accountKey : fromEnv.accountKey
  const sasToken = configured ? options.settings.sasToken : fromEnv.sasToken
  const endpoint = options.settings.endpoint ?? fromEnv.endpoint
  return makeAzureStorage(azureLocationFromParts(location), {
    table: options.table,
    ...(accountKey === undefined ? {} : { accountKey }),
    ...(sasToken === undefined ? {} : { sasToken }),
    ...(endpoint === undefined ? {} : { endpoint })
  })
}

/** Settings with nothing configured: the AWS default chain, AWS's endpoint, DefaultAzureCredential. */
export const defaultStorageSettings: StorageSettings = { s3: {}, azure: {} }

/** Reads the secrets the `storage` section names from the secret scope. */
export const resolveStorageSettings = (
  section: StorageSection | undefined,
  scope: string
): Effect.Effect<StorageSettings, SecretNotFoundError | SecretReadError, Secrets> =>
  Effect.gen(function*() {
    if (section === undefined) return defaultStorageSettings
    const secrets = yield* Secrets
    const secret = (ref: { readonly secret: string } | undefined) =>
      ref === undefined ? Effect.succeed(undefined) : secrets.get(scope, ref.secret)
    const s3 = section.s3 ?? {}
    const accessKeyId = yield* secret(s3.accessKeyId)
    const secretAccessKey = yield* secret(s3.secretAccessKey)
    const sessionToken = yield* secret(s3.sessionToken)
    const azure = section.azure ?? {}
    return {
      s3: {
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: s3.forcePathStyle,
        credentials: accessKeyId !== undefined && secretAccessKey !== undefined ? { accessKeyId, secretAccessKey, sessionToken } : undefined
      },
      azure: { accountKey: yield* secret(azure.accountKey), sasToken: yield* secret(azure.sasToken), endpoint: azure.endpoint }
    }
  })

/** What a resolver opens: a table (probed under `_delta_log/`) or a checkpoint (probed at its root). */
export type StorageUse = "table" | "checkpoint"

/** Opens the storage of a location by its scheme. */
export type StorageResolver = (location: string, name: string, use: StorageUse) => Effect.Effect<DeltaStorage, DeltaStorageError>

/**
 * A resolver for `settings`: one S3 client for every S3 location, destroyed with the scope; each object-store
 * location probed once.
 */
export const makeResolver = (settings: StorageSettings = defaultStorageSettings): Effect.Effect<StorageResolver, never, Scope.Scope> =>
  Effect.gen(function*() {
    let s3Client: ReturnType<typeof makeS3Client> | undefined
    yield* Effect.addFinalizer(() => Effect.sync(() => s3Client?.destroy()))
    const probed = new Set<string>()
    const probeOnce = (storage: DeltaStorage, use: StorageUse) =>
      probed.has(storage.location)
        ? Effect.succeed(storage)
        : probeConditionalWrites(storage, use === "table" ? "_delta_log" : "").pipe(
          Effect.tap(() => Effect.sync(() => probed.add(storage.location))),
          Effect.as(storage)
        )
    return (location, name, use) =>
      Effect.gen(function*() {
        const parsed = parseLocation(location)
        if (parsed._tag === "Failure") {
          return yield* new DeltaStorageError({ table: name, path: location, reason: `not a location: ${parsed.failure}`, transient: false })
        }
        const where = parsed.success
        switch (where._tag) {
          case "Local":
            return localStorage(where.path, name)
          case "S3": {
            s3Client ??= makeS3Client(settings.s3)
            return yield* probeOnce(s3Storage(where, { table: name, client: s3Client, endpoint: settings.s3.endpoint }), use)
          }
          case "Azure": {
            if (azureStores === undefined) {
              return yield* new DeltaStorageError({
                table: name,
                path: formatLocation(where),
                reason: `${where.scheme}:// locations need the Azure storage layer, which this build does not have yet; use a local path or s3://`,
                transient: false
              })
            }
            return yield* probeOnce(azureStores(where, { table: name, settings: settings.azure }), use)
          }
        }
      })
  })

/** The storage of one location, for commands that open a single table (vacuum). */
export const openStorage = (location: string, name: string, settings: StorageSettings = defaultStorageSettings) =>
  Effect.flatMap(makeResolver(settings), (resolve) => resolve(location, name, "table"))

