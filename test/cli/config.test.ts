/** `bd config list | get | set | unset`, the environment, and broken configuration files. */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Exit, expectFails, expectFailsOnce, lines, Sandbox, setupCli } from "./support.js"

setupCli()

const DEFAULTS = [
  "dolt.connect_timeout_ms = 5000",
  "dolt.pool_size = 4",
  "dolt.query_timeout_ms = 30000",
  "issue_prefix = bd",
  "lock.timeout_ms = 5000",
  "sync.mode = git-portable"
]

describe.concurrent("bd config list / get", () => {
  it("lists every effective setting sorted, as key = value, in text and --json", async () => {
    const sb = new Sandbox("cfg-list")
    const town = await sb.town()
    fs.appendFileSync(path.join(town.beadsDir, "config.yaml"), "zeta: last\nalpha:\n  nested: first\nfederation:\n  exclude_types: [chore, epic]\n")
    const [text, json] = await Promise.all([sb.ok(["config", "list"]), sb.json(["config", "list"])])
    const shown = lines(text.stdout)
    expect(shown).toEqual([...shown].sort())
    for (const line of shown) expect(line).toMatch(/^[A-Za-z0-9_.-]+ = .*$/)
    expect(shown).toEqual(expect.arrayContaining([...DEFAULTS, "alpha.nested = first", "zeta = last", "federation.exclude_types = chore,epic"]))
    expect(Object.keys(json)).toEqual([...Object.keys(json)].sort())
    expect(json).toMatchObject({ "sync.mode": "git-portable", "issue_prefix": "bd", "alpha.nested": "first", "zeta": "last" })
    expect(shown).toEqual(Object.entries(json).map(([key, value]) => `${key} = ${String(value)}`))
  })

  it("--show-origin says where each value comes from", async () => {
    const sb = new Sandbox("cfg-origin")
    const town = await sb.town()
    const userFile = path.join(sb.xdg, "bd", "config.yaml")
    fs.mkdirSync(path.dirname(userFile), { recursive: true })
    fs.writeFileSync(userFile, "federation:\n  organization: acme\nissue_prefix: usr\n")
    fs.appendFileSync(path.join(town.beadsDir, "config.yaml"), "issue_prefix: prj\n")
    const r = await sb.ok(["config", "list", "--show-origin"], { env: { BD_LOCK_TIMEOUT_MS: "100" } })
    const shown = lines(r.stdout)
    const projectFile = path.join(town.beadsDir, "config.yaml")
    expect(shown).toEqual(expect.arrayContaining([
      "default\tdolt.pool_size = 4",
      `${projectFile}\tsync.mode = git-portable`,
      `${projectFile}\tissue_prefix = prj`,
      `${userFile}\tfederation.organization = acme`,
      "env BD_LOCK_TIMEOUT_MS\tlock.timeout_ms = 100"
    ]))
    for (const line of shown) expect(line).toMatch(/^[^\t]+\t\S+ = /)
  })

  it("get prints one value; a key that is not set exits 6", async () => {
    const sb = new Sandbox("cfg-get")
    await sb.town()
    expect((await sb.ok(["config", "get", "sync.mode"])).stdout).toBe("git-portable\n")
    expect(await sb.json(["config", "get", "issue_prefix"])).toEqual({ key: "issue_prefix", value: "bd", source: "default" })
    const error = await expectFails(sb, ["config", "get", "no.such.key"], {
      exit: Exit.notFound,
      code: "ConfigKeyNotSet",
      message: "no.such.key is not set"
    })
    expect(error.hint).toContain("bd config list")
  })

  it("the environment overrides the file (BD_SYNC_MODE)", async () => {
    const sb = new Sandbox("cfg-env")
    const town = await sb.town({ mode: "dolt-native" })
    const env = { BD_SYNC_MODE: "realtime" }
    expect((await sb.ok(["config", "get", "sync.mode"], { env })).stdout).toBe("realtime\n")
    expect((await sb.ok(["config", "get", "sync.mode"])).stdout).toBe("dolt-native\n")
    expect(await sb.json(["config", "get", "sync.mode"], { env })).toEqual({ key: "sync.mode", value: "realtime", source: "env BD_SYNC_MODE" })
    // The override really changes behaviour: federation is now refused, naming the mode.
    await expectFailsOnce(sb, ["federation", "list-peers"], { exit: Exit.federationNotEnabled, code: "FederationNotEnabled", message: "realtime" }, { env })
    // ...and the other way round.
    setModeText(town.beadsDir, "git-portable")
    expect(await sb.json(["federation", "list-peers"], { env: { BD_SYNC_MODE: "dolt-native" } })).toEqual([])
    // An empty variable counts as unset.
    expect((await sb.ok(["config", "get", "sync.mode"], { env: { BD_SYNC_MODE: "" } })).stdout).toBe("git-portable\n")
  })

  it("a bad value in the environment is refused with exit 3, naming the variable", async () => {
    const sb = new Sandbox("cfg-env-bad")
    await sb.town()
    const error = await expectFails(sb, ["config", "list"], {
      exit: Exit.config,
      code: "ConfigInvalid",
      message: "invalid configuration in env BD_SYNC_MODE: sync.mode = \"bogus\""
    }, { env: { BD_SYNC_MODE: "bogus" } })
    expect(error.message).toContain("git-portable, realtime, dolt-native, belt-and-suspenders")
    // Every command that needs the configuration refuses it the same way.
    await expectFailsOnce(sb, ["list"], { exit: Exit.config, code: "ConfigInvalid" }, { env: { BD_SYNC_MODE: "bogus" } })
    await expectFailsOnce(sb, ["list"], { exit: Exit.config, code: "ConfigInvalid", message: "dolt.pool_size" }, { env: { BD_DOLT_POOL_SIZE: "0" } })
  })
})

const setModeText = (beadsDir: string, mode: string) => {
  const file = path.join(beadsDir, "config.yaml")
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/mode: \S+/, `mode: ${mode}`))
}

describe.concurrent("bd config set / unset", () => {
  it("set writes the value and keeps comments and order", async () => {
    const sb = new Sandbox("cfg-set")
    const town = await sb.town()
    const file = path.join(town.beadsDir, "config.yaml")
    fs.writeFileSync(file, "# Header of my town\n\nsync:\n  # how we sync\n  mode: git-portable # inline note\n\n# about the prefix\nissue_prefix: abc\n")
    const r = await sb.ok(["config", "set", "sync.mode", "dolt-native"])
    expect(r.stdout).toBe(`Set sync.mode = dolt-native in ${file}\n`)
    const out = await sb.json(["config", "set", "federation.sovereignty", "t2"])
    expect(out).toEqual({ key: "federation.sovereignty", value: "T2", file, status: "set" })
    await sb.ok(["config", "set", "custom.thing", "hello world"])
    const text = fs.readFileSync(file, "utf8")
    for (const comment of ["# Header of my town", "# how we sync", "# inline note", "# about the prefix"]) expect(text).toContain(comment)
    expect(text).toMatch(/mode: dolt-native/)
    expect(text.indexOf("sync:")).toBeLessThan(text.indexOf("issue_prefix"))
    expect(await sb.json(["config", "list"])).toMatchObject({
      "sync.mode": "dolt-native",
      "federation.sovereignty": "T2",
      "custom.thing": "hello world",
      "issue_prefix": "abc"
    })
  })

  it("unset removes the value and keeps the other entries and their comments", async () => {
    const sb = new Sandbox("cfg-unset")
    const town = await sb.town()
    const file = path.join(town.beadsDir, "config.yaml")
    fs.writeFileSync(file, "# Header of my town\n\nsync:\n  mode: realtime\n# about the prefix\nissue_prefix: abc\n# the remote\nfederation:\n  remote: dolthub://org/repo\n")
    const r = await sb.ok(["config", "unset", "issue_prefix"])
    expect(r.stdout).toBe(`Unset issue_prefix in ${file}\n`)
    const text = fs.readFileSync(file, "utf8")
    expect(text).toContain("# Header of my town")
    expect(text).toContain("# the remote")
    expect(text).not.toContain("issue_prefix")
    expect(await sb.json(["config", "get", "issue_prefix"])).toMatchObject({ value: "bd", source: "default" })
    expect(await sb.json(["config", "unset", "federation.remote"])).toEqual({ key: "federation.remote", file, status: "unset" })
    expect(fs.readFileSync(file, "utf8")).not.toContain("federation")
    // Unsetting what is not set is not an error, and changes nothing.
    const before = fs.readFileSync(file)
    expect(await sb.json(["config", "unset", "not.there"])).toEqual({ key: "not.there", file, status: "not-set" })
    expect((await sb.ok(["config", "unset", "not.there"])).stdout).toBe(`not.there was not set in ${file}\n`)
    expect(fs.readFileSync(file).equals(before)).toBe(true)
    expect((await sb.ok(["config", "get", "sync.mode"])).stdout).toBe("realtime\n")
  })

  it("set refuses bad values with exit 3 and leaves the file as it was", async () => {
    const sb = new Sandbox("cfg-set-bad")
    const town = await sb.town()
    const file = path.join(town.beadsDir, "config.yaml")
    const before = fs.readFileSync(file)
    const cases: ReadonlyArray<readonly [string, string, string]> = [
      ["sync.mode", "bogus", "git-portable, realtime, dolt-native, belt-and-suspenders"],
      ["storage.backend", "postgres", "dolt, embedded, sqlite"],
      ["federation.sovereignty", "T9", "T1, T2, T3 or T4"],
      ["federation.remote", "http://example.com/x", "plain http"],
      ["issue_prefix", "9x", "a letter"],
      ["dolt.pool_size", "0", "an integer from 1 to 64"],
      ["lock.timeout_ms", "soon", "an integer"],
      ["federation.peers.x.endpoint", "dolthub://a/b", "bd federation add-peer"],
      ["a..b", "1", "dot-separated"]
    ]
    await Promise.all(cases.map(async ([key, value, allowed], i) => {
      const error = await expectFailsOnce(sb, ["config", "set", key, value], { exit: Exit.config, code: "ConfigInvalid", message: key }, { json: i !== 0 })
      expect(error.message).toContain(allowed)
    }))
    expect(fs.readFileSync(file).equals(before)).toBe(true)
  })

  it("a secret is never shown and its file becomes private", async () => {
    const sb = new Sandbox("cfg-secret")
    const town = await sb.town()
    const r = await sb.ok(["config", "set", "dolt.password", "hunter2-secret"])
    expect(r.stdout).not.toContain("hunter2-secret")
    const [list, json, get] = await Promise.all([
      sb.ok(["config", "list", "--show-origin"]),
      sb.ok(["--json", "config", "list"]),
      sb.ok(["config", "get", "dolt.password"])
    ])
    for (const out of [list.stdout, json.stdout, get.stdout]) expect(out).not.toContain("hunter2-secret")
    expect(get.stdout).toBe("********\n")
    expect(fs.statSync(path.join(town.beadsDir, "config.yaml")).mode & 0o777).toBe(0o600)
  })
})

describe.concurrent("broken configuration files", () => {
  it("bad YAML is reported with file:line:col and exit 3", async () => {
    const sb = new Sandbox("cfg-yaml")
    const town = await sb.town()
    const file = path.join(town.beadsDir, "config.yaml")
    fs.writeFileSync(file, "# ok\nsync:\n  mode: dolt-native\nfederation: {remote: x\n")
    const error = await expectFails(sb, ["config", "list"], { exit: Exit.config, code: "ConfigInvalid" })
    const where = new RegExp(`${escape(file)}:(\\d+):(\\d+)`)
    const match = where.exec(error.message)
    expect(match, error.message).not.toBeNull()
    expect(Number(match![1])).toBeGreaterThanOrEqual(4)
    expect(error.hint).toContain(file)
    // Another syntax error, on a known line and column.
    fs.writeFileSync(file, "sync:\n  mode: git-portable\n bad: indentation\n")
    const second = await expectFailsOnce(sb, ["list"], { exit: Exit.config, code: "ConfigInvalid" })
    expect(second.message).toMatch(new RegExp(`${escape(file)}:3:\\d+`))
    // set refuses to edit a file it cannot parse, and leaves it alone.
    const before = fs.readFileSync(file)
    await expectFailsOnce(sb, ["config", "set", "sync.mode", "realtime"], { exit: Exit.config, code: "ConfigInvalid", message: `${file}:3:` })
    expect(fs.readFileSync(file).equals(before)).toBe(true)
  })

  it("a bad value in the file is reported with the file and key, exit 3", async () => {
    const sb = new Sandbox("cfg-badvalue")
    const town = await sb.town()
    const file = path.join(town.beadsDir, "config.yaml")
    fs.writeFileSync(file, "sync:\n  mode: nope\n")
    const error = await expectFails(sb, ["federation", "list-peers"], {
      exit: Exit.config,
      code: "ConfigInvalid",
      message: `invalid configuration in ${file}: sync.mode = "nope"`
    })
    expect(error.hint).toContain(`fix sync.mode in ${file}`)
    // A broken user file is reported too, naming that file.
    fs.writeFileSync(file, "sync:\n  mode: git-portable\n")
    const userFile = path.join(sb.xdg, "bd", "config.yaml")
    fs.mkdirSync(path.dirname(userFile), { recursive: true })
    fs.writeFileSync(userFile, "dolt:\n  pool_size: 1000\n")
    await expectFailsOnce(sb, ["config", "list"], { exit: Exit.config, code: "ConfigInvalid", message: `${userFile}: dolt.pool_size = "1000"` })
  })
})

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
