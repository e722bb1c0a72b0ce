/**
 * The beads JSONL format (`.beads/issues.jsonl`): one issue a line.
 *
 * Parsing checks the fields this project interprets and keeps every other
 * field as it is; one bad line refuses the whole file, so an import is all
 * or nothing. Serialising writes known fields in beads' order and unknown
 * ones sorted, so the same issues always give the same bytes.
 */
import { Either } from "effect"
import { ImportInvalid } from "./IssueErrors.js"
import {
  compareText,
  isJsonObject,
  isInstant,
  isPriority,
  KNOWN_FIELDS,
  setMember,
  TEXT_FIELDS,
  TIMESTAMP_FIELDS
} from "./IssueFields.js"

type JsonRecord = Record<string, unknown>

/**
 * Why a record is refused, or undefined when it is fine. A known field set
 * to null is treated as absent (Go writes null for empty pointers and
 * slices). Status is any non-empty string: newer beads versions write
 * statuses this project does not list, and an import must not lose them.
 */
const problem = (record: JsonRecord): string | undefined => {
  const id = record["id"]
  if (typeof id !== "string" || id.trim() === "") return "missing or empty \"id\" (a non-empty string is required)"
  const present = (field: string) => record[field] !== undefined && record[field] !== null
  for (const field of TEXT_FIELDS) {
    if (present(field) && typeof record[field] !== "string") return `"${field}" must be a string`
  }
  if (present("status") && (typeof record["status"] !== "string" || record["status"] === "")) {
    return "\"status\" must be a non-empty string"
  }
  if (present("priority") && !isPriority(record["priority"])) return "\"priority\" must be an integer from 0 to 4"
  const labels = record["labels"]
  if (present("labels") && !(Array.isArray(labels) && labels.every((label) => typeof label === "string"))) {
    return "\"labels\" must be an array of strings"
  }
  for (const field of ["dependencies", "comments"]) {
    if (present(field) && !Array.isArray(record[field])) return `"${field}" must be an array`
  }
  for (const field of TIMESTAMP_FIELDS) {
    const value = record[field]
    if (present(field) && (typeof value !== "string" || !isInstant(value))) {
      return `"${field}" must be an RFC 3339 timestamp such as 2025-01-31T09:30:00Z`
    }
  }
  return undefined
}

type FieldRule = (value: unknown) => boolean

const isString: FieldRule = (value) => typeof value === "string"

/** The same rules as `problem`, field by field, for the records that pass them all. */
const FIELD_RULES: ReadonlyMap<string, FieldRule> = new Map<string, FieldRule>([
  ...TEXT_FIELDS.map((field) => [field, isString] as const),
  ["status", (value) => typeof value === "string" && value !== ""],
  ["priority", isPriority],
  ["labels", (value) => Array.isArray(value) && value.every(isString)],
  ["dependencies", Array.isArray],
  ["comments", Array.isArray],
  ...TIMESTAMP_FIELDS.map((field) => [field, (value: unknown) => typeof value === "string" && isInstant(value)] as const)
])

/**
 * Whether `problem` finds nothing, checking each member once instead of
 * looking every known field up; `problem` still words the refusal.
 */
const passes = (record: JsonRecord): boolean => {
  const id = record["id"]
  if (typeof id !== "string" || id.trim() === "") return false
  for (const key of Object.keys(record)) {
    const rule = FIELD_RULES.get(key)
    if (rule === undefined) continue
    const value = record[key]
    if (value !== null && value !== undefined && !rule(value)) return false
  }
  return true
}

/** A line's record, or why it is refused (a string): no wrapper per line, a large import reads 100,000. */
const parseLine = (line: string): JsonRecord | string => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (error) {
    return `invalid JSON (${error instanceof Error ? error.message : String(error)})`
  }
  if (!isJsonObject(value)) return "expected a JSON object"
  if (passes(value)) return value
  return problem(value) ?? value
}

/** Whether a line holds nothing but white space (JSON's, and what `trim` removes), checked cheaply for the usual line. */
const isBlank = (line: string): boolean => line.length === 0 || (line.charCodeAt(0) <= 0x20 || line.charCodeAt(0) >= 0x7f ? line.trim() === "" : false)

/**
 * The records of a file. Lines are numbered from 1 as an editor shows
 * them: a BOM does not count, blank lines do, and CRLF ends a line like LF.
 */
export const readIssuesJsonl = (text: string, file: string): Either.Either<ReadonlyArray<JsonRecord>, ImportInvalid> => {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text
  const lines = body.split("\n")
  const records: Array<JsonRecord> = []
  const firstLine = new Map<string, number>()
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]!
    const line = raw.charCodeAt(raw.length - 1) === 0x0d ? raw.slice(0, -1) : raw
    if (isBlank(line)) continue
    const lineNumber = index + 1
    const parsed = parseLine(line)
    if (typeof parsed === "string") return Either.left(new ImportInvalid({ file, line: lineNumber, reason: parsed }))
    const id = parsed["id"] as string
    const seen = firstLine.get(id)
    if (seen !== undefined) {
      return Either.left(
        new ImportInvalid({ file, line: lineNumber, reason: `duplicate id ${JSON.stringify(id)} (first at line ${seen})` })
      )
    }
    firstLine.set(id, lineNumber)
    records.push(parsed)
  }
  return Either.right(records)
}

const KNOWN: ReadonlySet<string> = new Set(KNOWN_FIELDS)

/** The export's order of members: beads' known fields in beads' order, then the others sorted. */
const exportKeys = (fields: Readonly<JsonRecord>): ReadonlyArray<string> => [
  ...KNOWN_FIELDS,
  ...Object.keys(fields).filter((key) => !KNOWN.has(key)).sort(compareText)
]

/**
 * Written member by member: an object built in this order would not keep it,
 * since JavaScript enumerates integer-like keys first. U+2028 and U+2029 are
 * escaped (as Go does), since some line-oriented tools treat them as line breaks.
 */
export const serializeIssue = (fields: Readonly<JsonRecord>): string => {
  const members: Array<string> = []
  for (const key of exportKeys(fields)) {
    const value = fields[key]
    if (value !== undefined) members.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`)
  }
  return `{${members.join(",")}}`.replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029")
}

/**
 * The fields as an object whose members come in the export's order (beads'
 * known fields, then the others sorted), for JSON output: the same issue
 * always prints the same way, whichever write built the folded record.
 * (Integer-like keys still come first: JavaScript enumerates them so.)
 */
export const inExportOrder = (fields: Readonly<JsonRecord>): JsonRecord => {
  const out: JsonRecord = {}
  for (const key of exportKeys(fields)) {
    if (Object.hasOwn(fields, key) && fields[key] !== undefined) setMember(out, key, fields[key])
  }
  return out
}

/** One line per issue, sorted by id, each ending in a newline. */
export const serializeIssuesJsonl = (records: ReadonlyArray<Readonly<JsonRecord>>): string =>
  [...records]
    .sort((a, b) => compareText(String(a["id"]), String(b["id"])))
    .map((record) => `${serializeIssue(record)}\n`)
    .join("")
