/** `bd federation add-peer | remove-peer | list-peers`: modes, backends, validation and credentials. */
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { BIN, credentialFiles, Exit, expectFails, expectFailsOnce, filesUnder, lines, logBytes, Sandbox, setupCli } from "./support.js"

setupCli()

const HAS_SCRIPT = (() => {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

const shellQuote = (arg: string): string => `'${arg.replace(/'/g, "'\\''")}'`

/**
 * Run bd on a pseudo-terminal (util-linux `script`), typing `keys` once the
 * password prompt is shown. Returns the exit code and everything the terminal showed.
 */
const onTerminal = (sb: Sandbox, args: ReadonlyArray<string>, keys: string): Promise<{ code: number; output: string }> =>
  new Promise((resolve, reject) => {
    const command = [process.execPath, BIN, ...args].map(shellQuote).join(" ")
    const env: Record<string, string> = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", TERM: "xterm" }
    for (const [key, value] of Object.entries(sb.baseEnv())) if (value !== undefined) env[key] = value
    const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd: sb.cwd, env, stdio: ["pipe", "pipe", "pipe"] })
    let output = ""
    let typed = false
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      if (!typed && output.includes("Password for peer")) {
        typed = true
        setTimeout(() => child.stdin.write(keys), 200)
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.stdin.on("error", () => {})
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      // Drop terminal control sequences, keep the text.
      resolve({ code: code ?? -1, output: output.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "") })
    })
  })

const SEED_PEERS: ReadonlyArray<readonly [string, string]> = [
  ["staging", "dolthub://myorg/staging-beads"],
  ["backup", "gs://mybucket/beads-backup"],
  ["backup-s3", "s3://mybucket/beads-backup"],
  ["local", "file:///home/user/beads-backup"],
  ["partner-town", "dolthub://partner-org/beads"],
  ["web", "https://host.example.com/path/to/repo"],
  ["shell", "ssh://host.example.com/srv/beads"],
  ["gitssh", "git@github.com:org/beads.git"]
]

describe.concurrent("federation needs a federating sync mode", () => {
  it.each(["git-portable", "realtime"] as const)("in %s every peer command exits 7, naming the mode and the fix", async (mode) => {
    const sb = new Sandbox(`fed-off-${mode}`)
    const town = await sb.town({ mode })
    const commands = [
      ["federation", "add-peer", "staging", "dolthub://myorg/staging-beads"],
      ["federation", "remove-peer", "staging"],
      ["federation", "list-peers"]
    ]
    await Promise.all(commands.map(async (args, i) => {
      const error = await expectFailsOnce(sb, args, {
        exit: Exit.federationNotEnabled,
        code: "FederationNotEnabled",
        message: `bd federation ${args[1]} needs federation, which sync mode ${mode} does not support`
      }, { json: i !== 0 })
      expect(error.hint).toContain("bd config set sync.mode dolt-native")
      expect(error.hint).toContain("belt-and-suspenders")
    }))
    expect(logBytes(town)).toEqual({})
    expect(credentialFiles(sb)).toEqual([])
  })

  it.each(["dolt-native", "belt-and-suspenders"] as const)("in %s add, list and remove work", async (mode) => {
    const sb = new Sandbox(`fed-on-${mode}`)
    await sb.town({ mode })
    expect((await sb.ok(["federation", "add-peer", "staging", "dolthub://myorg/staging-beads"])).stdout)
      .toBe("Added peer staging (dolthub://myorg/staging-beads)\n")
    expect((await sb.json(["federation", "list-peers"])).map((p: { name: string }) => p.name)).toEqual(["staging"])
    expect((await sb.ok(["federation", "remove-peer", "staging"])).stdout).toBe("Removed peer staging (dolthub://myorg/staging-beads)\n")
    expect(await sb.json(["federation", "list-peers"])).toEqual([])
  })

  it("bd config set sync.mode dolt-native (the hint) turns federation on", async () => {
    const sb = new Sandbox("fed-enable")
    await sb.town()
    await expectFails(sb, ["federation", "list-peers"], { exit: Exit.federationNotEnabled, code: "FederationNotEnabled" })
    await sb.ok(["config", "set", "sync.mode", "dolt-native"])
    expect((await sb.ok(["federation", "list-peers"])).stdout).toBe("No peers configured. Add one with: bd federation add-peer NAME ENDPOINT\n")
  })

  it("storage.backend sqlite exits 8 DoltBackendRequired in the federating modes", async () => {
    const sb = new Sandbox("fed-sqlite")
    const town = await sb.town({ mode: "dolt-native" })
    fs.appendFileSync(path.join(town.beadsDir, "config.yaml"), "storage:\n  backend: sqlite\n")
    const commands = [["federation", "add-peer", "staging", "dolthub://myorg/staging-beads"], ["federation", "list-peers"], ["federation", "remove-peer", "x"]]
    await Promise.all(commands.map(async (args, i) => {
      const error = await expectFailsOnce(sb, args, { exit: Exit.doltBackendRequired, code: "DoltBackendRequired", message: "storage.backend is sqlite" }, { json: i !== 0 })
      expect(error.message).toContain("federation requires the Dolt storage backend")
      expect(error.hint).toContain("bd config set storage.backend dolt")
    }))
    // The same in belt-and-suspenders, through the environment; dolt itself is fine.
    await expectFailsOnce(sb, ["federation", "list-peers"], { exit: Exit.doltBackendRequired, code: "DoltBackendRequired" }, { env: { BD_SYNC_MODE: "belt-and-suspenders" } })
    const other = new Sandbox("fed-sqlite-env")
    await other.town({ mode: "belt-and-suspenders" })
    await expectFailsOnce(other, ["federation", "list-peers"], { exit: Exit.doltBackendRequired, code: "DoltBackendRequired" }, { env: { BD_STORAGE_BACKEND: "sqlite" } })
    expect(await other.json(["federation", "list-peers"], { env: { BD_STORAGE_BACKEND: "dolt" } })).toEqual([])
    expect(logBytes(town)).toEqual({})
  })
})

describe.concurrent("add-peer", () => {
  it("takes every endpoint form of the seed (the JSON example byte for byte), shown by config list and list-peers", async () => {
    const sb = new Sandbox("seed-all")
    await sb.town({ mode: "dolt-native" })
    // The seed's JSON example, byte for byte; --json after the subcommand means the same.
    const r = await sb.run(["--json", "federation", "add-peer", "staging", "dolthub://myorg/staging-beads"])
    expect(r).toEqual({ code: 0, stdout: "{\"name\":\"staging\",\"endpoint\":\"dolthub://myorg/staging-beads\",\"status\":\"added\"}\n", stderr: "" })
    const after = await sb.run(["federation", "add-peer", "partner-town", "dolthub://partner-org/beads", "--json"])
    expect(after.stdout).toBe("{\"name\":\"partner-town\",\"endpoint\":\"dolthub://partner-org/beads\",\"status\":\"added\"}\n")
    for (const [name, endpoint] of SEED_PEERS.filter(([name]) => name !== "staging" && name !== "partner-town")) {
      expect((await sb.ok(["federation", "add-peer", name, endpoint])).stdout).toBe(`Added peer ${name} (${endpoint})\n`)
    }
    await sb.ok(["federation", "add-peer", "regional", "s3://eu-bucket/beads", "--sovereignty", "t3"])
    const [config, table, json] = await Promise.all([
      sb.ok(["config", "list"]),
      sb.ok(["federation", "list-peers"]),
      sb.json(["federation", "list-peers"])
    ])
    const peerLines = lines(config.stdout).filter((line) => line.includes("federation.peers"))
    const expected = [
      ...SEED_PEERS.map(([name, endpoint]) => `federation.peers.${name}.endpoint = ${endpoint}`),
      "federation.peers.regional.endpoint = s3://eu-bucket/beads",
      "federation.peers.regional.sovereignty = T3"
    ].sort()
    expect(peerLines).toEqual(expected)
    // The table: header, one row per peer sorted by name, columns aligned.
    const rows = lines(table.stdout)
    expect(rows[0]).toMatch(/^NAME\s+ENDPOINT\s+SOVEREIGNTY\s+CREDENTIALS$/)
    const names = [...SEED_PEERS.map(([name]) => name), "regional"].sort()
    expect(rows.slice(1).map((row) => row.split(/\s+/)[0])).toEqual(names)
    const endpointColumn = rows[0]!.indexOf("ENDPOINT")
    for (const row of rows.slice(1)) {
      const [name, endpoint, tier, credentials] = row.split(/\s+/)
      expect(row.indexOf(endpoint!)).toBe(endpointColumn)
      expect(endpoint).toBe(name === "regional" ? "s3://eu-bucket/beads" : SEED_PEERS.find(([n]) => n === name)![1])
      expect(tier).toBe(name === "regional" ? "T3" : "-")
      expect(credentials).toBe("-")
    }
    // The JSON array.
    expect(json.map((p: { name: string }) => p.name)).toEqual(names)
    for (const peer of json) {
      expect(Object.keys(peer)).toEqual(expect.arrayContaining(["addedAt", "addedBy", "credentials", "endpoint", "name"]))
      expect("sovereignty" in peer).toBe(peer.name === "regional")
      expect(peer.credentials).toBe(false)
      expect(peer.addedBy).toBe("sandbox-user")
      expect(Number.isNaN(Date.parse(peer.addedAt))).toBe(false)
    }
    expect(json.find((p: { name: string }) => p.name === "regional")).toMatchObject({ sovereignty: "T3", endpoint: "s3://eu-bucket/beads" })
  })

  it("--sovereignty is stored upper-case; a bad tier exits 4 and appends nothing", async () => {
    const sb = new Sandbox("tier")
    const town = await sb.town({ mode: "belt-and-suspenders" })
    expect(await sb.json(["federation", "add-peer", "eu", "gs://eu-bucket/beads", "--sovereignty", "t3"]))
      .toEqual({ name: "eu", endpoint: "gs://eu-bucket/beads", sovereignty: "T3", status: "added" })
    expect((await sb.ok(["federation", "add-peer", "us", "gs://us-bucket/beads", "--sovereignty", "T1"])).stdout)
      .toBe("Added peer us (gs://us-bucket/beads), sovereignty T1\n")
    expect((await sb.ok(["config", "get", "federation.peers.eu.sovereignty"])).stdout).toBe("T3\n")
    const before = logBytes(town)
    await Promise.all(["T5", "t0", "gold", ""].map((tier, i) =>
      expectFailsOnce(sb, ["federation", "add-peer", "other", "gs://other-bucket/beads", "--sovereignty", tier], {
        exit: Exit.invalidInput,
        code: "InvalidArgument",
        message: `invalid sovereignty tier ${JSON.stringify(tier)}: expected T1, T2, T3 or T4`
      }, { json: i !== 0 })))
    expect(logBytes(town)).toEqual(before)
  })

  it("a duplicate name exits 5 with \"peer already exists\" and appends nothing", async () => {
    const sb = new Sandbox("dup")
    const town = await sb.town({ mode: "dolt-native" })
    await sb.ok(["federation", "add-peer", "staging", "dolthub://myorg/staging-beads"])
    const before = logBytes(town)
    const error = await expectFails(sb, ["federation", "add-peer", "staging", "gs://other-bucket/x"], {
      exit: Exit.alreadyExists,
      code: "PeerAlreadyExists",
      message: "peer already exists: staging"
    })
    expect(error.hint).toContain("bd config list | grep federation.peers")
    expect(logBytes(town)).toEqual(before)
    expect((await sb.json(["federation", "list-peers"]))[0].endpoint).toBe("dolthub://myorg/staging-beads")
  })

  it("refuses invalid peer names with exit 4 and the reason; 64 characters is fine", async () => {
    const sb = new Sandbox("badname")
    const town = await sb.town({ mode: "dolt-native" })
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["origin", "is reserved"],
      ["Main", "is reserved"],
      ["master", "is reserved"],
      ["HEAD", "is reserved"],
      ["1abc", "must start with a letter"],
      ["-dash", "must start with a letter"],
      ["has space", "may contain only letters, digits, '-' and '_' (found ' ')"],
      ["dot.name", "may contain only letters, digits, '-' and '_' (found '.')"],
      ["a".repeat(65), "is longer than 64 characters (found 65)"],
      ["", "is empty"]
    ]
    await Promise.all(cases.map(async ([name, reason], i) => {
      const error = await expectFailsOnce(sb, ["federation", "add-peer", name, "dolthub://myorg/repo"], {
        exit: Exit.invalidInput,
        code: "InvalidPeerName",
        message: `invalid peer name ${JSON.stringify(name)}: ${reason}`
      }, { json: i !== 0 })
      expect(error.hint).toContain("starts with a letter")
    }))
    expect(logBytes(town)).toEqual({})
    const name = `p${"x".repeat(63)}`
    expect(await sb.json(["federation", "add-peer", name, "dolthub://myorg/repo"])).toMatchObject({ name, status: "added" })
  })

  it("refuses invalid endpoints with exit 4 and the reason", async () => {
    const sb = new Sandbox("badendpoint")
    const town = await sb.town({ mode: "dolt-native" })
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["http://host/x", "plain http is not supported, use https://"],
      ["ftp://host/x", "unsupported scheme \"ftp\""],
      ["file://relative", "file:// needs an absolute path"],
      ["file://relative/path", "file:// needs an absolute path"],
      ["https://host:99999/x", "port 99999 is out of range 1-65535"],
      ["https://host:0/x", "out of range"],
      ["ssh://host:port/x", "port \"port\" is not a number"],
      ["git@host", "the git SSH form needs ':' between host and path"],
      ["s3://B/x", "bucket \"B\" must be"],
      ["dolthub://onlyorg", "missing repository"],
      ["/tmp/local", "a local path needs the file:// scheme"],
      ["https://user:pw@host/x", "a password in the endpoint is not supported"],
      ["", "is empty"]
    ]
    await Promise.all(cases.map(async ([endpoint, reason], i) => {
      const error = await expectFailsOnce(sb, ["federation", "add-peer", "peer", endpoint], {
        exit: Exit.invalidInput,
        code: "InvalidEndpoint",
        message: `invalid endpoint format ${JSON.stringify(endpoint)}: `
      }, { json: i !== 0 })
      expect(error.message).toContain(reason)
      expect(error.hint).toContain("dolthub://, gs://, s3://, file://, https://, ssh://, or git SSH format (git@host:path)")
    }))
    expect(logBytes(town)).toEqual({})
  })
})

describe.concurrent("remove-peer", () => {
  it("removes a peer; an unknown one exits 6", async () => {
    const sb = new Sandbox("remove")
    const town = await sb.town({ mode: "dolt-native" })
    await sb.ok(["federation", "add-peer", "staging", "dolthub://myorg/staging-beads"])
    await sb.ok(["federation", "add-peer", "eu", "gs://eu-bucket/beads", "--sovereignty", "T2"])
    expect(await sb.json(["federation", "remove-peer", "eu"])).toEqual({ name: "eu", endpoint: "gs://eu-bucket/beads", sovereignty: "T2", status: "removed" })
    expect((await sb.json(["federation", "list-peers"])).map((p: { name: string }) => p.name)).toEqual(["staging"])
    expect(lines((await sb.ok(["config", "list"])).stdout).filter((l) => l.includes("federation.peers"))).toEqual([
      "federation.peers.staging.endpoint = dolthub://myorg/staging-beads"
    ])
    const before = logBytes(town)
    const error = await expectFails(sb, ["federation", "remove-peer", "eu"], { exit: Exit.notFound, code: "PeerNotFound", message: "peer not found: eu" })
    expect(error.hint).toContain("bd federation list-peers")
    await expectFailsOnce(sb, ["federation", "remove-peer", "nobody"], { exit: Exit.notFound, code: "PeerNotFound", message: "peer not found: nobody" })
    expect(logBytes(town)).toEqual(before)
    // A removed name can be added again.
    expect(await sb.json(["federation", "add-peer", "eu", "gs://eu-bucket/beads2"])).toMatchObject({ name: "eu", endpoint: "gs://eu-bucket/beads2" })
  })
})

describe.concurrent("peer credentials", () => {
  it("are stored encrypted outside .beads, mode 0600, and never shown", async () => {
    const sb = new Sandbox("creds")
    const town = await sb.town({ mode: "dolt-native" })
    const added = await sb.run(["federation", "add-peer", "p", "https://h.example.com/x", "--user", "u", "--password", "secret123"])
    expect(added.code).toBe(0)
    expect(added.stdout + added.stderr).not.toContain("secret123")
    const addedJson = await sb.json(["federation", "add-peer", "q", "https://h.example.com/y", "--user", "u2", "--password", "other-pass-456"])
    expect(addedJson).toEqual({ name: "q", endpoint: "https://h.example.com/y", status: "added" })

    const outputs = await Promise.all([
      sb.ok(["config", "list", "--show-origin"]),
      sb.ok(["--json", "config", "list"]),
      sb.ok(["federation", "log"]),
      sb.ok(["--json", "federation", "log"]),
      sb.ok(["federation", "list-peers"]),
      sb.ok(["--json", "federation", "list-peers"])
    ])
    for (const r of outputs) {
      expect(r.stdout).not.toContain("secret123")
      expect(r.stdout).not.toContain("other-pass-456")
    }
    // list-peers says that credentials are stored, without showing them.
    expect(lines(outputs[4]!.stdout)[1]).toMatch(/^p\s+https:\/\/h\.example\.com\/x\s+-\s+stored$/)
    expect(JSON.parse(outputs[5]!.stdout)[0]).toMatchObject({ name: "p", credentials: true })
    // The log records only that there are credentials.
    const events = JSON.parse(outputs[3]!.stdout) as Array<{ data: Record<string, unknown> }>
    expect(events[0]!.data).toEqual({ name: "p", endpoint: "https://h.example.com/x", hasCredentials: true })

    // No file of the town holds the password...
    for (const file of filesUnder(town.beadsDir)) {
      const bytes = fs.readFileSync(file)
      expect(bytes.includes("secret123"), file).toBe(false)
      expect(bytes.includes("other-pass-456"), file).toBe(false)
    }
    // ...nor any file anywhere in the sandbox, in clear.
    for (const file of filesUnder(sb.root)) expect(fs.readFileSync(file).includes("secret123"), file).toBe(false)
    // The credentials live under $XDG_CONFIG_HOME/bd/towns/<townId>/, every file mode 0600.
    const secrets = path.join(sb.xdg, "bd", "towns", town.townId)
    const files = filesUnder(secrets)
    expect(files.length).toBeGreaterThan(0)
    for (const file of files) expect((fs.statSync(file).mode & 0o777).toString(8), file).toBe("600")
    expect(fs.statSync(secrets).mode & 0o077).toBe(0)
    expect(fs.readdirSync(sb.home)).toEqual([])

    // Removing the peer removes its credentials, not the other peer's.
    const store = files.find((f) => path.basename(f) === "credentials.json")!
    expect(fs.readFileSync(store, "utf8")).toContain("\"p\"")
    await sb.ok(["federation", "remove-peer", "p"])
    const after = fs.readFileSync(store, "utf8")
    expect(after).not.toContain("\"p\"")
    expect(after).toContain("\"q\"")
  })

  it("without XDG_CONFIG_HOME they go under $HOME/.config/bd/towns/<townId>/", async () => {
    const sb = new Sandbox("creds-home")
    const town = await sb.town({ mode: "dolt-native" })
    await sb.ok(["federation", "add-peer", "p", "ssh://h.example.com/x", "--user", "u", "--password", "secret123"], { env: { XDG_CONFIG_HOME: undefined } })
    const secrets = path.join(sb.home, ".config", "bd", "towns", town.townId)
    const files = filesUnder(secrets)
    expect(files.length).toBeGreaterThan(0)
    for (const file of files) {
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      expect(fs.readFileSync(file).includes("secret123")).toBe(false)
    }
  })

  it("a relative XDG_CONFIG_HOME is ignored (as the XDG spec and the config layer do): nothing lands in the working tree", async () => {
    const sb = new Sandbox("creds-relxdg")
    const town = await sb.town({ mode: "dolt-native" })
    const env = { XDG_CONFIG_HOME: "relative-xdg" }
    await sb.ok(["federation", "add-peer", "p", "https://h.example.com/x", "--user", "u", "--password", "secret123"], { env })
    // Neither the sealed credentials nor their key may end up inside the project, where they could be committed.
    expect(fs.existsSync(sb.path("relative-xdg"))).toBe(false)
    expect(filesUnder(path.join(sb.home, ".config", "bd", "towns", town.townId)).length).toBeGreaterThan(0)
  })

  it("--user without --password and no terminal exits 15 and appends nothing", async () => {
    const sb = new Sandbox("creds-nopass")
    const town = await sb.town({ mode: "dolt-native" })
    await sb.ok(["federation", "add-peer", "first", "dolthub://myorg/first"])
    const before = logBytes(town)
    const error = await expectFails(sb, ["federation", "add-peer", "p", "https://h.example.com/x", "--user", "u"], {
      exit: Exit.credentials,
      code: "CredentialsError",
      message: "--user needs --password when standard input is not a terminal"
    }, { input: "typed-password\n" })
    expect(error.hint).toContain("--password")
    // --password without --user is refused as well.
    await expectFailsOnce(sb, ["federation", "add-peer", "p", "https://h.example.com/x", "--password", "pw"], {
      exit: Exit.credentials,
      code: "CredentialsError",
      message: "--password needs --user"
    })
    expect(logBytes(town)).toEqual(before)
    expect(credentialFiles(sb)).toEqual([])
    expect((await sb.json(["federation", "list-peers"])).map((p: { name: string }) => p.name)).toEqual(["first"])
  })

  it.skipIf(!HAS_SCRIPT)("on a terminal the password is prompted for, masked; Ctrl-C gives up with exit 15", async () => {
    const sb = new Sandbox("creds-tty")
    const town = await sb.town({ mode: "dolt-native" })
    const entered = await onTerminal(sb, ["federation", "add-peer", "p", "https://h.example.com/x", "--user", "u"], "typed-secret-77\r")
    expect(entered.code, entered.output).toBe(0)
    expect(entered.output).toContain("Password for peer p")
    expect(entered.output).toContain("Added peer p (https://h.example.com/x)")
    expect(entered.output).not.toContain("typed-secret-77")
    expect((await sb.json(["federation", "list-peers"]))[0]).toMatchObject({ name: "p", credentials: true })
    for (const file of filesUnder(sb.root)) expect(fs.readFileSync(file).includes("typed-secret-77"), file).toBe(false)

    const before = logBytes(town)
    const interrupted = await onTerminal(sb, ["federation", "add-peer", "q", "https://h.example.com/y", "--user", "u"], "\u0003")
    expect(interrupted.code, interrupted.output).toBe(Exit.credentials)
    expect(interrupted.output).toContain("Error: credentials: no password was entered")
    expect(interrupted.output).not.toMatch(/^\s+at /m)
    expect(logBytes(town)).toEqual(before)
  })

  it("a refused add leaves no credentials behind", async () => {
    const sb = new Sandbox("creds-refused")
    await sb.town({ mode: "dolt-native" })
    await sb.ok(["federation", "add-peer", "p", "https://h.example.com/x"])
    await expectFailsOnce(sb, ["federation", "add-peer", "p", "https://h.example.com/x", "--user", "u", "--password", "secret123"], {
      exit: Exit.alreadyExists,
      code: "PeerAlreadyExists"
    })
    await expectFailsOnce(sb, ["federation", "add-peer", "Main", "https://h.example.com/x", "--user", "u", "--password", "secret123"], {
      exit: Exit.invalidInput,
      code: "InvalidPeerName"
    })
    expect(credentialFiles(sb)).toEqual([])
  })
})
