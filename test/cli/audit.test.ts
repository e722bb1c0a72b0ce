/** `bd federation log | replay | verify`, tampering, and `--readonly` / `BD_READONLY`. */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Exit, expectFails, expectFailsOnce, expectUserError, lines, logBytes, Sandbox, setupCli, type Town, treeBytes } from "./support.js"

setupCli()

interface Envelope {
  seq: number
  id: string
  town: string
  townSeq: number
  lamport: number
  type: string
  at: string
  actor: string
  data: Record<string, unknown>
  prev: string
  hash: string
}

/** A town with history: add a, add b (T2), add c, remove a, one work item; made once, then copied. */
let history: Promise<{ beadsDir: string; events: Array<Envelope> }> | undefined

const makeHistory = async () => {
  const sb = new Sandbox("history")
  const town = await sb.town({ mode: "dolt-native" })
  await sb.ok(["federation", "add-peer", "a", "dolthub://org/a"])
  await sb.ok(["federation", "add-peer", "b", "gs://bucket-b/beads", "--sovereignty", "T2", "--actor", "bob"])
  await sb.ok(["federation", "add-peer", "c", "ssh://host.example.com/c"])
  await sb.ok(["federation", "remove-peer", "a"])
  await sb.ok(["create", "an issue", "--actor", "carol"])
  const events = await sb.json<Array<Envelope>>(["federation", "log"])
  return { beadsDir: town.beadsDir, events }
}

const withHistory = async (sb: Sandbox): Promise<{ town: Town; events: Array<Envelope> }> => {
  history ??= makeHistory()
  const made = await history
  const town = await sb.town({ mode: "dolt-native" })
  fs.rmSync(town.beadsDir, { recursive: true })
  fs.cpSync(made.beadsDir, town.beadsDir, { recursive: true })
  return { town, events: made.events }
}

describe.concurrent("bd federation log", () => {
  it("lists every event: text lines and a --json array of chained envelopes", async () => {
    const sb = new Sandbox("log")
    const { town, events } = await withHistory(sb)
    expect(events.map((e) => e.type)).toEqual(["PeerAdded", "PeerAdded", "PeerAdded", "PeerRemoved", "IssueCreated"])
    events.forEach((event, i) => {
      expect(event.seq).toBe(i + 1)
      expect(event.id).toBe(`${town.townId}:${i + 1}`)
      expect(event.town).toBe(town.townId)
      expect(event.hash).toMatch(/^[0-9a-f]{64}$/)
      expect(event.prev).toBe(i === 0 ? "0".repeat(64) : events[i - 1]!.hash)
      expect(Number.isNaN(Date.parse(event.at))).toBe(false)
    })
    expect(events.map((e) => e.actor)).toEqual(["sandbox-user", "bob", "sandbox-user", "sandbox-user", "carol"])
    expect(events[1]!.data).toEqual({ name: "b", endpoint: "gs://bucket-b/beads", sovereignty: "T2", hasCredentials: false })
    expect(events[3]!.data).toEqual({ name: "a" })

    const text = lines((await sb.ok(["federation", "log"])).stdout)
    expect(text).toHaveLength(5)
    text.forEach((line, i) => {
      const e = events[i]!
      expect(line).toMatch(new RegExp(`^\\s*${e.seq}  ${e.at}  ${e.id}  ${e.actor}  ${e.type}`))
    })
    expect(text[0]).toContain("name=\"a\" endpoint=\"dolthub://org/a\"")
    expect(text[4]).toContain(`id="${String(events[4]!.data["id"])}"`)
  })

  it("filters with --type, --since SEQ / EVENT-ID / TIME and -n", async () => {
    const sb = new Sandbox("log-filter")
    const { events } = await withHistory(sb)
    const seqs = (list: Array<Envelope>) => list.map((e) => e.seq)
    const [byType, sinceSeq, sinceId, sinceTime, lastOne, lastTwo, combined, sinceEnd] = await Promise.all([
      sb.json<Array<Envelope>>(["federation", "log", "--type", "PeerAdded"]),
      sb.json<Array<Envelope>>(["federation", "log", "--since", "2"]),
      sb.json<Array<Envelope>>(["federation", "log", "--since", events[2]!.id]),
      sb.json<Array<Envelope>>(["federation", "log", "--since", events[1]!.at]),
      sb.json<Array<Envelope>>(["federation", "log", "-n", "1"]),
      sb.json<Array<Envelope>>(["federation", "log", "--limit", "2"]),
      sb.json<Array<Envelope>>(["federation", "log", "--type", "PeerAdded", "--since", "1", "-n", "1"]),
      sb.json<Array<Envelope>>(["federation", "log", "--since", "5"])
    ])
    expect(seqs(byType)).toEqual([1, 2, 3])
    expect(seqs(sinceSeq)).toEqual([3, 4, 5])
    expect(seqs(sinceId)).toEqual([4, 5])
    expect(seqs(sinceTime)).toEqual([2, 3, 4, 5])
    expect(seqs(lastOne)).toEqual([5])
    expect(seqs(lastTwo)).toEqual([4, 5])
    expect(seqs(combined)).toEqual([3])
    expect(sinceEnd).toEqual([])
    // The filtered envelopes are the same objects as in the full log.
    expect(sinceSeq).toEqual(events.slice(2))
    expect((await sb.ok(["federation", "log", "--type", "NoSuchType"])).stdout).toBe("No events.\n")
    expect(lines((await sb.ok(["federation", "log", "-n", "1"])).stdout)).toHaveLength(1)
  })

  it("an empty log says so, in text and --json", async () => {
    const sb = new Sandbox("log-empty")
    await sb.town()
    expect((await sb.ok(["federation", "log"])).stdout).toBe("No events.\n")
    expect(await sb.json(["federation", "log"])).toEqual([])
  })

  it("a bad --since or -n value exits 4 (or 2 for a non-number)", async () => {
    const sb = new Sandbox("log-bad")
    const { town } = await withHistory(sb)
    const before = logBytes(town)
    await expectFails(sb, ["federation", "log", "--since", "yesterday"], {
      exit: Exit.invalidInput,
      code: "InvalidArgument",
      message: "invalid --since \"yesterday\": expected a sequence number, an event id (TOWN:N) or an RFC 3339 time"
    })
    const usage = await sb.run(["federation", "log", "-n", "many"])
    expect(usage.code).toBe(Exit.usage)
    expect(usage.stderr).not.toMatch(/^\s+at /m)
    expect(logBytes(town)).toEqual(before)
  })
})

describe.concurrent("bd federation replay", () => {
  it("shows the peers as they were at a seq or a time", async () => {
    const sb = new Sandbox("replay")
    const { town, events } = await withHistory(sb)
    const logBefore = logBytes(town)
    const names = (out: { peers: Array<{ name: string }> }) => out.peers.map((p) => p.name)
    const [one, two, byTime, before, zero, all, textOne] = await Promise.all([
      sb.json(["federation", "replay", "--until", "1"]),
      sb.json(["federation", "replay", "--until", "2"]),
      sb.json(["federation", "replay", "--until", events[2]!.at]),
      sb.json(["federation", "replay", "--until", "2000-01-01T00:00:00Z"]),
      sb.json(["federation", "replay", "--until", "0"]),
      sb.json(["federation", "replay", "--until", "99"]),
      sb.ok(["federation", "replay", "--until", "1"])
    ])
    expect(one).toMatchObject({ seq: 1, hash: events[0]!.hash, at: events[0]!.at, peers: [{ name: "a", endpoint: "dolthub://org/a" }] })
    expect(two.peers).toEqual([{ name: "a", endpoint: "dolthub://org/a" }, { name: "b", endpoint: "gs://bucket-b/beads", sovereignty: "T2" }])
    expect(names(byTime)).toEqual(["a", "b", "c"])
    expect(byTime.seq).toBe(3)
    expect(before).toMatchObject({ seq: 0, peers: [], at: null })
    expect(zero).toMatchObject({ seq: 0, peers: [] })
    expect(all).toMatchObject({ seq: 5, peers: [{ name: "b" }, { name: "c" }] })
    expect(lines(textOne.stdout)).toEqual([`State after seq 1 (${events[0]!.at}):`, "  peers (1):", "    a  dolthub://org/a"])
    const textTwo = lines((await sb.ok(["federation", "replay", "--until", "2"])).stdout)
    expect(textTwo.slice(1)).toEqual(["  peers (2):", "    a  dolthub://org/a", "    b  gs://bucket-b/beads  T2"])
    // Replaying reads only: the log is as it was.
    expect(logBytes(town)).toEqual(logBefore)
    expect(Object.keys(logBefore).filter((file) => file.endsWith(".jsonl"))).toEqual(["000001.jsonl"])
  })

  it("--until EVENT-ID folds up to and including that event, no further", async () => {
    const sb = new Sandbox("replay-id")
    const { events } = await withHistory(sb)
    const names = (out: { peers: Array<{ name: string }> }) => out.peers.map((p) => p.name)
    const [second, fourth, text] = await Promise.all([
      sb.json(["federation", "replay", "--until", events[1]!.id]),
      sb.json(["federation", "replay", "--until", events[3]!.id]),
      sb.ok(["federation", "replay", "--until", events[0]!.id])
    ])
    expect({ seq: second.seq, peers: names(second) }).toEqual({ seq: 2, peers: ["a", "b"] })
    expect(second).toMatchObject({ hash: events[1]!.hash, at: events[1]!.at })
    expect({ seq: fourth.seq, peers: names(fourth) }).toEqual({ seq: 4, peers: ["b", "c"] })
    expect(lines(text.stdout)).toEqual([`State after seq 1 (${events[0]!.at}):`, "  peers (1):", "    a  dolthub://org/a"])
  })

  it("a bad --until exits 4; a missing one is a usage error", async () => {
    const sb = new Sandbox("replay-bad")
    const { town } = await withHistory(sb)
    const before = logBytes(town)
    await expectFails(sb, ["federation", "replay", "--until", "yesterday"], {
      exit: Exit.invalidInput,
      code: "InvalidArgument",
      message: "invalid --until \"yesterday\""
    })
    await Promise.all([
      expectFailsOnce(sb, ["federation", "replay", "--until", "2025-13-45T99:00:00Z"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "--until" }),
      expectFailsOnce(sb, ["federation", "replay", "--until", "-3"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "--until" }),
      expectFailsOnce(sb, ["federation", "replay", "--until", `${town.townId}:99`], {
        exit: Exit.invalidInput,
        code: "InvalidArgument",
        message: "expected the id of an event in this log"
      })
    ])
    const missing = await sb.run(["federation", "replay"])
    expect(missing.code).toBe(Exit.usage)
    expect(logBytes(town)).toEqual(before)
  })
})

/** Change one byte in the middle of a segment, keeping it printable; returns the line number it is on. */
const flipMiddleByte = (file: string): number => {
  const bytes = fs.readFileSync(file)
  let at = Math.floor(bytes.length / 2)
  while (!/[0-9a-z]/.test(String.fromCharCode(bytes[at]!))) at++
  bytes[at] = bytes[at] === 0x61 ? 0x62 : 0x61 // 'a' <-> 'b', or anything -> 'a'
  fs.writeFileSync(file, bytes)
  return bytes.subarray(0, at).filter((b) => b === 0x0a).length + 1
}

describe.concurrent("bd federation verify", () => {
  it("passes on an intact log, in every sync mode", async () => {
    const sb = new Sandbox("verify")
    const { events } = await withHistory(sb)
    const text = await sb.ok(["federation", "verify"])
    expect(lines(text.stdout).slice(0, 3)).toEqual([
      "ok: 5 events in 1 segment(s), chain intact",
      `head: seq 5 ${events[4]!.hash}`,
      "snapshot: none"
    ])
    expect(await sb.json(["federation", "verify"])).toMatchObject({
      ok: true,
      events: 5,
      segments: 1,
      head: { seq: 5, hash: events[4]!.hash },
      snapshotSeq: 0,
      unfinishedLines: 0
    })
    // The audit commands work whatever the mode: the log is always there.
    const env = { BD_SYNC_MODE: "git-portable" }
    expect((await sb.json(["federation", "verify"], { env })).ok).toBe(true)
    expect(await sb.json(["federation", "log"], { env })).toHaveLength(5)
  })

  it("a flipped byte in the middle of a segment fails with exit 10, naming the file and line", async () => {
    const sb = new Sandbox("tamper")
    const { town } = await withHistory(sb)
    const segment = path.join(town.beadsDir, "log", "000001.jsonl")
    const line = flipMiddleByte(segment)
    expect(line).toBeGreaterThan(1)
    const error = await expectFails(sb, ["federation", "verify"], {
      exit: Exit.integrity,
      code: "IntegrityError",
      message: `integrity check failed at ${segment}:${line}: `
    })
    expect(error.hint).toContain("bd federation verify")
    // Reading the log refuses too, rather than showing tampered history.
    await expectFailsOnce(sb, ["federation", "log"], { exit: Exit.integrity, code: "IntegrityError", message: `${segment}:${line}` })
    await expectFailsOnce(sb, ["federation", "list-peers"], { exit: Exit.integrity, code: "IntegrityError" }, { json: false })
  })

  it("a line made unreadable is reported with its line number", async () => {
    const sb = new Sandbox("tamper-json")
    const { town } = await withHistory(sb)
    const segment = path.join(town.beadsDir, "log", "000001.jsonl")
    const text = fs.readFileSync(segment, "utf8").split("\n")
    text[2] = text[2]!.replace("{", "[")
    fs.writeFileSync(segment, text.join("\n"))
    await expectFailsOnce(sb, ["federation", "verify"], { exit: Exit.integrity, code: "IntegrityError", message: `${segment}:3: ` })
  })
})

describe.concurrent("--readonly and BD_READONLY", () => {
  it("refuse every write with exit 9 \"requires direct database access\"; reads work", async () => {
    const sb = new Sandbox("readonly")
    const { town, events } = await withHistory(sb)
    const id = String(events[4]!.data["id"])
    const jsonl = path.join(sb.root, "import.jsonl")
    fs.writeFileSync(jsonl, `${JSON.stringify({ id: "bd-import1", title: "imported", status: "open", priority: 2, issue_type: "task", created_at: "2025-01-01T00:00:00Z", updated_at: "2025-01-01T00:00:00Z" })}\n`)
    const before = logBytes(town)
    const writes = [
      ["federation", "add-peer", "d", "dolthub://org/d"],
      ["federation", "remove-peer", "b"],
      ["create", "nope"],
      ["update", id, "--title", "changed"],
      ["close", id],
      ["import", jsonl]
    ]
    await Promise.all([
      // Alternately the flag and the variable, text and --json.
      ...writes.map((args, i) =>
        i % 2 === 0
          ? expectFailsOnce(sb, ["--readonly", ...args], {
            exit: Exit.directAccess,
            code: "RequiresDirectDatabaseAccess",
            message: "this command requires direct database access: --readonly was given"
          }, { json: i % 4 === 0 })
          : expectFailsOnce(sb, args, {
            exit: Exit.directAccess,
            code: "RequiresDirectDatabaseAccess",
            message: "this command requires direct database access: BD_READONLY=1 is set"
          }, { json: i % 4 === 1, env: { BD_READONLY: "1" } })),
      // The flag is global: it is accepted after the subcommand too.
      expectFailsOnce(sb, ["federation", "add-peer", "d", "dolthub://org/d", "--readonly"], { exit: Exit.directAccess, code: "RequiresDirectDatabaseAccess" }),
      expectFailsOnce(sb, ["reopen", id], { exit: Exit.directAccess, code: "RequiresDirectDatabaseAccess" }, { env: { BD_READONLY: "yes" } })
    ])
    expect(logBytes(town)).toEqual(before)

    const reads = [
      ["federation", "list-peers"],
      ["federation", "log"],
      ["federation", "replay", "--until", "2"],
      ["list"],
      ["show", id]
    ]
    const results = await Promise.all([
      ...reads.map((args) => sb.run(["--readonly", ...args])),
      ...reads.slice(0, 2).map((args) => sb.run(["--json", ...args], { env: { BD_READONLY: "true" } }))
    ])
    for (const r of results) expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(results[reads.length]!.stdout).map((p: { name: string }) => p.name)).toEqual(["b", "c"])
    expect(logBytes(town)).toEqual(before)

    // BD_READONLY=0 (or false, or empty) allows writes.
    await sb.ok(["federation", "add-peer", "d", "dolthub://org/d"], { env: { BD_READONLY: "0" } })
    await sb.ok(["create", "allowed"], { env: { BD_READONLY: "false" } })
    expect(await sb.json(["federation", "log"], { env: { BD_READONLY: "" } })).toHaveLength(7)
  })
})

describe.concurrent("--readonly beyond the log", () => {
  it("also refuses the writes of init, config set/unset and export (\"refuse every write\")", async () => {
    const sb = new Sandbox("readonly-files")
    const town = await sb.town()
    const before = { beads: treeBytes(town.beadsDir), work: fs.readdirSync(sb.cwd) }
    const fresh = path.join(sb.root, "fresh")
    fs.mkdirSync(fresh)
    const runs = await Promise.all([
      sb.run(["--readonly", "config", "set", "sync.mode", "realtime"]),
      sb.run(["config", "unset", "sync.mode"], { env: { BD_READONLY: "1" } }),
      sb.run(["--readonly", "export"]),
      sb.run(["--readonly", "export", "-o", "out.jsonl"]),
      sb.run(["--readonly", "init"], { cwd: fresh })
    ])
    for (const r of runs) {
      expectUserError(r, { exit: Exit.directAccess, json: false, message: "requires direct database access" })
    }
    expect(treeBytes(town.beadsDir)).toEqual(before.beads)
    expect(fs.readdirSync(sb.cwd)).toEqual(before.work)
    expect(fs.readdirSync(fresh)).toEqual([])
  })
})

describe.concurrent("the log under concurrent and interrupted writers", () => {
  it("concurrent writers are serialised: every command lands, the chain stays intact", async () => {
    const sb = new Sandbox("concurrent")
    await sb.town({ mode: "dolt-native" })
    // Generous, so that a loaded machine makes writers wait rather than give up.
    sb.env = { BD_LOCK_TIMEOUT_MS: "60000" }
    const results = await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => sb.run(["--json", "create", `parallel ${i}`])),
      sb.run(["federation", "add-peer", "staging", "dolthub://myorg/staging-beads"])
    ])
    for (const r of results) expect(r.code, r.stderr).toBe(0)
    const ids = results.slice(0, 5).map((r) => (JSON.parse(r.stdout) as { id: string }).id)
    expect(new Set(ids).size).toBe(5)
    const [events, verify, list] = await Promise.all([
      sb.json<Array<Envelope>>(["federation", "log"]),
      sb.json(["federation", "verify"]),
      sb.json<Array<{ id: string }>>(["list"])
    ])
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6])
    expect(verify).toMatchObject({ ok: true, events: 6 })
    expect(list.map((i) => i.id).sort()).toEqual([...ids].sort())
  })

  it("a live writer's lock makes a write wait, then fail with exit 9 naming the holder", async () => {
    const sb = new Sandbox("locked")
    const town = await sb.town()
    await sb.ok(["create", "first"])
    const lock = path.join(town.beadsDir, "log", "LOCK")
    // This test process is alive, so its pid holds the lock.
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, command: "bd test holder", at: "2025-01-01T00:00:00Z" }))
    const before = logBytes(town)
    const error = await expectFailsOnce(sb, ["create", "second"], {
      exit: Exit.directAccess,
      code: "RequiresDirectDatabaseAccess",
      message: `the log is locked by pid ${process.pid} (bd test holder)`
    }, { env: { BD_LOCK_TIMEOUT_MS: "200" } })
    expect(error.hint).toContain("lock.timeout_ms")
    expect(logBytes(town)).toEqual(before)
    // Reads do not need the lock.
    expect(await sb.json(["list"])).toHaveLength(1)
  })

  it("a dead writer's lock is taken over, with a notice on stderr", async () => {
    const sb = new Sandbox("stale-lock")
    const town = await sb.town()
    // pid_max is at most 2^22 on Linux, so this pid cannot be running.
    const lock = path.join(town.beadsDir, "log", "LOCK")
    fs.writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 1, command: "bd create", at: "2025-01-01T00:00:00Z" }))
    const r = await sb.run(["--json", "create", "after a crash"])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain(`took over a stale writer lock of pid ${2 ** 22 + 1}`)
    expect(JSON.parse(r.stdout)).toMatchObject({ title: "after a crash" })
    expect(fs.existsSync(lock)).toBe(false)
  })

  // A zombie's state is read from /proc, which only Linux has; elsewhere bd cannot tell one apart, and this test says so.
  const hasProc = fs.existsSync("/proc/self/stat")
  if (!hasProc) console.log("skipping the zombie-writer test: it needs /proc (Linux) to see a process's state")
  it.skipIf(!hasProc)("a writer that died as a zombie (its parent never reaps it) is dead: its lock is taken over", async () => {
    const sb = new Sandbox("zombie-lock")
    const town = await sb.town()
    // `sleep 600 &` under a shell that then becomes `sleep 30`: the first sleep's parent never waits for it.
    const parent = spawn("sh", ["-c", "sleep 600 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] })
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString()))))
      process.kill(pid, "SIGKILL")
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(fs.readFileSync(`/proc/${pid}/stat`, "utf8")).toMatch(/\) Z /)
      const lock = path.join(town.beadsDir, "log", "LOCK")
      fs.writeFileSync(lock, JSON.stringify({ pid, command: "bd create", at: "2025-01-01T00:00:00Z" }))
      const r = await sb.run(["--json", "create", "after a zombie"], { env: { BD_LOCK_TIMEOUT_MS: "2000" } })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toContain(`took over a stale writer lock of pid ${pid}`)
    } finally {
      parent.kill("SIGKILL")
    }
  })

  it("an unfinished write at the end is tolerated by readers and cut by the next writer", async () => {
    const sb = new Sandbox("torn")
    const { town } = await withHistory(sb)
    const segment = path.join(town.beadsDir, "log", "000001.jsonl")
    fs.appendFileSync(segment, "{\"seq\":6,\"id\":\"torn")
    const [verify, log] = await Promise.all([sb.ok(["federation", "verify"]), sb.json<Array<Envelope>>(["federation", "log"])])
    expect(lines(verify.stdout)).toContain("note: 1 line(s) of an unfinished write at the end (cut by the next write)")
    expect(log).toHaveLength(5)
    const r = await sb.run(["create", "next"])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(`bd: repaired the log: cut an unfinished write of 19 bytes (1 line(s)) at the end of ${segment}\n`)
    expect(await sb.json(["federation", "verify"])).toMatchObject({ ok: true, events: 6, unfinishedLines: 0 })
  })

  it("snapshots (BD_SNAPSHOT_EVERY) are verified against the log and give the same state", async () => {
    const sb = new Sandbox("snapshot")
    const town = await sb.town({ mode: "dolt-native" })
    sb.env = { BD_SNAPSHOT_EVERY: "2" }
    await sb.ok(["federation", "add-peer", "a", "dolthub://org/a"])
    await sb.ok(["create", "one"])
    await sb.ok(["create", "two"])
    expect(fs.existsSync(path.join(town.beadsDir, "log", "snapshots", "CURRENT"))).toBe(true)
    const [verify, list, peers] = await Promise.all([
      sb.ok(["federation", "verify"]),
      sb.json<Array<{ title: string }>>(["list"]),
      sb.json<Array<{ name: string }>>(["federation", "list-peers"])
    ])
    expect(lines(verify.stdout)[2]).toBe("snapshot: at seq 2, matches the log")
    expect(list.map((i) => i.title).sort()).toEqual(["one", "two"])
    expect(peers.map((p) => p.name)).toEqual(["a"])
    // The same state without snapshots (a full replay of the log).
    fs.rmSync(path.join(town.beadsDir, "log", "snapshots"), { recursive: true })
    expect((await sb.json<Array<{ title: string }>>(["list"])).map((i) => i.title).sort()).toEqual(["one", "two"])
  })
})
