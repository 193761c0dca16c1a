/**
 * Fault points for crash tests. `KAFKA_DELTA_FAULT` is read once, when this module loads; when it names a point,
 * the process kills itself with SIGKILL on reaching it, so the test sees exactly what a power cut would leave.
 * `KAFKA_DELTA_FAULT_AT=N` (default 1) kills on the N-th time that point is reached instead of the first, so a
 * test can crash a later batch, when the table already has commits. Unset (production), every call is a no-op.
 */

/** The places an append can be killed at. */
export type FaultPoint = "before-parquet" | "after-parquet" | "during-commit" | "after-commit"

const armed: string | undefined = process.env["KAFKA_DELTA_FAULT"]
const armedAt: number = Number(process.env["KAFKA_DELTA_FAULT_AT"] ?? "1")
let reached = 0

/** Kills the process with SIGKILL when `KAFKA_DELTA_FAULT` equals `point` (on its `KAFKA_DELTA_FAULT_AT`-th arrival). */
export const faultPoint = (point: FaultPoint): void => {
  if (armed === point && ++reached >= armedAt) process.kill(process.pid, "SIGKILL")
}
