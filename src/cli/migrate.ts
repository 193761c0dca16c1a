/**
 * `kafka-delta migrate --from-spark-checkpoint PATH`: takes over a topic from the notebook's Spark query. Reads
 * the query's checkpoint (never writes it), checks that the job's table holds the last batch the checkpoint
 * says was written and that the query is not running, then writes one Delta commit with no data: the txns of
 * this stream at the offsets where Spark stopped, so `kafka-delta run` continues there. The table may be local or
 * on an object store (by its location, as `run` opens it); the Spark checkpoint is read from a local path only
 * for now, through `CheckpointFiles`, which an object store could implement later.
 */
import { Duration, Effect, Option } from "effect"
import * as Arrow from "apache-arrow"
import * as NodePath from "node:path"
import * as ConfigFile from "../../layers/config/environment-file.ts"
import * as DeltaSinkByLocation from "../../layers/delta-sink/by-location.ts"
import * as DeltaSinkFile from "../../layers/delta-sink/filesystem.ts"
import { KAFKA_COLUMN, kafkaField } from "../avro/index.ts"
import { describePlan, MigrationRefusedError, planMigration } from "../migrate/plan.ts"
import { type CheckpointFiles, plannedBatches, readSparkCheckpoint } from "../migrate/spark-checkpoint.ts"
import { hasKafkaColumn, layoutOfSchema } from "../pipeline/value-layout.ts"
import { jobStorageSettings } from "./storage.ts"

/** What `migrate` was asked. */
export interface MigrateOptions {
  readonly environment: string
  readonly topic: string
  readonly environmentsDir: string
  /** The Spark query's checkpointLocation. */
  readonly checkpoint: string
  readonly dryRun: boolean
  /** Seconds to watch the checkpoint for a new batch; 0: no watch. */
  readonly watchSeconds: number
  readonly addKafkaColumn: boolean
}

/** The checkpoint's files: a local directory (object store URLs come with the object storage issue). */
const checkpointFiles = (location: string): Effect.Effect<CheckpointFiles, { readonly _tag: "UsageError"; readonly message: string }> =>
  /^[a-z][a-z0-9+.-]*:\/\//i.test(location)
    ? Effect.fail({
      _tag: "UsageError",
      message: `--from-spark-checkpoint ${location}: object store checkpoints are not supported yet; copy the checkpoint directory to a local disk (migrate only reads it) and give that path`
    })
    : Effect.succeed(DeltaSinkFile.localStorage(NodePath.resolve(location), `Spark checkpoint ${location}`))

const print = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

/** Runs the migration (or with `dryRun`, prints its plan); fails with MigrationRefusedError when it must not. */
export const migrate = (options: MigrateOptions) =>
  Effect.scoped(Effect.gen(function*() {
    const job = yield* ConfigFile.make({
      environmentsDir: options.environmentsDir,
      environment: options.environment,
      topic: options.topic,
      trigger: "available-now"
    })
    const files = yield* checkpointFiles(options.checkpoint)
    const sink = yield* DeltaSinkByLocation.make({ ...job.writer, storage: yield* jobStorageSettings(job) })
    const refuse = (kind: MigrationRefusedError["kind"], reason: string) =>
      new MigrationRefusedError({ kind, checkpoint: files.location, table: job.table.name, reason })

    const checkpoint = yield* readSparkCheckpoint(files)
    const schema = Option.getOrUndefined(yield* sink.schema(job.table))
    if (schema === undefined) {
      return yield* refuse("table-behind", `there is no Delta table at ${job.table.location} (the environment's delta.warehouse, catalog, schema and table); the notebook's table must be there`)
    }
    const txnVersions = yield* sink.txnVersions(job.table, "")
    const planned = planMigration({ checkpoint, kafkaTopic: job.kafkaTopic, streamId: job.streamId, table: job.table.name, txnVersions })
    if (planned instanceof MigrationRefusedError) return yield* planned

    if (options.watchSeconds > 0) {
      const before = (yield* plannedBatches(files)).at(-1)
      yield* Effect.logInfo(`watching ${files.location}/offsets for ${options.watchSeconds} s: a new batch means the Spark query still runs (--no-watch to skip)`)
      yield* Effect.sleep(Duration.seconds(options.watchSeconds))
      const after = (yield* plannedBatches(files)).at(-1)
      if (after !== before) {
        return yield* refuse(
          "query-alive",
          `the Spark query planned batch ${after} during the ${options.watchSeconds} s watch: it is still running; stop the notebook's stream (query.stop()) and migrate again`
        )
      }
    }

    const layout = job.layout ?? layoutOfSchema(schema)
    const addKafka = options.addKafkaColumn && !hasKafkaColumn(schema)
    const lines = [
      `table ${job.table.name} (${job.table.location}), layout ${layout}${job.layout === undefined ? " (from its schema)" : " (delta.layout)"}`,
      ...describePlan(planned, job.streamId),
      ...(addKafka ? [`adds the nullable ${KAFKA_COLUMN} column to the table's schema (--add-kafka-column)`] : []),
      ...(layout === "columns" && !hasKafkaColumn(schema) && !addKafka
        ? [`note: the table has no ${KAFKA_COLUMN} column, which kafka-delta writes in the columns layout: pass --add-kafka-column, or set delta.layout to "value" if the table is the notebook's`]
        : [])
    ]
    for (const line of lines) yield* print(line)
    if (options.dryRun) {
      yield* print("dry run: nothing written")
      return
    }
    const commitSchema = addKafka ? new Arrow.Schema([...schema.fields, new Arrow.Field(KAFKA_COLUMN, kafkaField().type, true)]) : schema
    const result = yield* sink.append({
      table: job.table,
      schema: commitSchema,
      data: [],
      partitionBy: [],
      txns: planned.txns,
      operationParameters: planned.operationParameters,
      mergeSchema: addKafka
    })
    yield* print(
      `migrated: commit ${result.version} of ${job.table.name} holds the positions; the Spark checkpoint is untouched. Next: kafka-delta run --environment ${options.environment} --topic ${options.topic}`
    )
  }))
