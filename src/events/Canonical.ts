/**
 * Canonical JSON: object keys sorted by code unit, no insignificant white
 * space, `undefined` members dropped. The same value always gives the same
 * text, so hashes and exports are byte-stable across towns and runs.
 *
 * Every event is written through here, so the common case is made cheap:
 * plain JSON data is copied into objects whose keys are inserted in sorted
 * order (objects already in order are reused) and handed to the native
 * `JSON.stringify` once. Anything that native serialisation would treat
 * differently (integer-like keys, which JavaScript enumerates first;
 * functions, symbols, bigints, holes, `toJSON`) takes the member-by-member
 * path, which is the definition.
 */
export const canonicalJson = (value: unknown): string => {
  const ordered = inOrder(value)
  return ordered === UNORDERABLE ? canonicalJsonSlow(value) : JSON.stringify(ordered)
}

/**
 * The canonical JSON of an object whose members are already serialised:
 * keys distinct and given in code-unit order, each text the canonical JSON
 * of its value, undefined for a member to drop. Lets a caller that needs a
 * member's text too (the log, for an event's data) serialise it once.
 */
export const canonicalObject = (members: ReadonlyArray<readonly [string, string | undefined]>): string => {
  let out = "{"
  for (const [key, text] of members) {
    if (text === undefined) continue
    out += `${out.length === 1 ? "" : ","}${JSON.stringify(key)}:${text}`
  }
  return `${out}}`
}

/**
 * The canonical JSON of a value whose strings, keys included, JSON writes
 * as their characters between quotes (nothing to escape), written member
 * by member: a string's text is then built, not scanned by `JSON.stringify`.
 * Anything but strings, plain records and arrays without holes takes
 * `canonicalJson`.
 */
export const canonicalJsonVerbatim = (value: unknown): string => {
  if (typeof value === "string") return `"${value}"`
  if (typeof value !== "object" || value === null || "toJSON" in value) return canonicalJson(value)
  if (Array.isArray(value)) {
    let out = "["
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return canonicalJson(value)
      const item: unknown = value[i]
      out += `${i === 0 ? "" : ","}${item === undefined ? "null" : canonicalJsonVerbatim(item)}`
    }
    return `${out}]`
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return canonicalJson(value)
  const record = value as Record<string, unknown>
  const keys = sortTexts(Object.keys(record))
  let out = "{"
  for (const key of keys) {
    const member = record[key]
    if (member === undefined) continue
    out += `${out.length === 1 ? "" : ","}"${key}":${canonicalJsonVerbatim(member)}`
  }
  return `${out}}`
}

/** The definition, member by member. */
const canonicalJsonSlow = (value: unknown): string => {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value)
    if (text === undefined) throw new TypeError(`not representable in JSON: ${String(value)}`)
    return text
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? "null" : canonicalJsonSlow(item))).join(",")}]`
  }
  const record = value as Record<string, unknown>
  const keys = Object.keys(record).sort()
  let out = "{"
  let first = true
  for (const key of keys) {
    const member = record[key]
    if (member === undefined) continue
    out += `${first ? "" : ","}${JSON.stringify(key)}:${canonicalJsonSlow(member)}`
    first = false
  }
  return `${out}}`
}

const UNORDERABLE: unique symbol = Symbol("unorderable")

/** An array index as JavaScript sees one: such keys are enumerated first, whatever the insertion order. */
const INDEX_LIKE = /^(?:0|[1-9]\d*)$/

/**
 * The value with every object's keys in code-unit order, sharing what is
 * already in order; `UNORDERABLE` when `JSON.stringify` of it could differ
 * from the definition.
 */
const inOrder = (value: unknown): unknown => {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
      return value
    case "object":
      return value === null ? value : Array.isArray(value) ? arrayInOrder(value) : recordInOrder(value)
    default:
      return UNORDERABLE
  }
}

/** A member as `JSON.stringify` will see it: primitives as they are, objects ordered. */
const memberInOrder = (member: unknown): unknown => {
  if (typeof member === "object" && member !== null) return inOrder(member)
  return typeof member === "function" || typeof member === "symbol" || typeof member === "bigint" ? UNORDERABLE : member
}

const arrayInOrder = (array: ReadonlyArray<unknown>): unknown => {
  if ("toJSON" in array) return UNORDERABLE
  let copy: Array<unknown> | undefined
  for (let i = 0; i < array.length; i++) {
    if (!(i in array)) return UNORDERABLE
    const item = array[i]
    const ordered = memberInOrder(item)
    if (ordered === UNORDERABLE) return UNORDERABLE
    if (ordered !== item) {
      copy ??= array.slice()
      copy[i] = ordered
    }
  }
  return copy ?? array
}

/**
 * Sorts texts in place by code unit, like the built-in `sort()`. A record's
 * few keys are sorted by insertion, which allocates nothing; the built-in
 * sort sets up work space on every call, and a large import makes tens of
 * thousands of such calls.
 */
export const sortTexts = (texts: Array<string>): Array<string> => {
  if (texts.length > 32) return texts.sort()
  for (let i = 1; i < texts.length; i++) {
    const text = texts[i]!
    let j = i - 1
    while (j >= 0 && texts[j]! > text) {
      texts[j + 1] = texts[j]!
      j--
    }
    texts[j + 1] = text
  }
  return texts
}

const recordInOrder = (value: object): unknown => {
  const proto: unknown = Object.getPrototypeOf(value)
  if ((proto !== Object.prototype && proto !== null) || "toJSON" in value) return UNORDERABLE
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  let sorted = true
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!
  if (!sorted) sortTexts(keys)
  // A copy is made only once something differs: the order, or a member's own copy.
  let copy: Record<string, unknown> | undefined = sorted ? undefined : {}
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const first = key.charCodeAt(0)
    if ((first >= 48 && first <= 57 && INDEX_LIKE.test(key)) || key === "__proto__") return UNORDERABLE
    const member = record[key]
    const ordered = memberInOrder(member)
    if (ordered === UNORDERABLE) return UNORDERABLE
    if (copy === undefined && ordered !== member) {
      copy = {}
      for (let j = 0; j < i; j++) if (record[keys[j]!] !== undefined) copy[keys[j]!] = record[keys[j]!]
    }
    if (copy !== undefined && ordered !== undefined) copy[key] = ordered
  }
  return copy ?? value
}
