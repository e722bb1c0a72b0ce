/**
 * Federation over real network transports: an OpenSSH server (ssh:// and
 * the scp form) and git smart HTTP behind HTTPS with basic auth. The
 * password must never show in any process's argv, any output, or `.beads/`.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type HttpsBed, startHttpsBed } from "../beds/gitHttps.js"
import { type SshBed, startSshBed } from "../beds/sshd.js"
import { EXIT, ensureBuilt, filesUnder, parseJsonl, processesMentioning, show, sleep, townRefs, World } from "./support.js"

let world: World
let ssh: SshBed
let https: HttpsBed
const USER = "fed-user"
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`

beforeAll(async () => {
  await ensureBuilt()
  world = new World("transports")
  ;[ssh, https] = await Promise.all([startSshBed(), startHttpsBed({ user: USER, password: PASSWORD })])
}, 300_000)

afterAll(async () => {
  await Promise.all([ssh?.stop(), https?.stop()])
  world?.cleanup()
})

describe.concurrent("network transports", () => {
  it("ssh://user@127.0.0.1:PORT/path and the scp form user@host:/path: two towns converge through a real sshd", async () => {
    const viaUrl = await ssh.makeBareRepo("fed/hub.git")
    const viaScp = await ssh.makeBareRepo("fed/scp.git")
    const [a, b] = await world.makeTowns([
      { name: "sshA", prefix: "sa", peers: [{ name: "ssh", endpoint: ssh.sshUrl(viaUrl) }], env: ssh.env },
      { name: "sshB", prefix: "sb", peers: [{ name: "ssh", endpoint: ssh.sshUrl(viaUrl) }], env: ssh.env }
    ])
    const first = await Promise.all([a.create("over ssh from A"), b.create("over ssh from B")])
    await world.syncUntilQuiet([a, b], { peer: "ssh" })
    let text = await world.expectSameExports([a, b])
    expect(parseJsonl(text).map((i) => i["id"])).toEqual([...first].sort())
    expect([...townRefs(viaUrl).keys()].sort()).toEqual([a.townId, b.townId].sort())

    // The scp form, as a second peer; new items travel through it alone.
    expect(ssh.scpUrl(viaScp)).toMatch(/^[^@/]+@beds-sshd:\//)
    for (const town of [a, b]) await town.addPeer({ name: "scp", endpoint: ssh.scpUrl(viaScp) })
    const second = await Promise.all([a.create("over scp from A"), b.create("over scp from B")])
    await world.syncUntilQuiet([a, b], { peer: "scp" })
    text = await world.expectSameExports([a, b])
    expect(parseJsonl(text).map((i) => i["id"])).toEqual([...first, ...second].sort())
    expect([...townRefs(viaScp).keys()].sort()).toEqual([a.townId, b.townId].sort())
    await world.expectSameSharedEvents([a, b])
  }, 150_000)

  it("https:// with basic auth: push and pull work; the password is in no argv while syncing, in no output, in no file under .beads/", async () => {
    const repo = await https.makeBareRepo("fed.git")
    const url = https.url("fed.git")
    const peers = [{ name: "web", endpoint: url, user: USER, password: PASSWORD }]
    const [a, b] = await world.makeTowns([
      { name: "webA", prefix: "wa", peers, env: https.env },
      { name: "webB", prefix: "wb", peers, env: https.env }
    ])
    const ids = await Promise.all([a.create("over https from A"), b.create("over https from B")])

    // From here on, poll every process's command line while the towns push, pull and sync.
    const leaks = new Set<string>()
    const networkGit: Set<string> = new Set()
    let polls = 0
    let polling = true
    const poller = (async () => {
      while (polling) {
        for (const hit of processesMentioning(PASSWORD)) leaks.add(hit)
        for (const hit of processesMentioning(`127.0.0.1:${https.port}`)) networkGit.add(hit)
        polls++
        await sleep(3)
      }
    })()
    try {
      const pushed = await a.json(["federation", "push"])
      expect(pushed.peers[0]).toMatchObject({ ok: true, published: 1 })
      const pulled = await b.json(["federation", "pull"])
      expect(pulled.peers[0]).toMatchObject({ ok: true, events: 1 })
      await world.syncUntilQuiet([a, b])
    } finally {
      polling = false
      await poller
    }
    expect([...leaks], "the password in a process's argv").toEqual([])
    expect(polls).toBeGreaterThan(100)
    // The poller did see the git processes that talked to the server.
    expect(networkGit.size, "no git process was caught talking to the server").toBeGreaterThan(0)

    expect(parseJsonl(await world.expectSameExports([a, b])).map((i) => i["id"])).toEqual([...ids].sort())
    expect([...townRefs(repo).keys()].sort()).toEqual([a.townId, b.townId].sort())

    // No output carries it, add-peer's included (which got it on its command line, as the user typed it).
    for (const r of await Promise.all(world.outputs)) expect(r.stdout + r.stderr, show(r)).not.toContain(PASSWORD)
    // Not under .beads/ (shadow repository included), and not in plain text anywhere in the towns' homes either.
    for (const town of [a, b]) {
      for (const file of [...filesUnder(town.beadsDir), ...filesUnder(town.home), ...filesUnder(town.xdg)]) {
        expect(fs.readFileSync(file).includes(PASSWORD), file).toBe(false)
      }
    }
  }, 150_000)

  it("https:// with a wrong password: exit 11 with an authentication message", async () => {
    await https.makeBareRepo("locked.git")
    const wrong = `wrong-${randomBytes(6).toString("hex")}`
    const town = await world.town("webWrong", {
      prefix: "ww",
      peers: [{ name: "web", endpoint: https.url("locked.git"), user: USER, password: wrong }],
      env: https.env
    })
    await town.create("stays home")
    const failures = https.authFailures
    for (const op of ["pull", "push"]) {
      const r = await town.run(["federation", op])
      expect(r.code, show(r)).toBe(EXIT.unreachable)
      expect(r.stdout, show(r)).toMatch(/^web: error: peer web \(https:\/\/127\.0\.0\.1:\d+\/locked\.git\) is unreachable: .*auth/im)
      expect(r.stdout + r.stderr).not.toContain(wrong)
      const json = await town.run(["--json", "federation", op])
      expect(json.code, show(json)).toBe(EXIT.unreachable)
      expect(JSON.parse(json.stdout.split("\n")[0]!).error).toMatchObject({ code: "RemoteUnreachable", message: expect.stringMatching(/auth/i) })
    }
    expect(https.authFailures).toBeGreaterThan(failures)
  }, 150_000)
})
