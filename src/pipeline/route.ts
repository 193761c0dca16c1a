/**
 * The route stage: source events to one actor per partition. Each actor is a fiber with a bounded mailbox that
 * applies its partition's events one at a time; it starts with the partition's first event, so partitions the
 * source starts to deliver while the stream runs get theirs too, and `stop` ends one (when a partition goes away).
 * A full mailbox makes the router wait, so fetching pauses while an actor waits for a seal.
 */
import { Effect, Fiber, FiberSet, Queue } from "effect"
import type { SourceEvent } from "../services/KafkaSource.ts"
import type { MicroBatch } from "./micro-batch.ts"
import type { PartitionBatch } from "./partition.ts"

/** What the router needs: where actors run, the batch they apply to and how an event is applied. */
export interface RouterOptions<E> {
  readonly fibers: FiberSet.FiberSet<void, E>
  readonly batch: MicroBatch
  /** Events queued per actor. */
  readonly mailboxSize: number
  /** Applies one event to its partition's batch. */
  readonly apply: (batch: PartitionBatch, event: SourceEvent) => Effect.Effect<void, E>
  /** Whether events of `partition` are taken (others are dropped). */
  readonly accepts: (partition: number) => boolean
}

interface Actor {
  readonly mailbox: Queue.Queue<SourceEvent>
  readonly fiber: Fiber.Fiber<void, unknown>
}

/** One mailbox and actor per partition. */
export interface Router {
  /** Hands `event` to its partition's actor, starting the actor (and the partition's batch) on the first one. */
  readonly route: (event: SourceEvent) => Effect.Effect<void>
  /** Stops the actor of `partition` and drops its mailbox; the partition's batch is left to the `MicroBatch`'s owner. */
  readonly stop: (partition: number) => Effect.Effect<void>
  /** The partitions with a running actor. */
  readonly partitions: () => ReadonlyArray<number>
}

/** A router whose actors run in `options.fibers`, so the first failure of one ends the session. */
export const makeRouter = <E>(options: RouterOptions<E>): Router => {
  const actors = new Map<number, Actor>()
  const actorLoop = (batch: PartitionBatch, mailbox: Queue.Queue<SourceEvent>) =>
    Effect.forever(Effect.flatMap(Queue.take(mailbox), (event) => options.apply(batch, event)))
  const actorOf = (partition: number, firstPosition: number) =>
    Effect.gen(function*() {
      const known = actors.get(partition)
      if (known !== undefined) return known
      const batch = options.batch.addPartition(partition, firstPosition)
      const mailbox = yield* Queue.bounded<SourceEvent>(options.mailboxSize)
      const fiber = yield* FiberSet.run(options.fibers, actorLoop(batch, mailbox))
      const actor: Actor = { mailbox, fiber }
      actors.set(partition, actor)
      return actor
    })
  return {
    route: (event) =>
      Effect.gen(function*() {
        if (!options.accepts(event.partition)) return
        const firstPosition = event._tag === "RecordsFetched" ? (event.records[0]?.offset ?? event.nextOffset) : event.earliest
        const actor = yield* actorOf(event.partition, firstPosition)
        yield* Queue.offer(actor.mailbox, event)
      }),
    stop: (partition) =>
      Effect.suspend(() => {
        const actor = actors.get(partition)
        if (actor === undefined) return Effect.void
        actors.delete(partition)
        // an interrupted actor stops at a suspension point, where its batch is consistent (see decode.ts); the
        // FiberSet does not count an interruption as the session's failure;
        // shutting the mailbox down releases a router waiting to offer to it (the offer is dropped)
        return Effect.andThen(Fiber.interrupt(actor.fiber), Queue.shutdown(actor.mailbox))
      }),
    partitions: () => [...actors.keys()]
  }
}
