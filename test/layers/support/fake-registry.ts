/**
 * A small schema registry for unit tests, on a real local HTTP or HTTPS server: Confluent's paths under an
 * optional prefix, its error codes, basic auth, and switches for 5xx answers and slow answers.
 */
import * as Http from "node:http"
import * as Https from "node:https"
import type { AddressInfo } from "node:net"

/** What the fake saw and how it behaves next. */
export interface FakeRegistry {
  readonly url: string
  /** Answer the next `n` requests with HTTP 500. */
  failNext: number
  /** Answer the next `n` lookups of a schema by id with 40403 (a follower that has not seen it yet). */
  notFoundNext: number
  /** Delay every answer by this many milliseconds. */
  delayMillis: number
  /** Headers of every request, in order. */
  readonly requests: Array<{ readonly method: string; readonly path: string; readonly headers: Http.IncomingHttpHeaders; readonly body: string }>
  readonly close: () => Promise<void>
}

/** How to start the fake. */
export interface FakeRegistryOptions {
  readonly prefix?: string
  /** Require this user and password (basic auth). */
  readonly credentials?: { readonly user: string; readonly password: string }
  readonly tls?: { readonly key: string; readonly cert: string }
}

/** Starts the fake on 127.0.0.1 at a free port. */
export const startFakeRegistry = async (options: FakeRegistryOptions = {}): Promise<FakeRegistry> => {
  const prefix = options.prefix ?? ""
  const schemas = new Map<number, string>([[1, "{\"type\":\"string\"}"]])
  const subjects = new Map<string, Array<number>>([["orders-value", [1]]])
  const json = (response: Http.ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { "content-type": "application/vnd.schemaregistry.v1+json" })
    response.end(JSON.stringify(body))
  }
  const handle = (request: Http.IncomingMessage, response: Http.ServerResponse, body: string) => {
    const path = (request.url ?? "").startsWith(prefix) ? (request.url ?? "").slice(prefix.length) : "/not-under-prefix"
    if (options.credentials !== undefined) {
      const expected = `Basic ${Buffer.from(`${options.credentials.user}:${options.credentials.password}`).toString("base64")}`
      if (request.headers.authorization !== expected) return json(response, 401, { error_code: 401, message: "Unauthorized" })
    }
    if (fake.failNext > 0) {
      fake.failNext--
      return json(response, 500, { error_code: 50001, message: "Error in the backend data store" })
    }
    let match = /^\/schemas\/ids\/(\d+)$/.exec(path)
    if (request.method === "GET" && match !== null) {
      if (fake.notFoundNext > 0) {
        fake.notFoundNext--
        return json(response, 404, { error_code: 40403, message: "Schema not found" })
      }
      const schema = schemas.get(Number(match[1]))
      return schema === undefined
        ? json(response, 404, { error_code: 40403, message: "Schema not found" })
        : json(response, 200, { schema })
    }
    match = /^\/subjects\/([^/]+)\/versions\/latest$/.exec(path)
    if (request.method === "GET" && match !== null) {
      const subject = decodeURIComponent(match[1]!)
      const id = subjects.get(subject)?.at(-1)
      return id === undefined
        ? json(response, 404, { error_code: 40401, message: `Subject '${subject}' not found.` })
        : json(response, 200, { subject, version: subjects.get(subject)!.length, id, schema: schemas.get(id) })
    }
    match = /^\/subjects\/([^/]+)\/versions$/.exec(path)
    if (request.method === "POST" && match !== null) {
      if (request.headers["content-type"] !== "application/vnd.schemaregistry.v1+json") {
        return json(response, 415, { error_code: 415, message: "Unsupported Media Type" })
      }
      const subject = decodeURIComponent(match[1]!)
      let schema: string
      try {
        schema = JSON.stringify(JSON.parse((JSON.parse(body) as { schema: string }).schema))
      } catch {
        return json(response, 422, { error_code: 42201, message: "Invalid schema" })
      }
      let id = [...schemas].find(([, known]) => known === schema)?.[0]
      if (id === undefined) {
        id = schemas.size + 1
        schemas.set(id, schema)
      }
      const versions = subjects.get(subject) ?? []
      if (!versions.includes(id)) versions.push(id)
      subjects.set(subject, versions)
      return json(response, 200, { id })
    }
    json(response, 404, { error_code: 404, message: "HTTP 404 Not Found" })
  }
  const listener: Http.RequestListener = (request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8")
      fake.requests.push({ method: request.method ?? "", path: request.url ?? "", headers: request.headers, body })
      setTimeout(() => handle(request, response, body), fake.delayMillis)
    })
  }
  const server = options.tls === undefined ? Http.createServer(listener) : Https.createServer(options.tls, listener)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  const fake: FakeRegistry = {
    url: `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${port}${prefix}`,
    failNext: 0,
    notFoundNext: 0,
    delayMillis: 0,
    requests: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
  return fake
}
