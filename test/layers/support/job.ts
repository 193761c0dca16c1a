/**
 * A JobConfig for layer unit tests, resolved from an environment file given in code.
 */
import { decodeEnvironmentFile } from "../../../src/config/environment-file.ts"
import { resolveJob } from "../../../src/config/job.ts"
import type { JobConfig } from "../../../src/services/Config.ts"

/** The job for `topic` with the given `kafka` and `schemaRegistry` sections. */
export const testJob = (sections: { readonly kafka?: unknown; readonly schemaRegistry?: unknown }): JobConfig => {
  const decoded = decodeEnvironmentFile({
    environment: "Test",
    kafka: sections.kafka ?? {
      bootstrapServers: "127.0.0.1:9092",
      securityProtocol: "PLAINTEXT",
      topicPrefix: "",
      groupIdPrefix: "kafka-delta-test"
    },
    schemaRegistry: sections.schemaRegistry ?? { url: "http://127.0.0.1:8081" },
    secrets: { scope: "test-scope", provider: "env" },
    delta: { warehouse: "/tmp/warehouse", catalog: "test", schema: "raw" },
    checkpoints: "/tmp/checkpoints",
    stream: { startingOffsets: "earliest", failOnDataLoss: true, maxBatchRecords: 1000, maxBatchInterval: "1 second", onBadRecord: "fail" }
  })
  if (decoded._tag === "Failure") throw new Error(JSON.stringify(decoded.failure))
  return resolveJob(decoded.success, { topic: "orders", trigger: "continuous", source: "test", baseDirectory: "/tmp" })
}
