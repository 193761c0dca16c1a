/**
 * How the command line speaks: log lines for people (time, level for warnings and errors, message), and a
 * failure as one line with an exit status — 2 for bad configuration (including a missing secret), 1 for every
 * other failure — with the full cause only under `--verbose`.
 */
import { Cause, Logger } from "effect"

/** Tags of errors that mean "fix the configuration": exit status 2. */
const configurationTags = new Set([
  "ConfigFileError",
  "UnknownEnvironmentError",
  "SecretNotFoundError",
  "SecretReadError",
  "UsageError",
  "SecondStreamError"
])

/** Prints log lines as `HH:MM:SS message`, with the level for warnings and errors; to stderr. */
export const humanLogger = Logger.make((options) => {
  const time = options.date.toISOString().slice(11, 19)
  const level = options.logLevel === "Info" || options.logLevel === "Debug" ? "" : `${options.logLevel.toUpperCase()} `
  const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
  process.stderr.write(`${time} ${level}${message}\n`)
})

/** One line describing why a run failed, and the exit status to end with. */
export const describeFailure = (cause: Cause.Cause<unknown>, verbose: boolean): { readonly line: string; readonly exitCode: number } => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) {
    const error = failure.error as { _tag?: string; message?: string }
    const exitCode = error._tag !== undefined && configurationTags.has(error._tag) ? 2 : 1
    const text = typeof error.message === "string" && error.message !== "" ? error.message : String(failure.error)
    return { line: verbose ? `${text}\n${Cause.pretty(cause)}` : text, exitCode }
  }
  const defect = cause.reasons.find(Cause.isDieReason)
  const text = defect === undefined ? "stopped" : defect.defect instanceof Error ? defect.defect.message : String(defect.defect)
  return { line: verbose ? `internal error: ${text}\n${Cause.pretty(cause)}` : `internal error: ${text} (run with --verbose for details)`, exitCode: 1 }
}
