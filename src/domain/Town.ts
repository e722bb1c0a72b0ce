/**
 * The folded state of a town: independent slices, each folded and
 * snapshotted on its own (see src/events/Slice.ts).
 */
import type { Envelope } from "../events/Envelope.js"
import type { Slice } from "../events/Slice.js"
import { ClockSlice, type ClockState } from "./Clock.js"
import { type OpenConflict, openConflicts } from "./Conflicts.js"
import { PeersSlice, type PeersState } from "./Federation.js"
import { IssuesSlice, type IssuesState, issuesTouched } from "./IssueState.js"
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

/** The slices kept as entries under keys (src/events/Slice.ts, `entries`). */
export type KeyedSliceName = "issues"

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

/**
 * A view: a small value computed from one slice (the open conflicts, from
 * the work items), kept beside the log for the head it was computed at, so
 * that a command needing only it does not fold the whole slice. It stays
 * valid for later heads as long as no event after it `affects` it.
 */
export interface View<K extends SliceName, V> {
  readonly slice: K
  readonly compute: (state: TownState[K]) => V
  readonly affects: (event: Envelope) => boolean
}

export interface TownViewValues {
  readonly conflicts: ReadonlyArray<OpenConflict>
}

export type ViewName = keyof TownViewValues

export const TownViews: { readonly [V in ViewName]: View<SliceName, TownViewValues[V]> } = {
  conflicts: {
    slice: "issues",
    compute: (state) => openConflicts(state as IssuesState),
    affects: (event) => issuesTouched(event).length > 0
  }
}
