/**
 * `bd import` through the bd daemon, with the real built `bd`: served from
 * any directory with the client's relative FILE, leaving the town as an
 * import in its own process (BD_NO_DAEMON=1) leaves it, in every file the
 * sync mode writes; run by the client itself when FILE is not a regular
 * file the daemon can open as the client would, or when the client's
 * umask is not the daemon's; two at once wait for each other on the
 * writer lock; a client interrupted leaves all or nothing, and no lock.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { askDaemon, type DaemonMessage, processUmask, type RunRequest } from "../../src/cli/DaemonClient.js"
import { running, status, stopDaemonsAfterEach, withDaemon } from "./daemonSupport.js"
import { type BdResult, type Env, jsonl, logBytes, readJsonl, record, type Sandbox, setupCli, show, type Town } from "./support.js"

setupCli()
stopDaemonsAfterEach()

/** `count` new issues `prefix-1` … */
const issues = (prefix: string, count: number): string => jsonl(Array.from({ length: count }, (_, i) => record(`${prefix}-${i + 1}`)))

/** The town's writer lock, written as the process `pid` holds it (the daemon, for an import); its path. */
const holdLockAs = (town: Town, pid: number): string => {
  const lock = path.join(town.beadsDir, "log", "LOCK")
  fs.mkdirSync(path.dirname(lock), { recursive: true })
  fs.writeFileSync(lock, JSON.stringify({ pid, command: "the test", at: new Date().toISOString() }))
  return lock
}

/**
 * A town in `sb` with these JSONL files beside it, and a lock wait long
 * enough to outlast a lock held on purpose; its daemon up (as `running` says).
 */
const patientTown = async (sb: Sandbox, files: Readonly<Record<string, string>>) => {
  sb.env = { ...sb.env, BD_LOCK_TIMEOUT_MS: "60000" }
  const town = await sb.town()
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(sb.path(name), text)
  await sb.ok(["list"])
  return { town, up: await running(sb) }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const served = async (sb: Sandbox): Promise<number> => (await status(sb)).served ?? 0

/** Wait (up to 20 s) until the daemon has taken `count` commands. */
const servedReaches = async (sb: Sandbox, count: number): Promise<void> => {
  for (let i = 0; i < 100; i++) {
    if (await served(sb) >= count) return
    await sleep(200)
  }
  throw new Error(`the daemon did not take ${count} commands within 20 s`)
}

/** Events as two towns doing the same write them: without their times and the hashes that cover them. */
const comparable = (events: ReadonlyArray<Record<string, unknown>>) => events.map(({ at: _at, hash: _hash, prev: _prev, ...rest }) => rest)

/** The events of a town's log segments. */
const logEvents = (town: Town) => {
  const dir = path.join(town.beadsDir, "log")
  return fs.readdirSync(dir).filter((name) => /^\d+\.jsonl$/.test(name)).sort().flatMap((name) => readJsonl(path.join(dir, name)))
}

/** Every file and directory under `dir` with its permission bits. */
const modes = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (at: string) => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name)
      out[path.relative(dir, full)] = (fs.statSync(full).mode & 0o777).toString(8)
      if (entry.isDirectory()) walk(full)
    }
  }
  walk(dir)
  return out
}

const alone: Env = { BD_NO_DAEMON: "1" }

describe("bd import through the daemon", () => {
  for (const mode of ["realtime", "belt-and-suspenders"] as const) {
    it(`is served from a subdirectory with a relative FILE and leaves the town as an import in its own process does (${mode})`, async () => {
      const { sb } = withDaemon(`daemon-import-${mode === "realtime" ? "rt" : "bs"}`)
      const viaDaemon = await sb.town({ dir: sb.path("served"), mode })
      const itself = await sb.town({ dir: sb.path("alone"), mode })
      for (const town of [viaDaemon, itself]) {
        fs.mkdirSync(path.join(town.dir, "sub", "data"), { recursive: true })
        fs.writeFileSync(path.join(town.dir, "sub", "data", "first.jsonl"), issues("im", 40))
        const newer = { title: "Renamed", updated_at: "2025-02-01T10:00:00Z" }
        fs.writeFileSync(path.join(town.dir, "sub", "data", "second.jsonl"), jsonl([record("im-2", newer), record("im-41")]))
      }
      await sb.ok(["list"], { cwd: viaDaemon.dir })
      const before = (await running(sb)).served ?? 0
      const imports = [["import", "data/first.jsonl"], ["--json", "import", "data/second.jsonl"]]
      for (const args of imports) {
        const there = await sb.run(args, { cwd: path.join(viaDaemon.dir, "sub") })
        const here = await sb.run(args, { cwd: path.join(itself.dir, "sub"), env: alone })
        expect(there, `bd ${args.join(" ")}\nserved: ${show(there)}\nalone: ${show(here)}`).toEqual(here)
        expect(there.code, show(there)).toBe(0)
      }
      expect(await served(sb)).toBe(before + imports.length)

      const exported = await sb.ok(["export", "-o", "-"], { cwd: viaDaemon.dir, env: alone })
      expect(exported.stdout).toBe((await sb.ok(["export", "-o", "-"], { cwd: itself.dir, env: alone })).stdout)
      expect(exported.stdout.split("\n")).toHaveLength(42)
      expect(comparable(logEvents(viaDaemon))).toEqual(comparable(logEvents(itself)))
      // The same files, with the same modes, and what the mode writes with the same bytes.
      expect(modes(viaDaemon.beadsDir)).toEqual(modes(itself.beadsDir))
      const bytes = (town: Town, ...file: Array<string>) => fs.readFileSync(path.join(town.beadsDir, ...file))
      if (mode === "realtime") {
        expect(bytes(viaDaemon, "issues.jsonl").equals(bytes(itself, "issues.jsonl"))).toBe(true)
        expect(bytes(viaDaemon, "issues.jsonl").toString("utf8")).toBe(exported.stdout)
      } else {
        expect(bytes(viaDaemon, "backup", "issues.jsonl").equals(bytes(itself, "backup", "issues.jsonl"))).toBe(true)
        expect(bytes(viaDaemon, "backup", "issues.jsonl").toString("utf8")).toBe(exported.stdout)
        const backedUp = (town: Town) => readJsonl(path.join(town.beadsDir, "backup", "events.jsonl"))
        expect(comparable(backedUp(viaDaemon))).toEqual(comparable(backedUp(itself)))
        expect(backedUp(viaDaemon)).toEqual(logEvents(viaDaemon))
      }
    })
  }

  it("--dry-run through the daemon prints what it would do and appends nothing", async () => {
    const { sb } = withDaemon("daemon-import-dry")
    const town = await sb.town()
    fs.mkdirSync(sb.path("sub"))
    fs.writeFileSync(sb.path("in.jsonl"), issues("dr", 3))
    await sb.ok(["list"])
    const before = (await running(sb)).served ?? 0
    const log = logBytes(town)
    for (const args of [["import", "--dry-run", "../in.jsonl"], ["--json", "import", "../in.jsonl", "--dry-run"]]) {
      const there = await sb.run(args, { cwd: sb.path("sub") })
      const here = await sb.run(args, { cwd: sb.path("sub"), env: alone })
      expect(there, `bd ${args.join(" ")}\nserved: ${show(there)}\nalone: ${show(here)}`).toEqual(here)
      expect(there.stdout).toMatch(/3 new|"created":3/)
    }
    expect(await served(sb)).toBe(before + 2)
    expect(logBytes(town)).toEqual(log)
  })

  it("runs in the client when FILE is not a regular file the daemon can open: /dev/stdin, a process substitution, a FIFO, a directory, a missing file", async () => {
    const { sb } = withDaemon("daemon-import-fd")
    const viaDaemon = await sb.town({ dir: sb.path("served") })
    const itself = await sb.town({ dir: sb.path("alone") })
    for (const town of [viaDaemon, itself]) {
      fs.writeFileSync(path.join(town.dir, "data.jsonl"), issues("ps", 2))
      fs.mkdirSync(path.join(town.dir, "dir"))
      execFileSync("mkfifo", [path.join(town.dir, "fifo")])
      fs.symlinkSync("/dev/stdin", path.join(town.dir, "stdin-link"))
    }
    await sb.ok(["list"], { cwd: viaDaemon.dir })
    const before = (await running(sb)).served ?? 0
    // Through a shell: standard input is then a file or a pipe (node gives a child a socket, which /dev/stdin cannot open).
    const cases: ReadonlyArray<readonly [string, (town: Town, env: Env) => Promise<BdResult>]> = [
      ["/dev/stdin", (town, env) => sb.shell("sh", `exec "$@" import /dev/stdin < data.jsonl`, { cwd: town.dir, env })],
      ["/dev/fd/0", (town, env) => sb.shell("sh", `cat data.jsonl | exec "$@" --json import /dev/fd/0`, { cwd: town.dir, env })],
      ["a link to /dev/stdin", (town, env) => sb.shell("sh", `exec "$@" import --dry-run stdin-link < data.jsonl`, { cwd: town.dir, env })],
      ["a process substitution", (town, env) => sb.shell("bash", `exec "$@" import <(cat data.jsonl)`, { cwd: town.dir, env })],
      ["a FIFO", async (town, env) => {
        const run = sb.run(["import", "fifo"], { cwd: town.dir, env })
        await fs.promises.writeFile(path.join(town.dir, "fifo"), issues("ff", 2))
        return run
      }],
      ["a directory", (town, env) => sb.run(["import", "dir"], { cwd: town.dir, env })],
      ["a missing file", (town, env) => sb.run(["--json", "import", "missing.jsonl"], { cwd: town.dir, env })]
    ]
    for (const [name, run] of cases) {
      const there = await run(viaDaemon, {})
      const here = await run(itself, alone)
      expect(there, `${name}\nserved: ${show(there)}\nalone: ${show(here)}`).toEqual(here)
    }
    expect(await served(sb)).toBe(before)
    expect(comparable(logEvents(viaDaemon))).toEqual(comparable(logEvents(itself)))
    expect(logEvents(viaDaemon).length).toBeGreaterThan(0)
  })

  it("a client with another umask runs the import itself, its files get the client's modes; an older client, which sends none, too", async () => {
    const { sb } = withDaemon("daemon-import-umask")
    const town = await sb.town({ mode: "realtime" })
    fs.writeFileSync(sb.path("a.jsonl"), issues("ua", 2))
    fs.writeFileSync(sb.path("b.jsonl"), issues("ub", 2))
    await sb.ok(["list"])
    const up = await running(sb)
    // The test's bd processes, and so the daemon one of them started, have this process's umask.
    const daemonMask = processUmask()
    const other = daemonMask === 0o077 ? 0o027 : 0o077
    const env = { BD_SNAPSHOT_EVERY: "1" }
    const created = () => {
      const current = fs.readFileSync(path.join(town.beadsDir, "log", "snapshots", "CURRENT"), "utf8").trim()
      return {
        segment: path.join(town.beadsDir, "log", "000001.jsonl"),
        export: path.join(town.beadsDir, "issues.jsonl"),
        snapshot: path.join(town.beadsDir, "log", "snapshots", current)
      }
    }
    const fileModes = () => {
      const files = created()
      return {
        segment: fs.statSync(files.segment).mode & 0o777,
        export: fs.statSync(files.export).mode & 0o777,
        snapshot: fs.statSync(files.snapshot).mode & 0o777,
        inSnapshot: [...new Set(fs.readdirSync(files.snapshot).map((name) => fs.statSync(path.join(files.snapshot, name)).mode & 0o777))]
      }
    }
    expect(fs.existsSync(path.join(town.beadsDir, "log", "000001.jsonl"))).toBe(false)
    const first = await sb.shell("sh", `umask ${other.toString(8)}; exec "$@" import a.jsonl`, { env })
    expect(first.code, show(first)).toBe(0)
    expect(await served(sb)).toBe(up.served)
    const file = 0o666 & ~other
    const dir = 0o777 & ~other
    expect(fileModes()).toEqual({ segment: file, export: file, snapshot: dir, inSnapshot: [file] })

    // With the daemon's umask it is served: what it creates gets the same modes as in the client.
    await sb.ok(["import", "b.jsonl"], { env })
    expect(await served(sb)).toBe((up.served ?? 0) + 1)
    expect(fileModes()).toMatchObject({ export: 0o666 & ~daemonMask, snapshot: 0o777 & ~daemonMask, inSnapshot: [0o666 & ~daemonMask] })

    // A request without a umask, as an older client sends: its import runs in the client, its reads in the daemon.
    const ask = async (run: RunRequest): Promise<Array<DaemonMessage>> => {
      const messages: Array<DaemonMessage> = []
      await askDaemon(up.socket!, { run }, (message) => {
        messages.push(message)
        return "exit" in message || "local" in message
      })
      return messages
    }
    const request = { cwd: sb.cwd, env: { ...sb.baseEnv(), PATH: process.env["PATH"] }, errIsTTY: false }
    expect(await ask({ ...request, argv: ["import", "a.jsonl"] })).toEqual([{ local: true }])
    expect((await ask({ ...request, argv: ["list"] })).at(-1)).toEqual({ exit: 0 })
    expect((await ask({ ...request, argv: ["import", "a.jsonl"], umask: daemonMask })).at(-1)).toEqual({ exit: 0 })
    expect(await served(sb)).toBe((up.served ?? 0) + 3)
  })

  it("two imports at once wait for each other on the writer lock, whose owner, the daemon's own live pid, is busy", async () => {
    const { sb } = withDaemon("daemon-import-two")
    const { town, up } = await patientTown(sb, { "a.jsonl": issues("ta", 2000), "b.jsonl": issues("tb", 2000) })
    // The lock held as the daemon holds it for an import: both imports wait in the daemon until it goes.
    const lock = holdLockAs(town, up.pid!)
    const imports = Promise.all([sb.run(["--json", "import", "a.jsonl"]), sb.run(["--json", "import", "b.jsonl"])])
    await servedReaches(sb, (up.served ?? 0) + 2)
    await sleep(500)
    expect(Object.keys(logBytes(town))).toEqual(["LOCK"])
    fs.rmSync(lock)
    for (const result of await imports) {
      expect(result.code, show(result)).toBe(0)
      expect(result.stderr).toBe("")
      expect(JSON.parse(result.stdout)).toMatchObject({ records: 2000, created: 2000 })
    }
    expect(await served(sb)).toBe((up.served ?? 0) + 2)
    expect(fs.existsSync(lock)).toBe(false)
    const exported = (await sb.ok(["export", "-o", "-"])).stdout
    expect(exported.split("\n").filter((line) => line !== "")).toHaveLength(4000)
    await sb.ok(["federation", "verify"])
  })

  it("an import whose client is interrupted appends all of it or nothing, and releases the writer lock", async () => {
    const { sb } = withDaemon("daemon-import-int")
    const { town, up } = await patientTown(sb, { "small.jsonl": issues("is", 10), "big.jsonl": issues("ib", 20_000) })
    /**
     * Start `bd ARGS` and Ctrl-C it once the daemon has taken it. The
     * daemon answers a status only between the steps of a command: while
     * it waits for the lock, or once its synchronous part (read, decide,
     * append) is done.
     */
    const interrupt = async (args: ReadonlyArray<string>, count: number) => {
      const client = sb.start(args)
      const exited = new Promise((resolve) => client.on("exit", resolve))
      for (let taken = false; !taken;) {
        await askDaemon(up.socket!, { status: true }, (message) => {
          taken = "status" in message && message.status.served >= count
          return true
        })
        if (!taken) await sleep(5)
      }
      client.kill("SIGINT")
      await exited
    }

    // Interrupted while it waits for the lock: once the lock is free, it appends nothing.
    const lock = holdLockAs(town, up.pid!)
    await interrupt(["import", "small.jsonl"], (up.served ?? 0) + 1)
    fs.rmSync(lock)
    await sleep(1_000)
    expect(Object.keys(logBytes(town))).toEqual([])
    expect(fs.existsSync(lock)).toBe(false)

    // Interrupted during a large import: all of it or none; the lock is free for the next.
    await interrupt(["import", "big.jsonl"], (up.served ?? 0) + 2)
    const after = await sb.json<{ created: number; unchanged: number }>(["import", "--dry-run", "big.jsonl"])
    expect([0, 20_000]).toContain(after.created)
    const next = await sb.json<{ created: number }>(["import", "small.jsonl"])
    expect(next.created).toBe(10)
    expect(fs.existsSync(lock)).toBe(false)
    await sb.ok(["federation", "verify"])
    const now = await status(sb)
    expect(now.pid).toBe(up.pid)
    expect(now.served).toBe((up.served ?? 0) + 4)
  })
})
