/**
 * The bd daemon, with the real built `bd`: read commands it serves print
 * exactly what they print without it (text, JSON, errors, exit codes),
 * each with its own directory and environment; writes other than `bd
 * import` (test/cli/daemonImport.test.ts) never go through it; a daemon
 * that is gone, killed or unsafe to reach leaves every command working in
 * its own process. Each test has its own daemon directory.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { isAlive } from "../../src/layers/Processes.js"
import { running, status, stopDaemonsAfterEach, withDaemon } from "./daemonSupport.js"
import { BIN, Exit, lines, Sandbox, setupCli, show } from "./support.js"

setupCli()
stopDaemonsAfterEach()

const both = async (sb: Sandbox, args: ReadonlyArray<string>) => {
  const served = await sb.run(args)
  const alone = await sb.run(args, { env: { BD_NO_DAEMON: "1" } })
  return { served, alone }
}

describe("the bd daemon", () => {
  it("serves read commands with the same output, errors and exit codes as a bd on its own", async () => {
    const { sb } = withDaemon("daemon-same")
    await sb.town({ mode: "dolt-native" })
    await sb.ok(["federation", "add-peer", "alpha", "dolthub://org/alpha", "--sovereignty", "t2"])
    const id = (await sb.json<Record<string, unknown>>(["create", "First", "-p", "1", "--assignee", "ann"]))["id"] as string
    await sb.ok(["create", "Second", "-t", "bug"])
    await sb.ok(["close", id, "--reason", "done"])
    const first = await running(sb)
    const commands: ReadonlyArray<ReadonlyArray<string>> = [
      ["federation", "list-peers"],
      ["--json", "federation", "list-peers"],
      ["list"],
      ["list", "--all", "-n", "1"],
      ["--json", "list", "-s", "closed"],
      ["show", id],
      ["show", id, "--json"],
      ["show", "bd-nope"],
      ["--json", "show", "bd-nope"],
      ["list", "--bogus"],
      ["--json", "list", "--limit", "-1"],
      ["config", "list"],
      ["config", "get", "sync.mode"],
      ["--json", "federation", "log", "--type", "IssueCreated"],
      ["federation", "conflicts"],
      ["list", "--help"]
    ]
    for (const args of commands) {
      const { alone, served } = await both(sb, args)
      expect(served, `bd ${args.join(" ")}\nserved: ${show(served)}\nalone: ${show(alone)}`).toEqual(alone)
    }
    const after = await status(sb)
    expect(first.socket).toBe(after.socket)
    expect(after.served).toBe((first.served ?? 0) + commands.length)
  })

  it("never runs a write; the next read sees it", async () => {
    const { sb } = withDaemon("daemon-writes")
    await sb.town()
    await sb.ok(["list"])
    const before = await running(sb)
    const created = await sb.json<Record<string, unknown>>(["create", "Written here"])
    await sb.ok(["update", String(created["id"]), "--status", "in_progress"])
    expect((await status(sb)).served).toBe(before.served)
    const listed = await sb.json<Array<Record<string, unknown>>>(["list"])
    expect(listed.map((issue) => [issue["title"], issue["status"]])).toEqual([["Written here", "in_progress"]])
    expect((await status(sb)).served).toBe((before.served ?? 0) + 1)
  })

  it("gives each request its own directory and environment", async () => {
    const { dir, sb } = withDaemon("daemon-two")
    const other = new Sandbox("daemon-two-b")
    other.env = { BD_DAEMON_DIR: dir }
    await sb.town({ dir: sb.path("a") })
    await other.town({ dir: other.path("b") })
    await sb.ok(["create", "In A"], { cwd: sb.path("a") })
    await other.ok(["create", "In B"], { cwd: other.path("b") })
    await other.ok(["config", "set", "issue_prefix", "zz"], { cwd: other.path("b") })
    await sb.ok(["list"], { cwd: sb.path("a") })
    const base = (await running(sb)).served ?? 0
    const a = await sb.ok(["list"], { cwd: sb.path("a") })
    const b = await other.ok(["list"], { cwd: other.path("b"), env: { BD_SYNC_MODE: "realtime" } })
    expect(a.stdout).toContain("In A")
    expect(a.stdout).not.toContain("In B")
    expect(b.stdout).toContain("In B")
    const mode = await other.ok(["config", "get", "sync.mode"], { cwd: other.path("b"), env: { BD_SYNC_MODE: "realtime" } })
    expect(mode.stdout.trim()).toBe("realtime")
    expect((await status(sb)).served).toBe(base + 3)
  })

  it("a daemon killed without warning leaves commands working, and a new one starts", async () => {
    const { sb } = withDaemon("daemon-killed")
    await sb.town()
    await sb.ok(["create", "Still here"])
    const first = await running(sb)
    process.kill(first.pid!, "SIGKILL")
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(fs.existsSync(first.socket!)).toBe(true)
    const listed = await sb.ok(["list"])
    expect(listed.stdout).toContain("Still here")
    const second = await running(sb)
    expect(second.pid).not.toBe(first.pid)
    expect(second.socket).toBe(first.socket)
    expect((await sb.ok(["list"])).stdout).toBe(listed.stdout)
  })

  it("BD_NO_DAEMON=1 (or BEADS_NO_DAEMON=1) starts none; a directory others can enter is not used", async () => {
    const { dir, sb } = withDaemon("daemon-off")
    await sb.town()
    for (const env of [{ BD_NO_DAEMON: "1" }, { BEADS_NO_DAEMON: "true" }]) {
      await sb.ok(["list"], { env })
      const off = await status(sb, env)
      expect(off).toEqual({ running: false, socket: null })
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(fs.readdirSync(dir)).toEqual([])
    fs.chmodSync(dir, 0o777)
    await sb.ok(["list"])
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(fs.readdirSync(dir)).toEqual([])
    const text = await sb.ok(["daemon", "status"])
    expect(lines(text.stdout)[0]).toContain("No daemon for this bd")
    fs.chmodSync(dir, 0o700)
  })

  it("of daemons started at once for one socket, one serves and the others leave", async () => {
    const { sb } = withDaemon("daemon-race")
    await sb.town()
    const socket = (await status(sb)).socket!
    const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin" }
    const started = Array.from({ length: 6 }, () => spawn(process.execPath, [BIN, "--bd-daemon", socket, ""], { env, stdio: "ignore" }))
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const live = started.filter((child) => child.exitCode === null && isAlive(child.pid!))
    expect(live).toHaveLength(1)
    const up = await running(sb)
    expect(up.pid).toBe(live[0]!.pid)
    expect((await sb.ok(["list"])).stdout).toBe("No work items.\n")
    expect((await status(sb)).served).toBe(1)
  })

  it("a client in another time zone runs the command itself (times without an offset are local)", async () => {
    const { sb } = withDaemon("daemon-tz")
    await sb.town()
    await sb.ok(["create", "Timed"])
    const up = await running(sb)
    const args = ["--json", "federation", "log", "--since", "2000-01-01T00:00"]
    const env = { TZ: "America/Los_Angeles" }
    const { alone, served } = { served: await sb.run(args, { env }), alone: await sb.run(args, { env: { ...env, BD_NO_DAEMON: "1" } }) }
    expect(served).toEqual(alone)
    expect(served.code).toBe(0)
    expect((await status(sb)).served).toBe(up.served)
  })

  it("prints megabytes of output exactly, characters outside the BMP included", async () => {
    const { sb } = withDaemon("daemon-big")
    await sb.town()
    const emoji = "😀".repeat(600_000)
    const records = [
      { id: "bd-big1", title: "Even", description: emoji, status: "open", priority: 2, issue_type: "task", created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z" },
      { id: "bd-big2", title: "Odd", description: `x${emoji}`, status: "open", priority: 2, issue_type: "task", created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z" }
    ]
    const file = path.join(sb.root, "big.jsonl")
    fs.writeFileSync(file, records.map((record) => JSON.stringify(record)).join("\n"))
    await sb.ok(["import", file])
    await sb.ok(["list"])
    const up = await running(sb)
    for (const id of ["bd-big1", "bd-big2"]) {
      for (const args of [["show", id], ["--json", "show", id]]) {
        const { alone, served } = await both(sb, args)
        expect(served.code).toBe(0)
        expect(served.stdout === alone.stdout, `bd ${args.join(" ")}: ${served.stdout.length} vs ${alone.stdout.length} characters`).toBe(true)
        expect(served.stdout).toContain(id === "bd-big1" ? emoji : `x${emoji}`)
      }
    }
    expect((await status(sb)).served).toBe((up.served ?? 0) + 4)
  })

  it("bd daemon stop stops it and removes its socket; status and stop say when none runs", async () => {
    const { sb } = withDaemon("daemon-stop")
    await sb.town()
    await sb.ok(["list"])
    const up = await running(sb)
    expect((await sb.json<{ stopped: boolean }>(["daemon", "stop"])).stopped).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(fs.existsSync(up.socket!)).toBe(false)
    expect(isAlive(up.pid!)).toBe(false)
    expect((await status(sb)).running).toBe(false)
    const again = await sb.ok(["daemon", "stop"])
    expect(again.stdout).toBe("The daemon was not running.\n")
    expect((await status(sb)).running).toBe(false)
    const usage = await sb.run(["daemon", "restart"])
    expect(usage.code).toBe(Exit.usage)
  })
})
