/**
 * Support for federation tests over real git endpoints: a "world" is a
 * temporary directory holding towns (each a directory with its own HOME and
 * XDG_CONFIG_HOME) and endpoints (bare git repositories, or the sshd and
 * https beds). Every town runs the built `bd` as a real process; nothing is
 * mocked.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { expect } from "vitest"

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
export const BIN = path.join(ROOT, "bin", "bd.cjs")
export const BUNDLE = path.join(ROOT, "dist", "bd-main.cjs")

/** Exit codes the federation commands document. */
export const EXIT = {
  ok: 0,
  integrity: 10,
  unreachable: 11,
  rejected: 12,
  conflicts: 13
} as const

/**
 * Whether an event type is shared between towns: work-item changes and
 * conflict resolutions (DESIGN). Told positively, so that new local
 * (operational, trust) event types do not count as shared.
 */
export const isSharedType = (type: string): boolean => /^Issue[A-Z]/.test(type) || type === "ConflictResolved"

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Build the CLI once, only when the bundle is missing (guarded against parallel workers). */
export const ensureBuilt = async (): Promise<void> => {
  if (fs.existsSync(BUNDLE)) return
  const lock = path.join(os.tmpdir(), `bd-federation-build-${createHash("sha1").update(ROOT).digest("hex").slice(0, 12)}.lock`)
  for (;;) {
    try {
      fs.mkdirSync(lock)
      break
    } catch {
      if (fs.existsSync(BUNDLE)) return
      await sleep(250)
    }
  }
  try {
    if (!fs.existsSync(BUNDLE)) execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit" })
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

export interface RunResult {
  readonly args: ReadonlyArray<string>
  readonly code: number
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** A run, as text for assertion messages. */
export const show = (r: RunResult): string =>
  `bd ${r.args.join(" ")}\nexit ${r.code}${r.signal === null ? "" : ` (${r.signal})`}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`

/** The parent's environment minus anything that could point bd or git at the user's own setup. */
const cleanEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue
    if (/^(BD_|BEADS_|GIT_|XDG_|SSH_)/.test(key) || key === "NODE_OPTIONS") continue
    env[key] = value
  }
  return env
}

/** git for the tests' own inspection and tampering: isolated from any user configuration. */
export const git = (cwd: string, args: ReadonlyArray<string>, input?: string): string =>
  execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    ...(input === undefined ? {} : { input }),
    env: {
      ...cleanEnv(),
      HOME: os.tmpdir(),
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_AUTHOR_NAME: "tamper",
      GIT_AUTHOR_EMAIL: "tamper@example.invalid",
      GIT_COMMITTER_NAME: "tamper",
      GIT_COMMITTER_EMAIL: "tamper@example.invalid"
    },
    stdio: ["pipe", "pipe", "pipe"]
  }).trim()

export interface Peer {
  readonly name: string
  readonly endpoint: string
  readonly user?: string
  readonly password?: string
}

export interface TownOptions {
  readonly prefix?: string
  readonly peers?: ReadonlyArray<Peer>
  /** Extra environment for every bd run of this town (the beds' GIT_SSH_COMMAND, GIT_SSL_CAINFO). */
  readonly env?: Record<string, string>
}

export interface RunOptions {
  readonly env?: Record<string, string>
  readonly input?: string
  readonly timeoutMs?: number
}

export interface Spawned {
  readonly child: ChildProcess
  readonly done: Promise<RunResult>
}

/** Process group ids of live (non-zombie) processes, from /proc. */
const liveInGroup = (pgid: number): Array<number> => {
  const found: Array<number> = []
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      if (fields[0] !== "Z" && Number(fields[2]) === pgid) found.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return found
}

/** Wait until no process of the group is left (the children of a killed bd finish on their own). */
export const waitGroupGone = async (pgid: number, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (liveInGroup(pgid).length > 0) {
    if (Date.now() > deadline) throw new Error(`processes of group ${pgid} still running after ${timeoutMs} ms`)
    await sleep(20)
  }
}

export class Town {
  readonly dir: string
  readonly home: string
  readonly xdg: string
  townId = ""
  private readonly env: Record<string, string>

  constructor(readonly world: World, readonly name: string, readonly prefix: string, extraEnv: Record<string, string> = {}) {
    const base = path.join(world.root, "towns", name)
    this.dir = path.join(base, "work")
    this.home = path.join(base, "home")
    this.xdg = path.join(base, "xdg")
    for (const dir of [this.dir, this.home, this.xdg]) fs.mkdirSync(dir, { recursive: true })
    this.env = {
      ...cleanEnv(),
      HOME: this.home,
      XDG_CONFIG_HOME: this.xdg,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: world.gitConfig,
      GIT_CEILING_DIRECTORIES: world.root,
      USER: `user-${name}`,
      ...extraEnv
    }
  }

  get beadsDir(): string {
    return path.join(this.dir, ".beads")
  }

  /** Start bd in its own process group (so a SIGKILL test can wait for its children). */
  spawn(args: ReadonlyArray<string>, options: RunOptions = {}): Spawned {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: this.dir,
      env: { ...this.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout!.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr!.on("data", (chunk: Buffer) => err.push(chunk))
    child.stdin!.on("error", () => {})
    child.stdin!.end(options.input ?? "")
    const timeoutMs = options.timeoutMs ?? 90_000
    const done = new Promise<RunResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL")
        } catch {
          // already gone
        }
      }, timeoutMs)
      child.on("error", (error) => {
        clearTimeout(timer)
        reject(error)
      })
      child.on("close", (code, signal) => {
        clearTimeout(timer)
        resolve({
          args,
          code: code ?? -1,
          signal,
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8")
        })
      })
    })
    this.world.outputs.push(done)
    const started = Date.now()
    void done.then(() => this.world.timings.push({ args: args.join(" "), ms: Date.now() - started }), () => {})
    return { child, done }
  }

  run(args: ReadonlyArray<string>, options: RunOptions = {}): Promise<RunResult> {
    return this.spawn(args, options).done
  }

  /** Run and insist on the exit code (0 by default). */
  async expect(args: ReadonlyArray<string>, code: number, options: RunOptions = {}): Promise<RunResult> {
    const r = await this.run(args, options)
    expect(r.code, `[${this.name}] ${show(r)}`).toBe(code)
    return r
  }

  ok(args: ReadonlyArray<string>, options: RunOptions = {}): Promise<RunResult> {
    return this.expect(args, 0, options)
  }

  /** `bd --json …` that must exit with `code` (0 by default): its first stdout line, parsed. */
  async json<A = any>(args: ReadonlyArray<string>, code = 0, options: RunOptions = {}): Promise<A> {
    const r = await this.expect(["--json", ...args], code, options)
    const first = r.stdout.split("\n").find((line) => line !== "")
    expect(first, `[${this.name}] ${show(r)}`).toBeDefined()
    return JSON.parse(first!) as A
  }

  /** `bd init --town NAME --prefix P`, federation on, then the peers. */
  async setUp(peers: ReadonlyArray<Peer>): Promise<this> {
    const init = await this.json<{ townId: string }>(["init", "--town", this.name, "--prefix", this.prefix])
    this.townId = init.townId
    expect(this.townId).toMatch(/^[0-9a-f]{8,}$/)
    await this.ok(["config", "set", "sync.mode", "dolt-native"])
    for (const peer of peers) await this.addPeer(peer)
    return this
  }

  addPeer(peer: Peer): Promise<RunResult> {
    return this.ok([
      "federation",
      "add-peer",
      peer.name,
      peer.endpoint,
      ...(peer.user === undefined ? [] : ["--user", peer.user]),
      ...(peer.password === undefined ? [] : ["--password", peer.password])
    ])
  }

  /** Create a work item; its id. */
  async create(title: string, extra: ReadonlyArray<string> = []): Promise<string> {
    const made = await this.json<{ id: string }>(["create", title, ...extra])
    expect(made.id.startsWith(`${this.prefix}-`), JSON.stringify(made)).toBe(true)
    return made.id
  }

  /** Every work item (`bd --json list --all`, no limit). */
  list(): Promise<Array<Record<string, any>>> {
    return this.json(["list", "--all", "--limit", "0"])
  }

  async show(id: string): Promise<Record<string, any>> {
    const shown = await this.json<Array<Record<string, any>>>(["show", id])
    return shown[0]!
  }

  /** `bd export -o FILE`: the bytes written. */
  async exportText(): Promise<string> {
    const file = path.join(this.world.root, `export-${this.name}-${++this.world.exports}.jsonl`)
    await this.ok(["export", "-o", file])
    return fs.readFileSync(file, "utf8")
  }

  /** The event log, as `bd --json federation log` prints it. */
  log(): Promise<Array<Record<string, any>>> {
    return this.json(["federation", "log"])
  }

  /** Ids of the shared events this town holds (sorted), after checking none is held twice. */
  async sharedIds(): Promise<Array<string>> {
    const ids = (await this.log()).filter((e) => isSharedType(e["type"] as string)).map((e) => e["id"] as string)
    expect(new Set(ids).size, `${this.name}: a shared event is held twice`).toBe(ids.length)
    return ids.sort()
  }

  conflicts(): Promise<Array<{ id: string; issue: string; field: string; values: Array<{ value: unknown; town: string; event: string; lamport: number }>; shown: unknown }>> {
    return this.json(["federation", "conflicts"])
  }

  sync(peer?: string, extra: ReadonlyArray<string> = []): Promise<RunResult> {
    return this.run(["--json", "federation", "sync", ...(peer === undefined ? [] : [peer]), ...extra])
  }
}

export interface SyncRound {
  readonly town: string
  readonly result: RunResult
  readonly doc: any
}

/** Whether a `bd --json federation sync` moved nothing: no event pulled, none published, no branch updated. */
export const quietSync = (doc: any): boolean =>
  Array.isArray(doc?.peers) &&
  doc.peers.every((p: any) =>
    p.pull?.events === 0 && p.pull?.batches === 0 && p.push !== null && p.push?.published === 0 && (p.push?.updated?.length ?? 1) === 0
  )

export class World {
  readonly root: string
  readonly gitConfig: string
  /** Every bd run of this world, so a test can inspect all output (secrets checks). */
  readonly outputs: Array<Promise<RunResult>> = []
  exports = 0
  readonly timings: Array<{ args: string; ms: number }> = []

  constructor(label: string) {
    this.root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `bd-fed-${label}-`)))
    this.gitConfig = path.join(this.root, "gitconfig")
    fs.writeFileSync(this.gitConfig, "")
  }

  /** A file:// endpoint URL for a bare repository under the world (not created). */
  fileEndpoint(name: string): { path: string; url: string } {
    const at = path.join(this.root, "endpoints", name)
    return { path: at, url: `file://${at}` }
  }

  /** Make towns in parallel. */
  makeTowns<const S extends ReadonlyArray<{ readonly name: string } & TownOptions>>(specs: S): Promise<{ -readonly [K in keyof S]: Town }> {
    return Promise.all(specs.map((spec) => this.town(spec.name, spec))) as Promise<any>
  }

  async town(name: string, options: TownOptions = {}): Promise<Town> {
    const town = new Town(this, name, options.prefix ?? name.slice(0, 3), options.env)
    return town.setUp(options.peers ?? [])
  }

  /**
   * Sync the towns one after another, in rounds, until a whole round moved
   * nothing (or fail after `maxRounds`). Every sync must exit with one of
   * `allowed` (0 by default). Returns the rounds run.
   */
  async syncUntilQuiet(
    towns: ReadonlyArray<Town>,
    options: { maxRounds?: number; allowed?: ReadonlyArray<number>; peer?: string } = {}
  ): Promise<Array<Array<SyncRound>>> {
    const allowed = options.allowed ?? [0]
    const rounds: Array<Array<SyncRound>> = []
    for (let i = 0; i < (options.maxRounds ?? 5); i++) {
      const round: Array<SyncRound> = []
      for (const town of towns) {
        const result = await town.sync(options.peer)
        expect(allowed, `[${town.name}] round ${i + 1}: ${show(result)}`).toContain(result.code)
        const first = result.stdout.split("\n").find((line) => line !== "")
        round.push({ town: town.name, result, doc: first === undefined ? undefined : JSON.parse(first) })
      }
      rounds.push(round)
      if (round.every((r) => quietSync(r.doc))) return rounds
    }
    throw new Error(`not quiet after ${rounds.length} rounds:\n${rounds.at(-1)!.map((r) => show(r.result)).join("\n")}`)
  }

  /** All towns' exports, checked byte-identical; the common text. */
  async expectSameExports(towns: ReadonlyArray<Town>): Promise<string> {
    const texts = await Promise.all(towns.map((town) => town.exportText()))
    for (let i = 1; i < towns.length; i++) {
      expect(texts[i], `export of ${towns[i]!.name} differs from ${towns[0]!.name}`).toBe(texts[0])
    }
    return texts[0]!
  }

  /** All towns hold the same shared events (none twice); the common ids. */
  async expectSameSharedEvents(towns: ReadonlyArray<Town>): Promise<Array<string>> {
    const ids = await Promise.all(towns.map((town) => town.sharedIds()))
    for (let i = 1; i < towns.length; i++) {
      expect(ids[i], `shared events of ${towns[i]!.name} differ from ${towns[0]!.name}`).toEqual(ids[0])
    }
    return ids[0]!
  }

  cleanup(): void {
    if (process.env["FED_STATS"]) {
      const by = new Map<string, { n: number; ms: number }>()
      for (const t of this.timings) {
        const key = t.args.replace(/^--json /, "").split(" ").slice(0, 2).join(" ")
        const e = by.get(key) ?? { n: 0, ms: 0 }
        by.set(key, { n: e.n + 1, ms: e.ms + t.ms })
      }
      console.log(`${this.root}: ${this.timings.length} runs\n${[...by].map(([k, v]) => `  ${k}: ${v.n} runs, avg ${Math.round(v.ms / v.n)} ms`).join("\n")}`)
    }
    fs.rmSync(this.root, { recursive: true, force: true })
  }
}

/** Parse beads JSONL. */
export const parseJsonl = (text: string): Array<Record<string, any>> =>
  text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, any>)

/** The refs/beads/towns/* of a bare repository: town id -> commit. */
export const townRefs = (repo: string): Map<string, string> => {
  const out = git(repo, ["for-each-ref", "--format=%(objectname) %(refname)", "refs/beads/towns/"])
  const map = new Map<string, string>()
  for (const line of out.split("\n")) {
    const [sha, ref] = line.split(" ")
    if (sha && ref) map.set(ref.slice("refs/beads/towns/".length), sha)
  }
  return map
}

export const sha256 = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex")

/**
 * Rewrite one batch commit in a bare repository: `edit` gets events.jsonl
 * and meta.json and returns the new ones; every other entry of the tree
 * (the signature) is kept as it was. The new commit has `parent` (default:
 * the old commit's parent, none for a root). Returns its sha.
 */
export const forgeBatch = (
  repo: string,
  commit: string,
  edit: (files: { events: string; meta: string }) => { events: string; meta: string },
  parent?: string | null
): string => {
  const events = git(repo, ["cat-file", "blob", `${commit}:events.jsonl`]) + "\n"
  const meta = git(repo, ["cat-file", "blob", `${commit}:meta.json`]) + "\n"
  const next = edit({ events, meta })
  const blobs: Record<string, string> = {
    "events.jsonl": git(repo, ["hash-object", "-w", "--stdin"], next.events),
    "meta.json": git(repo, ["hash-object", "-w", "--stdin"], next.meta)
  }
  const entries = git(repo, ["ls-tree", commit]).split("\n").filter((line) => line !== "").map((line) => {
    const [info, name] = line.split("\t") as [string, string]
    const blob = blobs[name]
    return blob === undefined ? line : `${info.split(" ").slice(0, 2).join(" ")} ${blob}\t${name}`
  })
  const tree = git(repo, ["mktree"], `${entries.join("\n")}\n`)
  const oldParents = git(repo, ["rev-list", "--parents", "-n", "1", commit]).split(" ").slice(1)
  const useParent = parent === undefined ? oldParents[0] : parent ?? undefined
  return git(repo, ["commit-tree", tree, ...(useParent === undefined ? [] : ["-p", useParent]), "-m", "forged batch"])
}

/**
 * JSONL of `n` beads issues with the given prefix, for `bd import`;
 * `revision` > 0 makes a newer version of the first `n` (new title, later updated_at).
 */
export const generatedIssues = (prefix: string, n: number, revision = 0): string =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      id: `${prefix}-gen${String(i).padStart(4, "0")}`,
      title: revision === 0 ? `generated ${prefix} ${i}` : `generated ${prefix} ${i}, revision ${revision}`,
      description: `item ${i} from ${prefix}`,
      status: i % 7 === 0 ? "closed" : "open",
      priority: i % 5,
      issue_type: "task",
      created_at: "2026-01-02T03:04:05Z",
      updated_at: `2026-01-${String(2 + revision).padStart(2, "0")}T03:04:05Z`
    })).join("\n") + "\n"

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed from its seed. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Command lines of every process that mentions `text` (polled from /proc). */
export const processesMentioning = (text: string): Array<string> => {
  const hits: Array<string> = []
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8")
      if (cmd.includes(text)) hits.push(`${entry}: ${cmd.replace(/\0/g, " ")}`)
    } catch {
      // gone meanwhile
    }
  }
  return hits
}

/** Files under `dir`, recursively (absolute). */
export const filesUnder = (dir: string): Array<string> => {
  const out: Array<string> = []
  const walk = (at: string) => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.isFile()) out.push(full)
    }
  }
  if (fs.existsSync(dir)) walk(dir)
  return out
}
