/**
 * `KafkaSource.commitOffsets` for both live layers: an @platformatic/kafka admin client sends OffsetCommit outside
 * any group generation (as `kafka-consumer-groups.sh --reset-offsets` does), one request per call. kafkajs has no
 * such call: its `admin.setOffsets` joins the group with a consumer and waits for a fetch, about 5 seconds each
 * time, and briefly makes the mirror group look active.
 */
import type { Admin, AdminOptions } from "@platformatic/kafka"
import { Effect, type Scope } from "effect"
import type { KafkaSourceError } from "../../src/services/KafkaSource.ts"

/** Stores a group's committed offsets of one topic (partition -> next offset to read). */
export type CommitOffsets = (group: string, topic: string, offsets: ReadonlyMap<number, number>) => Effect.Effect<void, KafkaSourceError>

/**
 * The admin client is created on the first commit (a run that never mirrors loads and connects nothing more) and
 * closed with the scope.
 */
export const makeCommitOffsets = (
  options: AdminOptions,
  fail: (error: unknown, topic?: string) => KafkaSourceError
): Effect.Effect<CommitOffsets, never, Scope.Scope> =>
  Effect.gen(function*() {
    let admin: Promise<Admin> | undefined
    const adminOf = () => (admin ??= import("@platformatic/kafka").then((kafka) => new kafka.Admin(options)))
    yield* Effect.addFinalizer(() =>
      admin === undefined ? Effect.void : Effect.promise(() => admin!.then((client) => client.close()).catch(() => undefined))
    )
    return (group, topic, offsets) =>
      Effect.tryPromise({
        try: async () =>
          (await adminOf()).alterConsumerGroupOffsets({
            groupId: group,
            topics: [{ name: topic, partitionOffsets: [...offsets].map(([partition, offset]) => ({ partition, offset: BigInt(offset) })) }]
          }),
        catch: (error) => fail(error, topic)
      })
  })

/** A member's own commit of offsets, within its group generation. */
type MemberCommit = (offsets: ReadonlyMap<number, number>) => Promise<void>

/**
 * The members of groups this source has joined (`joinGroup`), by group and topic: while this process is a member,
 * its offsets are committed through that member, within the group's generation, since the broker refuses an
 * OffsetCommit from outside the generation (the admin's) while the group has members.
 */
export const makeMemberCommits = () => {
  const members = new Map<string, MemberCommit>()
  const key = (group: string, topic: string) => `${group}\u0000${topic}`
  return {
    /** Routes commits of `group`/`topic` through `commit` until the returned function is called. */
    register: (group: string, topic: string, commit: MemberCommit): () => void => {
      members.set(key(group, topic), commit)
      return () => {
        if (members.get(key(group, topic)) === commit) members.delete(key(group, topic))
      }
    },
    /** `outside` for groups this process is not a member of; the member's own commit for the others. */
    route: (outside: CommitOffsets, fail: (error: unknown, topic?: string) => KafkaSourceError): CommitOffsets => (group, topic, offsets) => {
      const member = members.get(key(group, topic))
      return member === undefined
        ? outside(group, topic, offsets)
        : Effect.tryPromise({ try: () => member(offsets), catch: (error) => fail(error, topic) })
    }
  }
}

/** The registry of `makeMemberCommits`. */
export type MemberCommits = ReturnType<typeof makeMemberCommits>
