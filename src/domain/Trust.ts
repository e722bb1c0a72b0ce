/**
 * The trust store: which Ed25519 key speaks for which town. The first key
 * seen for a town is recorded and reported (trust on first use) unless a key
 * was pinned beforehand; a town whose key changes is refused until a person
 * accepts the new key; a revoked key is refused for good. Decisions are
 * local events, so the store is auditable like everything else.
 */
import type { Envelope, NewEvent } from "../events/Envelope.js"
import type { Slice } from "../events/Slice.js"

export type TrustHow = "first-use" | "pinned" | "accepted"

export interface TrustedKey {
  readonly key: string
  readonly how: TrustHow
  readonly at: string
  readonly by: string
}

export interface TownTrust {
  readonly current?: TrustedKey
  /** Keys trusted before the current one (superseded, not revoked): they still vouch for old batches. */
  readonly former?: ReadonlyArray<string>
  readonly revoked: ReadonlyArray<string>
}

export interface TrustState {
  readonly towns: Readonly<Record<string, TownTrust>>
  /** Keys pinned with `add-peer --trust-key`, trusted for whichever town presents them first. */
  readonly pinned: Readonly<Record<string, { readonly peer: string; readonly at: string }>>
}

export const initialTrust: TrustState = { towns: {}, pinned: {} }

export type TrustDecision =
  | { readonly _tag: "Trusted" }
  | { readonly _tag: "Record"; readonly how: TrustHow }
  | { readonly _tag: "Refused"; readonly reason: string }

/** Whether a batch of `town` signed with `key` may be ingested. */
export const judgeKey = (state: TrustState, town: string, key: string): TrustDecision => {
  const trust = state.towns[town]
  if (trust?.revoked.includes(key)) return { _tag: "Refused", reason: `the key of town ${town} was revoked` }
  if (trust?.current !== undefined) {
    return trust.current.key === key
      ? { _tag: "Trusted" }
      : {
        _tag: "Refused",
        reason: `town ${town} now signs with another key than the one trusted (${short(trust.current.key)}); if that is expected, accept it with: bd federation trust add ${town} ${key}`
      }
  }
  if (trust !== undefined) {
    // Known, but its key was revoked: a new key is a person's decision, never first use.
    return {
      _tag: "Refused",
      reason: `the key of town ${town} was revoked; to trust a new one: bd federation trust add ${town} ${key}`
    }
  }
  return { _tag: "Record", how: state.pinned[key] !== undefined ? "pinned" : "first-use" }
}

/** Whether `key` vouched for `town` at some point and was not revoked (for auditing old batches). */
export const vouchedFor = (state: TrustState, town: string, key: string): boolean => {
  const trust = state.towns[town]
  if (trust === undefined || trust.revoked.includes(key)) return false
  return trust.current?.key === key || (trust.former ?? []).includes(key)
}

export const short = (key: string): string => `${key.slice(-16)}`

export const recordKey = (town: string, key: string, how: TrustHow, meta: { at: string; actor: string }): NewEvent => ({
  type: "TrustKeyRecorded",
  data: { town, key, how },
  ...meta
})

export const evolveTrust = (state: TrustState, event: Envelope): TrustState => {
  const data = (event.data ?? {}) as { town?: string; key?: string; how?: TrustHow; peer?: string }
  switch (event.type) {
    case "TrustKeyRecorded": {
      if (typeof data.town !== "string" || typeof data.key !== "string") return state
      const previous = state.towns[data.town] ?? { revoked: [] }
      const current: TrustedKey = { key: data.key, how: data.how ?? "accepted", at: event.at, by: event.actor }
      const superseded = previous.current !== undefined && previous.current.key !== data.key ? [previous.current.key] : []
      const former = [...(previous.former ?? []), ...superseded].filter((k) => k !== data.key)
      return {
        ...state,
        towns: {
          ...state.towns,
          [data.town]: { current, former, revoked: previous.revoked.filter((k) => k !== data.key) }
        }
      }
    }
    case "TrustKeyRevoked": {
      if (typeof data.town !== "string" || typeof data.key !== "string") return state
      const previous = state.towns[data.town] ?? { revoked: [] }
      const revoked = [...previous.revoked.filter((k) => k !== data.key), data.key]
      const former = (previous.former ?? []).filter((k) => k !== data.key)
      const next: TownTrust = previous.current?.key === data.key ? { former, revoked } : { ...previous, former, revoked }
      return { ...state, towns: { ...state.towns, [data.town]: next } }
    }
    case "TrustKeyPinned":
      return typeof data.key === "string"
        ? { ...state, pinned: { ...state.pinned, [data.key]: { peer: String(data.peer ?? ""), at: event.at } } }
        : state
    default:
      return state
  }
}

export const TrustSlice: Slice<TrustState> = {
  name: "trust",
  initial: initialTrust,
  evolve: evolveTrust,
  encode: (state) => state,
  decode: (json) => json as TrustState
}
