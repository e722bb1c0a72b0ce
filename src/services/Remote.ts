/**
 * The Remote service: a town's view of the endpoints of its peers, whatever
 * engine carries them. Each endpoint holds one append-only branch per town;
 * a town writes only its own. Implemented on git (src/layers/GitRemote.ts).
 */
import { Context, type Effect, type Option } from "effect"
import type { BatchMeta } from "../domain/Batch.js"
import type { Endpoint } from "../domain/Endpoint.js"
import type { BatchRefused, IntegrityError, RemoteRejected, RemoteUnreachable, StorageError } from "../domain/Errors.js"
import type { ForeignEvent } from "../events/Envelope.js"
import type { PeerCredentials } from "../layers/Credentials.js"

export interface PeerTarget {
  readonly name: string
  readonly endpoint: Endpoint
  readonly credentials: PeerCredentials | undefined
}

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
}

export interface PushReport {
  /** Towns whose branch moved forward at the endpoint. */
  readonly updated: ReadonlyArray<string>
  /** Towns of which the endpoint holds more than we do (we relay what we have; never forced). */
  readonly peerAhead: ReadonlyArray<string>
}

export interface RemoteApi {
  /** The meta of the last batch of our own branch, if any. */
  readonly ownTip: Effect.Effect<Option.Option<BatchMeta>, StorageError>
  /** Append a batch of our shared events to our own branch (local; nothing leaves the town). */
  readonly publish: (events: ReadonlyArray<ForeignEvent>, at: string, tier: string) => Effect.Effect<BatchMeta, StorageError>
  readonly fetch: (peer: PeerTarget) => Effect.Effect<void, RemoteUnreachable | StorageError>
  /** After a fetch: per town, the verified batches not yet ingested. */
  readonly incoming: (peer: PeerTarget) => Effect.Effect<ReadonlyArray<TownUpdate>, StorageError>
  readonly markIngested: (batch: FetchedBatch) => Effect.Effect<void, StorageError>
  readonly push: (peer: PeerTarget) => Effect.Effect<PushReport, RemoteUnreachable | RemoteRejected | StorageError>
  /** The branch tips at the endpoint (town -> batch meta when known here, else undefined). */
  readonly probe: (peer: PeerTarget) => Effect.Effect<ReadonlyMap<string, BatchMeta | undefined>, RemoteUnreachable | StorageError>
  /** The meta of the last ingested batch of a town. */
  readonly ingestedTip: (town: string) => Effect.Effect<Option.Option<BatchMeta>, StorageError>
}

export class Remote extends Context.Tag("beads/Remote")<Remote, RemoteApi>() {}
