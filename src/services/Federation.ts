/**
 * The Federation service: peer management as commands in, events out.
 * Two implementations, chosen per sync mode in src/layers/modes.ts: the
 * live one, and one that refuses every call with the reason federation is
 * off (FederationNotEnabled, DoltBackendRequired).
 */
import { Context, Effect, Either, Layer, Option } from "effect"
import type { Endpoint } from "../domain/Endpoint.js"
import { endpointEngine, parseEndpoint } from "../domain/Endpoint.js"
import {
  type CredentialsError,
  type DoltBackendRequired,
  type FederationNotEnabled,
  InvalidArgument,
  type InvalidEndpoint,
  type InvalidPeerName,
  type PeerAlreadyExists,
  PeerNotFound
} from "../domain/Errors.js"
import { decide, findPeer, listPeers, type Peer } from "../domain/Federation.js"
import { parsePeerName } from "../domain/PeerName.js"
import { parseTier, type SovereigntyTier } from "../domain/Settings.js"
import { EventLog, type LogError } from "../events/EventLog.js"
import { Credentials } from "../layers/Credentials.js"
import { commandMeta, Session } from "./Session.js"

export interface AddPeerInput {
  readonly name: string
  readonly endpoint: string
  readonly sovereignty: string | undefined
  readonly organization?: string | undefined
  /** `dolt` moves the peer's batches through the Dolt server (dolt.url) whatever its endpoint; `git` is the default of git endpoints. */
  readonly via?: string | undefined
  readonly credentials: { readonly user: string; readonly password: string } | undefined
}

/** A refusal of the whole federation feature in this configuration. */
export type FederationOff = FederationNotEnabled | DoltBackendRequired

export interface FederationApi {
  readonly addPeer: (input: AddPeerInput) => Effect.Effect<
    Peer,
    InvalidPeerName | InvalidEndpoint | InvalidArgument | PeerAlreadyExists | CredentialsError | LogError | FederationOff
  >
  readonly removePeer: (name: string) => Effect.Effect<Peer, PeerNotFound | CredentialsError | LogError | FederationOff>
  readonly listPeers: Effect.Effect<ReadonlyArray<Peer>, LogError | FederationOff>
  readonly getPeer: (name: string) => Effect.Effect<Peer, PeerNotFound | LogError | FederationOff>
}

export class Federation extends Context.Tag("beads/Federation")<Federation, FederationApi>() {}

const validate = (input: AddPeerInput) =>
  Effect.gen(function*() {
    const name = yield* parsePeerName(input.name)
    const endpoint: Endpoint = yield* parseEndpoint(input.endpoint)
    const sovereignty: SovereigntyTier | undefined = input.sovereignty === undefined
      ? undefined
      : yield* parseTier(input.sovereignty)
    return { name, endpoint, sovereignty, via: yield* parseVia(input.via, endpoint) }
  })

/** Which engine the user asks for: a git endpoint may go through Dolt; a Dolt-only endpoint cannot go through git. */
const parseVia = (via: string | undefined, endpoint: Endpoint): Effect.Effect<"dolt" | undefined, InvalidArgument> => {
  const wanted = via?.trim().toLowerCase()
  if (wanted === undefined || wanted === "") return Effect.succeed(undefined)
  if (wanted === "dolt") return Effect.succeed(endpointEngine(endpoint) === "dolt" ? undefined : "dolt")
  if (wanted === "git" && endpointEngine(endpoint) === "git") return Effect.succeed(undefined)
  return Effect.fail(new InvalidArgument({
    argument: "--via",
    value: via ?? "",
    allowed: endpointEngine(endpoint) === "git" ? "git or dolt" : `dolt (${endpoint.raw} is a Dolt remote)`
  }))
}

export const FederationLive: Layer.Layer<Federation, never, EventLog | Credentials | Session> = Layer.effect(
  Federation,
  Effect.gen(function*() {
    const log = yield* EventLog
    const credentials = yield* Credentials
    const session = yield* Session
    const provideSession = Effect.provideService(Session, session)

    const listAll = Effect.map(log.load(["peers"]), (loaded) => listPeers(loaded.state.peers))

    return Federation.of({
      addPeer: (input) =>
        Effect.gen(function*() {
          const { name, endpoint, sovereignty, via } = yield* validate(input)
          const meta = yield* provideSession(commandMeta)
          const committed = yield* log.transact(["peers"], (state) =>
            Either.map(
              decide(state.peers, {
                _tag: "AddPeer",
                name,
                endpoint: endpoint.raw,
                sovereignty,
                organization: input.organization?.trim() || undefined,
                via,
                hasCredentials: input.credentials !== undefined,
                ...meta
              }),
              (events) => ({ events, result: name })
            ))
          // Credentials are written only once the peer exists, so a refused add leaves none behind.
          if (input.credentials !== undefined) yield* credentials.store(name, input.credentials)
          return Option.getOrThrow(findPeer(committed.state.peers, name))
        }),
      removePeer: (name) =>
        Effect.gen(function*() {
          const meta = yield* provideSession(commandMeta)
          const committed = yield* log.transact(["peers"], (state) =>
            Either.map(
              Either.all([
                decide(state.peers, { _tag: "RemovePeer", name, ...meta }),
                Either.fromOption(findPeer(state.peers, name), () => new PeerNotFound({ name }))
              ]),
              ([events, peer]) => ({ events, result: peer })
            ))
          yield* credentials.remove(name)
          return committed.result
        }),
      listPeers: listAll,
      getPeer: (name) =>
        Effect.flatMap(log.load(["peers"]), (loaded) =>
          Either.fromOption(findPeer(loaded.state.peers, name), () => new PeerNotFound({ name })))
    })
  })
)

/** Federation in a mode or backend that does not carry it: every call says why and how to fix it. */
export const FederationRefused = (refusal: (command: string) => FederationOff): Layer.Layer<Federation, never, Session> =>
  Layer.effect(
    Federation,
    Effect.map(Session, (session) => {
      // The refusal names the command the user ran (push, status, …), whichever call it reached first.
      const refused = Effect.fail(refusal(session.command))
      return Federation.of({
        addPeer: () => refused,
        removePeer: () => refused,
        listPeers: refused,
        getPeer: () => refused
      })
    })
  )
