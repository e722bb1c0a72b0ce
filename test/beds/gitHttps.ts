/**
 * A real git smart-HTTP server over HTTPS for tests: `node:https` on 127.0.0.1
 * and a free port, with a self-signed certificate made by `openssl` at start-up,
 * basic auth, and `git http-backend` run as a CGI program for every request.
 *
 * Git uses it through `env` (GIT_SSL_CAINFO=<the certificate>) and `url(path)`;
 * credentials must reach git some other way (e.g. GIT_ASKPASS), not the URL.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process"
import { once } from "node:events"
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises"
import { createServer, type Server } from "node:https"
import type { IncomingMessage, ServerResponse } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { timingSafeEqual } from "node:crypto"
import { promisify } from "node:util"

export interface HttpsBed {
  readonly port: number
  /** GIT_PROJECT_ROOT: repositories live under it */
  readonly root: string
  readonly user: string
  readonly password: string
  /** the self-signed certificate (PEM), to trust via GIT_SSL_CAINFO */
  readonly caFile: string
  /** https://127.0.0.1:port/relPath (no credentials in it) */
  url(relPath: string): string
  /** `{ GIT_SSL_CAINFO: caFile }`, to merge into git's environment */
  readonly env: Record<string, string>
  /** Create an empty bare repository (initial branch `main`, pushes allowed) under `root`; returns its absolute path. */
  makeBareRepo(relPath: string): Promise<string>
  /** number of HTTP requests received so far */
  readonly requests: number
  /** requests that carried credentials which were wrong (the credential-less challenge round is not counted) */
  readonly authFailures: number
  /** Close the server and its connections, kill running CGI processes, remove the temporary directory. Idempotent. */
  stop(): Promise<void>
}

const run = promisify(execFile)

/** Constant-time comparison, so the bed does not teach bad habits. */
const sameText = (a: string, b: string) => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

type Auth = "ok" | "missing" | "wrong"

const checkAuth = (req: IncomingMessage, user: string, password: string): Auth => {
  const header = req.headers.authorization
  if (header === undefined || !/^basic /i.test(header)) return "missing"
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon < 0) return "wrong"
  return sameText(decoded.slice(0, colon), user) && sameText(decoded.slice(colon + 1), password) ? "ok" : "wrong"
}

/** Split the CGI response head (`Status:` + headers, ended by a blank line) from its body. */
const parseCgiHead = (buffer: Buffer): { status: number; headers: Array<[string, string]>; body: Buffer } | undefined => {
  const text = buffer.toString("latin1")
  const match = /\r?\n\r?\n/.exec(text)
  if (match === null) return undefined
  let status = 200
  const headers: Array<[string, string]> = []
  for (const line of text.slice(0, match.index).split(/\r?\n/)) {
    const colon = line.indexOf(":")
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim()
    const value = line.slice(colon + 1).trim()
    if (name.toLowerCase() === "status") status = parseInt(value, 10) || 500
    else headers.push([name, value])
  }
  return { status, headers, body: buffer.subarray(match.index + match[0].length) }
}

const drainOrClose = (res: ServerResponse) =>
  new Promise<void>((resolve) => {
    const done = () => {
      res.off("drain", done)
      res.off("close", done)
      resolve()
    }
    res.on("drain", done)
    res.on("close", done)
  })

/** Run `git http-backend` for one request, streaming the body in and the response out. */
const serveCgi = async (
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  user: string,
  children: Set<ChildProcess>
) => {
  const url = new URL(req.url ?? "/", "https://127.0.0.1")
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: "1",
    REQUEST_METHOD: req.method ?? "GET",
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ""),
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    // Authenticated user: also what makes http-backend accept pushes by default.
    REMOTE_USER: user,
    REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1"
  }
  // Without CONTENT_LENGTH, http-backend reads the (chunked) body until EOF.
  if (req.headers["content-length"] !== undefined) env["CONTENT_LENGTH"] = req.headers["content-length"]
  const protocol = req.headers["git-protocol"]
  if (typeof protocol === "string") env["GIT_PROTOCOL"] = protocol
  const encoding = req.headers["content-encoding"]
  if (typeof encoding === "string") env["HTTP_CONTENT_ENCODING"] = encoding

  const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] })
  children.add(child)
  child.once("exit", () => children.delete(child))
  let stderr = ""
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  // EPIPE when the backend stops reading early is not our error to report.
  child.stdin.on("error", () => {})
  req.pipe(child.stdin)
  // A client that goes away should not leave a backend running.
  res.once("close", () => {
    if (child.exitCode === null) child.kill("SIGKILL")
  })

  let head = Buffer.alloc(0)
  let headersSent = false
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    let body = chunk
    if (!headersSent) {
      head = Buffer.concat([head, chunk])
      const parsed = parseCgiHead(head)
      if (parsed === undefined) continue
      res.writeHead(parsed.status, parsed.headers.flat())
      headersSent = true
      body = parsed.body
    }
    // Respect back-pressure, but do not wait for a drain that a closed client will never send.
    if (body.length > 0 && !res.write(body)) await drainOrClose(res)
  }
  if (child.exitCode === null && child.signalCode === null) await once(child, "exit")
  if (!headersSent && !res.headersSent) {
    res.writeHead(500, { "Content-Type": "text/plain" })
    res.end(`git http-backend produced no response: ${stderr}`)
    return
  }
  res.end()
}

export const startHttpsBed = async (opts: { user: string; password: string }): Promise<HttpsBed> => {
  const { user, password } = opts
  const dir = await mkdtemp(join(tmpdir(), "beds-https-"))
  const root = join(dir, "repos")
  const caFile = join(dir, "cert.pem")
  const children = new Set<ChildProcess>()
  let requests = 0
  let authFailures = 0
  let server: Server | undefined
  try {
    await mkdir(root)
    // A self-signed certificate valid for the loopback address git will connect to.
    await run("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", join(dir, "key.pem"), "-out", caFile, "-days", "2",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"
    ])
    const [key, cert] = await Promise.all([readFile(join(dir, "key.pem")), readFile(caFile)])

    const srv = createServer({ key, cert }, (req, res) => {
      requests++
      const auth = checkAuth(req, user, password)
      if (auth !== "ok") {
        if (auth === "wrong") authFailures++
        req.resume()
        res.writeHead(401, { "WWW-Authenticate": 'Basic realm="beds"', "Content-Type": "text/plain" })
        res.end("authentication required\n")
        return
      }
      serveCgi(req, res, root, user, children).catch((e) => {
        if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" })
        res.end(String(e))
      })
    })
    server = srv
    srv.listen(0, "127.0.0.1")
    await once(srv, "listening")
    const address = srv.address()
    const port = typeof address === "object" && address !== null ? address.port : 0

    let stopped: Promise<void> | undefined
    const stop = async () => {
      const closed = new Promise<void>((resolve) => srv.close(() => resolve()))
      srv.closeAllConnections()
      for (const child of children) child.kill("SIGKILL")
      await closed
      await rm(dir, { recursive: true, force: true })
    }

    return {
      port,
      root,
      user,
      password,
      caFile,
      url: (relPath) => `https://127.0.0.1:${port}/${relPath.replace(/^\/+/, "")}`,
      env: { GIT_SSL_CAINFO: caFile },
      makeBareRepo: async (relPath) => {
        const path = join(root, relPath)
        await mkdir(path, { recursive: true })
        await run("git", ["init", "--quiet", "--bare", "--initial-branch=main", path])
        // Explicit, though REMOTE_USER alone already enables pushes.
        await run("git", ["-C", path, "config", "http.receivepack", "true"])
        return path
      },
      get requests() {
        return requests
      },
      get authFailures() {
        return authFailures
      },
      stop: () => (stopped ??= stop())
    }
  } catch (e) {
    server?.close()
    await rm(dir, { recursive: true, force: true })
    throw e
  }
}
