/**
 * The pipeline's view of decoding: Confluent framing, writer schemas by registry id (fetched once per id and
 * turned into an Avro decoder and an Arrow schema once per id), and segment builders that decode record bodies
 * straight into Arrow column accumulators. An unknown id is a bad record; a schema the table cannot take stops
 * the stream. A lookup that fails for a passing reason (registry unavailable) is not retried here: it ends the
 * session, whose retry is the one loop for every transient failure (a retry here too multiplied the attempts by
 * the session's and by the partitions looking up the same id: 293 warnings for one unreachable registry).
 */
import type * as Arrow from "apache-arrow"
import { Clock, Duration, Effect, Schema } from "effect"
import { SchemaRegistry } from "../services/SchemaRegistry.ts"
import type { KafkaRecord } from "../services/KafkaSource.ts"

/** A writer schema ready to decode with. */
export interface WriterSchema {
  readonly id: number
  /** Value columns plus `_kafka`. */
  readonly arrowSchema: Arrow.Schema
}

/** Rows being decoded into columns for one schema. */
export interface SegmentBuilder {
  readonly schema: Arrow.Schema
  readonly rowCount: number
  readonly byteSize: number
  /** Decodes one record body; returns a reason when it cannot be a row (the builder is then unchanged). */
  readonly append: (writer: WriterSchema, record: KafkaRecord, bodyOffset: number, topic: string, partition: number) => string | undefined
  /** The rows as an Arrow table; the builder is empty afterwards. */
  readonly finish: () => Arrow.Table
}

/** A writer schema the table cannot take (union of several types, recursion, name clash ...). Fatal. */
export class UnsupportedSchemaError extends Schema.TaggedError<UnsupportedSchemaError>()("UnsupportedSchemaError", {
  schemaId: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `writer schema id ${this.schemaId} cannot be written to a Delta table: ${this.reason}`
  }
}

/** The decoding functions the pipeline uses; bound to `src/avro` by `avroCodec`. */
export interface Codec {
  /** Reads Confluent framing: the schema id and where the body starts, or why it is not a framed record. */
  readonly frame: (value: Uint8Array | null) => { readonly schemaId: number; readonly bodyOffset: number } | { readonly reason: string }
  /** Prepares a writer schema from its Avro text. */
  readonly writerSchema: (id: number, avroSchema: string) => WriterSchema | { readonly reason: string }
  /** A builder for rows of `schema`. */
  readonly builder: (schema: Arrow.Schema) => SegmentBuilder
  /**
   * `base` widened by the nullable fields of `next` it lacks; `undefined` when `next` adds nothing; the problems
   * (type changes, required fields added or missing) when `next` cannot be merged.
   */
  readonly widen: (base: Arrow.Schema, next: Arrow.Schema) => Arrow.Schema | undefined | { readonly problems: ReadonlyArray<string> }
}

/** The result of looking up a schema id. */
export type SchemaLookup = WriterSchema | { readonly unknownId: number; readonly reason: string }

/** How long a session takes an id the registry does not know for unknown before it asks again. */
export const unknownIdTtl = Duration.seconds(30)

/**
 * Writer schemas by id: one registry lookup and one decoder per id for the life of the session. An id the
 * registry does not know (after the registry layer's own retries) is taken for unknown for `unknownFor`: every
 * fetch holding it would otherwise wait for those retries again, while a schema registered since is still found
 * soon enough (the records meanwhile go to the bad-record policy, as they would have).
 */
export const makeSchemaCache = (codec: Codec, unknownFor: Duration.Input = unknownIdTtl) =>
  Effect.gen(function*() {
    const registry = yield* SchemaRegistry
    const clock = yield* Clock.Clock
    const ttl = Duration.toMillis(Duration.fromInputUnsafe(unknownFor))
    const cache = new Map<number, WriterSchema>()
    const unknown = new Map<number, { readonly lookup: SchemaLookup; readonly until: number }>()
    const get = (id: number): SchemaLookup | undefined => {
      const writer = cache.get(id)
      if (writer !== undefined) return writer
      const missing = unknown.get(id)
      if (missing === undefined) return undefined
      // the clock is read only for ids not known, never on the per-record path of known ones
      if (missing.until > clock.currentTimeMillisUnsafe()) return missing.lookup
      unknown.delete(id)
      return undefined
    }
    const lookup = (id: number) =>
      Effect.gen(function*() {
        const known = get(id)
        if (known !== undefined) return known
        const found = yield* registry.getById(id).pipe(
          Effect.map((registered) => ({ found: registered.schema }) as const),
          Effect.catchTag("SchemaNotFoundError", (error) => Effect.succeed({ missing: error.message } as const))
        )
        if ("missing" in found) {
          const missing: SchemaLookup = { unknownId: id, reason: found.missing }
          unknown.set(id, { lookup: missing, until: clock.currentTimeMillisUnsafe() + ttl })
          return missing
        }
        const writer = codec.writerSchema(id, found.found)
        if ("reason" in writer) return yield* new UnsupportedSchemaError({ schemaId: id, reason: writer.reason })
        cache.set(id, writer)
        return writer as SchemaLookup
      })
    return { lookup, get }
  })
