/**
 * Where a peer lives (seed: "Supported Endpoint Formats"). Parsing checks the
 * structure only; whether the remote answers is the remote layers' business.
 * Every variant keeps the text as the user wrote it in `raw`: that is what is
 * stored and shown, so nothing is normalised (no lower-casing, no decoding).
 */
import { Data, Either, ParseResult, Schema } from "effect"
import { InvalidEndpoint } from "./Errors.js"

export type Endpoint = Data.TaggedEnum<{
  /** `dolthub://org/repo` */
  DoltHub: { readonly raw: string; readonly org: string; readonly repo: string }
  /** `gs://bucket/path`; `path` has no leading '/' */
  Gcs: { readonly raw: string; readonly bucket: string; readonly path: string }
  /** `s3://bucket/path`; `path` has no leading '/' */
  S3: { readonly raw: string; readonly bucket: string; readonly path: string }
  /** `file:///absolute/path`; `path` is absolute, as written (not percent-decoded) */
  File: { readonly raw: string; readonly path: string }
  /** `https://[user@]host[:port]/path`; `path` starts with '/' */
  Https: { readonly raw: string; readonly user?: string; readonly host: string; readonly port?: number; readonly path: string }
  /** `ssh://[user@]host[:port]/path`; `path` starts with '/' */
  Ssh: { readonly raw: string; readonly user?: string; readonly host: string; readonly port?: number; readonly path: string }
  /** `user@host:path` (git's scp syntax); `path` is relative to the user's home unless it starts with '/' */
  GitScp: { readonly raw: string; readonly user: string; readonly host: string; readonly path: string }
}>
export const Endpoint = Data.taggedEnum<Endpoint>()

export type EndpointScheme = "dolthub" | "gs" | "s3" | "file" | "https" | "ssh" | "git-ssh"

const SCHEME: { readonly [Tag in Endpoint["_tag"]]: EndpointScheme } = {
  DoltHub: "dolthub", Gcs: "gs", S3: "s3", File: "file", Https: "https", Ssh: "ssh", GitScp: "git-ssh"
}

/** Dolt remotes (DoltHub, cloud buckets) take Dolt pushes; the others are git remotes. */
const ENGINE: { readonly [Tag in Endpoint["_tag"]]: "git" | "dolt" } = {
  DoltHub: "dolt", Gcs: "dolt", S3: "dolt", File: "git", Https: "git", Ssh: "git", GitScp: "git"
}

export const formatEndpoint = (endpoint: Endpoint): string => endpoint.raw
export const endpointScheme = (endpoint: Endpoint): EndpointScheme => SCHEME[endpoint._tag]
export const endpointEngine = (endpoint: Endpoint): "git" | "dolt" => ENGINE[endpoint._tag]

type Parsed<A> = Either.Either<A, string>

const URL_SCHEMES = new Set(["dolthub", "gs", "s3", "file", "https", "ssh"])
const URL_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s
const INVISIBLE = /[\s\p{Cc}\p{Cf}]/u
/** A leading letter, digit or '_' keeps ssh from reading the user as an option (`-oProxyCommand=`). */
const USER = /^[A-Za-z0-9_][A-Za-z0-9._~-]*$/
const DOLTHUB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
/** The rule both GCS and S3 share, with GCS's '_' allowed. */
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

const showInvisible = (char: string): string =>
  char === " " ? "' '" : `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`

const endpointFromText = (raw: string): Parsed<Endpoint> => {
  if (raw.length === 0) return Either.left("is empty")
  const invisible = INVISIBLE.exec(raw)
  if (invisible !== null) {
    return Either.left(
      `contains whitespace or a control character (${showInvisible(invisible[0])} at character ${invisible.index + 1})`
    )
  }
  const url = URL_FORM.exec(raw)
  return url === null ? fromScpForm(raw) : fromUrl(raw, url[1] ?? "", url[2] ?? "")
}

export const parseEndpoint = (text: string): Either.Either<Endpoint, InvalidEndpoint> =>
  Either.mapLeft(endpointFromText(text), (reason) => new InvalidEndpoint({ endpoint: text, reason }))

const fromUrl = (raw: string, scheme: string, rest: string): Parsed<Endpoint> => {
  const lower = scheme.toLowerCase()
  if (lower === "http") return Either.left("plain http is not supported, use https://")
  if (scheme !== lower && URL_SCHEMES.has(lower)) return Either.left(`the scheme must be lower-case (${lower}://)`)
  if (!URL_SCHEMES.has(scheme)) return Either.left(`unsupported scheme ${JSON.stringify(scheme)}`)
  const marker = /[?#]/.exec(rest)
  if (marker !== null) return Either.left(`query strings and fragments are not supported (found '${marker[0]}')`)
  switch (scheme) {
    case "dolthub": return fromDoltHub(raw, rest)
    case "gs": return fromBucket(raw, rest, "gs", Endpoint.Gcs)
    case "s3": return fromBucket(raw, rest, "s3", Endpoint.S3)
    case "file": return fromFile(raw, rest)
    case "https": return fromHosted(raw, rest, "https", Endpoint.Https)
    default: return fromHosted(raw, rest, "ssh", Endpoint.Ssh)
  }
}

const fromDoltHub = (raw: string, rest: string): Parsed<Endpoint> => {
  const segments = rest.split("/")
  const [org = "", repo = ""] = segments
  if (org === "" && repo === "") return Either.left("missing organisation and repository (dolthub://org/repo)")
  if (org === "") return Either.left("missing organisation before the repository (dolthub://org/repo)")
  if (repo === "") return Either.left("missing repository after the organisation (dolthub://org/repo)")
  if (segments.length > 2) return Either.left(`dolthub:// takes exactly org/repo, found ${JSON.stringify(rest)}`)
  for (const [what, name] of [["organisation", org], ["repository", repo]] as const) {
    if (!DOLTHUB_NAME.test(name)) {
      return Either.left(
        `${what} ${JSON.stringify(name)} must start with a letter or digit and contain only letters, digits, '.', '-' and '_'`
      )
    }
  }
  return Either.right(Endpoint.DoltHub({ raw, org, repo }))
}

const fromBucket = (
  raw: string,
  rest: string,
  scheme: "gs" | "s3",
  make: (fields: { raw: string; bucket: string; path: string }) => Endpoint
): Parsed<Endpoint> => {
  const slash = rest.indexOf("/")
  const bucket = slash < 0 ? rest : rest.slice(0, slash)
  const path = slash < 0 ? "" : rest.slice(slash + 1)
  if (bucket === "") return Either.left(`missing bucket (${scheme}://bucket/path)`)
  if (!BUCKET.test(bucket)) {
    return Either.left(
      `bucket ${JSON.stringify(bucket)} must be 3-63 lower-case letters, digits, '.', '-' or '_', starting and ending with a letter or digit`
    )
  }
  // A database gets its own prefix, so two towns never share a bucket's root.
  if (path === "") return Either.left(`missing path after the bucket (${scheme}://bucket/path)`)
  if (path.split("/").includes("")) return Either.left(`path ${JSON.stringify(path)} has an empty segment`)
  return Either.right(make({ raw, bucket, path }))
}

const fromFile = (raw: string, rest: string): Parsed<Endpoint> => {
  if (!rest.startsWith("/")) {
    const host = rest.split("/")[0] ?? ""
    return Either.left(
      host === ""
        ? "file:// needs an absolute path (file:///path)"
        : `file:// needs an absolute path (file:///path), not a host (found ${JSON.stringify(host)})`
    )
  }
  if (rest === "/") return Either.left("file:// needs a directory below the root (file:///path)")
  return Either.right(Endpoint.File({ raw, path: rest }))
}

const fromHosted = (
  raw: string,
  rest: string,
  scheme: "https" | "ssh",
  make: (fields: { raw: string; user?: string; host: string; port?: number; path: string }) => Endpoint
): Parsed<Endpoint> => {
  const slash = rest.indexOf("/")
  const authority = slash < 0 ? rest : rest.slice(0, slash)
  const path = slash < 0 ? "" : rest.slice(slash)
  const at = authority.lastIndexOf("@")
  const user = at < 0 ? undefined : authority.slice(0, at)
  if (user !== undefined) {
    const problem = userProblem(user)
    if (problem !== undefined) return Either.left(problem)
  }
  const hostPort = authority.slice(at + 1)
  if (hostPort === "") return Either.left(`missing host (${scheme}://host/path)`)
  return Either.flatMap(hostAndPort(hostPort), ({ host, port }) =>
    path === "" || path === "/"
      ? Either.left(`missing path after the host (${scheme}://host/path)`)
      : Either.right(make({
        raw, host, path, ...(user === undefined ? {} : { user }), ...(port === undefined ? {} : { port })
      })))
}

/**
 * git's scp syntax `user@host:path`. We accept any user, not only `git`, as
 * long as it is a plausible login name; a user is required because that is
 * how the form is told apart from a local path or a typo.
 */
const fromScpForm = (raw: string): Parsed<Endpoint> => {
  if (/^[/.~]/.test(raw)) return Either.left("a local path needs the file:// scheme (file:///absolute/path)")
  const schemeLike = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(raw)?.[1]
  if (schemeLike !== undefined && (URL_SCHEMES.has(schemeLike.toLowerCase()) || schemeLike.toLowerCase() === "http")) {
    return Either.left(`missing "//" after "${schemeLike}:"`)
  }
  const at = raw.indexOf("@")
  const colon = raw.indexOf(":")
  if (at < 0 || (colon >= 0 && colon < at)) {
    return Either.left(colon < 0 ? "has no scheme" : "the git SSH form needs a user (git@host:path)")
  }
  const user = raw.slice(0, at)
  const problem = userProblem(user)
  if (problem !== undefined) return Either.left(problem)
  const afterAt = raw.slice(at + 1)
  // An IPv6 host is bracketed, and its own ':' are not the separator.
  const hostEnd = afterAt.startsWith("[") ? afterAt.indexOf("]") + 1 : afterAt.indexOf(":")
  if (hostEnd < 0 || afterAt[hostEnd] !== ":") {
    return Either.left("the git SSH form needs ':' between host and path (git@host:path)")
  }
  const host = afterAt.slice(0, hostEnd)
  const path = afterAt.slice(hostEnd + 1)
  const hostIssue = hostProblem(host)
  if (hostIssue !== undefined) return Either.left(hostIssue)
  if (path === "") return Either.left("missing path after ':' (git@host:path)")
  return Either.right(Endpoint.GitScp({ raw, user, host, path }))
}

const userProblem = (user: string): string | undefined => {
  // A password in the endpoint would be stored in the config and shown by list-peers.
  if (user.includes(":")) return "a password in the endpoint is not supported; give it with --password"
  if (user === "") return "empty user before '@'"
  return USER.test(user)
    ? undefined
    : `user ${JSON.stringify(user)} must start with a letter, digit or '_' and contain only letters, digits, '.', '_', '~' and '-'`
}

const hostAndPort = (text: string): Parsed<{ readonly host: string; readonly port: number | undefined }> => {
  const bracketed = text.startsWith("[")
  if (!bracketed && text.indexOf(":") !== text.lastIndexOf(":")) {
    return Either.left("an IPv6 address must be written in brackets ([::1])")
  }
  const close = text.indexOf("]")
  if (bracketed && close < 0) return Either.left(`missing ']' after the IPv6 address ${JSON.stringify(text)}`)
  const colon = text.indexOf(":")
  const hostEnd = bracketed ? close + 1 : colon < 0 ? text.length : colon
  const host = text.slice(0, hostEnd)
  const after = text.slice(hostEnd)
  if (after !== "" && !after.startsWith(":")) return Either.left(`unexpected ${JSON.stringify(after)} after the host`)
  const hostIssue = hostProblem(host)
  if (hostIssue !== undefined) return Either.left(hostIssue)
  if (after === "") return Either.right({ host, port: undefined })
  const portText = after.slice(1)
  if (portText === "") return Either.left("empty port after ':'")
  if (!/^[0-9]+$/.test(portText)) return Either.left(`port ${JSON.stringify(portText)} is not a number`)
  const port = Number(portText)
  return port >= 1 && port <= 65535
    ? Either.right({ host, port })
    : Either.left(`port ${portText} is out of range 1-65535`)
}

/** Host names (RFC 1123 labels), dotted IPv4, or bracketed IPv6 without a zone or embedded IPv4. */
const hostProblem = (host: string): string | undefined => {
  if (host === "") return "missing host"
  if (host.startsWith("[")) {
    return host.endsWith("]") && isIPv6(host.slice(1, -1)) ? undefined : `${host} is not an IPv6 address`
  }
  const labels = host.split(".")
  if (labels.every((label) => /^[0-9]+$/.test(label))) {
    const isIPv4 = labels.length === 4 && labels.every((l) => /^(0|[1-9][0-9]{0,2})$/.test(l) && Number(l) <= 255)
    return isIPv4 ? undefined : `${host} is not an IPv4 address`
  }
  return host.length <= 253 && labels.every((label) => HOST_LABEL.test(label))
    ? undefined
    : `host ${JSON.stringify(host)} is not a valid host name`
}

const isIPv6 = (text: string): boolean => {
  const halves = text.split("::")
  if (halves.length > 2) return false
  const groups = halves.flatMap((half) => (half === "" ? [] : half.split(":")))
  if (!groups.every((group) => /^[0-9A-Fa-f]{1,4}$/.test(group))) return false
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8
}

const isEndpoint = (u: unknown): u is Endpoint =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string" &&
  Object.hasOwn(SCHEME, u._tag) && "raw" in u && typeof u.raw === "string"

/** For stored data and config: decodes with `parseEndpoint`, encodes back to the raw text. */
export const EndpointSchema = Schema.transformOrFail(
  Schema.String,
  Schema.declare(isEndpoint, { identifier: "Endpoint" }),
  {
    strict: true,
    decode: (text, _, ast) =>
      Either.mapLeft(parseEndpoint(text), (error) => new ParseResult.Type(ast, text, error.message)),
    encode: (endpoint) => ParseResult.succeed(endpoint.raw)
  }
)
