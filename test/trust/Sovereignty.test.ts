/**
 * The pure parts of trust and sovereignty: `forTier` on every shared event
 * type at every tier, the trust store's decisions (`judgeKey`) and its fold
 * (`evolveTrust`).
 */
import { createHmac } from "node:crypto"
import { describe, expect, it } from "vitest"
import { forTier, IDENTIFIER_FIELDS, type TierContext, TIER_ORDER } from "../../src/domain/Sovereignty.js"
import type { SovereigntyTier } from "../../src/domain/Settings.js"
import { evolveTrust, initialTrust, judgeKey, recordKey, type TrustState, vouchedFor } from "../../src/domain/Trust.js"
import type { Envelope, ForeignEvent } from "../../src/events/Envelope.js"

const KEY = Buffer.from("a fixed pseudonym key for the tests, 32 bytes long!")
const P = (value: string) => `p-${createHmac("sha256", KEY).update(value, "utf8").digest("hex").slice(0, 16)}`

const ctx = (tier: SovereigntyTier, extra: Partial<TierContext> = {}): TierContext => ({
  tier,
  pseudonym: P,
  extraIdentifiers: ["reviewer"],
  excluded: (id) => id === "x-chore",
  ...extra
})

const PEOPLE = ["ursula", "vera", "alice", "olga", "carl", "rita", "cora", "dave", "yuri", "zelda"]

const event = (type: string, data: unknown, actor = "ursula", at = "2026-03-04T05:06:07.891Z"): ForeignEvent => ({
  id: "t1:7",
  town: "t1",
  townSeq: 7,
  lamport: 9,
  seen: { t1: 6, t2: 3 },
  type,
  at,
  actor,
  data
})

const EVENTS: Record<string, ForeignEvent> = {
  IssueCreated: event("IssueCreated", {
    id: "x-1",
    fields: {
      id: "x-1",
      title: "a title",
      status: "open",
      priority: 2,
      issue_type: "task",
      assignee: "alice",
      created_by: "ursula",
      reviewer: "rita",
      labels: ["l1"],
      created_at: "2026-03-04T05:06:07.891Z",
      updated_at: "2026-03-04T05:06:07.891Z",
      source_system: "t1"
    }
  }),
  IssueImported: event("IssueImported", {
    id: "x-2",
    fields: {
      id: "x-2",
      title: "imported",
      status: "closed",
      owner: "olga",
      created_by: "carl",
      deleted_by: "dave",
      comments: [
        { id: 1, issue_id: "x-2", author: "cora", text: "first", created_at: "2026-02-01T10:20:30Z" },
        { id: 2, issue_id: "x-2", author: "alice", text: "second", created_at: "2026-02-02T11:21:31Z" }
      ],
      created_at: "2026-01-31T23:59:59Z",
      updated_at: "2026-02-03T12:00:00Z",
      closed_at: "2026-02-03T12:00:00Z",
      deleted_at: "2026-02-04T01:02:03Z"
    }
  }, "vera"),
  IssueUpdated: event("IssueUpdated", { id: "x-1", changes: { assignee: "yuri", owner: null, title: "renamed", updated_at: "2026-03-05T06:07:08Z" } }),
  IssueClosed: event("IssueClosed", {
    id: "x-1",
    changes: { status: "closed", closed_at: "2026-03-06T07:08:09Z", close_reason: "done", updated_at: "2026-03-06T07:08:09Z" }
  }),
  IssueReopened: event("IssueReopened", { id: "x-1", changes: { status: "open", closed_at: null, updated_at: "2026-03-07T08:09:10Z" } }),
  ConflictResolved: event("ConflictResolved", { id: "x-1", changes: { assignee: "zelda" }, resolves: "t1:3,t2:2" })
}
const TYPES = Object.keys(EVENTS)
const TIMESTAMPS = ["created_at", "updated_at", "closed_at", "deleted_at"]
const PERSON_FIELDS = [...IDENTIFIER_FIELDS, "reviewer"]
const dayOf = (value: string) => `${value.slice(0, 10)}T00:00:00Z`

/** The fields or changes of an event's data. */
const valuesOf = (e: ForeignEvent): Record<string, any> => {
  const data = e.data as Record<string, any>
  return (data["fields"] ?? data["changes"]) as Record<string, any>
}

const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item)
    Object.freeze(value)
  }
  return value
}

describe("forTier", () => {
  it("knows the identifier fields of the design", () => {
    expect([...IDENTIFIER_FIELDS].sort()).toEqual(["assignee", "created_by", "deleted_by", "owner"])
    expect(TIER_ORDER).toEqual({ T1: 1, T2: 2, T3: 3, T4: 4 })
  })

  describe.each(["T1", "T2"] as const)("%s publishes everything as it is", (tier) => {
    it.each(TYPES)("%s", (type) => {
      const original = EVENTS[type]!
      expect(forTier(original, ctx(tier))).toEqual(original)
    })
  })

  describe("T3 replaces every identifier by its keyed pseudonym, and nothing else", () => {
    it.each(TYPES)("%s", (type) => {
      const original = EVENTS[type]!
      const out = forTier(deepFreeze(structuredClone(original)), ctx("T3"))!
      expect(out).toBeDefined()
      expect({ ...out, actor: undefined, data: undefined }).toEqual({ ...original, actor: undefined, data: undefined })
      expect(out.actor).toBe(P(original.actor))
      expect(out.at).toBe(original.at)
      const before = valuesOf(original)
      const after = valuesOf(out)
      expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort())
      for (const [key, value] of Object.entries(before)) {
        if (PERSON_FIELDS.includes(key)) expect(after[key], key).toBe(value === null ? null : P(value))
        else if (key === "comments") {
          expect(after[key]).toEqual(value.map((c: Record<string, unknown>) => ({ ...c, author: P(c["author"] as string) })))
        } else expect(after[key], key).toEqual(value)
      }
      // Other members of the data (the id, what a resolution resolves) are kept.
      expect({ ...(out.data as object), fields: undefined, changes: undefined }).toEqual({
        ...(original.data as object),
        fields: undefined,
        changes: undefined
      })
      const text = JSON.stringify(out)
      for (const person of PEOPLE) expect(text, person).not.toMatch(new RegExp(`"${person}"`))
    })

    it("gives the same person the same pseudonym in every event and every field", () => {
      const created = forTier(EVENTS["IssueCreated"]!, ctx("T3"))!
      const imported = forTier(EVENTS["IssueImported"]!, ctx("T3"))!
      // alice: assignee of one issue, comment author on another.
      expect(valuesOf(created)["assignee"]).toBe(P("alice"))
      expect(valuesOf(imported)["comments"][1]["author"]).toBe(P("alice"))
      // ursula: the actor of one event and the creator in it.
      expect(created.actor).toBe(valuesOf(created)["created_by"])
      expect(forTier(EVENTS["IssueCreated"]!, ctx("T3"))).toEqual(created)
    })

    it("pseudonymises configured extra fields only when they are configured", () => {
      const out = forTier(EVENTS["IssueCreated"]!, ctx("T3", { extraIdentifiers: [] }))!
      expect(valuesOf(out)["reviewer"]).toBe("rita")
      expect(valuesOf(out)["assignee"]).toBe(P("alice"))
    })

    it("keeps an own field named __proto__ as an own field", () => {
      const data = JSON.parse('{"id":"x-9","fields":{"id":"x-9","__proto__":"kept","assignee":"alice"}}') as unknown
      const out = forTier(event("IssueImported", data), ctx("T3"))!
      const fields = valuesOf(out)
      expect(Object.hasOwn(fields, "__proto__")).toBe(true)
      expect(Object.getOwnPropertyDescriptor(fields, "__proto__")?.value).toBe("kept")
      expect(fields["assignee"]).toBe(P("alice"))
    })

    it("rewrites the actor of an event whose data is not an issue change", () => {
      const out = forTier(event("IssueUpdated", null), ctx("T3"))!
      expect(out).toEqual({ ...event("IssueUpdated", null), actor: P("ursula") })
    })
  })

  describe("T4 removes every identifier and cuts every timestamp to the day", () => {
    it.each(TYPES)("%s", (type) => {
      const original = EVENTS[type]!
      const out = forTier(deepFreeze(structuredClone(original)), ctx("T4"))!
      expect(out).toBeDefined()
      expect({ ...out, actor: undefined, at: undefined, data: undefined }).toEqual({ ...original, actor: undefined, at: undefined, data: undefined })
      expect(out.actor).toBe("anonymous")
      expect(out.at).toBe(dayOf(original.at))
      const before = valuesOf(original)
      const after = valuesOf(out)
      for (const [key, value] of Object.entries(before)) {
        if (PERSON_FIELDS.includes(key)) {
          // A person is left out; clearing a field (null) names no one and may stay.
          if (value === null) expect(after[key] ?? null, key).toBeNull()
          else expect(Object.keys(after), key).not.toContain(key)
        } else if (TIMESTAMPS.includes(key)) {
          expect(after[key], key).toBe(value === null ? null : dayOf(value))
        } else if (key === "comments") {
          expect(after[key]).toEqual(value.map((c: Record<string, any>) => {
            const { author: _author, ...rest } = c
            return { ...rest, created_at: dayOf(c["created_at"]) }
          }))
        } else expect(after[key], key).toEqual(value)
      }
      const text = JSON.stringify(out)
      for (const person of PEOPLE) expect(text, person).not.toMatch(new RegExp(`"${person}"`))
      expect(text).not.toMatch(/p-[0-9a-f]{16}/)
      for (const time of text.match(/\d{4}-\d{2}-\d{2}T[0-9:.]+Z/g) ?? []) expect(time).toMatch(/T00:00:00Z$/)
    })

    it("does not touch the source's event", () => {
      const original = structuredClone(EVENTS["IssueImported"]!)
      forTier(original, ctx("T4"))
      forTier(original, ctx("T3"))
      expect(original).toEqual(EVENTS["IssueImported"])
    })
  })

  describe("an excluded type never leaves the town", () => {
    it.each(["T1", "T2", "T3", "T4"] as const)("%s", (tier) => {
      for (const type of TYPES) {
        const data = { ...(EVENTS[type]!.data as object), id: "x-chore" }
        expect(forTier(event(type, data), ctx(tier)), type).toBeUndefined()
      }
      expect(forTier(EVENTS["IssueCreated"]!, ctx(tier))).toBeDefined()
    })
  })

  // beads' dependency records carry `created_by` (a person) and `created_at`.
  describe("people and times inside dependency records", () => {
    const withDependency = event("IssueImported", {
      id: "x-3",
      fields: {
        id: "x-3",
        dependencies: [{ issue_id: "x-3", depends_on_id: "x-1", type: "blocks", created_at: "2026-02-05T06:07:08Z", created_by: "dora" }]
      }
    })

    it("T3 does not publish the dependency's created_by as it is", () => {
      const out = forTier(withDependency, ctx("T3"))!
      expect(JSON.stringify(out)).not.toContain("\"dora\"")
    })

    it("T4 publishes no dependency created_by, and its created_at cut to the day", () => {
      const out = forTier(withDependency, ctx("T4"))!
      expect(JSON.stringify(out)).not.toContain("\"dora\"")
      expect(valuesOf(out)["dependencies"][0]["created_at"]).toBe("2026-02-05T00:00:00Z")
    })
  })
})

const K1 = "MCowBQYDK2VwAyEA" + "1".repeat(43) + "="
const K2 = "MCowBQYDK2VwAyEA" + "2".repeat(43) + "="
const K3 = "MCowBQYDK2VwAyEA" + "3".repeat(43) + "="

let seq = 0
const local = (type: string, data: unknown, at = "2026-05-06T07:08:09Z", actor = "operator"): Envelope => {
  seq++
  return { seq, id: `me:${seq}`, town: "me", townSeq: seq, lamport: seq, seen: {}, type, at, actor, data, prev: "", hash: "" }
}
const fold = (...events: ReadonlyArray<Envelope>): TrustState => events.reduce(evolveTrust, initialTrust)
const recorded = (town: string, key: string, how?: string) => local("TrustKeyRecorded", { town, key, ...(how === undefined ? {} : { how }) })

describe("judgeKey", () => {
  it("a town never seen: record its key, on first use", () => {
    expect(judgeKey(initialTrust, "ta", K1)).toEqual({ _tag: "Record", how: "first-use" })
  })

  it("a town never seen whose key was pinned: record it as pinned", () => {
    const state = fold(local("TrustKeyPinned", { key: K1, peer: "hub" }))
    expect(judgeKey(state, "ta", K1)).toEqual({ _tag: "Record", how: "pinned" })
  })

  it("the trusted key: trusted", () => {
    expect(judgeKey(fold(recorded("ta", K1, "first-use")), "ta", K1)).toEqual({ _tag: "Trusted" })
  })

  it("another key than the trusted one: refused, with the command that accepts it", () => {
    const decision = judgeKey(fold(recorded("ta", K1, "first-use")), "ta", K2)
    expect(decision._tag).toBe("Refused")
    expect(decision._tag === "Refused" && decision.reason).toContain(`bd federation trust add ta ${K2}`)
  })

  it("a pinned key does not override the key a town is already trusted with", () => {
    const state = fold(recorded("ta", K1, "first-use"), local("TrustKeyPinned", { key: K2, peer: "hub" }))
    expect(judgeKey(state, "ta", K2)._tag).toBe("Refused")
  })

  it("a revoked key: refused, even when pinned", () => {
    const state = fold(recorded("ta", K1, "first-use"), local("TrustKeyRevoked", { town: "ta", key: K1 }))
    expect(judgeKey(state, "ta", K1)).toMatchObject({ _tag: "Refused", reason: expect.stringMatching(/revoked/) })
    const pinned = evolveTrust(state, local("TrustKeyPinned", { key: K1, peer: "hub" }))
    expect(judgeKey(pinned, "ta", K1)._tag).toBe("Refused")
  })

  it("trust is per town: one town's key decisions do not touch another's", () => {
    const state = fold(recorded("ta", K1, "first-use"), local("TrustKeyRevoked", { town: "tb", key: K3 }))
    expect(judgeKey(state, "ta", K1)).toEqual({ _tag: "Trusted" })
    expect(judgeKey(state, "tb", K2)._tag).not.toBe("Trusted")
  })

  it("a key accepted by a person after a change is trusted, the old one no longer", () => {
    const state = fold(recorded("ta", K1, "first-use"), recorded("ta", K2, "accepted"))
    expect(judgeKey(state, "ta", K2)).toEqual({ _tag: "Trusted" })
    expect(judgeKey(state, "ta", K1)._tag).toBe("Refused")
  })

  // A town whose key was revoked has had a key: a new one is a key change,
  // which waits for a person (`trust add`), not a first use.
  it("a town whose key was revoked presenting a new key: refused until accepted", () => {
    const state = fold(recorded("ta", K1, "first-use"), local("TrustKeyRevoked", { town: "ta", key: K1 }))
    expect(judgeKey(state, "ta", K2)._tag).toBe("Refused")
  })
})

describe("evolveTrust", () => {
  it("TrustKeyRecorded makes the key current, with how, when and by whom", () => {
    const state = fold(local("TrustKeyRecorded", { town: "ta", key: K1, how: "pinned" }, "2026-01-02T03:04:05Z", "op1"))
    expect(state).toEqual({ towns: { ta: { current: { key: K1, how: "pinned", at: "2026-01-02T03:04:05Z", by: "op1" }, former: [], revoked: [] } }, pinned: {} })
  })

  it("a recorded key without how counts as accepted", () => {
    expect(fold(recorded("ta", K1)).towns["ta"]?.current?.how).toBe("accepted")
  })

  it("recordKey makes the event the fold reads", () => {
    const made = recordKey("ta", K1, "first-use", { at: "2026-01-02T03:04:05Z", actor: "op" })
    expect(made).toEqual({ type: "TrustKeyRecorded", data: { town: "ta", key: K1, how: "first-use" }, at: "2026-01-02T03:04:05Z", actor: "op" })
    const state = evolveTrust(initialTrust, { ...local("x", null), ...made })
    expect(state.towns["ta"]?.current).toMatchObject({ key: K1, how: "first-use", by: "op" })
  })

  it("revoking the current key drops it; revoking another keeps the current one; no key is listed twice", () => {
    const a = fold(recorded("ta", K1, "first-use"), local("TrustKeyRevoked", { town: "ta", key: K1 }))
    expect(a.towns["ta"]).toEqual({ former: [], revoked: [K1] })
    const b = fold(recorded("ta", K1, "first-use"), local("TrustKeyRevoked", { town: "ta", key: K2 }), local("TrustKeyRevoked", { town: "ta", key: K2 }))
    expect(b.towns["ta"]?.current?.key).toBe(K1)
    expect(b.towns["ta"]?.revoked).toEqual([K2])
  })

  it("a superseded key is kept as former: it still vouches for the batches it signed", () => {
    const state = fold(recorded("ta", K1, "first-use"), recorded("ta", K2, "accepted"))
    expect(state.towns["ta"]).toMatchObject({ current: { key: K2 }, former: [K1], revoked: [] })
    expect(vouchedFor(state, "ta", K1)).toBe(true)
    expect(vouchedFor(state, "ta", K2)).toBe(true)
    expect(judgeKey(state, "ta", K1)._tag).toBe("Refused")
    const revoked = fold(recorded("ta", K1, "first-use"), recorded("ta", K2, "accepted"), local("TrustKeyRevoked", { town: "ta", key: K1 }))
    expect(vouchedFor(revoked, "ta", K1)).toBe(false)
  })

  it("accepting a revoked key again takes it off the revoked list", () => {
    const state = fold(recorded("ta", K1, "first-use"), local("TrustKeyRevoked", { town: "ta", key: K1 }), recorded("ta", K1, "accepted"))
    expect(state.towns["ta"]).toMatchObject({ current: { key: K1, how: "accepted" }, revoked: [] })
    expect(judgeKey(state, "ta", K1)).toEqual({ _tag: "Trusted" })
  })

  it("TrustKeyPinned records the key with its peer", () => {
    expect(fold(local("TrustKeyPinned", { key: K1, peer: "hub" }, "2026-01-02T03:04:05Z")).pinned).toEqual({ [K1]: { peer: "hub", at: "2026-01-02T03:04:05Z" } })
  })

  it("ignores other events and malformed data, without copying the state", () => {
    const state = fold(recorded("ta", K1, "first-use"))
    for (
      const e of [
        local("IssueCreated", { id: "x", fields: {} }),
        local("TrustKeyRecorded", { town: "ta" }),
        local("TrustKeyRecorded", null),
        local("TrustKeyRevoked", { key: K1 }),
        local("TrustKeyPinned", { peer: "hub" })
      ]
    ) {
      expect(evolveTrust(state, e)).toBe(state)
    }
  })

  it("never changes the state it is given", () => {
    const state = deepFreeze(fold(recorded("ta", K1, "first-use")))
    const copy = structuredClone(state)
    evolveTrust(state, local("TrustKeyRevoked", { town: "ta", key: K1 }))
    evolveTrust(state, recorded("ta", K2))
    evolveTrust(state, local("TrustKeyPinned", { key: K3, peer: "p" }))
    expect(state).toEqual(copy)
  })
})
