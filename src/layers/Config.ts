/**
 * The effective configuration, merged from (later wins) defaults, the user
 * file, the project file, the environment and flags; and the edits of
 * `bd config set/unset`, which keep a file's comments and key order.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Context, Effect, Either, Layer, Option } from "effect"
import { Document, isMap, isScalar as isYamlScalar, LineCounter, parseDocument, Scalar } from "yaml"
import {
  ConfigKeys,
  type ConfigValue,
  displayValue,
  isPeersKey,
  type KeySpec,
  knownKey,
  type KnownKey,
  shownInError
} from "../domain/ConfigKeys.js"
import { ConfigInvalid, StorageError } from "../domain/Errors.js"
import type { SovereigntyTier, StorageBackend, SyncMode } from "../domain/Settings.js"

export interface ConfigSources {
  cwd: string
  env: Readonly<Record<string, string | undefined>>
  home: string
  beadsDir: string | undefined
  flags: Readonly<Record<string, string>>
}

export interface ConfigEntry {
  readonly key: string
  /** Display form: lists comma-joined, secrets as "********". */
  readonly value: string
  /** The typed value (secrets redacted here too: entries are what gets listed). */
  readonly raw: unknown
  /** "default" | absolute file path | "env BD_X" | "flag" */
  readonly source: string
}

export interface ConfigService {
  /** Every effective key, sorted by key. */
  readonly entries: ReadonlyArray<ConfigEntry>
  readonly get: (key: string) => Option.Option<ConfigEntry>
  readonly syncMode: SyncMode
  readonly storageBackend: StorageBackend | undefined
  readonly sovereignty: SovereigntyTier | undefined
  readonly remote: string | undefined
  readonly organization: string | undefined
  readonly townName: string | undefined
  readonly excludeTypes: ReadonlyArray<string>
  readonly identifierFields: ReadonlyArray<string>
  readonly issuePrefix: string
  readonly doltUrl: string | undefined
  readonly doltPassword: string | undefined
  readonly doltPoolSize: number
  readonly doltConnectTimeoutMs: number
  readonly doltQueryTimeoutMs: number
  readonly lockTimeoutMs: number
  readonly actor: string | undefined
  /** `<beadsDir>/config.yaml` when beadsDir is set. */
  readonly projectFile: string | undefined
  readonly userFile: string
}

export class Config extends Context.Tag("Config")<Config, ConfigService>() {}

const SET_SOURCE = "bd config set"

/** One value as read from a source, before validation. */
interface Setting {
  readonly key: string
  readonly value: unknown
  readonly source: string
}

interface Resolved {
  readonly raw: unknown
  readonly source: string
}

// ---- reading YAML files ----------------------------------------------------

const storageError = (file: string) => (cause: unknown) =>
  new StorageError({ path: file, reason: cause instanceof Error ? cause.message : String(cause) })

const isMissing = (cause: unknown) => (cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT"

/** The file's text, or `undefined` when there is no file (which is fine). */
const readText = (file: string): Effect.Effect<string | undefined, StorageError> =>
  Effect.try({ try: () => fs.readFileSync(file, "utf8"), catch: (cause) => cause }).pipe(
    Effect.catchIf(isMissing, () => Effect.succeed(undefined)),
    Effect.mapError(storageError(file))
  )

/** Parses a file's text; a syntax error names `file:line:col` and the parser's message. */
const parseYaml = (file: string, text: string): Effect.Effect<Document, ConfigInvalid> => {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false })
  const error = doc.errors[0]
  if (error === undefined) {
    return doc.contents === null || isMap(doc.contents)
      ? Effect.succeed(doc)
      : Effect.fail(new ConfigInvalid({ source: file, key: "", value: "", allowed: "the top level must be a mapping of keys to values" }))
  }
  const { line, col } = lineCounter.linePos(error.pos[0])
  return Effect.fail(new ConfigInvalid({ source: `${file}:${line}:${col}`, key: "", value: "", allowed: error.message }))
}

const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Nested (`sync: {mode: x}`) and flat (`sync.mode: x`) keys both become
 * `sync.mode`. A known key stops the descent so a mapping given for it is
 * reported rather than silently becoming unknown keys.
 */
const flatten = (value: unknown, prefix: string, out: Array<readonly [string, unknown]>): void => {
  if (prefix !== "" && (knownKey(prefix) !== undefined || !isPlainObject(value))) {
    out.push([prefix, value])
    return
  }
  if (!isPlainObject(value)) return
  for (const [name, child] of Object.entries(value)) {
    const key = prefix === "" ? name : `${prefix}.${name}`
    if (!isPeersKey(key)) flatten(child, key, out)
  }
}

const readFileSettings = (file: string): Effect.Effect<ReadonlyArray<Setting>, ConfigInvalid | StorageError> =>
  Effect.gen(function* () {
    const text = yield* readText(file)
    if (text === undefined) return []
    const doc = yield* parseYaml(file, text)
    // toJS throws on an alias bomb (more aliases than yaml's maxAliasCount).
    const data = yield* Effect.try({
      try: () => doc.toJS(),
      catch: (cause) => new ConfigInvalid({ source: file, key: "", value: "", allowed: String(cause instanceof Error ? cause.message : cause) })
    })
    const pairs: Array<readonly [string, unknown]> = []
    flatten(data, "", pairs)
    const seen = new Set<string>()
    for (const [key, value] of pairs) {
      if (seen.has(key)) {
        const shown = shownInError(knownKey(key), displayValue(undefined, value))
        return yield* new ConfigInvalid({ source: file, key, value: shown, allowed: "one value per key (it is given both nested and as a dotted key)" })
      }
      seen.add(key)
    }
    // YAML null (`remote:` with nothing after it) means not set.
    return pairs.filter(([, value]) => value !== null).map(([key, value]) => ({ key, value, source: file }))
  })

// ---- validation ------------------------------------------------------------

const isScalar = (u: unknown): u is string | number | boolean | bigint =>
  ["string", "number", "boolean", "bigint"].includes(typeof u)

const validate = (spec: KeySpec<unknown>, value: unknown): Either.Either<unknown, string> => {
  if (isScalar(value)) return spec.parse(String(value))
  if (Array.isArray(value) && value.every(isScalar)) {
    return spec.parseItems === undefined ? Either.left("a single value, not a list") : spec.parseItems(value.map(String))
  }
  return Either.left(spec.parseItems === undefined ? "a single value" : "a list of values")
}

const resolve = (setting: Setting): Either.Either<Resolved, ConfigInvalid> => {
  const spec = knownKey(setting.key)
  if (spec === undefined) return Either.right({ raw: setting.value, source: setting.source })
  return Either.mapBoth(validate(spec, setting.value), {
    onLeft: (allowed) =>
      new ConfigInvalid({
        source: setting.source,
        key: setting.key,
        value: shownInError(spec, displayValue(undefined, setting.value)),
        allowed
      }),
    onRight: (raw) => ({ raw, source: setting.source })
  })
}

const envSettings = (env: ConfigSources["env"]): ReadonlyArray<Setting> =>
  Object.values(ConfigKeys).flatMap((spec) => {
    const value = env[spec.env]
    // An empty variable counts as unset, as `export BD_X=` usually means "no value".
    return value === undefined || value === "" ? [] : [{ key: spec.key, value, source: `env ${spec.env}` }]
  })

const flagSettings = (flags: ConfigSources["flags"]): ReadonlyArray<Setting> =>
  Object.entries(flags)
    .filter(([key]) => !isPeersKey(key))
    .map(([key, value]) => ({ key, value, source: "flag" }))

// ---- the service -----------------------------------------------------------

/** `$XDG_CONFIG_HOME/bd/config.yaml`; a relative XDG_CONFIG_HOME is ignored, as the XDG spec says. */
const userFileOf = (sources: ConfigSources): string => {
  const xdg = sources.env["XDG_CONFIG_HOME"]
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(path.resolve(sources.cwd, sources.home), ".config")
  return path.join(base, "bd", "config.yaml")
}

const makeService = (resolved: ReadonlyMap<string, Resolved>, projectFile: string | undefined, userFile: string): ConfigService => {
  const entries = [...resolved.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, { raw, source }]): ConfigEntry => {
      const spec = knownKey(key)
      const value = displayValue(spec, raw)
      return { key, value, raw: spec?.secret === true ? value : raw, source }
    })
  const byKey = new Map(entries.map((entry) => [entry.key, entry]))
  const typed = <K extends KnownKey>(key: K) => resolved.get(key)?.raw as ConfigValue<K> | undefined
  // Defaults are always in `resolved`; the fallbacks only satisfy the types.
  const defaulted = <K extends KnownKey>(key: K, fallback: ConfigValue<K>) => typed(key) ?? fallback
  return {
    entries,
    get: (key) => Option.fromNullable(byKey.get(key)),
    syncMode: defaulted("sync.mode", ConfigKeys["sync.mode"].defaultValue),
    storageBackend: typed("storage.backend"),
    sovereignty: typed("federation.sovereignty"),
    remote: typed("federation.remote"),
    organization: typed("federation.organization"),
    townName: typed("federation.town"),
    excludeTypes: typed("federation.exclude_types") ?? [],
    identifierFields: typed("federation.identifier_fields") ?? [],
    issuePrefix: defaulted("issue_prefix", ConfigKeys["issue_prefix"].defaultValue),
    doltUrl: typed("dolt.url"),
    doltPassword: typed("dolt.password"),
    doltPoolSize: defaulted("dolt.pool_size", ConfigKeys["dolt.pool_size"].defaultValue),
    doltConnectTimeoutMs: defaulted("dolt.connect_timeout_ms", ConfigKeys["dolt.connect_timeout_ms"].defaultValue),
    doltQueryTimeoutMs: defaulted("dolt.query_timeout_ms", ConfigKeys["dolt.query_timeout_ms"].defaultValue),
    lockTimeoutMs: defaulted("lock.timeout_ms", ConfigKeys["lock.timeout_ms"].defaultValue),
    actor: typed("actor"),
    projectFile,
    userFile
  }
}

export const loadConfig = (sources: ConfigSources): Effect.Effect<ConfigService, ConfigInvalid | StorageError> =>
  Effect.gen(function* () {
    const userFile = userFileOf(sources)
    const projectFile =
      sources.beadsDir === undefined ? undefined : path.join(path.resolve(sources.cwd, sources.beadsDir), "config.yaml")
    const resolved = new Map<string, Resolved>()
    for (const spec of Object.values(ConfigKeys)) {
      if ("defaultValue" in spec) resolved.set(spec.key, { raw: spec.defaultValue, source: "default" })
    }
    const layers: Array<ReadonlyArray<Setting>> = [
      yield* readFileSettings(userFile),
      projectFile === undefined ? [] : yield* readFileSettings(projectFile),
      envSettings(sources.env),
      flagSettings(sources.flags)
    ]
    for (const setting of layers.flat()) {
      resolved.set(setting.key, yield* resolve(setting))
    }
    return makeService(resolved, projectFile, userFile)
  })

export const ConfigLive = (sources: ConfigSources): Layer.Layer<Config, ConfigInvalid | StorageError> =>
  Layer.effect(Config, loadConfig(sources))

// ---- editing a file --------------------------------------------------------

const refusePeers = (key: string, value: string): Effect.Effect<void, ConfigInvalid> =>
  isPeersKey(key)
    ? Effect.fail(new ConfigInvalid({ source: SET_SOURCE, key, value, allowed: "peers are managed with bd federation add-peer/remove-peer" }))
    : Effect.void

const refuseBadKey = (key: string, value: string): Effect.Effect<void, ConfigInvalid> =>
  key.split(".").some((part) => part.trim() === "")
    ? Effect.fail(new ConfigInvalid({ source: SET_SOURCE, key, value, allowed: "a key of dot-separated names, such as sync.mode" }))
    : Effect.void

/**
 * Where `key` lives in the document, trying every grouping of its parts
 * (`a.b.c`, `a: {b.c}`, `a.b: {c}`, `a: {b: {c}}`), so an edit lands on the
 * entry the user wrote, in whatever form they wrote it.
 */
const findPath = (node: unknown, parts: ReadonlyArray<string>): ReadonlyArray<string> | undefined => {
  if (!isMap(node)) return undefined
  for (let i = 1; i <= parts.length; i++) {
    const head = parts.slice(0, i).join(".")
    if (!node.has(head)) continue
    if (i === parts.length) return [head]
    const rest = findPath(node.get(head, true), parts.slice(i))
    if (rest !== undefined) return [head, ...rest]
  }
  return undefined
}

/** A new key goes nested under existing mappings; where a parent is a plain value, as a dotted key. */
const insertionPath = (node: unknown, parts: ReadonlyArray<string>): ReadonlyArray<string> => {
  const [head, ...rest] = parts
  if (head === undefined || rest.length === 0 || !isMap(node) || !node.has(head)) return parts
  const child = node.get(head, true)
  return isMap(child) ? [head, ...insertionPath(child, rest)] : [parts.join(".")]
}

const readDocument = (file: string): Effect.Effect<{ doc: Document; mode: number | undefined }, ConfigInvalid | StorageError> =>
  Effect.gen(function* () {
    const text = yield* readText(file)
    if (text === undefined) return { doc: new Document({}), mode: undefined }
    const doc = yield* parseYaml(file, text)
    const mode = yield* Effect.try({ try: () => fs.statSync(file).mode & 0o777, catch: storageError(file) })
    return { doc, mode }
  })

/** Writes through a temp file in the same directory, so a crash leaves the old file or the new one, never half. */
const writeAtomically = (file: string, text: string, mode: number): Effect.Effect<void, StorageError> =>
  Effect.try({
    try: () => {
      // Follow a symlink (dotfile managers) so the link survives the rename.
      const target = fs.existsSync(file) ? fs.realpathSync(file) : file
      fs.mkdirSync(path.dirname(target), { recursive: true })
      const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomUUID()}.tmp`)
      try {
        const fd = fs.openSync(temp, "wx", mode)
        try {
          fs.fchmodSync(fd, mode) // the umask must not change the mode the file had
          fs.writeSync(fd, text)
          fs.fsyncSync(fd)
        } finally {
          fs.closeSync(fd)
        }
        fs.renameSync(temp, target)
      } catch (cause) {
        fs.rmSync(temp, { force: true })
        throw cause
      }
    },
    catch: storageError(file)
  })

const asComment = (text: string | null | undefined): ReadonlyArray<string> =>
  text ? text.split("\n").map((line) => `#${line}`) : []

const render = (doc: Document): string => {
  // An emptied file keeps its comments, rather than becoming "{}".
  if (!isMap(doc.contents) || doc.contents.items.length > 0) return doc.toString()
  const lines = [...asComment(doc.commentBefore), ...asComment(doc.comment)]
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`
}

export const setConfigValue = (file: string, key: string, value: string): Effect.Effect<void, ConfigInvalid | StorageError> =>
  Effect.gen(function* () {
    yield* refusePeers(key, value)
    yield* refuseBadKey(key, value)
    const spec = knownKey(key)
    const typed =
      spec === undefined
        ? value
        : yield* Either.mapLeft(spec.parse(value), (allowed) =>
            new ConfigInvalid({ source: SET_SOURCE, key, value: shownInError(spec, value), allowed }))
    const { doc, mode } = yield* readDocument(file)
    const parts = key.split(".")
    doc.setIn(findPath(doc.contents, parts) ?? insertionPath(doc.contents, parts), typed)
    // A file holding a secret is readable by its owner only.
    const fileMode = spec?.secret === true ? (mode ?? 0o600) & 0o600 : (mode ?? 0o644)
    yield* writeAtomically(file, render(doc), fileMode)
  })

// A comment ending in a newline was set apart from its entry by a blank line, so all of it is kept;
// otherwise its last paragraph is the entry's own and goes with it.
const keptOf = (comment: string | null | undefined): string => {
  const paragraphs = comment?.split("\n\n") ?? []
  return (comment?.endsWith("\n") ? paragraphs : paragraphs.slice(0, -1)).join("\n\n").replace(/\n+$/, "")
}

/**
 * Removes the entry at `at`. yaml hangs the comments above an entry on its
 * key (or on the mapping, for a nested mapping's first entry), including a
 * file's header; the paragraphs set apart by a blank line describe more than
 * this entry, so they stay, moved to the next entry or the end of the file.
 */
const deleteEntry = (doc: Document, at: ReadonlyArray<string>): void => {
  const parent = at.length === 1 ? doc.contents : doc.getIn(at.slice(0, -1), true)
  if (!isMap(parent)) return
  const index = parent.items.findIndex((pair) => String(isYamlScalar(pair.key) ? pair.key.value : pair.key) === at.at(-1))
  const [removed] = parent.items.splice(index, 1)
  const key = isYamlScalar(removed?.key) ? removed.key : undefined
  if (index === 0 && !key?.commentBefore && parent.commentBefore) {
    parent.commentBefore = keptOf(parent.commentBefore) || null
    return
  }
  const kept = keptOf(key?.commentBefore)
  const next = parent.items[index]
  if (next !== undefined) {
    const nextKey = isYamlScalar(next.key) ? next.key : new Scalar(next.key)
    if (kept !== "") nextKey.commentBefore = `${kept}\n${nextKey.commentBefore ? `\n${nextKey.commentBefore}` : ""}`
    if (key?.spaceBefore) nextKey.spaceBefore = true
    // The document's own header is already followed by a blank line.
    if (index === 0 && at.length === 1 && doc.commentBefore) nextKey.spaceBefore = false
    next.key = nextKey
  } else if (kept !== "") {
    if (at.length === 1) doc.comment = doc.comment ? `${kept}\n\n${doc.comment}` : kept
    else parent.comment = parent.comment ? `${kept}\n\n${parent.comment}` : kept
  }
}

export const unsetConfigValue = (file: string, key: string): Effect.Effect<boolean, ConfigInvalid | StorageError> =>
  Effect.gen(function* () {
    yield* refusePeers(key, "")
    const { doc, mode } = yield* readDocument(file)
    const found = findPath(doc.contents, key.split("."))
    if (mode === undefined || found === undefined) return false
    deleteEntry(doc, found)
    // Drop parents the removal left empty, rather than leaving `sync: {}` behind.
    for (let n = found.length - 1; n > 0; n--) {
      const parent = doc.getIn(found.slice(0, n), true)
      if (isMap(parent) && parent.items.length === 0) deleteEntry(doc, found.slice(0, n))
    }
    yield* writeAtomically(file, render(doc), mode)
    return true
  })
