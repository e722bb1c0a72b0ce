/**
 * End-to-end support: run the built `bd` as a real process in a throwaway
 * directory, with the user's configuration, git identity and BD_* / BEADS_*
 * variables of the parent shut out.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, expect, vi } from "vitest"

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
export const BIN = path.join(ROOT, "bin", "bd.cjs")
export const BUNDLE = path.join(ROOT, "dist", "bd-main.cjs")

/** Exit codes of src/domain/Errors.ts, repeated here so a change there is noticed. */
export const Exit = {
  ok: 0,
  internal: 1,
  usage: 2,
  config: 3,
  invalidInput: 4,
  alreadyExists: 5,
  notFound: 6,
  federationNotEnabled: 7,
  doltBackendRequired: 8,
  directAccess: 9,
  integrity: 10,
  credentials: 15,
  notInitialized: 16
} as const

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Build once when the bundle is missing. Test files may run in parallel
 * workers, so the build is guarded by a lock directory in the temp dir.
 */
export const ensureBuilt = async (): Promise<void> => {
  if (fs.existsSync(BUNDLE)) return
  const lock = path.join(os.tmpdir(), `bd-cli-build-${Buffer.from(ROOT).toString("hex").slice(-24)}.lock`)
  for (;;) {
    try {
      fs.mkdirSync(lock)
      break
    } catch {
      if (fs.existsSync(BUNDLE)) return
      await sleep(200)
    }
  }
  try {
    if (!fs.existsSync(BUNDLE)) {
      execFileSync(process.execPath, [path.join(ROOT, "scripts", "build.mjs")], { cwd: ROOT, stdio: "inherit" })
    }
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

export interface BdResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export type Env = Readonly<Record<string, string | undefined>>

export interface BdOptions {
  readonly cwd: string
  /** Added to the environment; `undefined` removes a variable. */
  readonly env?: Env
  /** Written to standard input (a pipe, never a terminal). */
  readonly input?: string
}

/** The parent's environment without anything that could point bd or git at the user's own setup. */
const inheritedEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue
    if (/^(BD_|BEADS_|GIT_|XDG_)/.test(key) || key === "NODE_OPTIONS" || key === "USER" || key === "LOGNAME") continue
    env[key] = value
  }
  return env
}

const merge = (base: Env, extra: Env | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...base, ...extra })) if (value !== undefined) out[key] = value
  return out
}

/** Spawn the real binary; never throws for a non-zero exit. */
let spawned = 0

/** At most this many bd processes at once per test file: enough to keep two cores busy, few enough to stay predictable. */
const MAX_PARALLEL = 4
let running = 0
const waiting: Array<() => void> = []

const slot = async (): Promise<void> => {
  if (running < MAX_PARALLEL) {
    running++
    return
  }
  await new Promise<void>((resolve) => waiting.push(resolve))
}

const release = (): void => {
  const next = waiting.shift()
  if (next === undefined) running--
  else next()
}

export const bd = (args: ReadonlyArray<string>, options: BdOptions): Promise<BdResult> =>
  inSlot(() => spawnBd(process.execPath, [BIN, ...args], options))

/**
 * `script` run by `shell -c`, its `"$@"` the command that runs bd (`node
 * bin/bd.cjs`): for what a shell sets up around bd, such as a umask or a
 * process substitution (`exec "$@" import <(cat FILE)`).
 */
export const bdInShell = (shell: "sh" | "bash", script: string, options: BdOptions): Promise<BdResult> =>
  inSlot(() => spawnBd(shell, ["-c", script, shell, process.execPath, BIN], options))

const inSlot = async <A>(run: () => Promise<A>): Promise<A> => {
  await slot()
  try {
    return await run()
  } finally {
    release()
  }
}

const spawnBd = (file: string, args: ReadonlyArray<string>, options: BdOptions): Promise<BdResult> =>
  new Promise((resolve, reject) => {
    spawned++
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: merge(inheritedEnv(), options.env),
      stdio: ["pipe", "pipe", "pipe"]
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk))
    child.on("error", reject)
    child.on("close", (code, signal) =>
      resolve({
        code: code ?? (signal === null ? -1 : 128),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8")
      }))
    child.stdin.on("error", () => {})
    child.stdin.end(options.input ?? "")
  })

/** A run, written out for assertion messages. */
export const show = (r: BdResult): string => `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`

const sandboxes: Array<string> = []

export const SYNC_MODES = ["git-portable", "realtime", "dolt-native", "belt-and-suspenders"] as const
export type SyncMode = (typeof SYNC_MODES)[number]

export interface Town {
  readonly dir: string
  readonly beadsDir: string
  readonly townId: string
}

/**
 * A private world for one test: a temp root with `home/`, `xdg/`, an empty
 * git config, and `work/` as the default working directory.
 */
export class Sandbox {
  readonly root: string
  readonly home: string
  readonly xdg: string
  readonly cwd: string
  readonly gitConfig: string
  /** Extra environment for every run of this sandbox. */
  env: Record<string, string | undefined> = {}

  constructor(name: string) {
    this.root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `bd-cli-${name}-`)))
    sandboxes.push(this.root)
    this.home = path.join(this.root, "home")
    this.xdg = path.join(this.root, "xdg")
    this.cwd = path.join(this.root, "work")
    this.gitConfig = path.join(this.root, "gitconfig")
    for (const dir of [this.home, this.xdg, this.cwd]) fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(this.gitConfig, "")
  }

  baseEnv(): Env {
    return {
      HOME: this.home,
      XDG_CONFIG_HOME: this.xdg,
      GIT_CONFIG_GLOBAL: this.gitConfig,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CEILING_DIRECTORIES: path.dirname(this.root),
      USER: "sandbox-user",
      ...this.env
    }
  }

  run(args: ReadonlyArray<string>, options: { cwd?: string; env?: Env; input?: string } = {}): Promise<BdResult> {
    return bd(args, this.options(options))
  }

  /** A shell script that runs bd as `"$@"` (see bdInShell), in this sandbox. */
  shell(shell: "sh" | "bash", script: string, options: { cwd?: string; env?: Env; input?: string } = {}): Promise<BdResult> {
    return bdInShell(shell, script, this.options(options))
  }

  /** Start bd and return at once, with its output ignored: for a test that signals it. */
  start(args: ReadonlyArray<string>, options: { cwd?: string; env?: Env } = {}): ChildProcess {
    const { cwd, env } = this.options(options)
    spawned++
    return spawn(process.execPath, [BIN, ...args], { cwd, env: merge(inheritedEnv(), env), stdio: "ignore" })
  }

  private options(options: { cwd?: string; env?: Env; input?: string }): BdOptions {
    return {
      cwd: options.cwd ?? this.cwd,
      env: { ...this.baseEnv(), ...options.env },
      ...(options.input === undefined ? {} : { input: options.input })
    }
  }

  /** Run and insist on exit 0 with nothing on stderr. */
  async ok(args: ReadonlyArray<string>, options: { cwd?: string; env?: Env; input?: string } = {}): Promise<BdResult> {
    const r = await this.run(args, options)
    expect(r.code, `bd ${args.join(" ")}\n${show(r)}`).toBe(0)
    expect(r.stderr, `bd ${args.join(" ")}\n${show(r)}`).toBe("")
    return r
  }

  /** `bd --json …` that must succeed: its stdout parsed. */
  async json<A = any>(args: ReadonlyArray<string>, options: { cwd?: string; env?: Env; input?: string } = {}): Promise<A> {
    const r = await this.ok(["--json", ...args], options)
    const lines = r.stdout.split("\n").filter((line) => line !== "")
    expect(lines, `bd --json ${args.join(" ")}\n${show(r)}`).toHaveLength(1)
    return JSON.parse(lines[0]!) as A
  }

  /**
   * A fresh town made by copying one that a real `bd init` made (once per
   * test file), so that tests which do not test `init` save a process.
   */
  async town(options: { dir?: string; mode?: SyncMode } = {}): Promise<Town> {
    const template = await templateTown()
    const dir = options.dir ?? this.cwd
    const beadsDir = path.join(dir, ".beads")
    fs.mkdirSync(dir, { recursive: true })
    fs.cpSync(template.beadsDir, beadsDir, { recursive: true })
    // The town's private keys, which bd init keeps in the user's config directory.
    const secrets = townSecrets(template.xdg, template.townId)
    if (fs.existsSync(secrets)) {
      const target = townSecrets(this.xdg, template.townId)
      fs.cpSync(secrets, target, { recursive: true })
      for (const [from, to] of [[secrets, target], [path.dirname(secrets), path.dirname(target)]] as const) {
        fs.chmodSync(to, fs.statSync(from).mode & 0o777)
      }
    }
    if (options.mode !== undefined && options.mode !== "git-portable") setMode(beadsDir, options.mode)
    return { dir, beadsDir, townId: template.townId }
  }

  /** `bd init` in `dir` (default: the working directory), optionally in a sync mode (written to config.yaml). */
  async init(options: { dir?: string; mode?: SyncMode; args?: ReadonlyArray<string> } = {}): Promise<Town> {
    const dir = options.dir ?? this.cwd
    fs.mkdirSync(dir, { recursive: true })
    const out = await this.json<{ townId: string; beadsDir: string }>(["init", ...(options.args ?? [])], { cwd: dir })
    if (options.mode !== undefined && options.mode !== "git-portable") setMode(out.beadsDir, options.mode)
    return { dir, beadsDir: out.beadsDir, townId: out.townId }
  }

  path(...parts: Array<string>): string {
    return path.join(this.cwd, ...parts)
  }
}

/** `$XDG_CONFIG_HOME/bd/towns/<townId>`: a town's secrets (credentials, keys). */
export const townSecrets = (xdg: string, townId: string): string => path.join(xdg, "bd", "towns", townId)

/** The credential files of a sandbox, whatever town they belong to. */
export const credentialFiles = (sb: Sandbox): Array<string> =>
  filesUnder(path.join(sb.xdg, "bd", "towns")).filter((file) => path.basename(file).startsWith("credentials"))

let template: Promise<Town & { xdg: string }> | undefined

const templateTown = async (): Promise<Town & { xdg: string }> => {
  const made = template === undefined ? undefined : await template
  if (made === undefined || !fs.existsSync(path.join(made.beadsDir, "town.json"))) {
    const sb = new Sandbox("template")
    template = sb.init().then((town) => ({ ...town, xdg: sb.xdg }))
  }
  return template!
}

/** Switch a town's sync mode by editing its config.yaml as a person would. */
export const setMode = (beadsDir: string, mode: SyncMode): void => {
  const file = path.join(beadsDir, "config.yaml")
  const text = fs.readFileSync(file, "utf8")
  const next = text.replace(/^(\s*mode:\s*)\S+/m, `$1${mode}`)
  expect(next).toContain(`mode: ${mode}`)
  fs.writeFileSync(file, next)
}

/** Append raw YAML to a town's config. */
export const appendConfig = (beadsDir: string, yaml: string): void => {
  fs.appendFileSync(path.join(beadsDir, "config.yaml"), yaml)
}

/** Every file under `dir` (recursively), relative path -> content as base64, for before/after comparisons. */
export const treeBytes = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (at: string) => {
    if (!fs.existsSync(at)) return
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.isFile()) out[path.relative(dir, full)] = fs.readFileSync(full).toString("base64")
    }
  }
  walk(dir)
  return out
}

/** Every file under `dir`, recursively (absolute paths). */
export const filesUnder = (dir: string): Array<string> => {
  const out: Array<string> = []
  const walk = (at: string) => {
    if (!fs.existsSync(at)) return
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name)
      if (entry.isDirectory()) walk(full)
      else out.push(full)
    }
  }
  walk(dir)
  return out
}

/** The event log's files, for "nothing was appended" checks. */
export const logBytes = (town: Town): Record<string, string> => treeBytes(path.join(town.beadsDir, "log"))

const STACK_LINE = /^\s+at /m

/**
 * A user error: the documented exit code, no stack trace; in text mode
 * `Error: …` and `Hint: …` on stderr and nothing on stdout; under `--json`
 * exactly one JSON object `{code, message, hint}` on stdout.
 */
export const expectUserError = (
  r: BdResult,
  expected: { exit: number; json: boolean; code?: string; message?: RegExp | string }
): { code: string; message: string; hint: string } => {
  const context = show(r)
  expect(r.code, context).toBe(expected.exit)
  expect(r.stderr, context).not.toMatch(STACK_LINE)
  expect(r.stdout, context).not.toMatch(STACK_LINE)
  let error: { code: string; message: string; hint: string }
  if (expected.json) {
    const lines = r.stdout.split("\n").filter((line) => line !== "")
    expect(lines, context).toHaveLength(1)
    expect(r.stdout.endsWith("\n"), context).toBe(true)
    const parsed = JSON.parse(lines[0]!) as Record<string, unknown>
    expect(Object.keys(parsed).sort(), context).toEqual(["code", "hint", "message"])
    for (const key of ["code", "message", "hint"]) {
      expect(typeof parsed[key], context).toBe("string")
      expect((parsed[key] as string).length, context).toBeGreaterThan(0)
    }
    error = parsed as typeof error
    if (expected.exit !== Exit.usage) expect(r.stderr, context).toBe("")
  } else {
    expect(r.stdout, context).toBe("")
    const match = /^Error: (.+)\nHint: (.+)\n$/s.exec(r.stderr)
    expect(match, context).not.toBeNull()
    error = { code: "", message: match![1]!, hint: match![2]! }
  }
  if (expected.code !== undefined && expected.json) expect(error.code, context).toBe(expected.code)
  if (expected.message !== undefined) {
    if (typeof expected.message === "string") expect(error.message, context).toContain(expected.message)
    else expect(error.message, context).toMatch(expected.message)
  }
  return error
}

/** Run a failing command twice, in text and under `--json`, and check both renderings. */
export const expectFails = async (
  sb: Sandbox,
  args: ReadonlyArray<string>,
  expected: { exit: number; code: string; message?: RegExp | string },
  options: { cwd?: string; env?: Env; input?: string } = {}
): Promise<{ code: string; message: string; hint: string }> => {
  const [text, json] = await Promise.all([sb.run(args, options), sb.run(["--json", ...args], options)])
  expectUserError(text, { ...expected, json: false })
  return expectUserError(json, { ...expected, json: true })
}

/** Run a failing command once, under `--json` (or in text with `json: false`), and check the rendering. */
export const expectFailsOnce = async (
  sb: Sandbox,
  args: ReadonlyArray<string>,
  expected: { exit: number; code: string; message?: RegExp | string },
  options: { cwd?: string; env?: Env; input?: string; json?: boolean } = {}
): Promise<{ code: string; message: string; hint: string }> => {
  const json = options.json ?? true
  const r = await sb.run(json ? ["--json", ...args] : args, options)
  return expectUserError(r, { ...expected, json })
}

/** Usage errors come from @effect/cli: exit 2, no stack trace; under --json one error object. */
export const expectUsage = (r: BdResult, json: boolean): void => {
  const context = show(r)
  expect(r.code, context).toBe(Exit.usage)
  expect(r.stderr, context).not.toMatch(STACK_LINE)
  if (json) {
    const lines = r.stdout.split("\n").filter((line) => line !== "")
    expect(lines, context).toHaveLength(1)
    expect(Object.keys(JSON.parse(lines[0]!) as object).sort()).toEqual(["code", "hint", "message"])
  }
}

/** Lines of text output, without the final newline. */
export const lines = (text: string): Array<string> => text.replace(/\n$/, "").split("\n")

/** Register the build and the clean-up of sandboxes for a test file. */
export const setupCli = (): void => {
  // Each test runs a dozen or more processes; on a loaded machine that can take a while.
  vi.setConfig({ testTimeout: 180_000 })
  beforeAll(ensureBuilt, 300_000)
  afterAll(() => {
    if (process.env["CLI_TEST_STATS"]) console.log(`bd spawned ${spawned} times`)
    for (const dir of sandboxes.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
  })
}

export const readJsonl = (file: string): Array<Record<string, unknown>> =>
  fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, unknown>)

/** A beads JSONL record of a work item, with the fields beads always writes. */
export const record = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  title: `Issue ${id}`,
  status: "open",
  priority: 2,
  issue_type: "task",
  created_at: "2025-01-01T10:00:00Z",
  updated_at: "2025-01-01T10:00:00Z",
  ...extra
})

/** Records as beads JSONL, one a line. */
export const jsonl = (records: ReadonlyArray<unknown>): string => records.map((r) => `${JSON.stringify(r)}\n`).join("")
