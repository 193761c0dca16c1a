/**
 * Fault points for crash tests. `KAFKA_DELTA_FAULT` is read once, when this module loads; when it names a point,
 * the process kills itself with SIGKILL on reaching it, so the test sees exactly what a power cut would leave.
 * Unset (production), every call is a no-op.
 */

/** The places an append can be killed at. */
export type FaultPoint = "before-parquet" | "after-parquet" | "during-commit" | "after-commit"

const armed: string | undefined = process.env["KAFKA_DELTA_FAULT"]

/** Kills the process with SIGKILL when `KAFKA_DELTA_FAULT` equals `point`. */
export const faultPoint = (point: FaultPoint): void => {
  if (armed === point) process.kill(process.pid, "SIGKILL")
}
