/**
 * Where a table or a checkpoint lives, as the user writes it: a local path, `s3://bucket/prefix` (or `s3a://`, as
 * Spark users write it), `abfss://container@account.dfs.core.windows.net/prefix` or `az://container/prefix`.
 * Parsing is strict so that a typo fails at start-up naming the key, rather than becoming a local directory named
 * `s3:` or a table in the wrong bucket. Pure: the stores themselves live in layers/storage/.
 */
import { Result } from "effect"
import * as NodePath from "node:path"

/** A location on the local disk (an absolute path once resolved). */
export interface LocalLocation {
  readonly _tag: "Local"
  readonly path: string
}

/** An S3 location: the bucket and the key prefix (no leading or trailing `/`, empty for the bucket's root). */
export interface S3Location {
  readonly _tag: "S3"
  readonly scheme: "s3" | "s3a"
  readonly bucket: string
  readonly prefix: string
}

/**
 * An ADLS Gen2 / Blob location: the container, the storage account when the URL names it (`abfss://` always
 * does; `az://` leaves it to `storage.azure.endpoint` or the credentials), and the path prefix.
 */
export interface AzureLocation {
  readonly _tag: "Azure"
  readonly scheme: "abfss" | "az"
  readonly container: string
  readonly account: string | undefined
  /** The host of an `abfss://` URL (e.g. `account.dfs.core.windows.net`), kept to print the URL back as given. */
  readonly host: string | undefined
  readonly prefix: string
}

/** A parsed location. */
export type Location = LocalLocation | S3Location | AzureLocation

/** The forms a location may take, for messages. */
export const acceptedLocationForms =
  "a local path, s3://bucket/prefix, s3a://bucket/prefix, abfss://container@account.dfs.core.windows.net/prefix or az://container/prefix"

const schemeOf = (text: string): string | undefined => /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text)?.[1]

const cleanPrefix = (path: string): Result.Result<string, string> => {
  const segments = path.split("/").filter((segment) => segment !== "")
  if (segments.some((segment) => segment === "." || segment === "..")) return Result.fail("the path may not contain . or .. segments")
  return Result.succeed(segments.join("/"))
}

// S3 bucket naming rules (the general-purpose bucket subset): 3-63 of lower-case letters, digits, dots, hyphens
const bucketPattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
// Azure container names: 3-63 of lower-case letters, digits and single hyphens; `$root` and `$web` are special
const containerPattern = /^(\$root|\$web|[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})$/
const accountPattern = /^[a-z0-9]{3,24}$/

/** Parses a location, or says what is wrong with it (the caller adds the key and `acceptedLocationForms`). */
export const parseLocation = (text: string): Result.Result<Location, string> => {
  if (text.trim() === "") return Result.fail("empty location")
  const scheme = schemeOf(text)
  if (scheme === undefined) return Result.succeed({ _tag: "Local", path: text })
  const rest = text.slice(scheme.length + 3)
  const slash = rest.indexOf("/")
  const authority = slash < 0 ? rest : rest.slice(0, slash)
  const prefix = cleanPrefix(slash < 0 ? "" : rest.slice(slash + 1))
  if (Result.isFailure(prefix)) return Result.fail(prefix.failure)
  if (/[?#]/.test(rest)) return Result.fail("a location may not have a query or fragment")
  switch (scheme.toLowerCase()) {
    case "s3":
    case "s3a": {
      if (!bucketPattern.test(authority)) return Result.fail(`"${authority}" is not an S3 bucket name (3-63 lower-case letters, digits, dots or hyphens)`)
      return Result.succeed({ _tag: "S3", scheme: scheme.toLowerCase() as "s3" | "s3a", bucket: authority, prefix: prefix.success })
    }
    case "abfss": {
      const at = authority.indexOf("@")
      if (at < 0) return Result.fail("an abfss:// location names container@account.dfs.core.windows.net")
      const container = authority.slice(0, at)
      const host = authority.slice(at + 1)
      const account = host.split(".")[0] ?? ""
      if (!containerPattern.test(container)) return Result.fail(`"${container}" is not an Azure container name (3-63 lower-case letters, digits or hyphens)`)
      if (!accountPattern.test(account) || !host.includes(".")) return Result.fail(`"${host}" is not an Azure storage host such as account.dfs.core.windows.net`)
      return Result.succeed({ _tag: "Azure", scheme: "abfss", container, account, host, prefix: prefix.success })
    }
    case "az": {
      if (!containerPattern.test(authority)) return Result.fail(`"${authority}" is not an Azure container name (3-63 lower-case letters, digits or hyphens)`)
      return Result.succeed({ _tag: "Azure", scheme: "az", container: authority, account: undefined, host: undefined, prefix: prefix.success })
    }
    default:
      return Result.fail(`the scheme ${scheme}:// is not supported${scheme.toLowerCase() === "gs" ? " (Google Cloud Storage is not supported yet)" : ""}`)
  }
}

/** The location as a URL or path, in the canonical form the stores and messages use. */
export const formatLocation = (location: Location): string => {
  switch (location._tag) {
    case "Local":
      return location.path
    case "S3":
      return `${location.scheme}://${location.bucket}${location.prefix === "" ? "" : `/${location.prefix}`}`
    case "Azure": {
      const authority = location.scheme === "abfss" ? `${location.container}@${location.host}` : location.container
      return `${location.scheme}://${authority}${location.prefix === "" ? "" : `/${location.prefix}`}`
    }
  }
}

/** `location` with `segments` appended (a local path is resolved against `baseDirectory`). */
export const joinLocation = (location: Location, segments: ReadonlyArray<string>, baseDirectory = "."): Location => {
  if (location._tag === "Local") return { _tag: "Local", path: NodePath.resolve(baseDirectory, location.path, ...segments) }
  const parts = [location.prefix, ...segments].flatMap((part) => part.split("/")).filter((part) => part !== "")
  return { ...location, prefix: parts.join("/") }
}

/** Whether the text names a local path (no URL scheme). */
export const isLocalLocation = (text: string): boolean => schemeOf(text) === undefined

/** The message for a location that does not parse, for the key `key`. */
export const locationProblem = (text: string): string | undefined => {
  const parsed = parseLocation(text)
  return Result.isFailure(parsed) ? `${parsed.failure}; expected ${acceptedLocationForms}` : undefined
}
