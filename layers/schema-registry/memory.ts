/**
 * An in-memory schema registry for tests: ids and subjects as Confluent assigns them, and a switch to simulate
 * an outage.
 */
import { Effect, Layer } from "effect"
import {
  RegistryUnavailableError,
  SchemaNotFoundError,
  SchemaRegistry,
  SubjectNotFoundError
} from "../../src/services/SchemaRegistry.ts"

const canonical = (schema: string): string => {
  try {
    return JSON.stringify(JSON.parse(schema))
  } catch {
    return schema
  }
}

/** Schemas by id and subject. Mutate it from the test. */
export class MemoryRegistry {
  private readonly byId = new Map<number, string>()
  private readonly subjects = new Map<string, Array<number>>()
  private nextId = 1
  /** While false, every call fails with RegistryUnavailableError. */
  available = true
  /** How many `getById` calls reached the registry. */
  lookups = 0

  /** Registers `schema` under `subject`; returns the existing id for a schema already known. */
  register(subject: string, schema: string): number {
    const text = canonical(schema)
    let id = [...this.byId].find(([, known]) => known === text)?.[0]
    if (id === undefined) {
      id = this.nextId++
      this.byId.set(id, text)
    }
    const versions = this.subjects.get(subject) ?? []
    if (!versions.includes(id)) versions.push(id)
    this.subjects.set(subject, versions)
    return id
  }

  /** The schema of `id`, if any. */
  get(id: number): string | undefined {
    return this.byId.get(id)
  }

  /** The latest id of `subject`, if any. */
  latest(subject: string): number | undefined {
    return this.subjects.get(subject)?.at(-1)
  }
}

/** A SchemaRegistry over `registry`. */
export const make = (registry: MemoryRegistry): SchemaRegistry["Service"] => {
  const url = "in-memory"
  const guard = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.suspend((): Effect.Effect<A, E | RegistryUnavailableError> =>
      registry.available ? effect : Effect.fail(new RegistryUnavailableError({ registry: url, reason: "simulated outage" }))
    )
  return SchemaRegistry.of({
    getById: (id) =>
      guard(Effect.suspend(() => {
        registry.lookups++
        const schema = registry.get(id)
        return schema === undefined
          ? Effect.fail(new SchemaNotFoundError({ schemaId: id, registry: url }))
          : Effect.succeed({ id, schema })
      })),
    getLatest: (subject) =>
      guard(Effect.suspend(() => {
        const id = registry.latest(subject)
        return id === undefined
          ? Effect.fail(new SubjectNotFoundError({ subject, registry: url }))
          : Effect.succeed({ id, schema: registry.get(id)! })
      })),
    register: (subject, schema) => guard(Effect.sync(() => registry.register(subject, schema)))
  })
}

/** The in-memory SchemaRegistry layer. */
export const layer = (registry: MemoryRegistry): Layer.Layer<SchemaRegistry> => Layer.succeed(SchemaRegistry, make(registry))
