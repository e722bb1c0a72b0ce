/**
 * The event envelope: one line of the log. The origin part (id, town,
 * townSeq, lamport, seen, type, at, actor, data, sig) is the same in every
 * town that holds the event; the local part (seq, prev, hash) places it in
 * this town's hash chain.
 *
 * A line is the canonical JSON of the envelope without `hash`, with
 * `,"hash":"<hex>"` spliced in before the closing brace. The hash is
 * sha-256 over `prev + "\n" + body`, where body is that canonical JSON.
 * Verifying a line therefore needs no re-serialisation: cut the fixed-size
 * hash suffix off, hash what is left.
 */
import { Schema } from "effect"

export const GENESIS_HASH = "0".repeat(64)

/** Town -> highest townSeq of that town integrated when the event was decided. */
export const VersionVector = Schema.Record({ key: Schema.String, value: Schema.Number })
export type VersionVector = typeof VersionVector.Type

/**
 * What a version vector says of a town: the highest townSeq seen, 0 when it
 * names none. Only its own members count: a town named like a member of
 * Object (`__proto__`, `valueOf`) must not read one.
 */
export const seenOf = (vector: VersionVector | undefined, town: string): number =>
  vector !== undefined && Object.hasOwn(vector, town) ? vector[town]! : 0

export const Envelope = Schema.Struct({
  seq: Schema.Number,
  id: Schema.String,
  town: Schema.String,
  townSeq: Schema.Number,
  lamport: Schema.Number,
  seen: VersionVector,
  type: Schema.String,
  at: Schema.String,
  actor: Schema.String,
  data: Schema.Unknown,
  sig: Schema.optional(Schema.String),
  prev: Schema.String,
  hash: Schema.String
})
export type Envelope = typeof Envelope.Type

/** What a command hands to the log: the log assigns ids, clocks and the chain. */
export interface NewEvent {
  readonly type: string
  readonly data: unknown
  readonly at: string
  readonly actor: string
}

/** An event as another town published it: origin fields fixed, chain fields to be assigned here. */
export type ForeignEvent = Omit<Envelope, "seq" | "prev" | "hash">

/**
 * Event types that never leave the town: its own peer configuration and the
 * operational history of this copy. Work items and conflict resolutions are shared.
 */
export const LOCAL_EVENT_TYPES: ReadonlySet<string> = new Set([
  "PeerAdded",
  "PeerRemoved",
  "PushStarted",
  "PushCompleted",
  "PushFailed",
  "PullStarted",
  "PullCompleted",
  "PullFailed",
  "SyncCompleted",
  "ConflictDetected",
  "TrustKeyRecorded",
  "TrustKeyRevoked",
  "TrustKeyPinned",
  "EventsUpgraded",
  "PeerOrganizationLearned",
  "LogRepaired"
])

export const isShared = (type: string): boolean => !LOCAL_EVENT_TYPES.has(type)

export const eventId = (town: string, townSeq: number): string => `${town}:${townSeq}`

/** Length of `,"hash":"` + 64 hex digits + `"` — the fixed suffix before the closing brace. */
export const HASH_SUFFIX_LENGTH = 9 + 64 + 1
