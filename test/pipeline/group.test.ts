/**
 * Group mode on the in-memory layers: several members of one stream in one process share the topic's partitions
 * through the in-memory consumer group and write one table. Every produced offset lands exactly once whatever the
 * rebalances, a zombie's late commit is rejected by the txn check and the zombie goes on, and committed positions
 * are mirrored to the group in both modes.
 */
import { assert, describe, it } from "@effect/vitest"
import avro from "avsc"
import { Effect, Exit, Fiber, Latch, Layer, Queue, Stream } from "effect"
import * as CheckpointMemory from "../../layers/checkpoint-store/memory.ts"
import * as ConfigMemory from "../../layers/config/memory.ts"
import * as DeltaMemory from "../../layers/delta-sink/memory.ts"
import * as KafkaMemory from "../../layers/kafka/memory.ts"
import * as RegistryMemory from "../../layers/schema-registry/memory.ts"
import { twosComplementFromBigInt } from "../../src/avro/decoder.ts"
import { demoEvent, demoEventSchema } from "../../src/demo/events.ts"
import { avroCodec } from "../../src/pipeline/avro-codec.ts"
import { runStream } from "../../src/pipeline/stream.ts"
import type { JobConfig } from "../../src/services/Config.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { type GroupAssignment, KafkaSource, KafkaUnavailableError } from "../../src/services/KafkaSource.ts"
import { duplicates, sorted, testJob, World } from "../support/memory-pipeline.ts"

const orders = "/mem/orders"
const group = "t-Test_orders"

/** Polls until `done` holds (at most ~4 s). */
const until = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000 && !done(); i++) yield* Effect.sleep("2 millis")
  })

const groupJob = (): JobConfig => testJob({ trigger: "continuous", scaleOut: "group", maxBatchRecords: 40 })

/** One member: its own source, checkpoint and view of the sink over the world's shared Kafka and tables. */
class Member {
  /** Partitions of each RecordsFetched this member handed on. */
  readonly read = new Set<number>()
  /** Appends that failed, by error tag. */
  readonly rejected: Array<string> = []
  /** While closed, appends wait (a paused process). */
  readonly running = Latch.makeUnsafe(true)
  /** Appends waiting on `running`. */
  waiting = 0
  /** Group events held while the member is paused (`pauseGroup`). */
  private held: Array<GroupAssignment> | undefined
  private deliver: ((event: GroupAssignment) => void) | undefined
  /** Mirror commits (commitOffsets) still to refuse, as a broker refuses a member between generations. */
  refuseMirrors = 0
  /** The partitions of the last assignment. */
  assigned: ReadonlyArray<number> = []
  /** The partitions of this member's latest consume request (its session's partitions). */
  consuming: ReadonlyArray<number> = []
  /** Leaves the group as the broker drops a member past its session timeout. */
  leave: (() => void) | undefined

  readonly world: World

  constructor(world: World) {
    this.world = world
  }

  /** Holds this member's group events until `resumeGroup`. */
  pauseGroup() {
    this.held = []
  }

  resumeGroup() {
    const held = this.held ?? []
    this.held = undefined
    for (const event of held) this.deliver?.(event)
  }

  layers(job: JobConfig) {
    const kafka = this.world.kafka
    const base = KafkaMemory.make(kafka, { maxRecordsPerFetch: 20, idlePoll: "2 millis" })
    const sink = DeltaMemory.make(this.world.delta)
    const source = KafkaSource.of({
      ...base,
      commitOffsets: (name, topic, offsets) =>
        Effect.suspend(() =>
          this.refuseMirrors > 0
            ? (this.refuseMirrors--, Effect.fail(new KafkaUnavailableError({ brokers: "in-memory", reason: "The coordinator is not aware of this member" })))
            : base.commitOffsets(name, topic, offsets)
        ),
      consume: (request) => {
        this.consuming = [...request.start.keys()].filter((p) => !(request.exclude?.has(p) ?? false)).sort((x, y) => x - y)
        return base.consume(request).pipe(Stream.tap((event) => Effect.sync(() => {
          if (event._tag === "RecordsFetched" && event.records.length > 0) this.read.add(event.partition)
        })))
      },
      joinGroup: (name, topic) =>
        Stream.callback<GroupAssignment>((queue) =>
          Effect.acquireRelease(
            Effect.sync(() => {
              this.deliver = (event) => {
                if (event._tag === "Assigned") this.assigned = event.partitions
                Queue.offerUnsafe(queue, event)
              }
              this.leave = kafka.join(name, topic, (event) => (this.held === undefined ? this.deliver!(event) : this.held.push(event)))
              return this.leave
            }),
            (leave) => Effect.sync(leave)
          ))
    })
    return Layer.mergeAll(
      ConfigMemory.layer(job),
      Layer.succeed(KafkaSource, source),
      RegistryMemory.layer(this.world.registry),
      Layer.succeed(DeltaSink, DeltaSink.of({
        ...sink,
        append: (request) =>
          Effect.gen(function*(this: Member) {
            this.waiting++
            yield* this.running.await
            this.waiting--
            return yield* sink.append(request).pipe(Effect.tapError((error) => Effect.sync(() => this.rejected.push(error._tag))))
          }.bind(this))
      })),
      CheckpointMemory.layer(CheckpointMemory.empty())
    )
  }

  run(job: JobConfig) {
    return runStream({ codec: avroCodec }).pipe(Effect.provide(this.layers(job)))
  }
}

const exactlyOnce = (world: World) => {
  const landed = world.offsetsIn(orders)
  assert.deepStrictEqual(duplicates(landed), [])
  assert.deepStrictEqual(sorted(landed), sorted(world.goodOffsets()))
}

describe("group mode", () => {
  it.live("two members split the partitions and write every offset once", () =>
    Effect.gen(function*() {
      const world = new World(4)
      const job = groupJob()
      const a = new Member(world)
      const b = new Member(world)
      const first = yield* Effect.forkChild(a.run(job))
      const second = yield* Effect.forkChild(b.run(job))
      // the sessions of the split have started (not only the assignment event): a session of the first
      // assignment may still read, and would drop what it read, until then
      yield* until(() => a.consuming.join() === "0,1" && b.consuming.join() === "2,3")
      world.produce(400)
      yield* until(() => world.offsetsIn(orders).length === 400)
      yield* Fiber.interrupt(first)
      yield* Fiber.interrupt(second)
      exactlyOnce(world)
      // the in-memory group splits 4 partitions in ranges: the first member 0-1, the second 2-3
      assert.deepStrictEqual(sorted([...a.read].map(String)), ["0", "1"])
      assert.deepStrictEqual(sorted([...b.read].map(String)), ["2", "3"])
    }))

  it.live("partitions move on rebalances (a member joins, another leaves) and every offset lands once", () =>
    Effect.gen(function*() {
      const world = new World(3)
      const job = groupJob()
      const a = new Member(world)
      const b = new Member(world)
      const first = yield* Effect.forkChild(a.run(job))
      world.produce(300)
      yield* Effect.sleep("20 millis")
      const second = yield* Effect.forkChild(b.run(job))
      world.produce(300)
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(first) // leaves the group: the second member owns everything
      world.produce(300)
      yield* until(() => world.offsetsIn(orders).length === 900)
      yield* Fiber.interrupt(second)
      exactlyOnce(world)
      assert.isTrue(b.read.has(0), "the second member took over partition 0 when the first left")
    }))

  it.live("a zombie's late commit fails the txn check; the zombie reads the table again and goes on", () =>
    Effect.gen(function*() {
      const world = new World(3)
      const job = groupJob()
      const zombie = new Member(world)
      const other = new Member(world)
      const first = yield* Effect.forkChild(zombie.run(job))
      yield* Effect.sleep("20 millis")
      // the zombie stops (SIGSTOP) with a batch on its way to the table
      zombie.running.closeUnsafe()
      zombie.pauseGroup()
      world.produce(90)
      yield* until(() => zombie.waiting > 0)
      // past its session timeout the broker drops it; the other member gets every partition and commits them
      zombie.leave!()
      const second = yield* Effect.forkChild(other.run(job))
      yield* until(() => world.offsetsIn(orders).length === 90)
      exactlyOnce(world)
      // the zombie resumes (SIGCONT): its commit was planned for partitions it no longer owns, and is refused
      zombie.running.openUnsafe()
      yield* until(() => zombie.rejected.length > 0)
      assert.deepStrictEqual(zombie.rejected.slice(0, 1), ["ConcurrentStreamError"])
      yield* Effect.sleep("30 millis")
      // not a fatal stop: the zombie re-read the table and still runs (then hears of the rebalance)
      assert.isUndefined(first.pollUnsafe(), "the zombie stopped on the refused commit")
      zombie.resumeGroup()
      world.produce(90)
      yield* until(() => world.offsetsIn(orders).length === 180)
      yield* Effect.sleep("30 millis")
      exactlyOnce(world)
      yield* Fiber.interrupt(second)
      yield* Fiber.interrupt(first)
    }))

  it.live("in single mode a commit refused by the txn check stays fatal", () =>
    Effect.gen(function*() {
      const world = new World(1)
      const job = testJob({ trigger: "continuous", maxBatchRecords: 40 })
      const a = new Member(world)
      const fiber = yield* Effect.forkChild(a.run(job))
      yield* Effect.sleep("20 millis")
      a.running.closeUnsafe()
      world.produce(30)
      yield* until(() => a.waiting > 0)
      // another writer of the same stream commits partition 0 first
      yield* new Member(world).run({ ...job, stream: { ...job.stream, trigger: "available-now" } })
      a.running.openUnsafe()
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "ConcurrentStreamError")
    }))

  it.live("committed positions are mirrored to the consumer group <groupIdPrefix>-<streamId>, in both modes", () =>
    Effect.gen(function*() {
      for (const scaleOut of ["single", "group"] as const) {
        const world = new World(2)
        world.produce(100)
        yield* new Member(world).run(testJob({ scaleOut }))
        assert.deepStrictEqual([...world.kafka.committedOffsets(group, world.topic)].sort(), [[0, 50], [1, 50]], scaleOut)
      }
    }))

  it.live("available-now in group mode: each member drains what it owns to the offsets seen at its start", () =>
    Effect.gen(function*() {
      const world = new World(4)
      world.produce(200)
      const job = testJob({ scaleOut: "group", maxBatchRecords: 40 })
      const a = new Member(world)
      const b = new Member(world)
      yield* Effect.all([a.run(job), b.run(job)], { concurrency: 2 })
      exactlyOnce(world)
    }))

  it.live("one member's schema evolution (an added nullable column) does not stop the other", () =>
    Effect.gen(function*() {
      const world = new World(2)
      const job = groupJob()
      const a = new Member(world)
      const b = new Member(world)
      const first = yield* Effect.forkChild(a.run(job))
      const second = yield* Effect.forkChild(b.run(job))
      yield* until(() => a.assigned.length === 1 && b.assigned.length === 1)
      world.produce(40)
      yield* until(() => world.offsetsIn(orders).length === 40)
      // partition 1's producer moves to a writer schema with one more nullable field; partition 0's does not
      const evolved = { ...demoEventSchema, fields: [...demoEventSchema.fields, { name: "channel", type: ["null", "string"], default: null }] }
      const id = world.registry.register("test.orders-value", JSON.stringify(evolved))
      const avsc = avro.Type.forSchema(evolved as never)
      for (let i = 0; i < 20; i++) {
        const { amountCents, ...event } = demoEvent(7, 1000 + i)
        const body = avsc.toBuffer({ ...event, channel: "web", amount: twosComplementFromBigInt(amountCents) })
        const offset = world.kafka.produce(world.topic, 1, { value: Buffer.concat([Buffer.from([0, 0, 0, 0, id]), body]) })
        world.produced.get(1)!.set(offset, 1000 + i)
      }
      yield* until(() => world.offsetsIn(orders).length === 60)
      // then the other member's partition moves on, with the old writer schema, into the wider table
      world.produce(40, { partition: 0 })
      yield* until(() => world.offsetsIn(orders).length === 100)
      yield* Effect.sleep("20 millis")
      assert.isUndefined(first.pollUnsafe(), "the member of partition 0 stopped")
      assert.isUndefined(second.pollUnsafe(), "the member of partition 1 stopped")
      exactlyOnce(world)
      yield* Fiber.interrupt(first)
      yield* Fiber.interrupt(second)
    }))

  it.live("a refused mirror is tried again until it lands, even when no later commit comes", () =>
    Effect.gen(function*() {
      const world = new World(2)
      const member = new Member(world)
      member.refuseMirrors = 2
      const fiber = yield* Effect.forkChild(member.run(testJob({ trigger: "continuous", scaleOut: "group" })))
      yield* until(() => member.assigned.length === 2)
      world.produce(100)
      yield* until(() => world.offsetsIn(orders).length === 100)
      yield* until(() => world.kafka.committedOffsets(group, world.topic).size === 2)
      assert.deepStrictEqual([...world.kafka.committedOffsets(group, world.topic)].sort(), [[0, 50], [1, 50]])
      assert.strictEqual(member.refuseMirrors, 0)
      yield* Fiber.interrupt(fiber)
    }))
})
