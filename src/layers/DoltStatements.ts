/**
 * The SQL text of a batch of the projection, for the text protocol: every
 * value written as a literal, the statements of a batch sent together, so a
 * batch costs a round trip or two rather than two per statement (a
 * server-side prepared statement is a PREPARE, then an EXECUTE).
 *
 * Literals are escaped the way the server reads them when `sql_mode` lacks
 * NO_BACKSLASH_ESCAPES, which the writer checks on the very connection
 * first (DoltWriter.ts); a session with that mode gets bound parameters
 * instead. Table and column names are this project's constants.
 */
import type { Row, TableSpec } from "./DoltRows.js"

/** Servers refuse statements over max_allowed_packet (16 MB on MariaDB, 64 MB on MySQL 8): a round trip stays well below. */
export const MAX_QUERY_BYTES = 4 * 1024 * 1024

// What the server reads as an escape or a string's end, and NUL, CR, LF and Ctrl-Z as mysqldump writes them.
const SPECIAL = /[\0\n\r\x1a\\']/
const SPECIALS = /[\0\n\r\x1a\\']/g
const ESCAPES: Readonly<Record<string, string>> = { "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z", "\\": "\\\\", "'": "\\'" }

/** A value as a literal, for a session that reads backslash escapes (the default sql_mode). */
export const literal = (value: Row[number]): string => {
  if (value === null) return "NULL"
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`)
    return String(value)
  }
  if (typeof value === "boolean") return value ? "TRUE" : "FALSE"
  return SPECIAL.test(value) ? `'${value.replace(SPECIALS, (c) => ESCAPES[c]!)}'` : `'${value}'`
}

/** A string that reads the same whatever the sql_mode (no quote, backslash or control character), as a literal. */
export const plainLiteral = (value: string | number): string | undefined =>
  typeof value === "number"
    ? Number.isFinite(value) ? String(value) : undefined
    : /^[\x20-\x7e]*$/.test(value) && !/['\\]/.test(value) ? `'${value}'` : undefined

const quote = (name: string): string => `\`${name}\``

const rowText = (row: Row): string => {
  let text = "("
  for (let i = 0; i < row.length; i++) text += (i === 0 ? "" : ", ") + literal(row[i]!)
  return `${text})`
}

/** Bytes a text takes in UTF-8, at most (a UTF-16 unit never takes more than 3). */
const maxBytes = (text: string): number => text.length * 3

/** `INSERT ... ON DUPLICATE KEY UPDATE` statements for the rows, each within `MAX_QUERY_BYTES`. */
export const upsertStatements = (table: TableSpec, rows: ReadonlyArray<Row>): ReadonlyArray<string> => {
  if (rows.length === 0) return []
  const head = `INSERT INTO ${table.name} (${table.columns.map(quote).join(", ")}) VALUES `
  const tail = ` ON DUPLICATE KEY UPDATE ${
    table.columns.filter((c) => !table.key.includes(c)).map((c) => `${quote(c)} = VALUES(${quote(c)})`).join(", ")
  }`
  const budget = MAX_QUERY_BYTES - maxBytes(head + tail)
  const out: Array<string> = []
  let values: Array<string> = []
  let bytes = 0
  for (const row of rows) {
    const text = rowText(row)
    const size = maxBytes(text) + 2
    if (values.length > 0 && bytes + size > budget) {
      out.push(head + values.join(", ") + tail)
      values = []
      bytes = 0
    }
    values.push(text)
    bytes += size
  }
  out.push(head + values.join(", ") + tail)
  return out
}

/** `DELETE ... WHERE column IN (...)` statements for the values, each within `MAX_QUERY_BYTES`. */
export const deleteStatements = (table: string, column: string, values: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (values.length === 0) return []
  const head = `DELETE FROM ${table} WHERE ${quote(column)} IN (`
  const budget = MAX_QUERY_BYTES - maxBytes(head) - 1
  const out: Array<string> = []
  let group: Array<string> = []
  let bytes = 0
  for (const value of values) {
    const text = literal(value)
    const size = maxBytes(text) + 2
    if (group.length > 0 && bytes + size > budget) {
      out.push(`${head}${group.join(", ")})`)
      group = []
      bytes = 0
    }
    group.push(text)
    bytes += size
  }
  out.push(`${head}${group.join(", ")})`)
  return out
}

/**
 * Statements joined into as few multi-statement queries as fit
 * `MAX_QUERY_BYTES` each, in order; the positions say which query and
 * which result of it each statement is.
 */
export const packQueries = (statements: ReadonlyArray<string>): {
  readonly queries: ReadonlyArray<string>
  readonly positions: ReadonlyArray<readonly [query: number, result: number]>
} => {
  const queries: Array<string> = []
  const positions: Array<readonly [number, number]> = []
  let current: Array<string> = []
  let bytes = 0
  for (const statement of statements) {
    const size = maxBytes(statement) + 2
    if (current.length > 0 && bytes + size > MAX_QUERY_BYTES) {
      queries.push(current.join(";\n"))
      current = []
      bytes = 0
    }
    positions.push([queries.length, current.length])
    current.push(statement)
    bytes += size
  }
  if (current.length > 0) queries.push(current.join(";\n"))
  return { queries, positions }
}
