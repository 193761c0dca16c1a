/**
 * The demo (and benchmark) event: an order with a nested address, line items, tags, attributes, an enum,
 * a decimal amount, dates and timestamps — about 230 bytes of Avro per record. The generator is deterministic
 * for a seed, so runs and benchmarks can be compared, and frames each value the way Confluent producers do.
 */
import avro from "avsc"
import { twosComplementFromBigInt } from "../avro/decoder.ts"
import { encodeFrame } from "../avro/framing.ts"

/** The demo event's Avro schema (registered as `<topic>-value`). */
export const demoEventSchema = {
  type: "record",
  name: "OrderEvent",
  namespace: "com.example.orders",
  fields: [
    { name: "order_id", type: "long" },
    { name: "customer_id", type: { type: "string", logicalType: "uuid" } },
    { name: "status", type: { type: "enum", name: "OrderStatus", symbols: ["CREATED", "PAID", "SHIPPED", "CANCELLED"] } },
    { name: "amount", type: { type: "bytes", logicalType: "decimal", precision: 18, scale: 2 } },
    { name: "currency", type: "string" },
    { name: "created_at", type: { type: "long", logicalType: "timestamp-millis" } },
    { name: "delivery_date", type: ["null", { type: "int", logicalType: "date" }], default: null },
    { name: "note", type: ["null", "string"], default: null },
    { name: "express", type: "boolean" },
    { name: "quantity", type: "int" },
    { name: "weight_kg", type: "double" },
    { name: "tags", type: { type: "array", items: "string" } },
    {
      name: "shipping_address",
      type: {
        type: "record",
        name: "Address",
        fields: [
          { name: "street", type: "string" },
          { name: "city", type: "string" },
          { name: "zip", type: "string" }
        ]
      }
    },
    { name: "attributes", type: { type: "map", values: "string" } }
  ]
} as const

/** One generated event in the shape avsc encodes (decimal as two's-complement bytes, timestamps as numbers). */
export interface DemoEvent {
  readonly order_id: number
  readonly customer_id: string
  readonly status: "CREATED" | "PAID" | "SHIPPED" | "CANCELLED"
  /** Unscaled amount in cents. */
  readonly amountCents: bigint
  readonly currency: string
  readonly created_at: number
  readonly delivery_date: number | null
  readonly note: string | null
  readonly express: boolean
  readonly quantity: number
  readonly weight_kg: number
  readonly tags: ReadonlyArray<string>
  readonly shipping_address: { readonly street: string; readonly city: string; readonly zip: string }
  readonly attributes: Readonly<Record<string, string>>
}

const encoderType = avro.Type.forSchema(demoEventSchema as unknown as avro.Schema)

/** Encodes `event` as a framed Confluent Avro value. */
export const encodeDemoEvent = (schemaId: number, event: DemoEvent): Buffer => {
  const { amountCents, ...rest } = event
  return encodeFrame(schemaId, encoderType.toBuffer({ ...rest, amount: twosComplementFromBigInt(amountCents) }))
}

const cities = ["Berlin", "Zürich", "Łódź", "São Paulo", "Kyoto", "Oslo", "Nairobi", "Montréal"]
const streets = ["Main Street", "Hauptstraße", "Rue de la Paix", "Calle Mayor", "Via Roma", "Kurfürstendamm", "Avenida Paulista"]
const statuses = ["CREATED", "PAID", "SHIPPED", "CANCELLED"] as const
const tagWords = ["gift", "priority", "fragile", "bulk", "repeat", "promo", "first-order", "subscription"]
const attributeKeys = ["channel", "campaign", "warehouse", "coupon", "device", "referrer"]
const notes = [
  "please ring the bell twice and leave the parcel with the neighbour",
  "deliver to the side entrance, the front door is under repair",
  "call on arrival; the intercom does not work after 6 pm",
  "leave at reception"
]

/** A small deterministic PRNG (mulberry32). */
const random = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Generates the `index`-th demo event of a run seeded with `seed`. */
export const demoEvent = (seed: number, index: number): DemoEvent => {
  const next = random(seed * 1_000_003 + index)
  const pick = <A>(values: ReadonlyArray<A>): A => values[Math.floor(next() * values.length)]!
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(next() * 16).toString(16)).join("")
  const tagCount = 1 + Math.floor(next() * 4)
  const attributeCount = 1 + Math.floor(next() * 4)
  const createdAt = 1_767_225_600_000 + index * 1_000 + Math.floor(next() * 1_000)
  return {
    order_id: 1_000_000 + index,
    customer_id: `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
    status: pick(statuses),
    amountCents: BigInt(Math.floor(next() * 10_000_000)) - 100n,
    currency: pick(["EUR", "USD", "CHF", "JPY"]),
    created_at: createdAt,
    delivery_date: next() < 0.2 ? null : Math.floor(createdAt / 86_400_000) + 1 + Math.floor(next() * 10),
    note: next() < 0.5 ? null : `${pick(notes)} (ref ${Math.floor(next() * 100_000)})`,
    express: next() < 0.3,
    quantity: 1 + Math.floor(next() * 20),
    weight_kg: Math.round(next() * 100_000) / 1000,
    tags: Array.from({ length: tagCount }, () => pick(tagWords)),
    shipping_address: { street: `${1 + Math.floor(next() * 200)} ${pick(streets)}`, city: pick(cities), zip: String(10000 + Math.floor(next() * 89999)) },
    attributes: Object.fromEntries(Array.from({ length: attributeCount }, (_, i) => [attributeKeys[i]!, `${pick(tagWords)}-${hex(10)}`]))
  }
}
