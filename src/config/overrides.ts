/**
 * Environment-variable overrides of environment-file keys: `KAFKA_DELTA_<PATH>` where PATH is the key path in
 * upper case joined by `_` (`kafka.bootstrapServers` -> `KAFKA_DELTA_KAFKA_BOOTSTRAPSERVERS`). Values are read
 * as the key's type: numbers and booleans parsed, JSON objects for secret references and offsets.
 */
import { defaultRetry } from "./job.ts"

type ValueKind = "string" | "nullable-string" | "number" | "boolean" | "json"

/** Every key that can be overridden, with how its text is read. */
export const overridableKeys: Readonly<Record<string, ValueKind>> = {
  "environment": "string",
  "kafka.bootstrapServers": "string",
  "kafka.securityProtocol": "string",
  "kafka.saslMechanism": "string",
  "kafka.username": "json",
  "kafka.password": "json",
  "kafka.caFile": "nullable-string",
  "kafka.topicPrefix": "string",
  "kafka.groupIdPrefix": "string",
  "kafka.client": "string",
  "schemaRegistry.url": "string",
  "schemaRegistry.username": "json",
  "schemaRegistry.password": "json",
  "schemaRegistry.caFile": "nullable-string",
  "secrets.scope": "string",
  "secrets.provider": "string",
  "secrets.directory": "string",
  "delta.warehouse": "string",
  "delta.catalog": "string",
  "delta.schema": "string",
  "delta.table": "string",
  "delta.partitionBy": "json",
  "delta.targetFileSize": "number",
  "delta.compression": "string",
  "delta.checkpointInterval": "number",
  "delta.layout": "string",
  "delta.autoCompact": "json",
  "checkpoints": "string",
  "stream.startingOffsets": "json",
  "stream.failOnDataLoss": "boolean",
  "stream.maxBatchRecords": "number",
  "stream.maxBatchBytes": "number",
  "stream.maxBatchInterval": "string",
  "stream.onBadRecord": "string",
  "stream.gracePeriod": "string",
  "stream.adoptPositionsFrom": "string",
  "stream.allowSecondStream": "boolean",
  "stream.scaleOut": "string",
  "stream.groupId": "string",
  "stream.retry.initialDelay": "string",
  "stream.retry.maxDelay": "string",
  "stream.retry.maxAttempts": "number",
  "metrics.port": "number"
}

/** The environment variable that overrides `path`. */
export const overrideVariable = (path: string): string => `KAFKA_DELTA_${path.replaceAll(".", "_").toUpperCase()}`

/**
 * Sections that are optional as a whole but whose keys are all required once it is there: an override of one
 * key in a file without the section starts from these defaults, so it does not ask for the others.
 */
const sectionDefaults: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  "stream.retry": defaultRetry
}

/** A variable meant as JSON (it starts like an object, array or string) that does not parse. */
class MalformedJson {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

const parseValue = (kind: ValueKind, text: string): unknown => {
  switch (kind) {
    case "string":
      return text
    case "nullable-string":
      return text === "" || text === "null" ? null : text
    case "number": {
      const value = Number(text)
      return text.trim() !== "" && Number.isFinite(value) ? value : text
    }
    case "boolean":
      return text === "true" ? true : text === "false" ? false : text
    case "json":
      try {
        return JSON.parse(text)
      } catch (error) {
        // bare text (`earliest`) is the value itself; text that starts like JSON was meant as JSON
        return /^\s*[{["]/.test(text) ? new MalformedJson(error instanceof Error ? error.message : String(error)) : text
      }
  }
}

/** An override whose text cannot be read as its key's type. */
export interface OverrideProblem {
  readonly path: string
  readonly variable: string
  readonly problem: string
}

/** One override that was applied, for the start-up log. */
export interface AppliedOverride {
  readonly path: string
  readonly variable: string
}

/**
 * Returns a copy of `file` (parsed JSON) with every override found in `env` applied, and the list of what was
 * applied, and the overrides that could not be read. Objects on the way to a key are created when the file lacks
 * them (from `sectionDefaults` where a section has them).
 */
export const applyOverrides = (
  file: unknown,
  env: Readonly<Record<string, string | undefined>>
): {
  readonly value: unknown
  readonly applied: ReadonlyArray<AppliedOverride>
  readonly problems: ReadonlyArray<OverrideProblem>
} => {
  const root: Record<string, unknown> = structuredClone(
    file !== null && typeof file === "object" && !Array.isArray(file) ? file as Record<string, unknown> : {}
  )
  const applied: Array<AppliedOverride> = []
  const problems: Array<OverrideProblem> = []
  for (const [path, kind] of Object.entries(overridableKeys)) {
    const variable = overrideVariable(path)
    const text = env[variable]
    if (text === undefined) continue
    const value = parseValue(kind, text)
    if (value instanceof MalformedJson) {
      problems.push({ path, variable, problem: `${variable} is not valid JSON: ${value.reason}` })
      continue
    }
    const segments = path.split(".")
    let node = root
    segments.slice(0, -1).forEach((segment, index) => {
      const next = node[segment]
      if (next === null || typeof next !== "object" || Array.isArray(next)) {
        node[segment] = { ...sectionDefaults[segments.slice(0, index + 1).join(".")] }
      }
      node = node[segment] as Record<string, unknown>
    })
    node[segments[segments.length - 1]!] = value
    applied.push({ path, variable })
  }
  return { value: root, applied, problems }
}
