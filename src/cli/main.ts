/**
 * The `kafka-delta` command line: `run` streams a topic of an environment into its Delta table, `demo` runs the
 * whole job on an embedded default. This is the composition root: the only place in `src/` that picks layers.
 */
// the modules themselves, not the package index: the index loads every platform module (a Redis client too)
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, Exit, Layer, Logger, Option, Runtime, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import * as ConfigFile from "../../layers/config/environment-file.ts"
import { Config } from "../services/Config.ts"
import { KafkaSource } from "../services/KafkaSource.ts"
import { checkJob } from "./check.ts"
import { demoEpilogue, demoLayers } from "./demo.ts"
import { defaultKafkaClient, deltaSinkLayer, liveLayers, secretsLayer } from "./live.ts"
import { applyMoves, formatMoves, formatStanding, type OffsetTarget, OffsetsUsageError, parseTarget, planMoves, readStanding } from "./offsets.ts"
import { observedRun, runWithGracePeriod } from "./run.ts"
import { migrate } from "./migrate.ts"
import { vacuum } from "./vacuum.ts"
import { describeFailure, humanLogger, jsonLogger, type LogFormat } from "./report.ts"
import { optimizeCommand } from "./optimize.ts"
import { checkpointStoreOnce } from "./storage.ts"

let exitCode = 0

const Positive = Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0)))

const verbose = Flag.Boolean("verbose").pipe(Flag.withDescription("Print the full cause of a failure"), Flag.withDefault(false))

/** Runs `program` with human (or JSON) logging; a failure becomes one line on stderr and the exit status. */
const runReporting = <E, R>(program: Effect.Effect<unknown, E, R>, isVerbose: boolean, logFormat: LogFormat = "human"): Effect.Effect<void, never, R> =>
  program.pipe(
    Effect.asVoid,
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause as Cause.Cause<never>)
        : Effect.sync(() => {
          const { line, exitCode: code } = describeFailure(cause, isVerbose)
          process.stderr.write(
            logFormat === "json"
              ? `${JSON.stringify({ time: new Date().toISOString(), level: "error", message: line, exitCode: code })}\n`
              : `kafka-delta: ${line}\n`
          )
          exitCode = code
        })
    ),
    Effect.provide(Logger.layer([logFormat === "json" ? jsonLogger : humanLogger]))
  )

/** An http(s) URL with a host, e.g. an OTLP/HTTP collector's `http://localhost:4318`. */
const HttpUrl = Schema.String.pipe(Schema.check(Schema.isPattern(/^https?:\/\/[^\s/?#]+(\/\S*)?$/)))

const Port = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 65535 })))

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
    metricsPort: Flag.Int("metrics-port").pipe(
      Flag.withDescription("Serve /metrics (Prometheus), /healthz and /readyz on this port (or metrics.port in the environment file)"),
      Flag.withSchema(Port),
      Flag.optional
    ),
    otlpEndpoint: Flag.String("otlp-endpoint").pipe(
      Flag.withDescription("Export metrics and one trace per batch to this OTLP/HTTP collector, e.g. http://localhost:4318"),
      Flag.withSchema(HttpUrl),
      Flag.optional
    ),
    logFormat: Flag.Literals("log-format", ["human", "json"]).pipe(
      Flag.withDescription("human: time and message; json: one object per line (time, level, message, fields)"),
      Flag.withDefault("human")
    ),
    progress: Flag.Literals("progress", ["none", "json"]).pipe(
      Flag.withDescription("json: print one Spark-like StreamingQueryProgress object per commit on stdout"),
      Flag.withDefault("none")
    ),
    verbose
  },
  (flags) =>
    runReporting(
      Effect.andThen(
        Effect.flatMap(Config, (job) =>
          Effect.logInfo(`kafka client: ${job.kafka.client ?? defaultKafkaClient}`).pipe(Effect.annotateLogs({ topic: job.kafkaTopic, table: job.table.name }))),
        observedRun(
        {
          metricsPort: Option.getOrUndefined(flags.metricsPort),
          otlpEndpoint: Option.getOrUndefined(flags.otlpEndpoint),
          progress: flags.progress
        },
        liveLayers
      )).pipe(
        Effect.provide(ConfigFile.layer({ environmentsDir: flags.environmentsDir, environment: flags.environment, topic: flags.topic, trigger: flags.trigger }))
      ),
      flags.verbose,
      flags.logFormat
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

const migrateCommand = Command.make(
  "migrate",
  {
    environment: Flag.String("environment").pipe(Flag.withDescription("Environment name: reads <environments-dir>/<name>.json (case-insensitive)")),
    topic: Flag.String("topic").pipe(Flag.withDescription("Topic name without the environment's topicPrefix")),
    environmentsDir: Flag.String("environments-dir").pipe(Flag.withDescription("Directory of environment files"), Flag.withDefault("environments")),
    fromSparkCheckpoint: Flag.String("from-spark-checkpoint").pipe(Flag.withDescription("The notebook query's checkpointLocation (a local directory; only read)")),
    dryRun: Flag.Boolean("dry-run").pipe(Flag.withDescription("Print the plan, write nothing"), Flag.withDefault(false)),
    watchSeconds: Flag.Int("watch-seconds").pipe(
      Flag.withDescription("How long to watch the checkpoint for a new batch of a still running query (default 30)"),
      Flag.withSchema(Positive),
      Flag.withDefault(30)
    ),
    noWatch: Flag.Boolean("no-watch").pipe(Flag.withDescription("Skip the watch (the query is known to be stopped)"), Flag.withDefault(false)),
    addKafkaColumn: Flag.Boolean("add-kafka-column").pipe(
      Flag.withDescription("Add kafka-delta's _kafka column (topic, partition, offset, timestamp, key) to the table's schema"),
      Flag.withDefault(false)
    ),
    verbose
  },
  (flags) =>
    runReporting(
     migrate({
        environment: flags.environment,
        topic: flags.topic,
        environmentsDir: flags.environmentsDir,
        checkpoint: flags.fromSparkCheckpoint,
        dryRun: flags.dryRun,
        watchSeconds: flags.noWatch ? 0 : flags.watchSeconds,
        addKafkaColumn: flags.addKafkaColumn
      }),
      flags.verbose
    )
).pipe(Command.withDescription("Continue a Spark Structured Streaming checkpoint (the notebook's) into the same table: one commit with the positions where Spark stopped"))

/** The layers of a command about one job of an environment file (Config from the file, and the live services). */
const jobLayers = (flags: { readonly environmentsDir: string; readonly environment: string; readonly topic: string }) =>
  Layer.unwrap(Effect.map(Config, liveLayers)).pipe(
    Layer.provideMerge(ConfigFile.layer({ environmentsDir: flags.environmentsDir, environment: flags.environment, topic: flags.topic, trigger: "available-now" }))
  )

const jobFlags = {
  environment: Flag.String("environment").pipe(Flag.withDescription("Environment name: reads <environments-dir>/<name>.json (case-insensitive)")),
  topic: Flag.String("topic").pipe(Flag.withDescription("Topic name without the environment's topicPrefix")),
  environmentsDir: Flag.String("environments-dir").pipe(Flag.withDescription("Directory of environment files"), Flag.withDefault("environments"))
}

const print = (text: string) => Effect.sync(() => void process.stdout.write(`${text}\n`))

const offsetsSet = Command.make(
  "set",
  {
    ...jobFlags,
    partition: Flag.Int("partition").pipe(Flag.withDescription("The partition to move (with --offset)"), Flag.optional),
    offset: Flag.Int("offset").pipe(Flag.withDescription("The offset the partition reads next (with --partition)"), Flag.optional),
    to: Flag.String("to").pipe(Flag.withDescription("Move every partition: earliest, latest, or an ISO 8601 time (the first record at or after it)"), Flag.optional),
    yes: Flag.Boolean("yes").pipe(Flag.withDescription("Write the plan (without it, only show it)"), Flag.withDefault(false)),
    verbose
  },
  (flags) =>
    runReporting(
      Effect.gen(function*() {
        const partition = Option.getOrUndefined(flags.partition)
        const offset = Option.getOrUndefined(flags.offset)
        const to = Option.getOrUndefined(flags.to)
        let target: OffsetTarget
        if (to !== undefined) {
          if (partition !== undefined || offset !== undefined) return yield* new OffsetsUsageError({ reason: "give either --to, or --partition with --offset, not both" })
          const parsed = parseTarget(to)
          if (parsed === undefined) return yield* new OffsetsUsageError({ reason: `--to ${JSON.stringify(to)} is not earliest, latest or an ISO 8601 time such as 2026-01-31T12:00:00Z` })
          target = parsed
        } else if (partition !== undefined && offset !== undefined && partition >= 0 && offset >= 0) {
          target = { _tag: "Partition", partition, offset }
        } else {
          return yield* new OffsetsUsageError({ reason: "give --partition P --offset N (both at least 0), or --to earliest|latest|<ISO time>" })
        }
        const job = yield* Config
        const standing = yield* readStanding
        const byTimestamp = target._tag === "Timestamp"
          ? new Map((yield* (yield* KafkaSource).offsetsForTimestamp(job.kafkaTopic, target.timestamp)).map((p) => [p.partition, p.offset]))
          : new Map<number, number>()
        const moves = yield* planMoves(standing, target, byTimestamp)
        yield* print(formatMoves(standing, moves))
        if (!flags.yes) return yield* print("dry run: nothing written; add --yes to write this")
        const described = target._tag === "Partition" ? `partition ${target.partition} offset ${target.offset}` : target._tag === "Timestamp" ? target.text : target._tag.toLowerCase()
        const version = yield* applyMoves(moves, described)
        yield* print(`written as table version ${version}`)
      }).pipe(Effect.provide(jobLayers(flags))),
      flags.verbose
    )
).pipe(Command.withDescription("Move the positions the table holds (rewind or skip), with a Delta commit of txns only; needs --yes"))

const offsetsCommand = Command.make(
  "offsets",
  {
    ...jobFlags,
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print JSON"), Flag.withDefault(false)),
    verbose
  },
  (flags) =>
    runReporting(
      Effect.gen(function*() {
        const standing = yield* readStanding
        yield* print(flags.json ? JSON.stringify(standing) : formatStanding(standing))
      }).pipe(Effect.provide(jobLayers(flags))),
      flags.verbose
    )
).pipe(
  Command.withDescription("Show per partition the table's position, the topic's earliest and latest offsets, the lag; the table's version and last commit"),
  Command.withSubcommands([offsetsSet])
)

const checkCommand = Command.make(
  "check",
  { ...jobFlags, verbose },
  (flags) =>
    runReporting(
      checkJob.pipe(
        Effect.tap((code) => Effect.sync(() => {
          exitCode = code
        })),
        Effect.provide(
          Layer.mergeAll(checkpointStoreOnce, deltaSinkLayer).pipe(
            Layer.provideMerge(secretsLayer),
            Layer.provideMerge(ConfigFile.layer({ environmentsDir: flags.environmentsDir, environment: flags.environment, topic: flags.topic, trigger: "continuous" }))
          )
        )
      ),
      flags.verbose
    )
).pipe(Command.withDescription("Check that a run could start: the file, its secrets, Kafka, the registry, the table and the checkpoint; say what it would do"))

const root = Command.make("kafka-delta").pipe(
  Command.withDescription("Stream Confluent-framed Avro from Kafka into Delta Lake tables, exactly once"),
  Command.withSubcommands([run, demo, vacuumCommand, optimizeCommand(runReporting, verbose), migrateCommand, offsetsCommand, checkCommand])
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
