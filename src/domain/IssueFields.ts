/**
 * What this project knows about the fields of a beads issue: their names and
 * order, the allowed values, and how timestamps compare. Shared by the
 * decider (Issue.ts) and the JSONL format (IssueJsonl.ts) so both agree.
 */
import { Option } from "effect"

/** Known beads fields, in the order an export writes them. */
export const KNOWN_FIELDS = [
  "id",
  "title",
  "description",
  "design",
  "acceptance_criteria",
  "notes",
  "status",
  "priority",
  "issue_type",
  "assignee",
  "owner",
  "created_by",
  "labels",
  "dependencies",
  "comments",
  "external_ref",
  "created_at",
  "updated_at",
  "closed_at",
  "close_reason",
  "deleted_at",
  "deleted_by",
  "delete_reason",
  "original_type",
  "source_system"
] as const
export type KnownField = (typeof KNOWN_FIELDS)[number]

export const STATUSES = ["open", "in_progress", "blocked", "deferred", "closed", "tombstone"] as const
export type IssueStatus = (typeof STATUSES)[number]

/** The usual issue types; any other non-empty string is accepted too (beads allows custom types). */
export const ISSUE_TYPES = ["bug", "feature", "task", "epic", "chore", "message"] as const

/** Known fields whose value is free text. */
export const TEXT_FIELDS: ReadonlyArray<KnownField> = [
  "title",
  "description",
  "design",
  "acceptance_criteria",
  "notes",
  "issue_type",
  "assignee",
  "owner",
  "created_by",
  "external_ref",
  "close_reason",
  "deleted_by",
  "delete_reason",
  "original_type",
  "source_system"
]

export const TIMESTAMP_FIELDS: ReadonlyArray<KnownField> = ["created_at", "updated_at", "closed_at", "deleted_at"]

export const MIN_PRIORITY = 0
export const MAX_PRIORITY = 4
export const DEFAULT_PRIORITY = 2
export const DEFAULT_ISSUE_TYPE = "task"
export const MAX_TITLE_LENGTH = 500

export const isStatus = (u: unknown): u is IssueStatus => typeof u === "string" && (STATUSES as ReadonlyArray<string>).includes(u)

export const isPriority = (u: unknown): u is number =>
  typeof u === "number" && Number.isInteger(u) && u >= MIN_PRIORITY && u <= MAX_PRIORITY

export const isJsonObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** Ids and labels sort by code unit, so the order is the same on every machine and locale. */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Sorts texts in place by code unit (shared with canonical JSON). */
export { sortTexts } from "../events/Canonical.js"

/**
 * An instant with nanosecond precision: Go's RFC 3339 timestamps carry up to
 * nine fraction digits, more than a JS Date holds, and two updates within the
 * same millisecond must still compare correctly.
 */
export interface Instant {
  readonly epochSeconds: number
  readonly nanos: number
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/

const daysInMonth = (year: number, month: number): number => {
  switch (month) {
    case 2:
      return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
    case 4:
    case 6:
    case 9:
    case 11:
      return 30
    default:
      return 31
  }
}

/** The match of an RFC 3339 date-time naming a real day and time, or undefined. */
const instantMatch = (text: string): RegExpExecArray | undefined => {
  const m = RFC3339.exec(text)
  if (m === null) return undefined
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const valid = month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) &&
    Number(m[4]) <= 23 && Number(m[5]) <= 59 && Number(m[6]) <= 60 &&
    (m[10] === undefined || (Number(m[10]) <= 23 && Number(m[11]) <= 59))
  return valid ? m : undefined
}

/** The number of two ASCII digits at `at`, or -1. */
const twoDigits = (text: string, at: number): number => {
  const tens = text.charCodeAt(at) - 48
  const ones = text.charCodeAt(at + 1) - 48
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : -1
}

const isDigit = (code: number): boolean => code >= 48 && code <= 57

/**
 * Whether `text` is an RFC 3339 date-time `parseInstant` reads, checked
 * character by character: an import checks two or three timestamps a
 * record, and the match array and number conversions of `parseInstant`'s
 * regex cost more than the check itself.
 */
export const isInstant = (text: string): boolean => {
  if (text.length < 20) return false
  const century = twoDigits(text, 0)
  const yearOfCentury = twoDigits(text, 2)
  const month = twoDigits(text, 5)
  const day = twoDigits(text, 8)
  const separator = text.charCodeAt(10)
  if (century < 0 || yearOfCentury < 0 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return false
  if (separator !== 84 && separator !== 116 && separator !== 32) return false
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return false
  const hour = twoDigits(text, 11)
  const minute = twoDigits(text, 14)
  const second = twoDigits(text, 17)
  let at = 19
  if (text.charCodeAt(at) === 46) {
    const fraction = ++at
    while (isDigit(text.charCodeAt(at))) at++
    if (at === fraction) return false
  }
  const zone = text.charCodeAt(at)
  if (zone === 90 || zone === 122) {
    if (at + 1 !== text.length) return false
  } else {
    if ((zone !== 43 && zone !== 45) || at + 6 !== text.length || text.charCodeAt(at + 3) !== 58) return false
    const offsetHours = twoDigits(text, at + 1)
    const offsetMinutes = twoDigits(text, at + 4)
    if (offsetHours < 0 || offsetHours > 23 || offsetMinutes < 0 || offsetMinutes > 59) return false
  }
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(century * 100 + yearOfCentury, month) &&
    hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 60
}

/**
 * Parses an RFC 3339 date-time (what beads writes). Stricter than
 * `Date.parse`, which accepts almost anything and rolls Feb 30 over to March.
 */
export const parseInstant = (text: string): Option.Option<Instant> => {
  const m = instantMatch(text)
  if (m === undefined) return Option.none()
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const offsetHours = m[10] === undefined ? 0 : Number(m[10])
  const offsetMinutes = m[11] === undefined ? 0 : Number(m[11])
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999.
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, 0)
  const sign = m[9] === "-" ? -1 : 1
  const offsetSeconds = m[8] === undefined ? sign * (offsetHours * 3600 + offsetMinutes * 60) : 0
  const fraction = (m[7] ?? "").slice(0, 9).padEnd(9, "0")
  return Option.some({ epochSeconds: date.getTime() / 1000 - offsetSeconds, nanos: Number(fraction) })
}

export const compareInstants = (a: Instant, b: Instant): number =>
  a.epochSeconds !== b.epochSeconds ? a.epochSeconds - b.epochSeconds : a.nanos - b.nanos

/** Whether `candidate` is a timestamp strictly later than `reference` (an unreadable reference counts as earliest). */
export const isLaterTimestamp = (candidate: unknown, reference: unknown): boolean => {
  if (typeof candidate !== "string") return false
  const later = parseInstant(candidate)
  if (Option.isNone(later)) return false
  const earlier = typeof reference === "string" ? parseInstant(reference) : Option.none()
  return Option.isNone(earlier) || compareInstants(later.value, earlier.value) > 0
}

/** Structural equality of JSON values; object member order does not matter. */
export const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]))
  }
  const left = a as Record<string, unknown>
  const right = b as Record<string, unknown>
  const keys = Object.keys(left).filter((key) => left[key] !== undefined)
  return keys.length === Object.keys(right).filter((key) => right[key] !== undefined).length &&
    keys.every((key) => Object.hasOwn(right, key) && jsonEqual(left[key], right[key]))
}

/** Labels as beads keeps them: trimmed, no empties, no duplicates, sorted. */
export const normalizeLabels = (labels: Iterable<string>): ReadonlyArray<string> =>
  Array.from(new Set(Array.from(labels, (label) => label.trim()).filter((label) => label !== ""))).sort(compareText)

/**
 * Sets an own member even when the key is "__proto__" (an unknown field of an
 * imported record may be named anything); plain assignment would change the
 * prototype instead.
 */
export const setMember = (target: Record<string, unknown>, key: string, value: unknown): void => {
  // Plain assignment is fast; only `__proto__` would reach the prototype instead of the object.
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}
