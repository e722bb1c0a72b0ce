/**
 * A published batch: the unit a town appends to its branch at an endpoint
 * (one git commit, or one Dolt commit). Pure checks of a fetched batch,
 * and the causal readiness rule of ingestion.
 */
import { Either } from "effect"
import { eventId, type ForeignEvent, isShared, seenOf, type VersionVector } from "../events/Envelope.js"

export const BATCH_VERSION = 1

export interface BatchMeta {
  readonly version: number
  readonly town: string
  /** 1-based position of the batch in the town's branch. */
  readonly batch: number
  readonly first: number
  readonly last: number
  readonly count: number
  /** Events in the branch up to and including this batch. */
  readonly total: number
  /** sha-256 of events.jsonl, as published. */
  readonly eventsHash: string
  readonly publishedAt: string
  /** The sovereignty tier the batch was published under. */
  readonly tier: string
  /** The origin town's organization, when it has one (relays of T2 batches follow it). */
  readonly organization?: string
}

const COMPLETENESS: Readonly<Record<string, number>> = { T1: 1, T2: 2, T3: 3, T4: 4 }

/**
 * Whether a batch published at tier `a` carries more of its events than one
 * at tier `b`: T1 before T2 (the same content, less restricted), before T3
 * (pseudonyms), before T4 (people removed, days only). Unknown tiers rank last.
 */
export const moreComplete = (a: string, b: string): boolean => (COMPLETENESS[a] ?? 5) < (COMPLETENESS[b] ?? 5)

/** The origin part of an envelope, as published: no local seq or chain. */
export const publishedEvent = (event: ForeignEvent): ForeignEvent => ({
  id: event.id,
  town: event.town,
  townSeq: event.townSeq,
  lamport: event.lamport,
  seen: event.seen,
  type: event.type,
  at: event.at,
  actor: event.actor,
  data: event.data,
  ...(event.sig === undefined ? {} : { sig: event.sig })
})

/**
 * Why a fetched batch cannot be ingested as the successor of `previous`
 * (undefined for a town's first batch), or undefined when it is sound.
 * The events hash is checked by the caller, which has a hash function.
 */
export const batchProblem = (
  town: string,
  meta: BatchMeta,
  events: ReadonlyArray<ForeignEvent>,
  previous: BatchMeta | undefined
): string | undefined => {
  if (meta.version !== BATCH_VERSION) return `unknown batch format version ${String(meta.version)}`
  if (meta.town !== town) return `the batch claims town ${String(meta.town)} on the branch of town ${town}`
  const expectedBatch = (previous?.batch ?? 0) + 1
  if (meta.batch !== expectedBatch) return `batch number ${String(meta.batch)} where ${expectedBatch} was expected`
  if (meta.count !== events.length || meta.count === 0) return `the batch says ${String(meta.count)} events but holds ${events.length}`
  if (meta.total !== (previous?.total ?? 0) + meta.count) return "the running total of events does not add up"
  let last = previous?.last ?? 0
  for (const event of events) {
    if (event.town !== town) return `event ${String(event.id)} claims town ${String(event.town)} on the branch of town ${town}`
    if (event.id !== eventId(town, event.townSeq)) return `event id ${String(event.id)} does not match its town and townSeq`
    if (!Number.isSafeInteger(event.townSeq)) return `event ${event.id} has a townSeq that is not a whole number`
    if (!(event.townSeq > last)) return `event ${event.id} is out of order`
    if (!isShared(event.type)) return `event ${event.id} has the local type ${event.type}, which is never published`
    const claimed = createdSourceSystem(event)
    if (claimed !== undefined && claimed !== town) {
      return `event ${event.id} creates an issue claiming source_system ${claimed}, but it was signed by town ${town}`
    }
    last = event.townSeq
  }
  if (events[0]!.townSeq !== meta.first || last !== meta.last) return "the first/last townSeq do not match the events"
  return undefined
}

/** The town an IssueCreated event says created the issue (imports may carry another town's, creations may not). */
const createdSourceSystem = (event: ForeignEvent): string | undefined => {
  if (event.type !== "IssueCreated") return undefined
  const fields = (event.data as { fields?: Record<string, unknown> } | null)?.fields
  const value = fields?.["source_system"]
  return typeof value === "string" ? value : undefined
}

/**
 * Causal delivery: an event may be folded only once everything it had seen
 * is here, so version vectors stay closed and conflicts are found the same
 * way in every town. `known` is what the town has integrated.
 */
export const missingDependency = (
  event: ForeignEvent,
  known: VersionVector,
  ownTown: string
): string | undefined => {
  for (const [town, seq] of Object.entries(event.seen)) {
    if (town === event.town || town === ownTown) continue
    if (seenOf(known, town) < seq) return town
  }
  return undefined
}

export const parseBatchMeta = (text: string): Either.Either<BatchMeta, string> => {
  try {
    const meta = JSON.parse(text) as BatchMeta
    return typeof meta === "object" && meta !== null && typeof meta.town === "string"
      ? Either.right(meta)
      : Either.left("meta.json is not a batch description")
  } catch (error) {
    return Either.left(`meta.json is not JSON (${(error as Error).message})`)
  }
}
