/**
 * The bad-record policy applied to one record of a partition's batch: `fail` stops the run, `skip` counts the
 * record, `dead-letter` keeps it for the dead-letter table. Applying it and advancing the partition's `until`
 * past the record happen in one synchronous step, before anything is reported: a reporter may suspend, and a
 * seal in that window must see the dead letter together with the offset that covers it (else the dead letter
 * is dropped, or committed with a txn version at its own offset and written again after a crash).
 * A dead letter keeps a copy of its key and value (a view would pin the whole fetch buffer until the batch
 * commits) and counts toward the batch's limits like a row.
 */
import type { OnBadRecord } from "../config/environment-file.ts"
import type { KafkaRecord } from "../services/KafkaSource.ts"
import { BadRecordError } from "./errors.ts"
import type { PartitionBatch } from "./partition.ts"
import type { BadRecordEvent } from "./progress.ts"

/** A record that could not become a row, and why. */
export interface BadRecord {
  readonly topic: string
  readonly record: KafkaRecord
  readonly schemaId: number | undefined
  readonly reason: string
}

const copy = (bytes: Uint8Array | null): Uint8Array | null => (bytes === null ? null : new Uint8Array(bytes))

/** Applies `policy` to `bad` in `batch` and moves `until` past it; returns the event to report, or the error under `fail`. */
export const applyBadRecord = (policy: OnBadRecord, batch: PartitionBatch, bad: BadRecord): BadRecordEvent | BadRecordError => {
  const { topic, record, reason } = bad
  const partition = batch.partition
  if (policy === "fail") return new BadRecordError({ topic, partition, offset: record.offset, reason })
  if (policy === "skip") {
    batch.skipped++
  } else {
    const kept = { ...record, key: copy(record.key), value: copy(record.value) }
    batch.deadLetters.push({ record: kept, topic, partition, schemaId: bad.schemaId, error: reason })
    batch.deadLetterBytes += (kept.key?.byteLength ?? 0) + (kept.value?.byteLength ?? 0) + reason.length
  }
  batch.until = record.offset + 1
  return { topic, partition, offset: record.offset, reason, action: policy === "skip" ? "skipped" : "dead-lettered" }
}
