/**
 * kafka-delta as a library: the services (swap any of them with your own Layer), the pipeline as an Effect,
 * and the configuration helpers. An embedding application provides the six services — the live layers live in
 * `kafka-delta/layers/...`, the in-memory ones in `kafka-delta/testing` — and runs `runStream` wherever it likes:
 * as its main program, in a fiber, or inside `Layer.launch`.
 */
export {
  CheckpointCorruptError,
  CheckpointIoError,
  CheckpointLeaseLostError,
  CheckpointStore,
  StreamAlreadyRunningError
} from "./services/CheckpointStore.ts"
export type { BatchCommit, BatchPlan, CheckpointState, PartitionRange } from "./services/CheckpointStore.ts"
export { Config, ConfigFileError, UnknownEnvironmentError } from "./services/Config.ts"
export type { JobConfig, RetryOptions, StreamOptions, Trigger } from "./services/Config.ts"
export {
  ConcurrentStreamError,
  ConcurrentTableChangeError,
  DeltaSink,
  DeltaStorageError,
  SchemaMismatchError,
  UnsupportedTableError
} from "./services/DeltaSink.ts"
export type { AppendRequest, CommitResult, TableRef, TxnUpdate } from "./services/DeltaSink.ts"
export {
  KafkaAuthError,
  KafkaDecompressionError,
  KafkaSource,
  KafkaUnavailableError,
  TopicNotFoundError
} from "./services/KafkaSource.ts"
export type { ConsumeRequest, KafkaRecord, PartitionOffsets, SourceEvent } from "./services/KafkaSource.ts"
export {
  RegistryAuthError,
  RegistryTlsError,
  RegistryUnavailableError,
  SchemaNotFoundError,
  SchemaRegistry,
  SchemaRejectedError,
  SubjectNotFoundError
} from "./services/SchemaRegistry.ts"
export type { RegisteredSchema } from "./services/SchemaRegistry.ts"
export { SecretNotFoundError, SecretReadError, Secrets } from "./services/Secrets.ts"

export { decodeEnvironmentFile, EnvironmentFile } from "./config/environment-file.ts"
export { resolveJob, tableNameOf } from "./config/job.ts"
export type { JobOptions } from "./config/job.ts"

export { encodeFrame, parseFrame } from "./avro/framing.ts"
export { avroCodec } from "./pipeline/avro-codec.ts"
export { BadRecordError, DataLossError } from "./pipeline/errors.ts"
export { appIdOf } from "./pipeline/positions.ts"
export { combineReporters, logReporter, silentReporter } from "./pipeline/progress.ts"
export type { CommittedEvent, CommittedPartition, ProgressReporter, RetryEvent } from "./pipeline/progress.ts"
export { makeHealth } from "./pipeline/health.ts"
export type { HealthStatus, RunHealth } from "./pipeline/health.ts"
export { makeMetrics } from "./pipeline/metrics.ts"
export type { JobMetrics } from "./pipeline/metrics.ts"
export { progressReporter, toStreamingQueryProgress } from "./pipeline/streaming-progress.ts"
export type { StreamingQueryProgress } from "./pipeline/streaming-progress.ts"
export { tracingReporter } from "./pipeline/tracing.ts"
export { runStream } from "./pipeline/stream.ts"
export type { RunOptions, RunSummary } from "./pipeline/stream.ts"
