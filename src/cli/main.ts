/**
 * The `kafka-delta` command line: `run` streams a topic of an environment into its Delta table, `demo` runs the
 * whole job on an embedded default. This is the composition root: the only place in `src/` that picks layers.
 */
// the modules themselves, not the package index: the index loads every platform module (a Redis client too)
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Duration, Effect, Exit, Layer, Logger, Option, Runtime, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { runStream } from "../pipeline/stream.ts"
import { Config } from "../services/Config.ts"
import { logReporter } from "../pipeline/progress.ts"
import { avroCodec } from "../pipeline/avro-codec.ts"
import { demoEpilogue, demoLayers } from "./demo.ts"
import { defaultKafkaClient, liveLayersFromFile } from "./live.ts"
import { vacuum } from "./vacuum.ts"
import { describeFailure, humanLogger } from "./report.ts"

let exitCode = 0

const Positive = Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0)))

const verbose = Flag.Boolean("verbose").pipe(Flag.withDescription("Print the full cause of a failure"), Flag.withDefault(false))

/** Runs `program` with human logging; a failure becomes one line on stderr and the exit status. */
const runReporting = <E, R>(program: Effect.Effect<unknown, E, R>, isVerbose: boolean): Effect.Effect<void, never, R> =>
  program.pipe(
    Effect.asVoid,
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause as Cause.Cause<never>)
        : Effect.sync(() => {
          const { line, exitCode: code } = describeFailure(cause, isVerbose)
          process.stderr.write(`kafka-delta: ${line}\n`)
          exitCode = code
        })
    ),
    Effect.provide(Logger.layer([humanLogger]))
  )

/**
 * After SIGTERM or SIGINT the stream is interrupted and an in-flight commit runs to its end; if that takes longer
 * than `stream.gracePeriod` the process leaves with status 1. Nothing is half-committed either way: a commit
 * file is created whole or not at all, and an abandoned batch is read again next run.
 */
const armGracePeriod = (millis: number): void => {
  const arm = (signal: string) => {
    setTimeout(() => {
      process.stderr.write(`kafka-delta: the in-flight commit did not finish within the grace period of ${millis / 1000} s after ${signal}; leaving it (its batch is read again next run)\n`)
      process.exit(1)
    }, millis).unref()
  }
  process.once("SIGTERM", () => arm("SIGTERM"))
  process.once("SIGINT", () => arm("SIGINT"))
}

const runWithGracePeriod = Effect.gen(function*() {
  const job = yield* Config
  armGracePeriod(Duration.toMillis(job.stream.gracePeriod))
  return yield* runStream({ codec: avroCodec, reporter: logReporter })
})

const run = Command.make(
  "run",
  {
    environment: Flag.String("environment").pipe(Flag.withDescription("Environment name: reads <environments-dir>/<name>.json (case-insensitive)")),
    topic: Flag.String("topic").pipe(Flag.withDescription("Topic name without the environment's topicPrefix")),
    environmentsDir: Flag.String("environments-dir").pipe(Flag.withDescription("Directory of environment files"), Flag.withDefault("environments")),
    trigger: Flag.Literals("trigger", ["continuous", "available-now"]).pipe(
      Flag.withDescription("continuous: run until stopped; available-now: drain what exists at start, commit, exit"),
      Flag.withDefault("continuous")
    ),
    verbose
  },
  (flags) =>
    runReporting(
      Effect.andThen(
        Effect.flatMap(Config, (job) => Effect.logInfo(`kafka client: ${job.kafka.client ?? defaultKafkaClient}`)),
        runWithGracePeriod
      ).pipe(
        Effect.provide(liveLayersFromFile({ environmentsDir: flags.environmentsDir, environment: flags.environment, topic: flags.topic, trigger: flags.trigger }))
      ),
      flags.verbose
    )
).pipe(Command.withDescription("Stream a Kafka topic of an environment into its Delta table"))

const demo = Command.make(
  "demo",
  {
    output: Flag.String("output").pipe(Flag.withDescription("Directory for the demo's table and checkpoint"), Flag.withDefault("demo-output")),
    records: Flag.Int("records").pipe(Flag.withDescription("How many events to generate"), Flag.withSchema(Positive), Flag.withDefault(20_000)),
    partitions: Flag.Int("partitions").pipe(Flag.withDescription("Partitions of the demo topic"), Flag.withSchema(Positive), Flag.withDefault(3)),
    trigger: Flag.Literals("trigger", ["continuous", "available-now"]).pipe(
      Flag.withDescription("available-now (default): drain and exit; continuous: keep running until SIGTERM/SIGINT"),
      Flag.withDefault("available-now")
    ),
    verbose
  },
  (flags) => {
    const options = {
      output: flags.output,
      records: flags.records,
      partitions: flags.partitions,
      maxBatchRecords: 10_000,
      trigger: flags.trigger
    }
    return runReporting(
      runWithGracePeriod.pipe(
        Effect.provide(Layer.unwrap(Effect.sync(() => demoLayers(options)))),
        Effect.andThen(demoEpilogue(options))
      ),
      flags.verbose
    )
  }
).pipe(Command.withDescription("Run the job on an in-memory Kafka and registry with generated events, writing a real Delta table"))

const vacuumCommand = Command.make(
  "vacuum",
  {
    table: Flag.String("table").pipe(Flag.withDescription("Table location (or give --environment and --topic)"), Flag.optional),
    environment: Flag.String("environment").pipe(Flag.withDescription("Environment of the job whose table to vacuum"), Flag.optional),
    topic: Flag.String("topic").pipe(Flag.withDescription("Topic of the job whose table to vacuum"), Flag.optional),
    environmentsDir: Flag.String("environments-dir").pipe(Flag.withDescription("Directory of environment files"), Flag.withDefault("environments")),
    dryRun: Flag.Boolean("dry-run").pipe(Flag.withDescription("List the unreferenced files, delete nothing"), Flag.withDefault(false)),
    retentionHours: Flag.Int("retention-hours").pipe(
      Flag.withDescription("Only delete unreferenced files older than this (default 168, one week)"),
      Flag.withSchema(Positive),
      Flag.withDefault(168)
    ),
    verbose
  },
  (flags) =>
    runReporting(
      vacuum({
        table: Option.getOrUndefined(flags.table),
        environment: Option.getOrUndefined(flags.environment),
        topic: Option.getOrUndefined(flags.topic),
        environmentsDir: flags.environmentsDir,
        dryRun: flags.dryRun,
        retentionHours: flags.retentionHours
      }),
      flags.verbose
    )
).pipe(Command.withDescription("List (--dry-run) or delete data files no commit references, e.g. from a batch that crashed before its commit"))

const root = Command.make("kafka-delta").pipe(
  Command.withDescription("Stream Confluent-framed Avro from Kafka into Delta Lake tables, exactly once"),
  Command.withSubcommands([run, demo, vacuumCommand])
)

/** Runs the command line with `process.argv` and exits. */
export const main = (): void =>
  root.pipe(
    Command.run({ version: "0.1.0" }),
    Effect.provide(NodeServices.layer),
    NodeRuntime.runMain({
      teardown: (exit, onExit) => {
        if (Exit.isSuccess(exit)) return onExit(exitCode)
        if (Cause.hasInterruptsOnly(exit.cause)) return onExit(exitCode)
        // handlers report their own failures, so what reaches here is a command-line usage error
        if (exit.cause.reasons.some(Cause.isFailReason)) return onExit(2)
        return Runtime.defaultTeardown(exit, onExit)
      }
    })
  )
