/**
 * The typed errors of the Avro layer. Framing, corrupt bodies and nulls in non-nullable columns are per-record
 * problems (the pipeline's bad-record policy decides: fail, skip or dead-letter); an unsupported schema is fatal
 * for the stream because no record of that schema can become a row of the table.
 */
import { Schema } from "effect"

/** Why a Kafka value is not a Confluent-framed Avro record. */
export const FramingProblem = Schema.Literals(["tombstone", "too-short", "bad-magic-byte"])

/** A Kafka value that is not a Confluent-framed record (null value, fewer than 5 bytes, or magic byte not 0). */
export class BadFramingError extends Schema.TaggedError<BadFramingError>()("BadFramingError", {
  problem: FramingProblem,
  /** Length of the value in bytes (0 for a tombstone). */
  length: Schema.Number,
  /** The first byte, when there is one. */
  firstByte: Schema.optional(Schema.Number)
}) {
  override get message() {
    switch (this.problem) {
      case "tombstone":
        return "record value is null (a tombstone): there is no Avro body to decode; skip or dead-letter it"
      case "too-short":
        return `record value has ${this.length} bytes, fewer than the 5-byte Confluent header (magic byte + schema id); the producer did not use the Confluent Avro serializer`
      case "bad-magic-byte":
        return `record value starts with byte ${this.firstByte}, not the Confluent magic byte 0; the producer did not use the Confluent Avro serializer`
    }
  }
}

/** An Avro body that ended early, had bytes left over, or held invalid data for its writer schema. */
export class CorruptAvroError extends Schema.TaggedError<CorruptAvroError>()("CorruptAvroError", {
  schemaId: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `Avro body written with schema id ${this.schemaId} cannot be decoded: ${this.reason}; check that the producer registered the schema it wrote with`
  }
}

/** An Avro schema (or part of one, named by `path`) that has no Delta/Arrow equivalent. Fatal for the stream. */
export class UnsupportedAvroSchemaError extends Schema.TaggedError<UnsupportedAvroSchemaError>()(
  "UnsupportedAvroSchemaError",
  {
    /** Dotted field path, `<root>` for the schema itself. */
    path: Schema.String,
    reason: Schema.String
  }
) {
  override get message() {
    return `Avro schema field ${this.path} cannot be written to a Delta table: ${this.reason}`
  }
}

/** A record with null (or no value) for a column the batch schema declares non-nullable. */
export class NullInNonNullableColumnError extends Schema.TaggedError<NullInNonNullableColumnError>()(
  "NullInNonNullableColumnError",
  {
    /** Dotted column path (`element` / `value` for list items and map values). */
    path: Schema.String
  }
) {
  override get message() {
    return `record has no value for non-nullable column ${this.path}; the writer schema must give it a value, or the field must be a union with null`
  }
}

/** A decoded value whose kind does not fit its column (the writer schema changed a field's type). */
export class ColumnTypeMismatchError extends Schema.TaggedError<ColumnTypeMismatchError>()(
  "ColumnTypeMismatchError",
  {
    path: Schema.String,
    expected: Schema.String,
    found: Schema.String
  }
) {
  override get message() {
    return `column ${this.path} expects ${this.expected} but the record holds ${this.found}; the writer schema changed the field's type, which the table cannot take`
  }
}

/** What `BatchBuilder.append` can reject a record with. */
export type AppendError = NullInNonNullableColumnError | ColumnTypeMismatchError

/** What decoding one framed record into a builder can reject it with. */
export type RecordError = BadFramingError | CorruptAvroError | AppendError
