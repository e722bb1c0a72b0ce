/** Work items: `bd create | update | close | reopen | show | list`, bad input, and who the actor is. */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { BIN, Exit, expectFails, expectFailsOnce, expectUsage, lines, logBytes, Sandbox, setupCli } from "./support.js"

setupCli()

type Issue = Record<string, unknown> & { id: string }

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

describe.concurrent("bd create", () => {
  it("prints the new id; --json gives the issue with its defaults", async () => {
    const sb = new Sandbox("create")
    const town = await sb.town()
    const text = await sb.ok(["create", "First thing"])
    const match = /^Created (bd-[0-9a-z]{6}): First thing\n$/.exec(text.stdout)
    expect(match, text.stdout).not.toBeNull()
    const issue = await sb.json<Issue>(["create", "  Second thing  ", "--actor", "alice"])
    expect(issue.id).toMatch(/^bd-[0-9a-z]{6}$/)
    expect(issue.id).not.toBe(match![1])
    expect(Object.keys(issue)).toEqual(expect.arrayContaining(
      ["created_at", "created_by", "id", "issue_type", "priority", "source_system", "status", "title", "updated_at"]
    ))
    for (const field of ["description", "assignee", "labels", "closed_at"]) expect(issue).not.toHaveProperty(field)
    expect(issue).toMatchObject({
      title: "Second thing",
      status: "open",
      priority: 2,
      issue_type: "task",
      source_system: town.townId,
      created_by: "alice"
    })
    expect(issue["created_at"]).toMatch(RFC3339)
    expect(issue["updated_at"]).toBe(issue["created_at"])
    // It is really there.
    expect((await sb.json<Array<Issue>>(["show", issue.id]))[0]).toEqual(issue)
  })

  it("takes -d -p -t --assignee --labels, and shows them", async () => {
    const sb = new Sandbox("create-flags")
    await sb.town()
    const issue = await sb.json<Issue>(["create", "Fix the thing", "-d", "It is broken.\nBadly.", "-p", "0", "-t", "bug", "--assignee", "alice", "--labels", "ui, backend,ui,,"])
    expect(issue).toMatchObject({
      title: "Fix the thing",
      description: "It is broken.\nBadly.",
      priority: 0,
      issue_type: "bug",
      assignee: "alice",
      labels: ["backend", "ui"]
    })
    const long = await sb.json<Issue>(["create", "Another", "--description", "d", "--priority", "P4", "--type", "feature", "-l", "x"])
    expect(long).toMatchObject({ description: "d", priority: 4, issue_type: "feature", labels: ["x"] })
    const [shown, shownJson] = await Promise.all([sb.ok(["show", issue.id]), sb.json<Array<Issue>>(["show", issue.id])])
    expect(shownJson).toHaveLength(1)
    expect(shownJson[0]).toEqual(issue)
    expect(lines(shown.stdout)).toEqual([
      `${issue.id}: Fix the thing`,
      "Status: open   Priority: P0   Type: bug",
      "Assignee: alice",
      "Labels: backend, ui",
      `Created: ${String(issue["created_at"])} by sandbox-user`,
      `Updated: ${String(issue["updated_at"])}`,
      `Source: ${String(issue["source_system"])}`,
      "",
      "Description:",
      "It is broken.",
      "Badly."
    ])
  })

  it("refuses an empty title, a bad priority or type with exit 4 and appends nothing", async () => {
    const sb = new Sandbox("create-bad")
    const town = await sb.town()
    await sb.ok(["create", "exists"])
    const before = logBytes(town)
    await expectFails(sb, ["create", ""], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid title \"\": expected a non-empty title" })
    await Promise.all([
      expectFailsOnce(sb, ["create", "   "], { exit: Exit.invalidInput, code: "InvalidArgument", message: "non-empty title" }),
      expectFailsOnce(sb, ["create", "x", "-p", "9"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid priority \"9\"" }, { json: false }),
      expectFailsOnce(sb, ["create", "x", "-p", "x"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid priority \"x\"" }),
      expectFailsOnce(sb, ["create", "x", "-p", "-1"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid priority" }),
      expectFailsOnce(sb, ["create", "x", "-p", "2.5"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid priority" }),
      expectFailsOnce(sb, ["create", "x", "-t", " "], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid type" }),
      expectFailsOnce(sb, ["create", "x".repeat(501)], { exit: Exit.invalidInput, code: "InvalidArgument", message: "at most 500 characters" })
    ])
    const missing = await Promise.all([sb.run(["create"]), sb.run(["--json", "create"])])
    expectUsage(missing[0]!, false)
    expectUsage(missing[1]!, true)
    expect(logBytes(town)).toEqual(before)
  })
})

describe.concurrent("bd update / close / reopen", () => {
  it("changes each field; --json returns an array", async () => {
    const sb = new Sandbox("update")
    const town = await sb.town()
    const issue = await sb.json<Issue>(["create", "Original", "-l", "keep,drop", "--assignee", "alice"])
    const r = await sb.ok(["update", issue.id, "--title", "Renamed", "-d", "New description", "--design", "The design",
      "--acceptance", "It works", "--notes", "Some notes", "-s", "in_progress", "-p", "1", "-t", "feature",
      "--assignee", "bob", "--owner", "olivia", "--external-ref", "gh-42", "--add-label", "new", "--add-label", "other",
      "--remove-label", "drop"])
    expect(r.stdout).toBe(`Updated ${issue.id}\n`)
    const [updated] = await sb.json<Array<Issue>>(["show", issue.id])
    expect(updated).toMatchObject({
      id: issue.id,
      title: "Renamed",
      description: "New description",
      design: "The design",
      acceptance_criteria: "It works",
      notes: "Some notes",
      status: "in_progress",
      priority: 1,
      issue_type: "feature",
      assignee: "bob",
      owner: "olivia",
      external_ref: "gh-42",
      labels: ["keep", "new", "other"],
      created_at: issue["created_at"],
      source_system: town.townId
    })
    expect(String(updated!["updated_at"]) > String(issue["updated_at"])).toBe(true)

    // --json: an array of the issue as it is now; an empty value clears a field.
    const out = await sb.json<Array<Issue>>(["update", issue.id, "--assignee", "", "--remove-label", "keep", "--remove-label", "new", "--remove-label", "other", "-d", ""])
    expect(Array.isArray(out)).toBe(true)
    expect(out).toHaveLength(1)
    expect(out[0]!.id).toBe(issue.id)
    for (const field of ["assignee", "labels", "description"]) expect(out[0]).not.toHaveProperty(field)
    expect(out[0]).toMatchObject({ title: "Renamed", owner: "olivia" })

    // Nothing to change: said so, nothing appended.
    const before = logBytes(town)
    expect((await sb.ok(["update", issue.id, "--title", "Renamed"])).stdout).toBe(`No change to ${issue.id}\n`)
    expect(logBytes(town)).toEqual(before)
  })

  it("close --reason, close again, reopen, and status changes keep closed_at in step", async () => {
    const sb = new Sandbox("close")
    const town = await sb.town()
    const issue = await sb.json<Issue>(["create", "To close"])
    expect((await sb.ok(["close", issue.id, "--reason", "done"])).stdout).toBe(`Closed ${issue.id}\n`)
    const [closed] = await sb.json<Array<Issue>>(["show", issue.id])
    expect(closed).toMatchObject({ status: "closed", close_reason: "done" })
    expect(closed!["closed_at"]).toMatch(RFC3339)
    expect(closed!["updated_at"]).toBe(closed!["closed_at"])
    expect(lines((await sb.ok(["show", issue.id])).stdout)).toContain(`Closed: ${String(closed!["closed_at"])} (done)`)

    // Closing twice is harmless and appends nothing.
    const before = logBytes(town)
    expect((await sb.ok(["close", issue.id])).stdout).toBe(`${issue.id} was already closed\n`)
    expect(logBytes(town)).toEqual(before)

    const reopened = await sb.json<Array<Issue>>(["reopen", issue.id])
    expect(reopened).toHaveLength(1)
    expect(reopened[0]).toMatchObject({ id: issue.id, status: "open" })
    expect(reopened[0]).not.toHaveProperty("closed_at")
    expect(reopened[0]).not.toHaveProperty("close_reason")
    expect((await sb.ok(["reopen", issue.id])).stdout).toBe(`${issue.id} is not closed\n`)

    const viaUpdate = await sb.json<Array<Issue>>(["close", issue.id, "-r", "again"])
    expect(viaUpdate[0]).toMatchObject({ status: "closed", close_reason: "again" })
    expect((await sb.ok(["reopen", issue.id])).stdout).toBe(`Reopened ${issue.id}\n`)
    const [statusClosed] = await sb.json<Array<Issue>>(["update", issue.id, "-s", "closed"])
    expect(statusClosed!["closed_at"]).toMatch(RFC3339)
    const [statusOpen] = await sb.json<Array<Issue>>(["update", issue.id, "--status", "open"])
    expect(statusOpen).not.toHaveProperty("closed_at")
  })

  it("an unknown id exits 6 for update, close, reopen and show", async () => {
    const sb = new Sandbox("unknown")
    const town = await sb.town()
    await sb.ok(["create", "something"])
    const before = logBytes(town)
    const error = await expectFails(sb, ["show", "bd-zzzzzz"], { exit: Exit.notFound, code: "IssueNotFound", message: "issue not found: bd-zzzzzz" })
    expect(error.hint).toContain("bd list")
    await Promise.all([
      expectFailsOnce(sb, ["update", "bd-zzzzzz", "--title", "x"], { exit: Exit.notFound, code: "IssueNotFound", message: "issue not found: bd-zzzzzz" }),
      expectFailsOnce(sb, ["close", "bd-zzzzzz"], { exit: Exit.notFound, code: "IssueNotFound", message: "issue not found: bd-zzzzzz" }, { json: false }),
      expectFailsOnce(sb, ["reopen", "nope"], { exit: Exit.notFound, code: "IssueNotFound", message: "issue not found: nope" })
    ])
    expect(logBytes(town)).toEqual(before)
  })

  it("refuses a bad status, priority, type or empty title with exit 4 and appends nothing", async () => {
    const sb = new Sandbox("update-bad")
    const town = await sb.town()
    const issue = await sb.json<Issue>(["create", "target"])
    const before = logBytes(town)
    await expectFails(sb, ["update", issue.id, "-s", "bogus"], {
      exit: Exit.invalidInput,
      code: "InvalidArgument",
      message: "invalid status \"bogus\": expected one of open, in_progress, blocked, deferred, closed, tombstone"
    })
    await Promise.all([
      expectFailsOnce(sb, ["update", issue.id, "-p", "9"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid priority \"9\"" }),
      expectFailsOnce(sb, ["update", issue.id, "-p", "x"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid priority \"x\"" }, { json: false }),
      expectFailsOnce(sb, ["update", issue.id, "--title", ""], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid title" }),
      expectFailsOnce(sb, ["update", issue.id, "-t", ""], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid type" }),
      // A bad value among good ones refuses the whole update.
      expectFailsOnce(sb, ["update", issue.id, "--title", "fine", "-s", "Open"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "invalid status \"Open\"" })
    ])
    expect(logBytes(town)).toEqual(before)
    expect((await sb.json<Array<Issue>>(["show", issue.id]))[0]!["title"]).toBe("target")
  })
})

describe.concurrent("bd list", () => {
  it("hides closed items unless --all; filters by --status, --assignee, --type; --limit", async () => {
    const sb = new Sandbox("list")
    await sb.town()
    expect((await sb.ok(["list"])).stdout).toBe("No work items.\n")
    expect(await sb.json(["list"])).toEqual([])
    const a = await sb.json<Issue>(["create", "alpha", "--assignee", "alice", "-t", "bug", "-p", "1"])
    // The others arrive in one import, to save processes.
    const at = { created_at: "2025-01-01T00:00:00Z", updated_at: "2025-01-01T00:00:00Z", priority: 2 }
    const b = { id: "bd-bbbbbb", title: "beta", assignee: "bob", status: "blocked", issue_type: "task", ...at }
    const c = { id: "bd-cccccc", title: "gamma", assignee: "alice", status: "closed", issue_type: "task", closed_at: at.updated_at, ...at }
    const d = { id: "bd-dddddd", title: "delta", status: "open", issue_type: "bug", ...at }
    fs.writeFileSync(path.join(sb.root, "more.jsonl"), [b, c, d].map((r) => JSON.stringify(r)).join("\n"))
    await sb.ok(["import", path.join(sb.root, "more.jsonl")])
    const sorted = (issues: Array<{ id: string }>) => issues.map((i) => i.id).sort()
    const ids = (list: Array<Issue>) => list.map((i) => i.id)
    const [open, all, closed, blocked, alice, aliceShort, bugs, limited, unlimited, table] = await Promise.all([
      sb.json<Array<Issue>>(["list"]),
      sb.json<Array<Issue>>(["list", "--all"]),
      sb.json<Array<Issue>>(["list", "--status", "closed"]),
      sb.json<Array<Issue>>(["list", "-s", "blocked"]),
      sb.json<Array<Issue>>(["list", "--assignee", "alice"]),
      sb.json<Array<Issue>>(["list", "-a", "alice", "--all"]),
      sb.json<Array<Issue>>(["list", "--type", "bug"]),
      sb.ok(["list", "--limit", "1"]),
      sb.json<Array<Issue>>(["list", "--all", "-n", "0"]),
      sb.ok(["list"])
    ])
    expect(ids(open)).toEqual(sorted([a, b, d]))
    expect(ids(all)).toEqual(sorted([a, b, c, d]))
    expect(ids(closed)).toEqual([c.id])
    expect(ids(blocked)).toEqual([b.id])
    expect(ids(alice)).toEqual([a.id])
    expect(ids(aliceShort)).toEqual(sorted([a, c]))
    expect(ids(bugs)).toEqual(sorted([a, d]))
    expect(ids(unlimited)).toEqual(sorted([a, b, c, d]))
    const limitedLines = lines(limited.stdout)
    expect(limitedLines).toHaveLength(3)
    expect(limitedLines[2]).toBe("(2 more; see --limit)")
    const rows = lines(table.stdout)
    expect(rows[0]).toMatch(/^ID\s+PRI\s+STATUS\s+TYPE\s+ASSIGNEE\s+TITLE$/)
    expect(rows.slice(1).map((row) => row.split(/\s+/)[0])).toEqual(sorted([a, b, d]))
    expect(rows.find((row) => row.startsWith(a.id))).toMatch(new RegExp(`^${a.id}\\s+P1\\s+open\\s+bug\\s+alice\\s+alpha$`))
    expect(rows.find((row) => row.startsWith(d.id))).toMatch(new RegExp(`^${d.id}\\s+P2\\s+open\\s+bug\\s+-\\s+delta$`))
    await expectFailsOnce(sb, ["list", "--limit", "-1"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "--limit" })
  })

  it("a reader that stops early (bd list | head -1) leaves bd to finish quietly, with or without the daemon", async () => {
    const sb = new Sandbox("list-pipe")
    await sb.town()
    const at = { created_at: "2025-01-01T00:00:00Z", updated_at: "2025-01-01T00:00:00Z", priority: 2, status: "open" }
    const records = Array.from({ length: 3000 }, (_, n) => ({ id: `bd-p${n}`, title: `issue ${n} ${"x".repeat(60)}`, ...at }))
    fs.writeFileSync(path.join(sb.root, "many.jsonl"), records.map((r) => JSON.stringify(r)).join("\n"))
    await sb.ok(["import", path.join(sb.root, "many.jsonl")])
    const daemonDir = path.join(sb.root, "daemon")
    fs.mkdirSync(daemonDir, { mode: 0o700 })
    const env: Record<string, string> = { PATH: process.env["PATH"] ?? "/usr/bin:/bin" }
    for (const [key, value] of Object.entries(sb.baseEnv())) if (value !== undefined) env[key] = value
    const headOne = (extra: Record<string, string>) =>
      new Promise<{ code: number | null; first: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, "list", "-n", "0"], { cwd: sb.cwd, env: { ...env, ...extra } })
        let first = ""
        let stderr = ""
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        child.stdout.once("data", (chunk: Buffer) => {
          first = chunk.toString().split("\n")[0]!
          child.stdout.destroy()
        })
        child.on("close", (code) => resolve({ code, first, stderr }))
      })
    const alone = await headOne({ BD_NO_DAEMON: "1" })
    await sb.ok(["list"], { env: { BD_DAEMON_DIR: daemonDir } })
    for (let i = 0; i < 100 && !(await sb.json<{ running: boolean }>(["daemon", "status"], { env: { BD_DAEMON_DIR: daemonDir } })).running; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const served = await headOne({ BD_DAEMON_DIR: daemonDir })
    await sb.ok(["daemon", "stop"], { env: { BD_DAEMON_DIR: daemonDir } })
    for (const run of [alone, served]) {
      expect(run.first).toMatch(/^ID\s+PRI/)
      expect(run.stderr).toBe("")
      expect(run.code).toBe(0)
    }
  })
})

describe("output that cannot be written", () => {
  const hasFullDevice = fs.existsSync("/dev/full")
  if (!hasFullDevice) console.log("skipping the full-disk output test: it needs /dev/full (Linux), a device every write to fails with ENOSPC")
  it.skipIf(!hasFullDevice)("fails the command with exit code 1 and says so, with or without the daemon (stdout on /dev/full)", async () => {
    const sb = new Sandbox("full-disk")
    await sb.town()
    const created = await sb.json<{ id: string }>(["create", "Written to a full disk"])
    const daemonDir = path.join(sb.root, "daemon")
    fs.mkdirSync(daemonDir, { mode: 0o700 })
    const env: Record<string, string> = { PATH: process.env["PATH"] ?? "/usr/bin:/bin" }
    for (const [key, value] of Object.entries(sb.baseEnv())) if (value !== undefined) env[key] = value
    const toFullDisk = (args: ReadonlyArray<string>, extra: Record<string, string>) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const full = fs.openSync("/dev/full", "w")
        const child = spawn(process.execPath, [BIN, ...args], { cwd: sb.cwd, env: { ...env, ...extra }, stdio: ["ignore", full, "pipe"] })
        fs.closeSync(full)
        let stderr = ""
        child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        child.on("close", (code) => resolve({ code, stderr }))
      })
    const runs = [
      await toFullDisk(["show", created.id], { BD_NO_DAEMON: "1" }),
      await toFullDisk(["list"], { BD_NO_DAEMON: "1" }),
      await toFullDisk(["export", "-o", "-"], { BD_NO_DAEMON: "1" })
    ]
    await sb.ok(["list"], { env: { BD_DAEMON_DIR: daemonDir } })
    for (let i = 0; i < 100 && !(await sb.json<{ running: boolean }>(["daemon", "status"], { env: { BD_DAEMON_DIR: daemonDir } })).running; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    runs.push(await toFullDisk(["show", created.id], { BD_DAEMON_DIR: daemonDir }))
    await sb.ok(["daemon", "stop"], { env: { BD_DAEMON_DIR: daemonDir } })
    for (const run of runs) {
      expect(run.stderr).toMatch(/output could not be written \(ENOSPC/)
      expect(run.code).toBe(Exit.internal)
    }
    // A command that failed already keeps its own code.
    const missing = await toFullDisk(["show", "bd-nope"], { BD_NO_DAEMON: "1" })
    expect(missing.code).toBe(Exit.notFound)
  })
})

describe.concurrent("who the actor is", () => {
  it("--actor, then BEADS_ACTOR, then BD_ACTOR, then git user.name, then $USER", async () => {
    const sb = new Sandbox("actor")
    await sb.town()
    fs.writeFileSync(sb.gitConfig, "[user]\n\tname = Git Person\n")
    const all = { BEADS_ACTOR: "beads-actor", BD_ACTOR: "bd-actor", USER: "unix-user" }
    const noGit = path.join(sb.root, "empty-gitconfig")
    fs.writeFileSync(noGit, "")
    const createdBy = async (args: Array<string>, env: Record<string, string | undefined>) =>
      (await sb.json<Issue>(["create", "who", ...args], { env }))["created_by"]
    const results = await Promise.all([
      createdBy(["--actor", "flag-actor"], all),
      createdBy(["--actor=eq-actor"], all),
      createdBy([], all),
      createdBy([], { ...all, BEADS_ACTOR: undefined }),
      createdBy([], { ...all, BEADS_ACTOR: "  ", BD_ACTOR: undefined }),
      createdBy([], { USER: "unix-user", GIT_CONFIG_GLOBAL: noGit }),
      createdBy([], { USER: undefined, GIT_CONFIG_GLOBAL: noGit })
    ])
    expect(results).toEqual(["flag-actor", "eq-actor", "beads-actor", "bd-actor", "Git Person", "unix-user", "unknown"])
    // The actor is recorded on the event too.
    const events = await sb.json<Array<{ actor: string }>>(["federation", "log"])
    expect(events.map((e) => e.actor).sort()).toEqual([...results].sort())
  })

  it("the actor config key comes after BD_ACTOR and before git", async () => {
    const sb = new Sandbox("actor-config")
    const town = await sb.town()
    fs.writeFileSync(sb.gitConfig, "[user]\n\tname = Git Person\n")
    fs.appendFileSync(path.join(town.beadsDir, "config.yaml"), "actor: config-actor\n")
    const [fromConfig, fromEnv] = await Promise.all([
      sb.json<Issue>(["create", "a"]),
      sb.json<Issue>(["create", "b"], { env: { BD_ACTOR: "bd-actor" } })
    ])
    expect(fromConfig["created_by"]).toBe("config-actor")
    expect(fromEnv["created_by"]).toBe("bd-actor")
  })
})
