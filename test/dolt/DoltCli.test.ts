/**
 * The built `bd` with the projection wired (`sync.mode dolt-native`,
 * `BD_DOLT_URL` and `BD_DOLT_PASSWORD` in the environment), as real
 * processes against a real MariaDB: commands keep working while the server
 * is down (a notice, exit 0), `bd dolt status` tells the lag, the next
 * command catches up, and the password never shows.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { beforeAll, describe, expect, it } from "vitest"
import type { GlobalFlags } from "../../src/cli/Globals.js"
import { processIo } from "../../src/cli/Io.js"
import { expectProjectionEqualsState, externalServer, freshServer, type Server, type TestTown, useMariaDb } from "./support.js"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
const BIN = path.join(ROOT, "bin", "bd.cjs")
const BUNDLE = path.join(ROOT, "dist", "bd-main.cjs")
const external = externalServer("the server-down test (it stops the server)")

const maria = useMariaDb("cli")

beforeAll(() => {
  if (!fs.existsSync(BUNDLE)) execFileSync(process.execPath, [path.join(ROOT, "scripts", "build.mjs")], { cwd: ROOT, stdio: "inherit" })
}, 300_000)

interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

interface CliTown extends TestTown {
  readonly env: Record<string, string>
}

const bd = (town: { dir: string; env: Record<string, string> }, args: ReadonlyArray<string>, extra: Record<string, string> = {}) =>
  new Promise<Result>((resolve, reject) => {
    const started = performance.now()
    const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
      cwd: town.dir,
      env: { ...town.env, ...extra },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout!.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr!.on("data", (chunk: Buffer) => err.push(chunk))
    child.on("error", reject)
    child.on("close", (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), ms: performance.now() - started }))
  })

const show = (r: Result) => `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`

const ok = async (town: CliTown, args: ReadonlyArray<string>, extra: Record<string, string> = {}) => {
  const r = await bd(town, args, extra)
  expect(r.code, `bd ${args.join(" ")}\n${show(r)}`).toBe(0)
  expect(r.stderr, `bd ${args.join(" ")}\n${show(r)}`).toBe("")
  return r
}

const json = async <A = any>(town: CliTown, args: ReadonlyArray<string>): Promise<A> =>
  JSON.parse((await ok(town, ["--json", ...args])).stdout) as A

let towns = 0

/** `bd init` + `bd config set sync.mode dolt-native`, the server given by environment. */
const cliTown = async (server: Server | undefined): Promise<CliTown> => {
  const dir = path.join(maria.root(), `cli-${++towns}`)
  const home = path.join(dir, "home")
  fs.mkdirSync(home, { recursive: true })
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    BD_ACTOR: "tester",
    GIT_CONFIG_NOSYSTEM: "1",
    BD_DOLT_CONNECT_TIMEOUT_MS: "1500",
    ...(server === undefined ? {} : { BD_DOLT_URL: server.url, BD_DOLT_PASSWORD: server.password })
  }
  const partial = { dir, env } as CliTown
  const init = JSON.parse((await bd(partial, ["--json", "init", "--town", `cli${towns}`])).stdout) as { townId: string; beadsDir: string }
  const town: CliTown = {
    name: `cli${towns}`,
    dir,
    beadsDir: init.beadsDir,
    townId: init.townId,
    env,
    globals: { json: false, db: dir, actor: "tester", readonly: false, cwd: dir, env, home, io: { ...processIo(), cwd: dir, env } } satisfies GlobalFlags
  }
  await ok(town, ["config", "set", "sync.mode", "dolt-native"])
  return town
}

describe("bd with the SQL projection", () => {
  it("projects every command, and bd dolt status / sync say so", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_cli_up")
    const town = await cliTown(server)
    await ok(town, ["create", "First'); DROP TABLE bd_issues; --", "--labels", "a,b"])
    await ok(town, ["federation", "add-peer", "origin2", "dolthub://org/repo"])
    const status = await json(town, ["dolt", "status"])
    expect(status).toMatchObject({
      url: server.url,
      reachable: true,
      server: "mysql",
      schemaVersion: 1,
      mode: "dolt-native",
      wired: true,
      lag: 0,
      checkpoint: { seq: 2, source: "server" },
      head: { seq: 2 }
    })
    const text = await ok(town, ["dolt", "status"])
    expect(text.stdout).toMatch(/reachable, .*MariaDB.*plain read model/)
    expect(text.stdout).toMatch(/lag: +up to date/)
    const sync = await json(town, ["dolt", "sync"])
    expect(sync).toMatchObject({ events: 0, batches: 0, rowsWritten: 0, to: { seq: 2 } })
    const federation = await ok(town, ["federation", "status"])
    expect(federation.stdout).toContain("projection: up to date")
    for (const r of [text, federation]) expect(r.stdout + r.stderr).not.toContain(server.password)
    await expectProjectionEqualsState(town, server)
  })

  it.skipIf(external)("keeps working while the server is down, shows the lag, and catches up on the next command", { timeout: 120_000 }, async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_cli_down")
    const town = await cliTown(server)
    await ok(town, ["create", "before the outage"])
    await bed.kill()
    try {
      const down = await bd(town, ["create", "during the outage"])
      expect(down.code, show(down)).toBe(0)
      expect(down.stdout).toMatch(/^Created bd-/)
      expect(down.stderr).toMatch(/^bd: the Dolt SQL projection is behind: .*could not connect.*bd dolt sync\)\n$/s)
      expect(down.stderr).not.toContain(server.password)
      const second = await bd(town, ["--json", "create", "still down"])
      expect(second.code, show(second)).toBe(0)
      expect(JSON.parse(second.stdout)).toMatchObject({ title: "still down" })

      const status = await bd(town, ["--json", "dolt", "status"])
      expect(status.code, show(status)).toBe(0)
      expect(JSON.parse(status.stdout)).toMatchObject({
        reachable: false,
        server: null,
        lag: 2,
        checkpoint: { seq: 1, source: "local" },
        head: { seq: 3 }
      })
      const text = await bd(town, ["dolt", "status"])
      expect(text.stdout).toContain("UNREACHABLE")
      expect(text.stdout).toMatch(/lag: +2 event\(s\) behind \(at least: the server did not answer\)/)
      const federation = await bd(town, ["federation", "status"])
      expect(federation.stdout).toContain("projection: 2 event(s) behind")
      // Reads never touch the server.
      const list = await ok(town, ["list"])
      expect(list.stdout).toContain("during the outage")
      const failed = await bd(town, ["--json", "dolt", "sync"])
      expect(failed.code, show(failed)).toBe(11)
      expect(JSON.parse(failed.stdout)).toMatchObject({ code: "DoltUnavailable" })
    } finally {
      await bed.restart()
    }
    await ok(town, ["create", "after the outage"])
    const status = await json(town, ["dolt", "status"])
    expect(status).toMatchObject({ reachable: true, lag: 0, checkpoint: { seq: 4, source: "server" } })
    await expectProjectionEqualsState(town, server)
  })

  it("bd dolt sync catches up a town whose server was configured late, and reports the rows", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_cli_late")
    const town = await cliTown(undefined)
    for (const title of ["one", "two", "three"]) await ok(town, ["create", title])
    await ok(town, ["close", JSON.parse((await ok(town, ["--json", "list"])).stdout)[0].id])
    const wired: CliTown = { ...town, env: { ...town.env, BD_DOLT_URL: server.url, BD_DOLT_PASSWORD: server.password } }
    const before = await json(wired, ["dolt", "status"])
    expect(before).toMatchObject({ reachable: true, schemaVersion: 0, checkpoint: null, lag: 4 })
    const sync = await json(wired, ["dolt", "sync"])
    expect(sync).toMatchObject({
      events: 4,
      batches: 1,
      from: { seq: 0 },
      to: { seq: 4 },
      rows: { events: 4, issues: 3, peers: 0, syncRuns: 0, conflicts: 0 },
      rowsWritten: 7,
      server: "mysql",
      doltCommits: 0
    })
    const text = await ok(wired, ["dolt", "sync"])
    expect(text.stdout).toBe(`Already up to date at seq 4 (${server.url}).\n`)
    await expectProjectionEqualsState({ ...wired, globals: { ...wired.globals, env: wired.env } }, server)
  })

  it("a wrong password is refused without ever showing the password", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_cli_pw")
    const secret = "not-the-Password-123"
    const town = await cliTown({ url: server.url, password: secret })
    const created = await bd(town, ["create", "x"])
    expect(created.code).toBe(0)
    expect(created.stderr).toMatch(/Access denied/)
    for (const args of [["dolt", "sync"], ["--json", "dolt", "sync"], ["dolt", "status"], ["--json", "dolt", "status"], ["config", "list"]]) {
      const r = await bd(town, args)
      expect(r.stdout + r.stderr, `bd ${args.join(" ")}`).not.toContain(secret)
    }
    const sync = await bd(town, ["--json", "dolt", "sync"])
    expect(sync.code).toBe(11)
    expect(JSON.parse(sync.stdout).message).toMatch(/Access denied/)
  })

  it("bd import served by the daemon projects what it imports, as in its own process", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_cli_daemon")
    const town = await cliTown(server)
    // A daemon of this test's own (mkdtemp makes the directory private).
    const daemonDir = fs.mkdtempSync(path.join(os.tmpdir(), "bd-dolt-daemon-"))
    const viaDaemon: CliTown = { ...town, env: { ...town.env, BD_DAEMON_DIR: daemonDir } }
    const served = async () => {
      for (let i = 0; i < 100; i++) {
        const status = await json(viaDaemon, ["daemon", "status"])
        if (status.running) return status.served as number
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error("the daemon did not start within 10 s")
    }
    try {
      await ok(town, ["create", "before the import"])
      const record = (id: string) => ({ id, title: `Imported ${id}`, status: "open", priority: 2, issue_type: "task", created_at: "2025-01-01T10:00:00Z", updated_at: "2025-01-01T10:00:00Z" })
      fs.writeFileSync(path.join(town.dir, "in.jsonl"), ["im-1", "im-2", "im-3"].map((id) => `${JSON.stringify(record(id))}\n`).join(""))
      await ok(viaDaemon, ["list"])
      const before = await served()
      expect(await json(viaDaemon, ["import", "in.jsonl"])).toMatchObject({ records: 3, created: 3 })
      expect(await served()).toBe(before + 1)
      expect(await json(viaDaemon, ["dolt", "status"])).toMatchObject({ reachable: true, lag: 0, head: { seq: 4 } })
      await expectProjectionEqualsState(town, server)
    } finally {
      await bd(viaDaemon, ["daemon", "stop"])
      fs.rmSync(daemonDir, { recursive: true, force: true })
    }
  })

  it("bd dolt status without dolt.url says how to set it", async (ctx) => {
    maria.get(ctx)
    const town = await cliTown(undefined)
    const r = await bd(town, ["--json", "dolt", "status"])
    expect(r.code, show(r)).toBe(3)
    expect(JSON.parse(r.stdout)).toMatchObject({ code: "DoltNotConfigured", hint: expect.stringContaining("bd config set dolt.url") })
    const federation = await ok(town, ["federation", "status"])
    expect(federation.stdout).not.toContain("projection:")
  })
})
