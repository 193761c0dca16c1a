/**
 * `kafka-delta check`: everything a run needs, tried once without running — the environment file, every secret
 * it names (resolved, never printed), the broker and the topic, the registry, the table's protocol, schema and
 * positions, the checkpoint's lock — then what a run would do per partition. A failing step ends the check with
 * the exit status a run would end with (2 for configuration, 1 for the rest); no retries, so it answers quickly.
 */
import { Effect, Option } from "effect"
import * as KafkaJs from "../../layers/kafka/kafkajs.ts"
import * as RegistryHttp from "../../layers/schema-registry/http.ts"
import { checkSupported, readSnapshot } from "../delta/log.ts"
import { planStart, streamIdentity } from "../pipeline/positions.ts"
import { CheckpointStore } from "../services/CheckpointStore.ts"
import { Config } from "../services/Config.ts"
import { DeltaSink } from "../services/DeltaSink.ts"
import { Secrets } from "../services/Secrets.ts"
import { jobTableStorage } from "./storage.ts"

const say = (text: string) => Effect.sync(() => void process.stdout.write(`${text}\n`))

/** Runs every check of the configured job, printing one line per step; fails with the first failing step's error. */
export const checkJob = Effect.gen(function*() {
  const job = yield* Config
  yield* say(`ok   environment file ${job.source}: ${job.environment}, topic ${job.kafkaTopic} -> ${job.table.name}`)

  const secrets = yield* Secrets
  const references = [
    ["kafka.username", job.kafka.username],
    ["kafka.password", job.kafka.password],
    ["schemaRegistry.username", job.schemaRegistry.username],
    ["schemaRegistry.password", job.schemaRegistry.password]
  ] as const
  for (const [key, reference] of references) {
    if (reference == null) continue
    yield* secrets.get(job.secrets.scope, reference.secret)
    yield* say(`ok   secret ${job.secrets.scope}/${reference.secret} (${key}) resolved`)
  }

  const source = yield* KafkaJs.make(yield* KafkaJs.optionsFromConfig)
  const ranges = yield* source.offsets(job.kafkaTopic)
  yield* say(`ok   Kafka ${job.kafka.bootstrapServers} (${job.kafka.securityProtocol}): topic ${job.kafkaTopic} has ${ranges.length} partitions`)

  const registry = yield* RegistryHttp.make(yield* RegistryHttp.optionsFromConfig)
  const subject = `${job.kafkaTopic}-value`
  const latest = yield* registry.getLatest(subject).pipe(
    Effect.map(Option.some),
    Effect.catchTag("SubjectNotFoundError", () => Effect.succeed(Option.none()))
  )
  yield* say(
    `ok   registry ${RegistryHttp.displayUrl(job.schemaRegistry.url)}: ${
      Option.match(latest, {
        onNone: () => `no subject ${subject} (records name their schema ids; the run looks each up)`,
        onSome: (schema) => `subject ${subject} at schema id ${schema.id}`
      })
    }`
  )

  const storage = yield* jobTableStorage(job)
  const snapshot = yield* readSnapshot(storage)
  if (Option.isNone(snapshot)) {
    yield* say(`ok   table ${job.table.name} does not exist yet at ${job.table.location}: the first commit creates it`)
  } else {
    yield* checkSupported(storage, snapshot.value)
    const protocol = snapshot.value.protocol
    yield* say(
      `ok   table ${job.table.name} version ${snapshot.value.version}: protocol reader ${protocol.minReaderVersion} writer ${protocol.minWriterVersion}, ${snapshot.value.schema.fields.length} columns${
        job.partitionBy.length === 0 ? "" : `, partitioned by ${job.partitionBy.join(", ")}`
      }`
    )
  }
  yield* streamIdentity(job)
  const sink = yield* DeltaSink
  const txnVersions = yield* sink.txnVersions(job.table, "")

  const checkpoint = yield* CheckpointStore
  yield* Effect.scoped(checkpoint.acquire)
  yield* say(`ok   checkpoint ${checkpoint.location} is free (no stream holds it)`)

  const plan = planStart({
    streamId: job.streamId,
    topics: [job.kafkaTopic, job.topic],
    txnVersions,
    partitions: ranges,
    startingOffsets: job.stream.startingOffsets
  })
  const byPartition = new Map(ranges.map((range) => [range.partition, range]))
  const lines = [...plan.positions].sort(([a], [b]) => a - b).map(([partition, position]) => {
    const latest = byPartition.get(partition)?.latest ?? position
    const origin = plan.origins.get(partition) === "table" ? "from the table" : `from startingOffsets ${JSON.stringify(job.stream.startingOffsets)}`
    return `       partition ${partition}: start at ${position} (${origin}), ${Math.max(0, latest - position)} records to read now`
  })
  yield* say(`ok   a ${job.stream.trigger} run would read ${job.kafkaTopic} into ${job.table.name} (${[...plan.origins.values()].filter((o) => o === "table").length} of ${ranges.length} partitions positioned by the table):`)
  for (const line of lines) yield* say(line)
  for (const lost of plan.lost) {
    yield* say(
      `${job.stream.failOnDataLoss ? "FAIL" : "warn"} partition ${lost.partition}: the table expects offset ${lost.expected}, the topic holds ${lost.available}${
        job.stream.failOnDataLoss ? " (failOnDataLoss=true: the run would stop)" : ` (failOnDataLoss=false: the run would lose ${lost.lostOffsets} offsets)`
      }`
    )
  }
  return job.stream.failOnDataLoss && plan.lost.length > 0 ? 1 : 0
}).pipe(Effect.scoped)
