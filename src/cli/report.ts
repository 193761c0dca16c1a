/**
 * How the command line speaks: log lines for people (time, level for warnings and errors, message), and a
 * failure as one line with an exit status — 2 for bad configuration (including a missing secret, and a table or
 * checkpoint path that cannot be written), 1 for every other failure — with the full cause only under `--verbose`.
 */
import { Cause, Logger } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"

/** Tags of errors that mean "fix the configuration": exit status 2. */
const configurationTags = new Set([
  "ConfigFileError",
  "UnknownEnvironmentError",
  "SecretNotFoundError",
  "SecretReadError",
  "UsageError",
  "SecondStreamError",
  "MigrationRefusedError",
  "SparkCheckpointError",
  "MetricsPortError"
])

/** The user this process runs as, for "make it writable by ...". */
const currentUser = (): string => {
  const uid = process.getuid?.()
  try {
    return `${Os.userInfo().username}${uid === undefined ? "" : ` (uid ${uid})`}`
  } catch {
    return uid === undefined ? "this process's user" : `uid ${uid}`
  }
}

/** The nearest existing ancestor of `path` (itself included) that is not a directory, if any. */
const fileInTheWay = (path: string): string | undefined => {
  for (let current = path; ; current = NodePath.dirname(current)) {
    try {
      if (!Fs.statSync(current).isDirectory()) return current
    } catch {
      // missing: look further up
    }
    if (NodePath.dirname(current) === current) return undefined
  }
}

/**
 * A storage failure that a person fixes in the file system or the configuration (permissions, a read-only
 * disk, a file where a directory belongs): one line saying which path and what to do, or undefined.
 */
export const describeStorageFailure = (error: { _tag?: string; reason?: unknown; path?: unknown }): string | undefined => {
  const what = error._tag === "CheckpointIoError" ? "checkpoint" : error._tag === "DeltaStorageError" ? "table" : undefined
  if (what === undefined || typeof error.reason !== "string") return undefined
  const code = /\b(EACCES|EPERM|EROFS|ENOTDIR)\b/.exec(error.reason)?.[1]
  if (code === undefined) return undefined
  const key = what === "checkpoint" ? "checkpoints" : "delta.warehouse"
  // the syscall's own path ("mkdir '/x/y'") is the one that failed; the error's path is where we were writing
  const path = /'([^']+)'/.exec(error.reason)?.[1] ?? (typeof error.path === "string" ? error.path : "(unknown path)")
  switch (code) {
    case "EACCES":
    case "EPERM": {
      // the directory lacking the permission is the nearest one that exists (mkdir names the missing leaf)
      let parent = path
      while (!Fs.existsSync(parent) && NodePath.dirname(parent) !== parent) parent = NodePath.dirname(parent)
      return `cannot write the ${what} at ${path}: permission denied (${code}); make ${parent} writable by user ${currentUser()}, or set ${key} to a directory that is`
    }
    case "EROFS":
      return `cannot write the ${what} at ${path}: the file system is read-only (EROFS); set ${key} to a directory on a writable disk`
    case "ENOTDIR": {
      const file = fileInTheWay(path) ?? path
      return `cannot write the ${what} at ${path}: ${file} is a file, but ${key === "checkpoints" ? "checkpoints" : "tables"} must be directories (ENOTDIR); move the file away or set ${key} to another path`
    }
  }
  return undefined
}

/** Prints log lines as `HH:MM:SS message`, with the level for warnings and errors; to stderr. */
export const humanLogger = Logger.make((options) => {
  const time = options.date.toISOString().slice(11, 19)
  const level = options.logLevel === "Info" || options.logLevel === "Debug" ? "" : `${options.logLevel.toUpperCase()} `
  const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
  process.stderr.write(`${time} ${level}${message}\n`)
})

/** How log lines are printed: for people, or one JSON object per line. */
export type LogFormat = "human" | "json"

/**
 * Prints log lines as one JSON object each (`time`, `level`, `message`, then the log annotations as fields:
 * topic, table, partition, offsets, version), to stderr; built on Effect's structured log format.
 */
export const jsonLogger = Logger.map(Logger.formatStructured, (entry) => {
  const message = Array.isArray(entry.message) ? entry.message.map(String).join(" ") : String(entry.message)
  const line = JSON.stringify({
    time: entry.timestamp,
    level: entry.level.toLowerCase(),
    message,
    ...entry.annotations,
    ...(entry.cause === undefined ? {} : { cause: entry.cause })
  })
  process.stderr.write(`${line}\n`)
})

/** One line describing why a run failed, and the exit status to end with. */
export const describeFailure = (cause: Cause.Cause<unknown>, verbose: boolean): { readonly line: string; readonly exitCode: number } => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) {
    const error = failure.error as { _tag?: string; message?: string; reason?: unknown; path?: unknown }
    // a path that is not writable, or a file where a directory belongs, is fixed like configuration: status 2
    const storage = describeStorageFailure(error)
    const exitCode = storage !== undefined || (error._tag !== undefined && configurationTags.has(error._tag)) ? 2 : 1
    const text = storage ?? (typeof error.message === "string" && error.message !== "" ? error.message : String(failure.error))
    return { line: verbose ? `${text}\n${Cause.pretty(cause)}` : text, exitCode }
  }
  const defect = cause.reasons.find(Cause.isDieReason)
  const text = defect === undefined ? "stopped" : defect.defect instanceof Error ? defect.defect.message : String(defect.defect)
  return { line: verbose ? `internal error: ${text}\n${Cause.pretty(cause)}` : `internal error: ${text} (run with --verbose for details)`, exitCode: 1 }
}
