/**
 * The Remote service: a town's view of the endpoints of its peers, whatever
 * engine carries them. Each endpoint holds one append-only branch per town;
 * a town writes only its own. Implemented on git (src/layers/GitRemote.ts)
 * and on Dolt (src/layers/DoltRemote.ts); src/layers/RoutedRemote.ts sends
 * each peer to the engine that carries it.
 */
import { Context, type Effect, type Option } from "effect"
import type { BatchMeta } from "../domain/Batch.js"
import type { Endpoint } from "../domain/Endpoint.js"
import type { BatchRefused, DoltBackendRequired, IntegrityError, RemoteRejected, RemoteUnreachable, StorageError } from "../domain/Errors.js"
import type { SovereigntyTier } from "../domain/Settings.js"
import type { ForeignEvent } from "../events/Envelope.js"
import type { PeerCredentials } from "../layers/Credentials.js"

export interface PeerTarget {
  readonly name: string
  readonly endpoint: Endpoint
  readonly credentials: PeerCredentials | undefined
  /** The sovereignty tier of what this town publishes there. */
  readonly tier: SovereigntyTier
  /** Which engine moves the batches: git, or a Dolt SQL server's DOLT_PUSH / DOLT_FETCH. */
  readonly engine: "git" | "dolt"
}

/** A network step failed; with a Dolt peer, also: no Dolt server to move the batches through. */
export type TransportError = RemoteUnreachable | StorageError | DoltBackendRequired

export interface FetchedBatch {
  readonly town: string
  readonly commit: string
  readonly meta: BatchMeta
  readonly events: ReadonlyArray<ForeignEvent>
  /** The public key whose valid signature the batch carries (whether to trust it is the trust store's call). */
  readonly signer: string
}

/** What a peer's endpoint has of one town beyond what this town ingested. */
export interface TownUpdate {
  readonly town: string
  /** Verified batches, oldest first. */
  readonly batches: ReadonlyArray<FetchedBatch>
  /** Why the rest of this town's branch is not ingested (a rewritten branch, a bad batch). */
  readonly problem: IntegrityError | BatchRefused | undefined
  /** Something worth telling that is not a failure (another tier's version of a branch we hold). */
  readonly note?: string
  /**
   * Set when the endpoint has a more complete version (a lower sovereignty
   * tier) of the town's branch than the one held, at least as long: then
   * `batches` is that whole branch, from its first batch, to replace the held one.
   */
  readonly upgrade?: { readonly from: string; readonly tier: string }
}

export interface PushReport {
  /** Towns whose branch moved forward at the endpoint. */
  readonly updated: ReadonlyArray<string>
  /** Towns of which the endpoint holds more than we do (we relay what we have; never forced). */
  readonly peerAhead: ReadonlyArray<string>
}

export interface RemoteApi {
  /** The meta of the last batch of our own branch at a tier, if any. */
  readonly ownTip: (tier: SovereigntyTier) => Effect.Effect<Option.Option<BatchMeta>, StorageError>
  /** Append a batch of our shared events (already shaped for the tier) to our branch of that tier (local). */
  readonly publish: (
    events: ReadonlyArray<ForeignEvent>,
    at: string,
    tier: SovereigntyTier,
    organization: string | undefined
  ) => Effect.Effect<BatchMeta, StorageError>
  readonly fetch: (peer: PeerTarget) => Effect.Effect<void, TransportError>
  /** After a fetch: per town, the verified batches not yet ingested. */
  readonly incoming: (peer: PeerTarget) => Effect.Effect<ReadonlyArray<TownUpdate>, StorageError>
  readonly markIngested: (batch: FetchedBatch) => Effect.Effect<void, StorageError>
  /** Send our branch of the peer's tier, and relay the other towns' branches `relay` allows. */
  readonly push: (
    peer: PeerTarget,
    relay: (town: string, tip: BatchMeta | undefined) => boolean
  ) => Effect.Effect<PushReport, TransportError | RemoteRejected>
  /** The branch tips at the endpoint (town -> batch meta when known here, else undefined). */
  readonly probe: (peer: PeerTarget) => Effect.Effect<ReadonlyMap<string, BatchMeta | undefined>, TransportError>
  /** Every other town's branch this town holds, verified again from its first batch (for audits). */
  readonly verifyHeld: Effect.Effect<ReadonlyArray<TownUpdate>, StorageError>
  /** The meta of the last ingested batch of a town. */
  readonly ingestedTip: (town: string) => Effect.Effect<Option.Option<BatchMeta>, StorageError>
}

export class Remote extends Context.Tag("beads/Remote")<Remote, RemoteApi>() {}
