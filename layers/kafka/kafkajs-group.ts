/**
 * Consumer-group membership on kafkajs, for `KafkaSource.joinGroup`: one kafkajs consumer joins the group and
 * reports its rebalances as `Revoked` / `Assigned` events. It never reads records for the caller (its partitions
 * are paused as soon as they are assigned): the caller reads the partitions it owns with `consume`, at its own
 * positions, so exactly-once stays with the Delta table while the group only decides who reads what.
 */
import { Cause, Effect, Queue, Stream } from "effect"
import type { Kafka } from "kafkajs"
import type { GroupAssignment, KafkaSourceError } from "../../src/services/KafkaSource.ts"
import type { MemberCommits } from "./group-offsets.ts"

/** What membership needs from the layer. */
export interface GroupContext {
  readonly kafka: Kafka
  readonly fail: (error: unknown, topic?: string) => KafkaSourceError
  /** Where the member registers to commit the group's offsets while it is one. */
  readonly members?: MemberCommits | undefined
}

/** Group timing: how soon the others notice a member that joined or died. */
export interface GroupTuning {
  /** Without a heartbeat for this long a member is dropped (default 10 seconds). */
  readonly sessionTimeoutMillis?: number | undefined
  /** Heartbeat interval; a rebalance is noticed at the next one (default 1 second). */
  readonly heartbeatIntervalMillis?: number | undefined
}

const sorted = (partitions: ReadonlyArray<number>): ReadonlyArray<number> => [...partitions].sort((a, b) => a - b)

/**
 * Membership of `group` for `topic` while the stream runs; ending it leaves the group. kafkajs rebalances eagerly:
 * when a rebalance starts every owned partition is given up (`Revoked`), and the join that ends it hands out the
 * new set (`Assigned`, every partition this member now owns).
 */
export const groupStream = (
  context: GroupContext,
  group: string,
  topic: string,
  tuning: GroupTuning = {}
): Stream.Stream<GroupAssignment, KafkaSourceError> =>
  Stream.callback<GroupAssignment, KafkaSourceError>((queue) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const sessionTimeout = tuning.sessionTimeoutMillis ?? 10_000
          const consumer = context.kafka.consumer({
            groupId: group,
            sessionTimeout,
            rebalanceTimeout: sessionTimeout,
            heartbeatInterval: tuning.heartbeatIntervalMillis ?? 1_000,
            // with every partition paused kafkajs sleeps this long between heartbeats, so it bounds how late a
            // rebalance is noticed (default 5 seconds)
            maxWaitTimeInMs: tuning.heartbeatIntervalMillis ?? 1_000,
            allowAutoTopicCreation: false
          })
          let owned: ReadonlyArray<number> = []
          const revoke = (partitions: ReadonlyArray<number>) => {
            if (partitions.length === 0) return
            owned = owned.filter((p) => !partitions.includes(p))
            Queue.offerUnsafe(queue, { _tag: "Revoked", group, topic, partitions: sorted(partitions) })
          }
          consumer.on(consumer.events.REBALANCING, () => revoke(owned))
          consumer.on(consumer.events.GROUP_JOIN, (event) => {
            // membership only: nothing is fetched for the group, the caller reads with `consume`
            consumer.pause([{ topic }])
            const assigned = sorted(event.payload.memberAssignment[topic] ?? [])
            revoke(owned.filter((p) => !assigned.includes(p)))
            owned = assigned
            Queue.offerUnsafe(queue, { _tag: "Assigned", group, topic, partitions: assigned })
          })
          consumer.on(consumer.events.CRASH, (event) => {
            // kafkajs restarts the consumer itself after a retriable crash; anything else ends membership
            if (!event.payload.restart) Queue.failCauseUnsafe(queue, Cause.fail(context.fail(event.payload.error, topic)))
          })
          try {
            await consumer.connect()
            await consumer.subscribe({ topics: [topic], fromBeginning: true })
            await consumer.run({ autoCommit: false, eachBatch: async () => {} })
          } catch (error) {
            await consumer.disconnect().catch(() => undefined)
            throw error
          }
          const unregister = context.members?.register(group, topic, (offsets) =>
            consumer.commitOffsets([...offsets].map(([partition, offset]) => ({ topic, partition, offset: String(offset) })))
          )
          return { consumer, unregister }
        },
        catch: (error) => context.fail(error, topic)
      }),
      ({ consumer, unregister }) =>
        Effect.promise(() => {
          unregister?.()
          return consumer.disconnect().catch(() => undefined)
        })
    ), { bufferSize: 64 })
