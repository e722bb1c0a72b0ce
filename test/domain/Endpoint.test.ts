import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck, Schema } from "effect"
import {
  Endpoint,
  endpointEngine,
  EndpointSchema,
  endpointScheme,
  formatEndpoint,
  parseEndpoint
} from "../../src/domain/Endpoint.js"

const reasonFor = (text: string): string =>
  Either.match(parseEndpoint(text), { onLeft: (error) => error.reason, onRight: () => "accepted" })

const accepted = (text: string): Endpoint => Either.getOrThrow(parseEndpoint(text))

describe("parseEndpoint accepts", () => {
  it.each<[string, Endpoint]>([
    ["dolthub://myorg/staging-beads", Endpoint.DoltHub({ raw: "dolthub://myorg/staging-beads", org: "myorg", repo: "staging-beads" })],
    ["dolthub://partner-org/beads", Endpoint.DoltHub({ raw: "dolthub://partner-org/beads", org: "partner-org", repo: "beads" })],
    ["gs://mybucket/beads-backup", Endpoint.Gcs({ raw: "gs://mybucket/beads-backup", bucket: "mybucket", path: "beads-backup" })],
    ["s3://mybucket/beads-backup", Endpoint.S3({ raw: "s3://mybucket/beads-backup", bucket: "mybucket", path: "beads-backup" })],
    ["s3://my.bucket-1/a/b.c", Endpoint.S3({ raw: "s3://my.bucket-1/a/b.c", bucket: "my.bucket-1", path: "a/b.c" })],
    ["file:///home/user/beads-backup", Endpoint.File({ raw: "file:///home/user/beads-backup", path: "/home/user/beads-backup" })],
    ["https://host/path", Endpoint.Https({ raw: "https://host/path", host: "host", path: "/path" })],
    [
      "https://git@github.com:8443/org/repo.git",
      Endpoint.Https({ raw: "https://git@github.com:8443/org/repo.git", user: "git", host: "github.com", port: 8443, path: "/org/repo.git" })
    ],
    ["https://[::1]:8080/x", Endpoint.Https({ raw: "https://[::1]:8080/x", host: "[::1]", port: 8080, path: "/x" })],
    ["https://192.168.1.10/beads", Endpoint.Https({ raw: "https://192.168.1.10/beads", host: "192.168.1.10", path: "/beads" })],
    ["ssh://host/path", Endpoint.Ssh({ raw: "ssh://host/path", host: "host", path: "/path" })],
    [
      "ssh://git@example.com:2222/srv/beads.git",
      Endpoint.Ssh({ raw: "ssh://git@example.com:2222/srv/beads.git", user: "git", host: "example.com", port: 2222, path: "/srv/beads.git" })
    ],
    ["git@host:path", Endpoint.GitScp({ raw: "git@host:path", user: "git", host: "host", path: "path" })],
    ["git@github.com:org/repo.git", Endpoint.GitScp({ raw: "git@github.com:org/repo.git", user: "git", host: "github.com", path: "org/repo.git" })],
    ["deploy@10.0.0.2:/srv/beads", Endpoint.GitScp({ raw: "deploy@10.0.0.2:/srv/beads", user: "deploy", host: "10.0.0.2", path: "/srv/beads" })],
    ["git@[2001:db8::1]:beads", Endpoint.GitScp({ raw: "git@[2001:db8::1]:beads", user: "git", host: "[2001:db8::1]", path: "beads" })]
  ])("%s", (text, expected) => {
    const endpoint = accepted(text)
    expect(endpoint).toStrictEqual(expected)
    expect(formatEndpoint(endpoint)).toBe(text)
  })
})

describe("parseEndpoint refuses", () => {
  it.each([
    ["", "is empty"],
    ["staging", "has no scheme"],
    ["/home/user/beads", "a local path needs the file:// scheme (file:///absolute/path)"],
    ["./beads", "a local path needs the file:// scheme (file:///absolute/path)"],
    ["ftp://host/path", "unsupported scheme \"ftp\""],
    ["git://host/path", "unsupported scheme \"git\""],
    ["http://host/path", "plain http is not supported, use https://"],
    ["HTTPS://host/path", "the scheme must be lower-case (https://)"],
    ["https:host/path", "missing \"//\" after \"https:\""],
    ["dolthub:myorg/beads", "missing \"//\" after \"dolthub:\""],
    ["https://host/path ", "contains whitespace or a control character (' ' at character 18)"],
    ["https://host/pa\tth", "contains whitespace or a control character (U+0009 at character 16)"],
    ["dolthub://my\u200borg/x", "contains whitespace or a control character (U+200B at character 13)"],
    ["dolthub://", "missing organisation and repository (dolthub://org/repo)"],
    ["dolthub://myorg", "missing repository after the organisation (dolthub://org/repo)"],
    ["dolthub://myorg/", "missing repository after the organisation (dolthub://org/repo)"],
    ["dolthub:///beads", "missing organisation before the repository (dolthub://org/repo)"],
    ["dolthub://myorg/beads/extra", "dolthub:// takes exactly org/repo, found \"myorg/beads/extra\""],
    ["dolthub://myorg/beads/", "dolthub:// takes exactly org/repo, found \"myorg/beads/\""],
    ["dolthub://my!org/beads", "organisation \"my!org\" must start with a letter or digit and contain only letters, digits, '.', '-' and '_'"],
    ["dolthub://myorg/.beads", "repository \".beads\" must start with a letter or digit and contain only letters, digits, '.', '-' and '_'"],
    ["dolthub://myorg/beads?ref=main", "query strings and fragments are not supported (found '?')"],
    ["gs://", "missing bucket (gs://bucket/path)"],
    ["gs:///path", "missing bucket (gs://bucket/path)"],
    ["gs://mybucket", "missing path after the bucket (gs://bucket/path)"],
    ["s3://mybucket/", "missing path after the bucket (s3://bucket/path)"],
    ["s3://mybucket/a//b", "path \"a//b\" has an empty segment"],
    ["s3://MyBucket/x", "bucket \"MyBucket\" must be 3-63 lower-case letters, digits, '.', '-' or '_', starting and ending with a letter or digit"],
    ["s3://ab/x", "bucket \"ab\" must be 3-63 lower-case letters, digits, '.', '-' or '_', starting and ending with a letter or digit"],
    [`gs://${"b".repeat(64)}/x`, `bucket "${"b".repeat(64)}" must be 3-63 lower-case letters, digits, '.', '-' or '_', starting and ending with a letter or digit`],
    ["file://", "file:// needs an absolute path (file:///path)"],
    ["file://host/backup", "file:// needs an absolute path (file:///path), not a host (found \"host\")"],
    ["file:///", "file:// needs a directory below the root (file:///path)"],
    ["file:///backup#x", "query strings and fragments are not supported (found '#')"],
    ["https://", "missing host (https://host/path)"],
    ["https:///path", "missing host (https://host/path)"],
    ["https://host", "missing path after the host (https://host/path)"],
    ["https://host/", "missing path after the host (https://host/path)"],
    ["https://host:70000/path", "port 70000 is out of range 1-65535"],
    ["https://host:0/path", "port 0 is out of range 1-65535"],
    ["https://host:/path", "empty port after ':'"],
    ["https://host:https/path", "port \"https\" is not a number"],
    ["https://user:secret@host/path", "a password in the endpoint is not supported; give it with --password"],
    ["https://@host/path", "empty user before '@'"],
    ["ssh://-oProxyCommand=x@host/path", "user \"-oProxyCommand=x\" must start with a letter, digit or '_' and contain only letters, digits, '.', '_', '~' and '-'"],
    ["ssh://-host/path", "host \"-host\" is not a valid host name"],
    ["ssh://host_name/path", "host \"host_name\" is not a valid host name"],
    ["ssh://256.1.1.1/path", "256.1.1.1 is not an IPv4 address"],
    ["ssh://::1/path", "an IPv6 address must be written in brackets ([::1])"],
    ["ssh://[::1/path", "missing ']' after the IPv6 address \"[::1\""],
    ["ssh://[::g]/path", "[::g] is not an IPv6 address"],
    ["ssh://[1::2::3]/path", "[1::2::3] is not an IPv6 address"],
    ["ssh://[::1]x/path", "unexpected \"x\" after the host"],
    ["host:path", "the git SSH form needs a user (git@host:path)"],
    ["git@host", "the git SSH form needs ':' between host and path (git@host:path)"],
    ["git@host:", "missing path after ':' (git@host:path)"],
    ["git@:path", "missing host"],
    ["@host:path", "empty user before '@'"],
    ["-oProxyCommand=x@host:path", "user \"-oProxyCommand=x\" must start with a letter, digit or '_' and contain only letters, digits, '.', '_', '~' and '-'"],
    ["git@-host:path", "host \"-host\" is not a valid host name"]
  ])("%j: %s", (text, reason) => {
    const error = Either.getLeft(parseEndpoint(text))
    expect(error._tag).toBe("Some")
    if (error._tag === "Some") {
      expect(error.value._tag).toBe("InvalidEndpoint")
      expect(error.value.endpoint).toBe(text)
      expect(error.value.reason).toBe(reason)
    }
  })
})

describe("engine and scheme", () => {
  it.each([
    ["dolthub://myorg/beads", "dolt", "dolthub"],
    ["gs://mybucket/beads", "dolt", "gs"],
    ["s3://mybucket/beads", "dolt", "s3"],
    ["file:///srv/beads", "git", "file"],
    ["https://host/beads", "git", "https"],
    ["ssh://host/beads", "git", "ssh"],
    ["git@host:beads", "git", "git-ssh"]
  ])("%s is a %s remote labelled %s", (text, engine, scheme) => {
    expect(endpointEngine(accepted(text))).toBe(engine)
    expect(endpointScheme(accepted(text))).toBe(scheme)
  })
})

// Generators from the grammar, each giving the raw text and the endpoint it must parse to.
const chars = (set: string, minLength: number, maxLength: number) =>
  FastCheck.string({ unit: FastCheck.constantFrom(...set), minLength, maxLength })
const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
const LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
const segments = (set: string) => FastCheck.array(chars(set, 1, 12), { minLength: 1, maxLength: 4 }).map((s) => s.join("/"))

const dolthubName = FastCheck.tuple(chars(ALNUM, 1, 1), chars(`${ALNUM}._-`, 0, 20)).map(([a, b]) => a + b)
const bucket = FastCheck.tuple(chars(LOWER_ALNUM, 1, 1), chars(`${LOWER_ALNUM}._-`, 1, 61), chars(LOWER_ALNUM, 1, 1))
  .map(([a, b, c]) => a + b + c)
const objectPath = segments(`${ALNUM}._-~%é`)
const hostLabel = FastCheck.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/)
const hostname = FastCheck.tuple(FastCheck.array(hostLabel, { maxLength: 3 }), FastCheck.stringMatching(/^[a-z]{1,6}$/))
  .map(([labels, top]) => [...labels, top].join("."))
const ipv4 = FastCheck.array(FastCheck.nat(255), { minLength: 4, maxLength: 4 }).map((parts) => parts.join("."))
const ipv6 = FastCheck.tuple(
  FastCheck.array(FastCheck.stringMatching(/^[0-9a-fA-F]{1,4}$/), { minLength: 8, maxLength: 8 }),
  FastCheck.option(FastCheck.tuple(FastCheck.nat(7), FastCheck.integer({ min: 1, max: 8 })))
).map(([groups, gap]) => {
  if (gap === null) return `[${groups.join(":")}]`
  const [start, length] = gap
  return `[${groups.slice(0, start).join(":")}::${groups.slice(Math.min(8, start + length)).join(":")}]`
})
const host = FastCheck.oneof(hostname, ipv4, ipv6)
const user = FastCheck.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._~-]{0,10}$/)
const port = FastCheck.option(FastCheck.integer({ min: 1, max: 65535 }), { nil: undefined })
const optionalUser = FastCheck.option(user, { nil: undefined })

const hosted = (scheme: "https" | "ssh") =>
  FastCheck.record({ user: optionalUser, host, port, path: segments(`${ALNUM}._-~`).map((p) => `/${p}`) })
    .map(({ user, host, port, path }): [string, Endpoint] => {
      const raw = `${scheme}://${user === undefined ? "" : `${user}@`}${host}${port === undefined ? "" : `:${port}`}${path}`
      const fields = { raw, host, path, ...(user === undefined ? {} : { user }), ...(port === undefined ? {} : { port }) }
      return [raw, scheme === "https" ? Endpoint.Https(fields) : Endpoint.Ssh(fields)]
    })

const validEndpoint: FastCheck.Arbitrary<[string, Endpoint]> = FastCheck.oneof(
  FastCheck.tuple(dolthubName, dolthubName).map(([org, repo]): [string, Endpoint] => {
    const raw = `dolthub://${org}/${repo}`
    return [raw, Endpoint.DoltHub({ raw, org, repo })]
  }),
  FastCheck.tuple(FastCheck.constantFrom("gs", "s3"), bucket, objectPath).map(([scheme, bucket, path]): [string, Endpoint] => {
    const raw = `${scheme}://${bucket}/${path}`
    return [raw, scheme === "gs" ? Endpoint.Gcs({ raw, bucket, path }) : Endpoint.S3({ raw, bucket, path })]
  }),
  segments(`${ALNUM}._-~%é:@`).map((p): [string, Endpoint] => [`file:///${p}`, Endpoint.File({ raw: `file:///${p}`, path: `/${p}` })]),
  hosted("https"),
  hosted("ssh"),
  FastCheck.record({ user, host, path: FastCheck.stringMatching(/^[A-Za-z0-9._~/:@-]{1,30}$/) })
    .map(({ user, host, path }): [string, Endpoint] => {
      const raw = `${user}@${host}:${path}`
      return [raw, Endpoint.GitScp({ raw, user, host, path })]
    })
)

const INVISIBLES = [" ", "\t", "\n", "\r", "\u0000", "\u001f", "\u007f", "\u0085", "\u00a0", "\u200b", "\u2028", "\ufeff"]

describe("parseEndpoint properties", () => {
  it.prop("every generated endpoint parses to its fields and formats back to its text", [validEndpoint], ([[raw, expected]]) => {
    const endpoint = accepted(raw)
    expect(endpoint).toStrictEqual(expected)
    expect(formatEndpoint(endpoint)).toBe(raw)
  })

  it.prop(
    "whitespace or a control character anywhere is refused",
    [validEndpoint, FastCheck.constantFrom(...INVISIBLES), FastCheck.nat()],
    ([[raw], invisible, at]) => {
      const index = at % (raw.length + 1)
      expect(reasonFor(raw.slice(0, index) + invisible + raw.slice(index)))
        .toMatch(/^contains whitespace or a control character \(.+ at character \d+\)$/)
    }
  )

  it.prop(
    "an unknown scheme is refused by name",
    [FastCheck.stringMatching(/^[a-z][a-z0-9+.-]{0,8}$/).filter((s) => !["dolthub", "gs", "s3", "file", "https", "ssh", "http"].includes(s))],
    ([scheme]) => {
      expect(reasonFor(`${scheme}://host/path`)).toBe(`unsupported scheme ${JSON.stringify(scheme)}`)
    }
  )

  it.prop("any string is refused or kept exactly as written", [FastCheck.string({ unit: "binary", maxLength: 60 })], ([text]) => {
    Either.match(parseEndpoint(text), {
      onLeft: (error) => expect(error.reason.length).toBeGreaterThan(0),
      onRight: (endpoint) => expect(formatEndpoint(endpoint)).toBe(text)
    })
  })
})

describe("EndpointSchema", () => {
  const Stored = Schema.Struct({ name: Schema.String, endpoint: EndpointSchema })

  it("decodes stored text into an endpoint and encodes the raw text back", () => {
    const peer = Schema.decodeUnknownSync(Stored)({ name: "backup", endpoint: "gs://mybucket/beads-backup" })
    expect(peer.endpoint).toStrictEqual(accepted("gs://mybucket/beads-backup"))
    expect(Schema.encodeSync(Stored)(peer)).toStrictEqual({ name: "backup", endpoint: "gs://mybucket/beads-backup" })
  })

  it("refuses an invalid endpoint with the parser's reason", () => {
    const result = Schema.decodeUnknownEither(Stored)({ name: "x", endpoint: "https://host:70000/path" })
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) expect(result.left.message).toContain("port 70000 is out of range 1-65535")
  })

  it.prop("round-trips every generated endpoint", [validEndpoint], ([[raw]]) => {
    const endpoint = Schema.decodeUnknownSync(EndpointSchema)(raw)
    expect(Schema.encodeSync(EndpointSchema)(endpoint)).toBe(raw)
  })
})
