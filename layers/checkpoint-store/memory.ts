/**
 * In-memory CheckpointStore for tests: the latest plan and commit mark in a mutable cell, shareable between
 * runs of a test so a "restart" sees what the previous run stored.
 */
import { Effect, Layer, Option } from "effect"
import {
  type BatchCommit,
  type BatchPlan,
  CheckpointStore,
  StreamAlreadyRunningError
} from "../../src/services/CheckpointStore.ts"

/** The state behind an in-memory store; keep it to share it across runs. */
export interface MemoryCheckpoint {
  lastPlan: Option.Option<BatchPlan>
  lastCommit: Option.Option<BatchCommit>
  held: boolean
}

/** A fresh, empty checkpoint state. */
export const empty = (): MemoryCheckpoint => ({ lastPlan: Option.none(), lastCommit: Option.none(), held: false })

/** A store over `state`. */
export const make = (state: MemoryCheckpoint = empty(), location = "memory"): CheckpointStore["Service"] =>
  CheckpointStore.of({
    location,
    acquire: Effect.acquireRelease(
      Effect.suspend(() => {
        if (state.held) return Effect.fail(new StreamAlreadyRunningError({ checkpoint: location, holder: "another run in this process" }))
        state.held = true
        return Effect.void
      }),
      () => Effect.sync(() => { state.held = false })
    ),
    read: Effect.sync(() => ({ lastPlan: state.lastPlan, lastCommit: state.lastCommit })),
    plan: (plan) => Effect.sync(() => { state.lastPlan = Option.some(plan) }),
    commit: (commit) => Effect.sync(() => { state.lastCommit = Option.some(commit) })
  })

/** The in-memory CheckpointStore layer. */
export const layer = (state?: MemoryCheckpoint): Layer.Layer<CheckpointStore> => Layer.succeed(CheckpointStore, make(state))
