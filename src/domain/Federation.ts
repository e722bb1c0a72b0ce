/**
 * The federation decider: which peers a town has. Commands carry the actor
 * and time; the log stamps the town (the events' SourceSystem).
 */
import { Either, HashMap, Option } from "effect"
import type { Envelope, NewEvent } from "../events/Envelope.js"
import type { Slice } from "../events/Slice.js"
import { PeerAlreadyExists, PeerNotFound } from "./Errors.js"
import type { SovereigntyTier } from "./Settings.js"

export interface CommandMeta {
  readonly actor: string
  readonly at: string
}

export interface AddPeer extends CommandMeta {
  readonly _tag: "AddPeer"
  readonly name: string
  readonly endpoint: string
  readonly sovereignty: SovereigntyTier | undefined
  /** The peer's organization, for tier T2. */
  readonly organization?: string | undefined
  /** `dolt`: carry the peer through the Dolt server whatever its endpoint (`--via dolt`). */
  readonly via?: "dolt" | undefined
  /** Whether credentials were stored for this peer (the credentials themselves never enter the log). */
  readonly hasCredentials: boolean
}

export interface RemovePeer extends CommandMeta {
  readonly _tag: "RemovePeer"
  readonly name: string
}

export type FederationCommand = AddPeer | RemovePeer

export interface Peer {
  readonly name: string
  readonly endpoint: string
  readonly sovereignty?: SovereigntyTier
  readonly organization?: string
  /**
   * The organization learned from the peer's endpoint: the one every town
   * publishing there declares in its signed batches (see Sync). Used when
   * none was given at add-peer.
   */
  readonly learnedOrganization?: string
  /** Set when the peer was added `--via dolt`: its batches move through Dolt even on a git-kind endpoint. */
  readonly via?: "dolt"
  readonly hasCredentials: boolean
  readonly addedAt: string
  readonly addedBy: string
}

/** The peer's organization: as given at add-peer, else as learned from its endpoint. */
export const organizationOf = (peer: Peer): string | undefined => peer.organization ?? peer.learnedOrganization

export interface PeersState {
  readonly peers: HashMap.HashMap<string, Peer>
}

export const initialPeers: PeersState = { peers: HashMap.empty() }

/** The error each command can end in. */
export type DecideError<C extends FederationCommand> = C extends AddPeer ? PeerAlreadyExists : PeerNotFound

export const decide = <C extends FederationCommand>(
  state: PeersState,
  command: C
): Either.Either<ReadonlyArray<NewEvent>, DecideError<C>> => decideAny(state, command) as never

const decideAny = (
  state: PeersState,
  command: FederationCommand
): Either.Either<ReadonlyArray<NewEvent>, PeerAlreadyExists | PeerNotFound> => {
  const meta = { actor: command.actor, at: command.at }
  switch (command._tag) {
    case "AddPeer":
      return HashMap.has(state.peers, command.name)
        ? Either.left(new PeerAlreadyExists({ name: command.name }))
        : Either.right([{
          ...meta,
          type: "PeerAdded",
          data: {
            name: command.name,
            endpoint: command.endpoint,
            ...(command.sovereignty === undefined ? {} : { sovereignty: command.sovereignty }),
            ...(command.organization === undefined ? {} : { organization: command.organization }),
            ...(command.via === undefined ? {} : { via: command.via }),
            hasCredentials: command.hasCredentials
          }
        }])
    case "RemovePeer":
      return HashMap.has(state.peers, command.name)
        ? Either.right([{ ...meta, type: "PeerRemoved", data: { name: command.name } }])
        : Either.left(new PeerNotFound({ name: command.name }))
  }
}

interface PeerAddedData {
  readonly name: string
  readonly endpoint: string
  readonly sovereignty?: SovereigntyTier
  readonly organization?: string
  readonly via?: "dolt"
  readonly hasCredentials?: boolean
}

export const evolve = (state: PeersState, event: Envelope): PeersState => {
  switch (event.type) {
    case "PeerAdded": {
      const data = event.data as PeerAddedData
      const peer: Peer = {
        name: data.name,
        endpoint: data.endpoint,
        ...(data.sovereignty === undefined ? {} : { sovereignty: data.sovereignty }),
        ...(data.organization === undefined ? {} : { organization: data.organization }),
        ...(data.via === "dolt" ? { via: "dolt" as const } : {}),
        hasCredentials: data.hasCredentials === true,
        addedAt: event.at,
        addedBy: event.actor
      }
      return { peers: HashMap.set(state.peers, data.name, peer) }
    }
    case "PeerRemoved":
      return { peers: HashMap.remove(state.peers, (event.data as { name: string }).name) }
    case "PeerOrganizationLearned": {
      const data = event.data as { peer: string; organization: string | null }
      return Option.match(HashMap.get(state.peers, data.peer), {
        onNone: () => state,
        onSome: ({ learnedOrganization: _old, ...peer }) => ({
          peers: HashMap.set(
            state.peers,
            data.peer,
            typeof data.organization === "string" ? { ...peer, learnedOrganization: data.organization } : peer
          )
        })
      })
    }
    default:
      return state
  }
}

/** Peers sorted by name, as every listing shows them. */
export const listPeers = (state: PeersState): ReadonlyArray<Peer> =>
  Array.from(HashMap.values(state.peers)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))

export const findPeer = (state: PeersState, name: string): Option.Option<Peer> => HashMap.get(state.peers, name)

export const PeersSlice: Slice<PeersState> = {
  name: "peers",
  initial: initialPeers,
  evolve,
  dataOf: new Set(["PeerAdded", "PeerRemoved", "PeerOrganizationLearned"]),
  encode: (state) => listPeers(state),
  decode: (json) => ({
    peers: HashMap.fromIterable((json as ReadonlyArray<Peer>).map((peer) => [peer.name, peer] as const))
  })
}
