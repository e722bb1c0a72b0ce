/**
 * The configuration keys bd knows: how each is validated, its default, whether
 * it is secret, and its environment variable. Pure: the files and the
 * environment are read in `src/layers/Config.ts`.
 */
import { Either } from "effect"
import { parseEndpoint } from "./Endpoint.js"
import { parseTier, StorageBackends, SyncModes } from "./Settings.js"

/** A validator: the text of a value, to its typed form or a description of what is allowed. */
export type Parser<A> = (text: string) => Either.Either<A, string>

export interface KeySpec<A> {
  readonly key: string
  readonly env: string
  readonly parse: Parser<A>
  /** Only list keys: a YAML sequence's items, validated one by one. */
  readonly parseItems?: (items: ReadonlyArray<string>) => Either.Either<A, string>
  readonly defaultValue?: A
  readonly secret: boolean
}

/** Shown in place of a secret's value, everywhere. */
export const REDACTED = "********"

/** `sync.mode` -> `BD_SYNC_MODE`: one rule for every known key. */
export const envVarOf = (key: string): string => `BD_${key.toUpperCase().replace(/\./g, "_")}`

const oneOf = <const L extends ReadonlyArray<string>>(values: L): Parser<L[number]> => (text) => {
  const t = text.trim()
  return (values as ReadonlyArray<string>).includes(t) ? Either.right(t as L[number]) : Either.left(values.join(", "))
}

const nonEmpty: Parser<string> = (text) => {
  const t = text.trim()
  return t === "" ? Either.left("a non-empty string") : Either.right(t)
}

const intRange = (min: number, max: number): Parser<number> => (text) => {
  const t = text.trim()
  const n = /^-?\d+$/.test(t) ? Number(t) || 0 : NaN // "-0" is 0
  return Number.isSafeInteger(n) && n >= min && n <= max
    ? Either.right(n)
    : Either.left(`an integer from ${min} to ${max}`)
}

const ISSUE_TYPE = /^[A-Za-z0-9_-]+$/
const issueTypesAllowed = "issue types made of letters, digits, '-' and '_', separated by commas"

const issueTypes = (items: ReadonlyArray<string>): Either.Either<ReadonlyArray<string>, string> => {
  const trimmed = items.map((i) => i.trim())
  return trimmed.every((i) => ISSUE_TYPE.test(i)) ? Either.right(trimmed) : Either.left(issueTypesAllowed)
}

// An empty string is the empty list, so `bd config set federation.exclude_types ""` clears it.
const issueTypeList: Parser<ReadonlyArray<string>> = (text) =>
  text.trim() === "" ? Either.right([]) : issueTypes(text.split(","))

const issuePrefix: Parser<string> = (text) => {
  const t = text.trim()
  return /^[A-Za-z][A-Za-z0-9-]{0,15}$/.test(t)
    ? Either.right(t)
    : Either.left("1 to 16 characters: a letter, then letters, digits or '-'")
}

// The typed value is the text given; consumers that need the parts call parseEndpoint again.
const endpoint: Parser<string> = (text) =>
  Either.mapBoth(parseEndpoint(text.trim()), { onLeft: (e) => e.reason, onRight: () => text.trim() })

const tier = (text: string) => Either.mapLeft(parseTier(text), (e) => e.allowed)

export interface DoltUrl {
  readonly user: string
  readonly host: string
  readonly port: number
  readonly database: string
}

const SCHEME = "mysql://"
const DOLT_URL_ALLOWED = "mysql://user@host:port/database (the port is optional, 3306 by default)"
const HOST_PORT_DB = /^(\[[0-9A-Fa-f:.]+\]|[^:/@\s[\]]+)(?::(\d+))?\/([^/?#@\s]+)$/

// Split at the last '@', so a password holding '@' or '/' is still recognised as one (and hidden).
const splitUserinfo = (text: string) => {
  const at = text.lastIndexOf("@")
  return text.startsWith(SCHEME) && at > 0
    ? { userinfo: text.slice(SCHEME.length, at), rest: text.slice(at + 1) }
    : undefined
}

/** `mysql://user@host:port/database`. A password is refused: URLs end up in logs and shell history. */
export const parseDoltUrl = (text: string): Either.Either<DoltUrl, string> => {
  const parts = splitUserinfo(text.trim())
  if (parts === undefined) return Either.left(DOLT_URL_ALLOWED)
  if (parts.userinfo.includes(":")) {
    return Either.left(`${DOLT_URL_ALLOWED}, without a password: set dolt.password or BD_DOLT_PASSWORD instead`)
  }
  const m = HOST_PORT_DB.exec(parts.rest)
  if (m === null || !/^[^\s/]+$/.test(parts.userinfo)) return Either.left(DOLT_URL_ALLOWED)
  const [, host = "", port, database = ""] = m
  const portNumber = port === undefined ? 3306 : Number(port)
  return portNumber >= 1 && portNumber <= 65535
    ? Either.right({ user: parts.userinfo, host, port: portNumber, database })
    : Either.left(`${DOLT_URL_ALLOWED}, with a port from 1 to 65535`)
}

/** The form of a refused value an error may show: secrets hidden, a URL's password hidden. */
export const shownInError = (spec: KeySpec<unknown> | undefined, text: string): string => {
  if (spec?.secret === true) return REDACTED
  const parts = splitUserinfo(text.trim())
  const colon = parts?.userinfo.indexOf(":") ?? -1
  return parts !== undefined && colon >= 0
    ? `${SCHEME}${parts.userinfo.slice(0, colon)}:${REDACTED}@${parts.rest}`
    : text
}

const doltUrl: Parser<string> = (text) => Either.map(parseDoltUrl(text), () => text.trim())

// A password may contain anything, spaces included, so it is not trimmed.
const anyString: Parser<string> = (text) => Either.right(text)

interface Rule<A> {
  readonly parse: Parser<A>
  readonly parseItems?: (items: ReadonlyArray<string>) => Either.Either<A, string>
  readonly defaultValue?: A
  readonly secret?: boolean
}

const optional = <A>(parse: Parser<A>, extra: Omit<Rule<A>, "parse"> = {}): Rule<A> => ({ parse, ...extra })
const withDefault = <A>(parse: Parser<A>, defaultValue: NoInfer<A>) => ({ parse, defaultValue })

const named = <T extends Record<string, Rule<unknown>>>(rules: T) =>
  Object.fromEntries(
    Object.entries(rules).map(([key, rule]) => [key, { ...rule, key, env: envVarOf(key), secret: rule.secret ?? false }])
  ) as { readonly [K in keyof T & string]: T[K] & { readonly key: K; readonly env: string; readonly secret: boolean } }

export const ConfigKeys = named({
  "sync.mode": withDefault(oneOf(SyncModes), "git-portable"),
  "storage.backend": optional(oneOf(StorageBackends)),
  "federation.remote": optional(endpoint),
  "federation.sovereignty": optional(tier),
  "federation.organization": optional(nonEmpty),
  "federation.town": optional(nonEmpty),
  "federation.exclude_types": optional(issueTypeList, { parseItems: issueTypes }),
  // Fields that name people beyond the built-in ones (assignee, owner, created_by, deleted_by).
  "federation.identifier_fields": optional(issueTypeList, { parseItems: issueTypes }),
  "issue_prefix": withDefault(issuePrefix, "bd"),
  "dolt.url": optional(doltUrl),
  "dolt.password": optional(anyString, { secret: true }),
  "dolt.pool_size": withDefault(intRange(1, 64), 4),
  "dolt.connect_timeout_ms": withDefault(intRange(100, 600_000), 5000),
  "dolt.query_timeout_ms": withDefault(intRange(100, 3_600_000), 30_000),
  "lock.timeout_ms": withDefault(intRange(0, 600_000), 5000),
  "actor": optional(nonEmpty)
})

export type KnownKey = keyof typeof ConfigKeys
export type ConfigValue<K extends KnownKey> = (typeof ConfigKeys)[K] extends { readonly parse: Parser<infer A> } ? A : never

/** The spec of a known key; `undefined` for the keys users keep for themselves. */
export const knownKey = (key: string): KeySpec<unknown> | undefined =>
  Object.hasOwn(ConfigKeys, key) ? (ConfigKeys as Record<string, KeySpec<unknown>>)[key] : undefined

/** Peers are event-sourced (`bd federation add-peer`), never configuration. */
export const isPeersKey = (key: string): boolean => key === "federation.peers" || key.startsWith("federation.peers.")

/** The display form of a typed value: lists comma-joined, secrets hidden. */
export const displayValue = (spec: KeySpec<unknown> | undefined, raw: unknown): string => {
  if (spec?.secret === true) return REDACTED
  if (Array.isArray(raw)) return raw.map((item) => displayValue(undefined, item)).join(",")
  if (raw === null || raw === undefined) return ""
  return typeof raw === "object" ? JSON.stringify(raw) : String(raw)
}
