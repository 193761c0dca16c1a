/**
 * The Avro layer's public surface: Confluent framing, Avro -> Arrow schema mapping, per-schema-id decoders and
 * the BatchBuilder that decodes records straight into Arrow columns.
 */
export * from "./batch.ts"
export * from "./decoder.ts"
export * from "./errors.ts"
export * from "./framing.ts"
export * from "./schema-mapping.ts"
export * from "./widen.ts"
