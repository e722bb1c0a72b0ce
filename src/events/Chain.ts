/**
 * The hash chain over log lines. Pure apart from hashing, which is
 * deterministic; used by the file log, `bd federation verify` and auditors.
 */
import * as crypto from "node:crypto"
import { canonicalJson } from "./Canonical.js"
import { HASH_SUFFIX_LENGTH, type Envelope } from "./Envelope.js"

// crypto.hash (Node >= 20.12) digests in one call and makes no Hash object, which a log of a
// million lines would otherwise make (and collect) a million of; older Node 20 builds one.
const sha256Hex: (data: string | Uint8Array) => string = typeof crypto.hash === "function"
  ? (data) => crypto.hash("sha256", data, "hex")
  : (data) => crypto.createHash("sha256").update(data).digest("hex")

export const chainHash = (prev: string, body: string): string => sha256Hex(`${prev}\n${body}`)

/** `chainHash` of a line being written: its bytes already laid out as `prev`, a newline and the body (UTF-8). */
export const chainHashOfBytes = (bytes: Uint8Array): string => sha256Hex(bytes)

/** Seal an envelope (without hash) into its line and hash. */
export const sealLine = (unsealed: Omit<Envelope, "hash">): { readonly line: string; readonly hash: string } =>
  sealBody(unsealed.prev, canonicalJson(unsealed))

/** The line and hash of an envelope whose canonical JSON (without hash) is `body`, chained after `prev`. */
export const sealBody = (prev: string, body: string): { readonly line: string; readonly hash: string } => {
  const hash = chainHash(prev, body)
  return { line: `${body.slice(0, -1)},"hash":"${hash}"}`, hash }
}

/** The canonical body a line was hashed over, or undefined when the line has no well-formed hash suffix. */
export const lineBody = (line: string): { readonly body: string; readonly hash: string } | undefined => {
  const cut = line.length - HASH_SUFFIX_LENGTH - 1
  if (cut < 1 || !line.startsWith(',"hash":"', cut) || !line.endsWith('"}')) return undefined
  const hash = line.slice(cut + 9, cut + 9 + 64)
  if (!/^[0-9a-f]{64}$/.test(hash)) return undefined
  return { body: `${line.slice(0, cut)}}`, hash }
}

/**
 * Why a line does not continue the chain after `prev`, or undefined when it does.
 * `linePrev` is the line's own `prev` field, as parsed by the caller.
 */
export const checkLine = (line: string, linePrev: unknown, prev: string): string | undefined => {
  const parts = lineBody(line)
  if (parts === undefined) return "line has no hash"
  if (linePrev !== prev) return "prev does not match the hash of the line before"
  if (chainHash(prev, parts.body) !== parts.hash) return "hash does not match the line's content"
  return undefined
}
