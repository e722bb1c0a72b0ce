/**
 * The event log shared by real processes: the built `bd` CLI run
 * concurrently, killed mid-write, refused write access; and a reader process
 * overlapping a writer process. Every test works in its own temporary town.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { execFileSync } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BD, bd, describeRun, type Ran, ROOT, run } from "../support/processes.js"

const roots: Array<string> = []

beforeAll(() => {
  const built = ["dist/bd-main.cjs", "dist/lib/index.js"].every((file) => fs.existsSync(path.join(ROOT, file)))
  if (!built) execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit", timeout: 600_000 })
}, 600_000)

afterAll(() => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true })
})

interface TownBed {
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
  readonly logDir: string
  readonly segment: string
  readonly lock: string
}

const newRoot = (): string => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "bd-procs-"))
  roots.push(root)
  // Traversable by others: one test runs bd as an unprivileged user.
  fs.chmodSync(root, 0o755)
  return root
}

const expectExit = (ran: Ran, code: number, label: string): void => {
  expect(ran.code, describeRun(label, ran)).toBe(code)
}

/** `bd init` and `bd config set sync.mode dolt-native` in a fresh directory. */
const makeTown = Effect.gen(function*() {
  const root = newRoot()
  const cwd = path.join(root, "town")
  const home = path.join(root, "home")
  fs.mkdirSync(cwd)
  fs.mkdirSync(home)
  const env = {
    PATH: process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    BD_ACTOR: "tester",
    // Many writers queue for the lock on a busy two-core machine: wait rather than fail.
    BD_LOCK_TIMEOUT_MS: "120000"
  }
  expectExit(yield* bd(["init"], { cwd, env }), 0, "bd init")
  expectExit(yield* bd(["config", "set", "sync.mode", "dolt-native"], { cwd, env }), 0, "bd config set")
  const logDir = path.join(cwd, ".beads", "log")
  return { cwd, env, logDir, segment: path.join(logDir, "000001.jsonl"), lock: path.join(logDir, "LOCK") } satisfies TownBed
})

/** A shell loop adding each named peer with its own `bd` process, stopping at the first failure. */
const ADD_LOOP = 'for name in "$@"; do "$NODE" "$BD" federation add-peer "$name" "file:///tmp/$name" || exit $?; done'

const addLoop = (town: TownBed, env: Record<string, string>, names: ReadonlyArray<string>, extra: { detached?: boolean; onStart?: (child: ChildProcess) => void } = {}) =>
  run("bash", ["-c", ADD_LOOP, "add-loop", ...names], {
    cwd: town.cwd,
    env: { ...town.env, ...env, NODE: process.execPath, BD },
    timeoutMs: 540_000,
    ...extra
  })

const pad = (n: number): string => String(n).padStart(2, "0")

/** Names of the peers whose `Added peer NAME (…)` line was printed in full. */
const reportedPeers = (stdout: string): ReadonlyArray<string> =>
  Array.from(stdout.matchAll(/^Added peer (\S+) \(file:\/\/\/tmp\/\S+\)$/gm), (match) => match[1]!)

const listPeerNames = (town: TownBed) =>
  Effect.gen(function*() {
    const ran = yield* bd(["--json", "federation", "list-peers"], { cwd: town.cwd, env: town.env })
    expectExit(ran, 0, "bd --json federation list-peers")
    return (JSON.parse(ran.stdout) as ReadonlyArray<{ name: string }>).map((peer) => peer.name)
  })

const logEvents = (town: TownBed) =>
  Effect.gen(function*() {
    const ran = yield* bd(["--json", "federation", "log"], { cwd: town.cwd, env: town.env })
    expectExit(ran, 0, "bd --json federation log")
    return JSON.parse(ran.stdout) as ReadonlyArray<{ seq: number; id: string; townSeq: number; type: string }>
  })

const verifyReport = (town: TownBed) =>
  Effect.gen(function*() {
    const ran = yield* bd(["--json", "federation", "verify"], { cwd: town.cwd, env: town.env })
    expectExit(ran, 0, "bd --json federation verify")
    return JSON.parse(ran.stdout) as { ok: boolean; events: number; snapshotSeq: number; unfinishedLines: number }
  })

const oneTo = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i + 1)

describe("bd processes sharing one log", () => {
  const appendingAtOnce = (writers: number, perWriter: number) =>
    it.live(`${writers} processes appending at once (${perWriter} peers each) lose and duplicate nothing`, () =>
      Effect.gen(function*() {
        const town = yield* makeTown
        const namesOf = (writer: number) => Array.from({ length: perWriter }, (_, i) => `p${pad(writer)}_${pad(i)}`)
        const writerIds = Array.from({ length: writers }, (_, w) => w + 1)
        const runs = yield* Effect.forEach(
          writerIds,
          (writer) => addLoop(town, { BD_SNAPSHOT_EVERY: "7" }, namesOf(writer)),
          { concurrency: "unbounded" }
        )
        runs.forEach((ran, i) => {
          expectExit(ran, 0, `writer ${i + 1}`)
          expect(reportedPeers(ran.stdout)).toEqual(namesOf(i + 1))
        })
        const total = writers * perWriter
        const everyName = writerIds.flatMap(namesOf).sort()
        expect(yield* listPeerNames(town)).toEqual(everyName)

        const report = yield* verifyReport(town)
        expect(report).toMatchObject({ ok: true, events: total, unfinishedLines: 0 })
        expect(report.snapshotSeq).toBeGreaterThan(0)

        const events = yield* logEvents(town)
        expect(events).toHaveLength(total)
        expect(events.map((event) => event.seq)).toEqual(oneTo(total))
        expect(events.map((event) => event.townSeq)).toEqual(oneTo(total))
        expect(new Set(events.map((event) => event.id)).size).toBe(total)
        expect(fs.existsSync(town.lock)).toBe(false)
      }), 900_000)

  appendingAtOnce(2, 10)
  appendingAtOnce(8, 10)

  it.live("a writer killed with SIGKILL mid-appends leaves a log the next command accepts, with every reported peer", () =>
    Effect.gen(function*() {
      const town = yield* makeTown
      for (const round of [1, 2, 3]) {
        const names = Array.from({ length: 40 }, (_, i) => `k${round}_${pad(i)}`)
        const started: { child?: ChildProcess } = {}
        const loop = yield* Effect.fork(addLoop(town, { BD_SNAPSHOT_EVERY: "3" }, names, {
          detached: true,
          onStart: (child) => {
            started.child = child
          }
        }))
        // A random moment: somewhere in the middle of the loop's appends.
        yield* Effect.sleep(`${700 + Math.floor(Math.random() * 2_500)} millis`)
        const pid = started.child?.pid
        expect(pid).toBeTypeOf("number")
        try {
          // The loop's process group: bash and the bd it is running.
          process.kill(-pid!, "SIGKILL")
        } catch {
          // It finished already: the round is then a plain run.
        }
        const killed = yield* Fiber.join(loop)
        const reported = reportedPeers(killed.stdout)
        expect(reported).toEqual(names.slice(0, reported.length))
        const lockLeft = fs.existsSync(town.lock)

        const next = yield* bd(["federation", "add-peer", `after${round}`, `file:///tmp/after${round}`], { cwd: town.cwd, env: town.env })
        expectExit(next, 0, `add-peer after round ${round} (${reported.length} reported before the kill)`)
        if (lockLeft) expect(next.stderr).toContain("took over a stale writer lock")
        expect(fs.existsSync(town.lock)).toBe(false)

        const report = yield* verifyReport(town)
        expect(report).toMatchObject({ ok: true, unfinishedLines: 0 })
        const present = new Set(yield* listPeerNames(town))
        for (const name of reported) expect(present.has(name), `${name} was reported as added`).toBe(true)
        expect(present.has(`after${round}`)).toBe(true)
        // One bd at a time: what is present is a prefix of the loop, at most one past what was reported.
        const kept = names.filter((name) => present.has(name))
        expect(kept).toEqual(names.slice(0, kept.length))
        expect(kept.length - reported.length).toBeGreaterThanOrEqual(0)
        expect(kept.length - reported.length).toBeLessThanOrEqual(1)

        const events = yield* logEvents(town)
        expect(events.map((event) => event.seq)).toEqual(oneTo(events.length))
        expect(report.events).toBe(events.length)
        console.log(
          `SIGKILL round ${round}: loop ended by ${killed.signal ?? `exit ${killed.code}`}, ${reported.length} reported, ${kept.length} kept, stale LOCK ${lockLeft ? "left and taken over" : "not left"}`
        )
      }
    }), 900_000)

  it.live("a torn tail left by a crash is cut by the next bd write, which says so on stderr", () =>
    Effect.gen(function*() {
      const town = yield* makeTown
      expectExit(yield* addLoop(town, {}, ["t1", "t2"]), 0, "add t1 t2")
      const clean = fs.readFileSync(town.segment)
      fs.appendFileSync(town.segment, "{\"actor\":\"tester\",\"at\":\"2025-")
      const before = yield* verifyReport(town)
      expect(before).toMatchObject({ events: 2, unfinishedLines: 1 })
      const next = yield* bd(["federation", "add-peer", "t3", "file:///tmp/t3"], { cwd: town.cwd, env: town.env })
      expectExit(next, 0, "add t3")
      expect(next.stderr).toContain("repaired the log")
      expect(next.stderr).toContain(town.segment)
      expect(fs.readFileSync(town.segment).subarray(0, clean.length).equals(clean)).toBe(true)
      expect(yield* verifyReport(town)).toMatchObject({ events: 3, unfinishedLines: 0 })
      expect(yield* listPeerNames(town)).toEqual(["t1", "t2", "t3"])
    }), 300_000)

  it.live("BD_READONLY=1 and --readonly refuse writes with exit 9 and 'requires direct database access'; reads still work", () =>
    Effect.gen(function*() {
      const town = yield* makeTown
      expectExit(yield* addLoop(town, {}, ["ro1"]), 0, "add ro1")
      const before = fs.readFileSync(town.segment)
      const readonlyEnv = { ...town.env, BD_READONLY: "1" }
      const refusals = {
        env: yield* bd(["federation", "add-peer", "ro2", "file:///tmp/ro2"], { cwd: town.cwd, env: readonlyEnv }),
        flag: yield* bd(["--readonly", "federation", "add-peer", "ro2", "file:///tmp/ro2"], { cwd: town.cwd, env: town.env }),
        remove: yield* bd(["--readonly", "federation", "remove-peer", "ro1"], { cwd: town.cwd, env: town.env })
      }
      for (const [label, ran] of Object.entries(refusals)) {
        expectExit(ran, 9, label)
        expect(ran.stderr, label).toContain("requires direct database access")
      }
      const json = yield* bd(["--json", "--readonly", "federation", "add-peer", "ro2", "file:///tmp/ro2"], { cwd: town.cwd, env: town.env })
      expectExit(json, 9, "--json --readonly add-peer")
      expect(JSON.parse(json.stdout)).toMatchObject({ code: "RequiresDirectDatabaseAccess" })

      const reads = {
        list: yield* bd(["--json", "federation", "list-peers"], { cwd: town.cwd, env: readonlyEnv }),
        log: yield* bd(["--readonly", "federation", "log"], { cwd: town.cwd, env: town.env }),
        verify: yield* bd(["federation", "verify"], { cwd: town.cwd, env: readonlyEnv }),
        replay: yield* bd(["--readonly", "federation", "replay", "--until", "1"], { cwd: town.cwd, env: town.env })
      }
      for (const [label, ran] of Object.entries(reads)) expectExit(ran, 0, label)
      expect((JSON.parse(reads.list.stdout) as ReadonlyArray<{ name: string }>).map((peer) => peer.name)).toEqual(["ro1"])
      expect(fs.readFileSync(town.segment).equals(before)).toBe(true)
      expect(fs.existsSync(town.lock)).toBe(false)
    }), 300_000)

  const asRoot = process.getuid?.() === 0
  if (!asRoot) console.log("skipping the unwritable .beads test: it needs root to run bd as the user nobody (65534)")

  it.live.skipIf(!asRoot)("a .beads directory the user cannot write: exit 9, 'not writable', nothing appended", () =>
    Effect.gen(function*() {
      const town = yield* makeTown
      expectExit(yield* addLoop(town, {}, ["w1"]), 0, "add w1")
      const before = fs.readFileSync(town.segment)
      const nobody = { uid: 65534, gid: 65534 }
      // No daemon: one started as nobody would outlive the suite (daemons are per user).
      const env = { ...town.env, BD_NO_DAEMON: "1" }
      const refused = yield* bd(["federation", "add-peer", "w2", "file:///tmp/w2"], { cwd: town.cwd, env, user: nobody })
      expectExit(refused, 9, "add-peer as nobody")
      expect(refused.stderr).toContain("requires direct database access")
      expect(refused.stderr).toContain("not writable")
      expect(refused.stderr).toContain(town.logDir)
      expect(fs.readFileSync(town.segment).equals(before)).toBe(true)
      expect(fs.existsSync(town.lock)).toBe(false)
      // Reading needs no write access.
      const listed = yield* bd(["--json", "federation", "list-peers"], { cwd: town.cwd, env, user: nobody })
      expectExit(listed, 0, "list-peers as nobody")
      expect((JSON.parse(listed.stdout) as ReadonlyArray<{ name: string }>).map((peer) => peer.name)).toEqual(["w1"])
    }), 300_000)
})

describe("a reader process overlapping a writer process", () => {
  it.live("load and verify never fail while another process appends and replaces snapshots", () =>
    Effect.gen(function*() {
      const root = newRoot()
      const dir = path.join(root, "log")
      const stop = path.join(root, "stop")
      const worker = path.join(ROOT, "test", "support", "logWorker.mjs")
      const options = { cwd: root, env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" }, timeoutMs: 540_000 }
      const [writer, reader] = yield* Effect.all([
        run(process.execPath, [worker, "write", dir, "300"], options).pipe(
          Effect.ensuring(Effect.sync(() => fs.writeFileSync(stop, "")))
        ),
        run(process.execPath, [worker, "read", dir, stop], options)
      ], { concurrency: 2 })
      expectExit(writer, 0, "writer")
      expectExit(reader, 0, "reader")
      const wrote = JSON.parse(writer.stdout) as { done: number; failures: number }
      const read = JSON.parse(reader.stdout) as { done: number; failures: number; first?: string }
      expect(wrote).toEqual({ done: 300, failures: 0 })
      expect(read.done).toBeGreaterThan(0)
      expect(read.failures, `first failure: ${read.first}`).toBe(0)
    }), 600_000)
})
