/**
 * Sovereignty tiers applied to what a town publishes to a peer (pure):
 *
 *   T1  everything
 *   T2  everything, only to peers of the same organization
 *   T3  identifiers replaced by stable keyed pseudonyms
 *   T4  identifiers removed, timestamps cut to the day
 *
 * `federation.exclude_types` keeps issue types out of every push, at every tier.
 */
import type { ForeignEvent } from "../events/Envelope.js"
import type { SovereigntyTier } from "./Settings.js"

/** Fields that name a person, wherever an issue carries them. */
export const IDENTIFIER_FIELDS: ReadonlyArray<string> = ["assignee", "owner", "created_by", "deleted_by"]
/** Records inside an issue that carry people and times of their own. */
const NESTED_RECORDS: ReadonlyArray<string> = ["comments", "dependencies"]

/** Beads names its times `*_at` (created_at, closed_at, …); defer_until is the one other. */
const isTimestampKey = (key: string): boolean => key.endsWith("_at") || key === "defer_until"

export interface TierContext {
  readonly tier: SovereigntyTier
  /** HMAC of a value with the town's pseudonym key (T3). */
  readonly pseudonym: (value: string) => string
  /** Extra identifier fields configured by the town. */
  readonly extraIdentifiers: ReadonlyArray<string>
  /** Whether the issue with this id is of an excluded type. */
  readonly excluded: (issueId: string) => boolean
}

const toDay = (value: unknown): unknown =>
  typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value) ? `${value.slice(0, 10)}T00:00:00Z` : value

/** Rewrite one person-naming value for the tier; undefined means "leave it out". */
const person = (ctx: TierContext, value: unknown): unknown => {
  if (value === null || value === undefined) return value
  if (ctx.tier === "T4") return undefined
  return typeof value === "string" ? ctx.pseudonym(value) : value
}

/** Comments and dependency records: their author / created_by like the issue's people, their times like its times. */
const rewriteRecords = (ctx: TierContext, records: unknown): unknown =>
  Array.isArray(records)
    ? records.map((record) =>
      typeof record === "object" && record !== null && !Array.isArray(record)
        ? rewriteFields(ctx, record as Record<string, unknown>, ["author"])
        : record
    )
    : records

const setOwn = (target: Record<string, unknown>, key: string, value: unknown): void => {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/** The issue fields (or field changes, or a nested record) as the tier lets them leave the town. */
const rewriteFields = (
  ctx: TierContext,
  fields: Readonly<Record<string, unknown>>,
  morePeople: ReadonlyArray<string> = []
): Record<string, unknown> => {
  const identifiers = [...IDENTIFIER_FIELDS, ...ctx.extraIdentifiers, ...morePeople]
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) {
    if (identifiers.includes(key)) {
      const rewritten = person(ctx, value)
      if (rewritten !== undefined) setOwn(out, key, rewritten)
    } else if (NESTED_RECORDS.includes(key)) {
      setOwn(out, key, rewriteRecords(ctx, value))
    } else if (ctx.tier === "T4" && isTimestampKey(key)) {
      setOwn(out, key, toDay(value))
    } else {
      setOwn(out, key, value)
    }
  }
  return out
}

/**
 * The event as published to a peer of `ctx.tier`, or undefined when it must
 * not leave the town (an excluded type).
 */
export const forTier = (event: ForeignEvent, ctx: TierContext): ForeignEvent | undefined => {
  const data = event.data as Record<string, unknown> | null
  const issueId = typeof data?.["id"] === "string" ? data["id"] : undefined
  if (issueId !== undefined && ctx.excluded(issueId)) return undefined
  if (ctx.tier === "T1" || ctx.tier === "T2") return event
  const actor = ctx.tier === "T4" ? "anonymous" : ctx.pseudonym(event.actor)
  const at = ctx.tier === "T4" ? (toDay(event.at) as string) : event.at
  let rewritten: unknown = data
  if (data !== null && typeof data === "object") {
    const copy: Record<string, unknown> = { ...data }
    for (const part of ["fields", "changes"]) {
      const value = copy[part]
      if (typeof value === "object" && value !== null) copy[part] = rewriteFields(ctx, value as Record<string, unknown>)
    }
    rewritten = copy
  }
  return { ...event, actor, at, data: rewritten }
}

export const TIER_ORDER: Readonly<Record<SovereigntyTier, number>> = { T1: 1, T2: 2, T3: 3, T4: 4 }
