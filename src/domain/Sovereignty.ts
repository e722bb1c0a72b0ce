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
const TIMESTAMP_FIELDS: ReadonlyArray<string> = ["created_at", "updated_at", "closed_at", "deleted_at"]

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

const rewriteComments = (ctx: TierContext, comments: unknown): unknown =>
  Array.isArray(comments)
    ? comments.map((comment) => {
      if (typeof comment !== "object" || comment === null) return comment
      const out: Record<string, unknown> = { ...(comment as Record<string, unknown>) }
      if ("author" in out) {
        const author = person(ctx, out["author"])
        if (author === undefined) delete out["author"]
        else out["author"] = author
      }
      if (ctx.tier === "T4" && "created_at" in out) out["created_at"] = toDay(out["created_at"])
      return out
    })
    : comments

/** The issue fields (or field changes) as the tier lets them leave the town. */
const rewriteFields = (ctx: TierContext, fields: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const identifiers = [...IDENTIFIER_FIELDS, ...ctx.extraIdentifiers]
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) {
    if (identifiers.includes(key)) {
      const rewritten = person(ctx, value)
      if (rewritten !== undefined) Object.defineProperty(out, key, { value: rewritten, enumerable: true, writable: true, configurable: true })
    } else if (key === "comments") {
      out[key] = rewriteComments(ctx, value)
    } else if (ctx.tier === "T4" && TIMESTAMP_FIELDS.includes(key)) {
      out[key] = toDay(value)
    } else {
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
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
