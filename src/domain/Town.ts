/**
 * The folded state of a town: independent slices, each folded and
 * snapshotted on its own (see src/events/Slice.ts).
 */
import type { Envelope } from "../events/Envelope.js"
import type { Slice } from "../events/Slice.js"
import { ClockSlice, type ClockState } from "./Clock.js"
import { PeersSlice, type PeersState } from "./Federation.js"
import { IssuesSlice, type IssuesState } from "./IssueState.js"
import { SyncSlice, type SyncState } from "./SyncState.js"
import { TrustSlice, type TrustState } from "./Trust.js"

export interface TownState {
  readonly clock: ClockState
  readonly peers: PeersState
  readonly issues: IssuesState
  readonly sync: SyncState
  readonly trust: TrustState
}

export type SliceName = keyof TownState

export const TownSlices: { readonly [K in SliceName]: Slice<TownState[K]> } = {
  clock: ClockSlice,
  peers: PeersSlice,
  issues: IssuesSlice,
  sync: SyncSlice,
  trust: TrustSlice
}

export const SliceNames = Object.keys(TownSlices) as ReadonlyArray<SliceName>

export const initialTownState: TownState = {
  clock: ClockSlice.initial,
  peers: PeersSlice.initial,
  issues: IssuesSlice.initial,
  sync: SyncSlice.initial,
  trust: TrustSlice.initial
}

/** Fold one event into every slice (used by full replays). */
export const evolveTown = (state: TownState, event: Envelope): TownState => ({
  clock: ClockSlice.evolve(state.clock, event),
  peers: PeersSlice.evolve(state.peers, event),
  issues: IssuesSlice.evolve(state.issues, event),
  sync: SyncSlice.evolve(state.sync, event),
  trust: TrustSlice.evolve(state.trust, event)
})
