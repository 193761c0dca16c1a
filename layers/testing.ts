/**
 * The in-memory layers, for users' own tests: a Kafka with partitions, gaps and retention, a schema registry,
 * Delta tables, checkpoints, secrets and a config given as a value. Import from `kafka-delta/testing`.
 */
export * as CheckpointStoreMemory from "./checkpoint-store/memory.ts"
export * as ConfigMemory from "./config/memory.ts"
export * as DeltaSinkMemory from "./delta-sink/memory.ts"
export * as DeltaSinkMemoryStorage from "./delta-sink/memory-storage.ts"
export * as KafkaMemory from "./kafka/memory.ts"
export * as SchemaRegistryMemory from "./schema-registry/memory.ts"
export * as SecretsMemory from "./secrets/memory.ts"
