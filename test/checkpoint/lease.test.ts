import { assert, describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { type Claimant, decodeLease, describeHolder, encodeLease, holderOf, judge, type Lease } from "../../src/checkpoint/lease.ts"

const me: Claimant = {
  now: 100_000,
  pid: 1,
  host: "pod-a",
  isAlive: (pid) => pid === 1 || pid === 7,
  holdsHere: (token) => token === "mine"
}

const lease = (fields: Partial<Lease>): Lease => ({
  pid: 7,
  host: "pod-a",
  token: "theirs",
  acquiredAt: 0,
  renewedAt: 90_000,
  expiresAt: 105_000,
  ...fields
})

describe("checkpoint lease", () => {
  it("a lease round-trips through its text; anything else is not a lease", () => {
    const l = lease({})
    assert.deepStrictEqual(Result.getOrThrow(decodeLease(encodeLease(l))), l)
    assert.deepStrictEqual(decodeLease(""), Result.fail("empty file"))
    assert.isTrue(Result.isFailure(decodeLease(`{"pid":1,"host":"h"}`)))
    assert.isTrue(Result.isFailure(decodeLease(`{"version":1,"pid":1,"ho`)))
  })

  it("a lock naming our own pid on our host is stale, unless this process holds it now", () => {
    const verdict = judge(lease({ pid: 1 }), me)
    assert.isTrue(verdict.stale)
    if (verdict.stale) expect(verdict.reason).toContain("ended without releasing it")
    assert.isFalse(judge(lease({ pid: 1, token: "mine" }), me).stale)
    // the same pid on another host is another process
    assert.isFalse(judge(lease({ pid: 1, host: "pod-b" }), me).stale)
  })

  it("a lock of a dead pid on our host is stale; of a live one, not while its lease runs", () => {
    assert.isTrue(judge(lease({ pid: 8 }), me).stale)
    assert.isFalse(judge(lease({ pid: 7 }), me).stale)
    // a pid on another host says nothing here: that it is dead here does not make the lock stale
    assert.isFalse(judge(lease({ pid: 8, host: "pod-b" }), me).stale)
  })

  it("a lease past its expiry is stale on any host; up to it, not", () => {
    assert.isTrue(judge(lease({ host: "pod-b", expiresAt: 100_000 }), me).stale)
    assert.isFalse(judge(lease({ host: "pod-b", expiresAt: 100_001 }), me).stale)
    assert.isTrue(judge(lease({ pid: 7, expiresAt: 40_000 }), me).stale)
    const verdict = judge(lease({ host: "pod-b", expiresAt: 40_000 }), me)
    if (verdict.stale) expect(verdict.reason).toContain("expired 60s ago")
  })

  it("a lock that is not a lease keeps its pid and host and expires at the fallback", () => {
    const old = holderOf(JSON.stringify({ pid: 8, host: "pod-a", since: "2026-01-01" }), 123)
    assert.deepStrictEqual(old, { pid: 8, host: "pod-a", expiresAt: 123 })
    assert.isTrue(judge(old, me).stale)
    // empty or garbage: nothing known but its age; stale only once the fallback expiry has passed
    assert.isFalse(judge(holderOf("", 100_001), me).stale)
    assert.isTrue(judge(holderOf("{garb", 100_000), me).stale)
  })

  it("the holder is described with its pid, host and remaining lease", () => {
    expect(describeHolder(lease({ host: "pod-b" }), me.now)).toBe("process 7 on pod-b (lease expires in 5s unless renewed)")
  })
})
