/**
 * The live SchemaRegistry: Confluent's REST API over HTTP(S), with basic auth and an optional private CA.
 * Also speaks to Apicurio's Confluent-compatible API, which lives under a path prefix (`/apis/ccompat/v7`),
 * so paths are appended to the configured URL rather than replacing its path.
 *
 * Schemas by id never change once registered, so they are kept in a bounded LRU cache; latest-by-subject is
 * always asked anew. Transient failures (5xx, timeouts, network) are `RegistryUnavailableError` for the
 * pipeline's retry schedule; a short retry of our own can be switched on with `retry`. A schema id not found is
 * asked again a few times first (`notFoundRetry`): a lagging registry follower is not a bad record. An untrusted TLS
 * certificate is `RegistryTlsError`, fatal: asking again does not change the CA file.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Deferred, Duration, Effect, Exit, Layer, Redacted, Schedule, Schema, type Scope } from "effect"
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "effect/http"
import * as Fs from "node:fs/promises"
import { Config, ConfigFileError } from "../../src/services/Config.ts"
import {
  type RegisteredSchema,
  RegistryAuthError,
  type RegistryError,
  RegistryTlsError,
  RegistryUnavailableError,
  SchemaNotFoundError,
  SchemaRegistry,
  SchemaRejectedError,
  SubjectNotFoundError
} from "../../src/services/SchemaRegistry.ts"
import { type SecretNotFoundError, type SecretReadError, Secrets } from "../../src/services/Secrets.ts"

/** How to reach the registry. */
export interface HttpRegistryOptions {
  /** Base URL, possibly with a path prefix, e.g. `https://sr:8081` or `http://h:8080/apis/ccompat/v7`. */
  readonly url: string
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** PEM file of the CA that signed the registry's certificate (default: the system CAs). */
  readonly caFile?: string | undefined
  /** Per-request timeout (default 10 seconds). */
  readonly timeout?: Duration.Input | undefined
  /** A bounded retry of unavailable errors inside the layer (default: none, the pipeline retries). */
  readonly retry?: { readonly times: number; readonly initialDelay?: Duration.Input | undefined } | undefined
  /**
   * How often a 40403 (schema id not found) is asked again before the id counts as unknown (default 3 times,
   * from 100 ms): a follower of a replicated registry may not yet have a schema the leader just registered.
   */
  readonly notFoundRetry?: { readonly times: number; readonly initialDelay?: Duration.Input | undefined } | undefined
  /** How many schemas by id to keep (default 1000). */
  readonly cacheSize?: number | undefined
}

/** The media type Confluent's API speaks. */
export const contentType = "application/vnd.schemaregistry.v1+json"

const ErrorBody = Schema.Struct({ error_code: Schema.optional(Schema.Number), message: Schema.optional(Schema.String) })
const SchemaById = Schema.Struct({ schema: Schema.String })
const LatestVersion = Schema.Struct({ id: Schema.Number, schema: Schema.String })
const RegisterAnswer = Schema.Struct({ id: Schema.Number })

/** The URL as shown in messages: no user info, no trailing slash. */
export const displayUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    parsed.username = ""
    parsed.password = ""
    return parsed.toString().replace(/\/+$/, "")
  } catch {
    return url.replace(/\/\/[^/@]*@/, "//").replace(/\/+$/, "")
  }
}

/** A one-line description of a transport failure, following `cause` chains (undici nests the TLS error). */
export const describeFailure = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    if (typeof current === "object") {
      const { message, code, reason, cause } = current as { message?: unknown; code?: unknown; reason?: unknown; cause?: unknown }
      const text = typeof message === "string" && message.length > 0 ? message : undefined
      const tag = typeof code === "string" ? code : undefined
      const piece = [text, tag !== undefined && !text?.includes(tag) ? `(${tag})` : undefined].filter(Boolean).join(" ")
      if (piece.length > 0 && !parts.some((part) => part.includes(piece))) parts.push(piece)
      current = cause ?? (typeof reason === "object" ? reason : undefined)
    } else {
      parts.push(String(current))
      current = undefined
    }
  }
  const text = parts.join(": ")
  return text.length > 0 ? text : "unknown error"
}

/** Whether a transport failure's description is a TLS certificate the client does not trust. */
export const isUntrustedCertificate = (description: string): boolean =>
  /certificate|self[- ]signed|UNABLE_TO_VERIFY|CERT_/i.test(description)

/** Reads the CA file, failing with the config key and path. */
export const readCaFile = (file: string, key: string): Effect.Effect<string, ConfigFileError> =>
  Effect.tryPromise({
    try: () => Fs.readFile(file, "utf8"),
    catch: (error) =>
      new ConfigFileError({ file, problems: [{ path: key, problem: `cannot read CA file: ${describeFailure(error)}` }] })
  })

interface Answer {
  readonly status: number
  readonly body: unknown
}

/** A SchemaRegistry over HTTP; the connection pool lives as long as the scope. */
export const make = Effect.fnUntraced(function*(
  options: HttpRegistryOptions
): Effect.fn.Return<SchemaRegistry["Service"], ConfigFileError, Scope.Scope> {
  const registry = displayUrl(options.url)
  const badUrl = new ConfigFileError({
    file: registry,
    problems: [{
      path: "schemaRegistry.url",
      problem: "not an http(s) URL; expected e.g. https://registry:8081 or http://host:8080/apis/ccompat/v7"
    }]
  })
  const parsed = yield* Effect.try({ try: () => new URL(options.url), catch: () => badUrl })
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return yield* badUrl
  const username = options.username ?? (parsed.username === "" ? undefined : decodeURIComponent(parsed.username))
  const password = options.password ??
    (parsed.password === "" ? undefined : Redacted.make(decodeURIComponent(parsed.password)))
  const base = registry
  const timeout = Duration.fromInputUnsafe(options.timeout ?? "10 seconds")
  const cacheSize = Math.max(1, options.cacheSize ?? 1000)
  const ca = options.caFile === undefined ? undefined : yield* readCaFile(options.caFile, "schemaRegistry.caFile")
  const dispatcher = yield* NodeHttpClient.makeDispatcherOptions(ca === undefined ? {} : { connect: { ca } })
  const client = yield* NodeHttpClient.makeUndici.pipe(Effect.provideService(NodeHttpClient.Dispatcher, dispatcher))
  const authorization = username === undefined
    ? undefined
    : Redacted.make(`Basic ${Buffer.from(`${username}:${password === undefined ? "" : Redacted.value(password)}`).toString("base64")}`)
  const secretText = password === undefined ? undefined : Redacted.value(password)
  const scrub = (text: string): string =>
    secretText === undefined || secretText.length === 0 ? text : text.split(secretText).join("<redacted>")

  const unavailable = (reason: string) =>
    new RegistryUnavailableError({ registry, reason: scrub(reason).replace(/\s*\n\s*/g, " ") })

  const attempt = (request: HttpClientRequest.HttpClientRequest): Effect.Effect<Answer, RegistryError> =>
    Effect.gen(function*() {
      const response = yield* client.execute(request)
      const text = yield* response.text
      let body: unknown = text
      try {
        body = text.length === 0 ? undefined : JSON.parse(text)
      } catch {
        // keep the text: proxies may answer HTML
      }
      return { status: response.status, body }
    }).pipe(
      Effect.catchTag("HttpClientError", (error) => {
        const description = describeFailure(error)
        // a certificate we do not trust will not become trusted by asking again: fatal, naming the CA setting
        return Effect.fail(
          isUntrustedCertificate(description)
            ? new RegistryTlsError({ registry, reason: scrub(description).replace(/\s*\n\s*/g, " ") })
            : unavailable(description)
        )
      }),
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(unavailable(`no answer within ${Duration.format(timeout)}`))
      }),
      Effect.flatMap((answer): Effect.Effect<Answer, RegistryError> => {
        if (answer.status === 401 || answer.status === 403) {
          return Effect.fail(new RegistryAuthError({ registry, status: answer.status, user: username }))
        }
        if (answer.status >= 500) return Effect.fail(unavailable(`HTTP ${answer.status}${detail(answer)}`))
        return Effect.succeed(answer)
      })
    )

  const retry = options.retry
  const send = (request: HttpClientRequest.HttpClientRequest): Effect.Effect<Answer, RegistryError> => {
    let prepared = HttpClientRequest.setHeader(request, "accept", `${contentType}, application/json`)
    if (authorization !== undefined) {
      prepared = HttpClientRequest.setHeader(prepared, "authorization", Redacted.value(authorization))
    }
    const once = attempt(prepared)
    if (retry === undefined) return once
    return Effect.retry(once, {
      schedule: Schedule.exponential(retry.initialDelay ?? "200 millis").pipe(Schedule.jittered),
      times: retry.times,
      while: (error) => error._tag === "RegistryUnavailableError"
    })
  }

  const detail = (answer: Answer): string => {
    const decoded = Schema.decodeUnknownOption(ErrorBody)(answer.body)
    if (decoded._tag === "Some" && (decoded.value.error_code !== undefined || decoded.value.message !== undefined)) {
      return `: ${decoded.value.message ?? ""}${decoded.value.error_code === undefined ? "" : ` (error_code ${decoded.value.error_code})`}`
    }
    return typeof answer.body === "string" ? `: ${answer.body.slice(0, 200)}` : ""
  }
  const errorCode = (answer: Answer): number | undefined => {
    const decoded = Schema.decodeUnknownOption(ErrorBody)(answer.body)
    return decoded._tag === "Some" ? decoded.value.error_code : undefined
  }
  const decode = <A>(schema: Schema.Decoder<A>, answer: Answer, what: string): Effect.Effect<A, RegistryUnavailableError> =>
    Effect.mapError(
      Schema.decodeUnknownEffect(schema)(answer.body),
      () => unavailable(`unexpected answer to ${what} (HTTP ${answer.status}): ${JSON.stringify(answer.body)?.slice(0, 200)}`)
    )
  // A 404 without a Confluent error code means the URL is wrong (e.g. a missing path prefix), not that the
  // schema is unknown: treating it as "not found" would send every record to the bad-record policy.
  const wrongPath = (answer: Answer, what: string) =>
    unavailable(`HTTP 404 for ${what} without a schema registry error code; check schemaRegistry.url${detail(answer)}`)

  const cache = new Map<number, RegisteredSchema>()
  const remember = (schema: RegisteredSchema): void => {
    cache.delete(schema.id)
    cache.set(schema.id, schema)
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value!)
  }

  // Records carrying a new schema id tend to arrive together: they share one request.
  const inflight = new Map<number, Deferred.Deferred<RegisteredSchema, SchemaNotFoundError | RegistryError>>()

  const getById = (id: number): Effect.Effect<RegisteredSchema, SchemaNotFoundError | RegistryError> =>
    Effect.suspend(() => {
      const cached = cache.get(id)
      if (cached !== undefined) {
        remember(cached)
        return Effect.succeed(cached)
      }
      const waiting = inflight.get(id)
      if (waiting !== undefined) return Deferred.await(waiting)
      const deferred = Deferred.makeUnsafe<RegisteredSchema, SchemaNotFoundError | RegistryError>()
      inflight.set(id, deferred)
      return fetchById(id).pipe(Effect.onExit((exit) =>
        Effect.sync(() => {
          inflight.delete(id)
          // a caller that was interrupted must not interrupt the others waiting for the same id
          Deferred.doneUnsafe(
            deferred,
            Exit.hasInterrupts(exit) ? Exit.fail(unavailable(`lookup of schema id ${id} was interrupted`)) : exit
          )
        })
      ))
    })

  const notFoundRetry = options.notFoundRetry ?? { times: 3 }
  const fetchById = (id: number): Effect.Effect<RegisteredSchema, SchemaNotFoundError | RegistryError> =>
    Effect.suspend(() => {
      return send(HttpClientRequest.get(`${base}/schemas/ids/${id}`)).pipe(
        Effect.flatMap((answer): Effect.Effect<RegisteredSchema, SchemaNotFoundError | RegistryError> => {
          if (answer.status === 404) {
            return errorCode(answer) === 40403
              ? Effect.fail(new SchemaNotFoundError({ schemaId: id, registry }))
              : Effect.fail(wrongPath(answer, `schema id ${id}`))
          }
          if (answer.status !== 200) return Effect.fail(unavailable(`HTTP ${answer.status} for schema id ${id}${detail(answer)}`))
          return Effect.map(decode(SchemaById, answer, `schema id ${id}`), (body) => ({ id, schema: body.schema }))
        }),
        Effect.retry({
          schedule: Schedule.exponential(notFoundRetry.initialDelay ?? "100 millis"),
          times: notFoundRetry.times,
          while: (error) => error._tag === "SchemaNotFoundError"
        }),
        Effect.tap((schema) => Effect.sync(() => remember(schema)))
      )
    })

  const getLatest = (subject: string): Effect.Effect<RegisteredSchema, SubjectNotFoundError | RegistryError> =>
    send(HttpClientRequest.get(`${base}/subjects/${encodeURIComponent(subject)}/versions/latest`)).pipe(
      Effect.flatMap((answer): Effect.Effect<RegisteredSchema, SubjectNotFoundError | RegistryError> => {
        if (answer.status === 404) {
          const code = errorCode(answer)
          return code === 40401 || code === 40402
            ? Effect.fail(new SubjectNotFoundError({ subject, registry }))
            : Effect.fail(wrongPath(answer, `subject "${subject}"`))
        }
        if (answer.status !== 200) return Effect.fail(unavailable(`HTTP ${answer.status} for subject "${subject}"${detail(answer)}`))
        return Effect.map(decode(LatestVersion, answer, `subject "${subject}"`), (body) => ({ id: body.id, schema: body.schema }))
      }),
      Effect.tap((schema) => Effect.sync(() => remember(schema)))
    )

  const register = (subject: string, schema: string): Effect.Effect<number, SchemaRejectedError | RegistryError> =>
    send(
      HttpClientRequest.post(`${base}/subjects/${encodeURIComponent(subject)}/versions`).pipe(
        HttpClientRequest.bodyText(JSON.stringify({ schema }), contentType)
      )
    ).pipe(
      Effect.flatMap((answer): Effect.Effect<number, SchemaRejectedError | RegistryError> => {
        if (answer.status === 409 || answer.status === 422 || answer.status === 400) {
          return Effect.fail(new SchemaRejectedError({ subject, registry, reason: `HTTP ${answer.status}${detail(answer)}` }))
        }
        if (answer.status !== 200) return Effect.fail(unavailable(`HTTP ${answer.status} registering under "${subject}"${detail(answer)}`))
        return Effect.map(decode(RegisterAnswer, answer, `registration under "${subject}"`), (body) => body.id)
      })
    )

  return SchemaRegistry.of({ getById, getLatest, register })
})

/** The SchemaRegistry layer for explicit options. */
export const layer = (options: HttpRegistryOptions): Layer.Layer<SchemaRegistry, ConfigFileError> =>
  Layer.effect(SchemaRegistry, make(options))

/** The options the job's `schemaRegistry` section and its secrets describe. */
export const optionsFromConfig: Effect.Effect<
  HttpRegistryOptions,
  SecretNotFoundError | SecretReadError,
  Config | Secrets
> = Effect.gen(function*() {
  const job = yield* Config
  const secrets = yield* Secrets
  const section = job.schemaRegistry
  const username = section.username == null
    ? undefined
    : Redacted.value(yield* secrets.get(job.secrets.scope, section.username.secret))
  const password = section.password == null ? undefined : yield* secrets.get(job.secrets.scope, section.password.secret)
  return { url: section.url, username, password, caFile: section.caFile ?? undefined }
})

/** The SchemaRegistry layer for the job's `schemaRegistry` section, credentials read through Secrets. */
export const layerConfig: Layer.Layer<
  SchemaRegistry,
  ConfigFileError | SecretNotFoundError | SecretReadError,
  Config | Secrets
> = Layer.effect(SchemaRegistry, Effect.flatMap(optionsFromConfig, make))
