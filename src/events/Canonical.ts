/**
 * Canonical JSON: object keys sorted by code unit, no insignificant white
 * space, `undefined` members dropped. The same value always gives the same
 * text, so hashes and exports are byte-stable across towns and runs.
 */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value)
    if (text === undefined) throw new TypeError(`not representable in JSON: ${String(value)}`)
    return text
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`
  }
  const record = value as Record<string, unknown>
  const keys = Object.keys(record).sort()
  let out = "{"
  let first = true
  for (const key of keys) {
    const member = record[key]
    if (member === undefined) continue
    out += `${first ? "" : ","}${JSON.stringify(key)}:${canonicalJson(member)}`
    first = false
  }
  return `${out}}`
}
