/**
 * What a town remembers of its exchanges with peers, folded from its local
 * operational events: when each peer was last pushed to, pulled from and
 * synced with, the last failure, how far its own events were published, and
 * how many shared events it holds of each town (for ahead/behind counts).
 */
import type { Envelope } from "../events/Envelope.js"
import { isShared, seenOf } from "../events/Envelope.js"
import { setMember } from "./IssueFields.js"
import type { Slice } from "../events/Slice.js"

export interface PeerSyncInfo {
  readonly lastPushAt?: string
  readonly lastPullAt?: string
  readonly lastSyncAt?: string
  readonly lastError?: { readonly at: string; readonly operation: string; readonly message: string }
}

export interface SyncState {
  readonly peers: Readonly<Record<string, PeerSyncInfo>>
  /** Per sovereignty tier: the local seq up to which this town's shared events are in its branch of that tier. */
  readonly published: Readonly<Record<string, number>>
  /** Shared events held, per origin town. */
  readonly shared: Readonly<Record<string, number>>
}

export const initialSync: SyncState = { peers: {}, published: {}, shared: {} }

const withPeer = (state: SyncState, peer: string, change: (info: PeerSyncInfo) => PeerSyncInfo): SyncState => ({
  ...state,
  peers: { ...state.peers, [peer]: change(state.peers[peer] ?? {}) }
})

export const evolveSync = (state: SyncState, event: Envelope): SyncState => {
  if (isShared(event.type)) {
    const shared = { ...state.shared }
    setMember(shared, event.town, seenOf(shared, event.town) + 1)
    return { ...state, shared }
  }
  const data = (event.data ?? {}) as { peer?: string; publishedSeq?: number; tier?: string; message?: string }
  const peer = data.peer
  if (typeof peer !== "string") return state
  switch (event.type) {
    case "PushCompleted": {
      const next = withPeer(state, peer, (info) => ({ ...info, lastPushAt: event.at }))
      const tier = data.tier ?? "T1"
      const seq = Math.max(next.published[tier] ?? 0, data.publishedSeq ?? 0)
      return { ...next, published: { ...next.published, [tier]: seq } }
    }
    case "PullCompleted":
      return withPeer(state, peer, (info) => ({ ...info, lastPullAt: event.at }))
    case "SyncCompleted":
      return withPeer(state, peer, (info) => ({ ...info, lastSyncAt: event.at }))
    case "PushFailed":
    case "PullFailed":
      return withPeer(state, peer, (info) => ({
        ...info,
        lastError: { at: event.at, operation: event.type === "PushFailed" ? "push" : "pull", message: String(data.message ?? "") }
      }))
    case "PeerRemoved": {
      const { [peer]: _removed, ...rest } = state.peers
      return { ...state, peers: rest }
    }
    default:
      return state
  }
}

/** `evolveSync` over a group: the shared events counted into one copy of the counts, not one copy each. */
const evolveSyncAll = (state: SyncState, events: ReadonlyArray<Envelope>): SyncState => {
  let next = state
  let shared: Record<string, number> | undefined
  for (const event of events) {
    if (isShared(event.type)) {
      shared ??= { ...next.shared }
      setMember(shared, event.town, seenOf(shared, event.town) + 1)
      continue
    }
    if (shared !== undefined) {
      next = { ...next, shared }
      shared = undefined
    }
    next = evolveSync(next, event)
  }
  return shared === undefined ? next : { ...next, shared }
}

export const SyncSlice: Slice<SyncState> = {
  name: "sync",
  initial: initialSync,
  evolve: evolveSync,
  evolveAll: evolveSyncAll,
  encode: (state) => state,
  decode: (json) => json as SyncState
}
