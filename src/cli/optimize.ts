/**
 * `kafka-delta optimize`: compacts a table's small files into files near `delta.targetFileSize` (or
 * `--target-file-size`), one OPTIMIZE commit; `--dry-run` prints the plan and writes nothing. Safe while a stream
 * appends to the table; a concurrent optimize over the same files makes one of the two stop without committing.
 */
import { Effect, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { optimize } from "../delta/optimize.ts"
import { decodeAddPath } from "../delta/partition.ts"
import { openTargetTable } from "./storage.ts"

/** Which table, and how. */
export interface OptimizeCommandOptions {
  /** A table location; or the job's table when `environment` and `topic` are given. */
  readonly table: string | undefined
  readonly environment: string | undefined
  readonly topic: string | undefined
  readonly environmentsDir: string
  readonly dryRun: boolean
  readonly targetFileSize: number | undefined
}

const print = (line: string) => Effect.sync(() => void process.stdout.write(`${line}\n`))

/** Plans (and unless dry-run commits) the compaction of the table; prints one line per output file and a total. */
export const runOptimize = (options: OptimizeCommandOptions) =>
  Effect.scoped(Effect.gen(function*() {
    const { location, storage } = yield* openTargetTable("optimize", options)
    const result = yield* optimize(storage, {
      dryRun: options.dryRun,
      ...(options.targetFileSize === undefined ? {} : { targetFileSize: options.targetFileSize })
    })
    for (const bin of result.bins) {
      const first = decodeAddPath(bin.files[0]!.path)
      const directory = first.includes("/") ? first.slice(0, first.lastIndexOf("/")) : "(table root)"
      yield* print(`${options.dryRun ? "would compact" : "compacted"} ${bin.files.length} files (${bin.bytes} bytes) in ${directory} into 1`)
    }
    yield* Effect.logInfo(
      result.bins.length === 0
        ? `nothing to compact in ${location}: no partition has two files below the target size of ${result.targetFileSize} bytes`
        : options.dryRun
        ? `${result.filesRemoved} file(s) would become ${result.bins.length} (target ${result.targetFileSize} bytes; dry run, nothing written)`
        : `${result.filesRemoved} file(s), ${result.bytesRemoved} bytes, became ${result.filesAdded} file(s), ${result.bytesAdded} bytes, at version ${result.version} (${result.rows} rows)`
    )
    return result
  }))

const Positive = Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0)))

/** The `optimize` subcommand; `report` runs a handler with the CLI's failure reporting. */
export const optimizeCommand = (
  report: <E, R>(program: Effect.Effect<unknown, E, R>, verbose: boolean) => Effect.Effect<void, never, R>,
  verbose: Flag.Flag<boolean>
) =>
  Command.make(
    "optimize",
    {
      table: Flag.String("table").pipe(Flag.withDescription("Table location (or give --environment and --topic)"), Flag.optional),
      environment: Flag.String("environment").pipe(Flag.withDescription("Environment of the job whose table to optimize"), Flag.optional),
      topic: Flag.String("topic").pipe(Flag.withDescription("Topic of the job whose table to optimize"), Flag.optional),
      environmentsDir: Flag.String("environments-dir").pipe(Flag.withDescription("Directory of environment files"), Flag.withDefault("environments")),
      dryRun: Flag.Boolean("dry-run").pipe(Flag.withDescription("Print the plan, write nothing"), Flag.withDefault(false)),
      targetFileSize: Flag.Int("target-file-size").pipe(
        Flag.withDescription("Bytes per output file (default: the table's delta.targetFileSize, else 134217728)"),
        Flag.withSchema(Positive),
        Flag.optional
      ),
      verbose
    },
    (flags) =>
      report(
        runOptimize({
          table: Option.getOrUndefined(flags.table),
          environment: Option.getOrUndefined(flags.environment),
          topic: Option.getOrUndefined(flags.topic),
          environmentsDir: flags.environmentsDir,
          dryRun: flags.dryRun,
          targetFileSize: Option.getOrUndefined(flags.targetFileSize)
        }),
        flags.verbose
      )
  ).pipe(Command.withDescription("Compact small data files into files near the target size (one OPTIMIZE commit)"))
