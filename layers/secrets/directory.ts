/**
 * Secrets from a directory, as Kubernetes mounts them: `(scope, key)` is the file `<directory>/<scope>/<key>`.
 * One trailing newline is dropped (editors and `echo` add it); the rest of the file is the value.
 */
import { Effect, Layer, Redacted } from "effect"
import * as Fs from "node:fs/promises"
import * as NodePath from "node:path"
import { SecretNotFoundError, SecretReadError, Secrets } from "../../src/services/Secrets.ts"

const isSafeName = (name: string): boolean => name !== "" && name !== "." && name !== ".." && !/[/\\]/.test(name)

/** Secrets read from files below `directory`. */
export const make = (directory: string): Secrets["Service"] =>
  Secrets.of({
    get: (scope, key) =>
      Effect.gen(function*() {
        const file = NodePath.resolve(directory, scope, key)
        if (!isSafeName(scope) || !isSafeName(key)) {
          return yield* new SecretReadError({ scope, key, lookedAt: directory, reason: "scope and key must be plain file names" })
        }
        const text = yield* Effect.tryPromise({
          try: () => Fs.readFile(file, "utf8"),
          catch: (error) => {
            const code = (error as NodeJS.ErrnoException).code
            return code === "ENOENT" || code === "ENOTDIR"
              ? new SecretNotFoundError({ scope, key, lookedAt: `file ${file}` })
              : new SecretReadError({ scope, key, lookedAt: `file ${file}`, reason: code ?? String(error) })
          }
        })
        return Redacted.make(text.endsWith("\n") ? text.slice(0, -1) : text, { label: `${scope}/${key}` })
      })
  })

/** The Secrets layer over a directory. */
export const layer = (directory: string): Layer.Layer<Secrets> => Layer.succeed(Secrets, make(directory))
