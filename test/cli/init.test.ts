/** `bd init`, finding a town (`--db`, `BD_DIR`, walking up), and running outside one. */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Exit, expectFails, expectFailsOnce, expectUsage, filesUnder, lines, Sandbox, setupCli, treeBytes } from "./support.js"

setupCli()

describe.concurrent("bd init", () => {
  it("creates .beads/ with config.yaml, town.json and .gitignore", async () => {
    const sb = new Sandbox("init")
    const r = await sb.ok(["init", "--town", "alpha"])
    const beads = sb.path(".beads")
    const townText = fs.readFileSync(path.join(beads, "town.json"), "utf8")
    const town = JSON.parse(townText) as Record<string, unknown>
    expect(Object.keys(town)).toEqual(expect.arrayContaining(["createdAt", "name", "townId"]))
    expect(town["townId"]).toMatch(/^[0-9a-f]{16}$/)
    expect(town["name"]).toBe("alpha")
    expect(Number.isNaN(Date.parse(String(town["createdAt"])))).toBe(false)
    // Nothing secret: no secret-looking member, no private key material.
    for (const key of Object.keys(town)) expect(key).not.toMatch(/secret|private|password|token|credential/i)
    expect(townText).not.toContain("PRIVATE KEY")
    expect(lines(r.stdout)[0]).toBe(`Initialized town alpha (${String(town["townId"])}) in ${beads}`)

    const config = fs.readFileSync(path.join(beads, "config.yaml"), "utf8")
    expect(config).toMatch(/^sync:\n {2}mode: git-portable$/m)
    const gitignore = fs.readFileSync(path.join(beads, ".gitignore"), "utf8")
    expect(gitignore.split("\n")).toEqual(expect.arrayContaining(["log/"]))
    expect(fs.statSync(path.join(beads, "log")).isDirectory()).toBe(true)

    // The effective configuration agrees.
    expect((await sb.ok(["config", "get", "sync.mode"])).stdout).toBe("git-portable\n")
    // Whatever secret init makes (the town's keys) lives in the user's config directory, private to the user.
    const secretsDir = path.join(sb.xdg, "bd", "towns", String(town["townId"]))
    for (const file of filesUnder(sb.xdg)) {
      expect(file.startsWith(`${secretsDir}${path.sep}`), file).toBe(true)
      expect(fs.statSync(file).mode & 0o077, file).toBe(0)
      const secret = fs.readFileSync(file, "utf8").replace(/-----[A-Z ]+-----/g, "").trim()
      if (secret.length >= 16) expect(townText).not.toContain(secret)
    }
    for (const file of filesUnder(beads)) expect(fs.readFileSync(file, "utf8"), file).not.toContain("PRIVATE KEY")
    expect(fs.readdirSync(sb.home)).toEqual([])
  })

  it("reports the town under --json", async () => {
    const sb = new Sandbox("init-json")
    const out = await sb.json(["init", "--town", "beta"])
    expect(out).toMatchObject({ beadsDir: sb.path(".beads"), name: "beta", existed: false })
    expect(out.townId).toMatch(/^[0-9a-f]{16}$/)
    expect([...out.created].sort()).toEqual(
      [".gitignore", "config.yaml", "town.json"].map((f) => sb.path(".beads", f)).sort()
    )
  })

  it("names the town after its directory when --town is not given", async () => {
    const sb = new Sandbox("init-name")
    const dir = path.join(sb.cwd, "my-project")
    const out = await sb.json(["init"], { cwd: (fs.mkdirSync(dir), dir) })
    expect(out.name).toBe("my-project")
  })

  it("is harmless to run again: nothing is overwritten, byte for byte", async () => {
    const sb = new Sandbox("init-again")
    const first = await sb.json(["init", "--town", "alpha", "--prefix", "abc"])
    // Local edits must survive a second init.
    fs.appendFileSync(sb.path(".beads", "config.yaml"), "# my own comment\ncustom: 1\n")
    await sb.ok(["create", "an issue"])
    const before = treeBytes(sb.path(".beads"))

    const text = await sb.ok(["init", "--town", "other", "--prefix", "zzz"])
    expect(text.stdout).toContain(`is already initialized in ${sb.path(".beads")}; nothing was overwritten.`)
    const again = await sb.json(["init"])
    expect(again).toMatchObject({ townId: first.townId, name: "alpha", existed: true, created: [] })
    expect(treeBytes(sb.path(".beads"))).toEqual(before)
  })

  it("run again by another user (another config directory, e.g. after git clone), overwrites nothing either", async () => {
    const sb = new Sandbox("init-other-user")
    await sb.ok(["init", "--town", "alpha"])
    const before = treeBytes(sb.path(".beads"))
    const otherXdg = path.join(sb.root, "other-user-config")
    const r = await sb.ok(["init"], { env: { XDG_CONFIG_HOME: otherXdg } })
    expect(r.stdout).toContain("nothing was overwritten")
    expect(treeBytes(sb.path(".beads"))).toEqual(before)
  })

  it("restores a missing file without touching the others", async () => {
    const sb = new Sandbox("init-restore")
    await sb.ok(["init"])
    fs.rmSync(sb.path(".beads", ".gitignore"))
    const before = treeBytes(sb.path(".beads"))
    const r = await sb.ok(["init"])
    expect(r.stdout).toContain(`restored ${sb.path(".beads", ".gitignore")}`)
    const after = treeBytes(sb.path(".beads"))
    expect(Object.keys(after).sort()).toEqual([...Object.keys(before), ".gitignore"].sort())
    for (const [file, bytes] of Object.entries(before)) expect(after[file]).toBe(bytes)
  })

  it("--prefix sets issue_prefix, used by new issue ids", async () => {
    const sb = new Sandbox("init-prefix")
    await sb.ok(["init", "--prefix", "proj"])
    expect(fs.readFileSync(sb.path(".beads", "config.yaml"), "utf8")).toMatch(/^issue_prefix: proj$/m)
    expect((await sb.ok(["config", "get", "issue_prefix"])).stdout).toBe("proj\n")
    const issue = await sb.json(["create", "first"])
    expect(issue.id).toMatch(/^proj-[0-9a-z]{6}$/)
  })

  it("refuses a bad --prefix with exit 4 and creates nothing", async () => {
    const sb = new Sandbox("init-badprefix")
    const prefixes = ["9bad", "has_underscore", "has space", "abcdefghijklmnopq", ""]
    await Promise.all(prefixes.map(async (prefix, i) => {
      const error = await expectFailsOnce(sb, ["init", "--prefix", prefix], {
        exit: Exit.invalidInput,
        code: "InvalidArgument",
        message: `invalid --prefix ${JSON.stringify(prefix)}`
      }, { json: i !== 0 })
      expect(error.message).toContain("a letter, then letters, digits or '-'")
    }))
    expect(fs.existsSync(sb.path(".beads"))).toBe(false)
  })
})

describe.concurrent("choosing the town", () => {
  it("--db DIR and BD_DIR pick another town, for init and every other command", async () => {
    const sb = new Sandbox("db")
    const home = await sb.init()
    // --db with a project directory, and with the .beads directory itself.
    const other = await sb.json(["--db", "other", "init", "--town", "other"])
    expect(other.beadsDir).toBe(sb.path("other", ".beads"))
    const third = await sb.json(["init", "--db", sb.path("third", ".beads"), "--town", "third"])
    expect(third.beadsDir).toBe(sb.path("third", ".beads"))
    expect(new Set([home.townId, other.townId, third.townId]).size).toBe(3)

    const inOther = await sb.json(["--db", "other", "create", "in other"])
    expect(inOther.source_system).toBe(other.townId)
    const viaEnv = await sb.json(["create", "in third"], { env: { BD_DIR: sb.path("third") } })
    expect(viaEnv.source_system).toBe(third.townId)
    const viaEq = await sb.json(["create", "--db=other/.beads", "also in other"])
    expect(viaEq.source_system).toBe(other.townId)

    expect(await sb.json(["list"])).toEqual([])
    expect((await sb.json(["--db", "other", "list"])).map((i: { title: string }) => i.title).sort()).toEqual(["also in other", "in other"])
    expect((await sb.json(["list"], { env: { BD_DIR: "third/.beads" } })).map((i: { title: string }) => i.title)).toEqual(["in third"])
    // --db wins over BD_DIR.
    expect((await sb.json(["list", "--db", "other"], { env: { BD_DIR: "third" } }))).toHaveLength(2)
    // config set writes into the chosen town.
    await sb.ok(["--db", "other", "config", "set", "issue_prefix", "oth"])
    expect(fs.readFileSync(sb.path("other", ".beads", "config.yaml"), "utf8")).toContain("issue_prefix: oth")
    expect(fs.readFileSync(sb.path(".beads", "config.yaml"), "utf8")).not.toContain("issue_prefix")
  })

  it("finds the town from a subdirectory", async () => {
    const sb = new Sandbox("walkup")
    const town = await sb.town()
    const deep = sb.path("a", "b", "c")
    fs.mkdirSync(deep, { recursive: true })
    const issue = await sb.json(["create", "from below"], { cwd: deep })
    expect(issue.source_system).toBe(town.townId)
  })

  it("outside any town, commands fail with exit 16 NotInitialized", async () => {
    const sb = new Sandbox("noinit")
    const commands = [
      ["list"],
      ["create", "x"],
      ["show", "bd-000000"],
      ["export"],
      ["sync"],
      ["federation", "list-peers"],
      ["federation", "add-peer", "staging", "dolthub://myorg/staging-beads"],
      ["federation", "log"],
      ["federation", "verify"],
      ["config", "set", "sync.mode", "dolt-native"],
      ["config", "unset", "sync.mode"]
    ]
    await Promise.all(commands.map(async (args, i) => {
      const error = await expectFailsOnce(sb, args, {
        exit: Exit.notInitialized,
        code: "NotInitialized",
        message: `no beads town found in ${sb.cwd} or any parent directory`
      }, { json: i !== 0 })
      expect(error.hint).toContain("bd init")
    }))
    // --db pointing at nothing is the same failure, naming that directory.
    await expectFails(sb, ["--db", "nowhere", "list"], {
      exit: Exit.notInitialized,
      code: "NotInitialized",
      message: `no beads town found in ${sb.path("nowhere")}`
    })
    await expectFailsOnce(sb, ["list"], { exit: Exit.notInitialized, code: "NotInitialized" }, { env: { BD_DIR: "nowhere" } })
    // Nothing was created by the failed commands.
    expect(fs.readdirSync(sb.cwd)).toEqual([])
    // Reading the configuration needs no town.
    expect((await sb.ok(["config", "list"])).stdout).toContain("sync.mode = git-portable")
  })

  it("command-line mistakes exit 2 without a stack trace", async () => {
    const sb = new Sandbox("usage")
    const runs = await Promise.all([
      sb.run(["no-such-command"]),
      sb.run(["--json", "no-such-command"]),
      sb.run(["--db"]),
      sb.run(["--json", "--actor"]),
      sb.run(["init", "--town"])
    ])
    expectUsage(runs[0]!, false)
    expectUsage(runs[1]!, true)
    expectUsage(runs[2]!, false)
    expectUsage(runs[3]!, true)
    expect(JSON.parse(runs[3]!.stdout)).toMatchObject({ code: "Usage", message: "--actor needs a value" })
    expectUsage(runs[4]!, false)
  })
})
