/**
 * Consumer-group membership on @platformatic/kafka, for `KafkaSource.joinGroup`: a consumer of its own joins the
 * group (the classic protocol) and reports each join's assignment as `Revoked` (what moved away) and `Assigned`
 * (all it owns now). It never fetches: the caller reads the partitions it owns with `consume`, at its own
 * positions, so exactly-once stays with the Delta table while the group only decides who reads what.
 */
import { Consumer, type ConsumerOptions } from "@platformatic/kafka"
import { Cause, Effect, Queue, Stream } from "effect"
import type { GroupAssignment, KafkaSourceError } from "../../src/services/KafkaSource.ts"
import type { MemberCommits } from "./group-offsets.ts"

const sorted = (partitions: ReadonlyArray<number>): ReadonlyArray<number> => [...partitions].sort((a, b) => a - b)

/** Membership of `group` for `topic` while the stream runs; ending it leaves the group. */
export const groupStream = (
  baseOptions: Omit<ConsumerOptions<Buffer, Buffer, Buffer, Buffer>, "groupId">,
  fail: (error: unknown, topic?: string) => KafkaSourceError,
  group: string,
  topic: string,
  members?: MemberCommits
): Stream.Stream<GroupAssignment, KafkaSourceError> =>
  Stream.callback<GroupAssignment, KafkaSourceError>((queue) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({ ...baseOptions, groupId: group })
          let owned: ReadonlyArray<number> = []
          consumer.on("consumer:group:join", (payload) => {
            const assigned = sorted((payload.assignments ?? []).filter((a) => a.topic === topic).flatMap((a) => a.partitions))
            const revoked = owned.filter((p) => !assigned.includes(p))
            if (revoked.length > 0) Queue.offerUnsafe(queue, { _tag: "Revoked", group, topic, partitions: revoked })
            owned = assigned
            Queue.offerUnsafe(queue, { _tag: "Assigned", group, topic, partitions: assigned })
          })
          // a heartbeat that can no longer reach the group ends membership: the caller must stop reading
          consumer.on("consumer:heartbeat:stalled", (payload) => {
            Queue.failCauseUnsafe(queue, Cause.fail(fail(payload.lastError ?? new Error("heartbeats stalled"), topic)))
          })
          consumer.topics.track(topic)
          try {
            await consumer.joinGroup({ sessionTimeout: 10_000, rebalanceTimeout: 10_000, heartbeatInterval: 1_000 })
          } catch (error) {
            await consumer.close(true).catch(() => undefined)
            throw error
          }
          const unregister = members?.register(group, topic, (offsets) =>
            consumer.commit({ offsets: [...offsets].map(([partition, offset]) => ({ topic, partition, offset: BigInt(offset), leaderEpoch: -1 })) })
          )
          return { consumer, unregister }
        },
        catch: (error) => fail(error, topic)
      }),
      ({ consumer, unregister }) =>
        Effect.promise(() => {
          unregister?.()
          return consumer.close().catch(() => undefined)
        })
    ), { bufferSize: 64 })
