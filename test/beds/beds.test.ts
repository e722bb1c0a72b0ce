/**
 * Proves the git transport beds work with the plain system `git`: push a commit
 * over ssh://, the scp form and https://, read it back, and check the failure
 * modes (wrong password, stopped server).
 */
import { execFile } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startHttpsBed, type HttpsBed } from "./gitHttps.js"
import { startSshBed, type SshBed } from "./sshd.js"

const run = promisify(execFile)

let work: string
let ssh: SshBed
let https: HttpsBed
let head: string

/** git isolated from the user's and system's config; credentials only via GIT_ASKPASS + env vars. */
const gitEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: process.env["PATH"],
  HOME: work,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_TERMINAL_PROMPT: "0",
  GIT_ASKPASS: join(work, "askpass.sh"),
  GIT_AUTHOR_NAME: "Beds",
  GIT_AUTHOR_EMAIL: "beds@example.invalid",
  GIT_COMMITTER_NAME: "Beds",
  GIT_COMMITTER_EMAIL: "beds@example.invalid",
  ...extra
})

const git = async (cwd: string, args: string[], extra: Record<string, string> = {}) =>
  (await run("git", args, { cwd, env: gitEnv(extra), timeout: 30_000 })).stdout.trim()

/** Run git expecting failure; returns its stderr. */
const gitFails = async (cwd: string, args: string[], extra: Record<string, string> = {}) => {
  try {
    await git(cwd, args, extra)
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? e)
  }
  throw new Error(`git ${args.join(" ")} unexpectedly succeeded`)
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("error", () => resolve(false))
  })

/** Command lines of running processes that contain `text` (zombies have none). */
const processesMentioning = (text: string) =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ")
      } catch {
        return ""
      }
    })
    .filter((cmd) => cmd.includes(text))

/** Clone `url` into a fresh directory and return the commit its `main` points at. */
const cloneHead = async (url: string, extra: Record<string, string>) => {
  const target = await mkdtemp(join(work, "clone-"))
  await git(work, ["clone", "--quiet", url, target], extra)
  return git(target, ["rev-parse", "HEAD"])
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "beds-test-"))
  // Answers git's "Username for ..." / "Password for ..." prompts from the environment.
  await writeFile(
    join(work, "askpass.sh"),
    '#!/bin/sh\ncase "$1" in\n  Username*) printf "%s\\n" "$BEDS_GIT_USER" ;;\n  *) printf "%s\\n" "$BEDS_GIT_PASSWORD" ;;\nesac\n'
  )
  await chmod(join(work, "askpass.sh"), 0o755)
  ;[ssh, https] = await Promise.all([startSshBed(), startHttpsBed({ user: "alice", password: "s3cret pass" })])
  const repo = join(work, "src")
  await git(work, ["init", "--quiet", "--initial-branch=main", repo])
  await writeFile(join(repo, "hello.txt"), "hello beds\n")
  await git(repo, ["add", "hello.txt"])
  await git(repo, ["commit", "--quiet", "-m", "first"])
  head = await git(repo, ["rev-parse", "HEAD"])
})

afterAll(async () => {
  await Promise.all([ssh?.stop(), https?.stop()])
  if (work !== undefined) await rm(work, { recursive: true, force: true })
})

describe("ssh bed", () => {
  it("push and clone over ssh://", async () => {
    const bare = await ssh.makeBareRepo("a/ssh-url.git")
    await git(join(work, "src"), ["push", "--quiet", ssh.sshUrl(bare), "main"], ssh.env)
    expect(await git(bare, ["rev-parse", "main"])).toBe(head)
    expect(await cloneHead(ssh.sshUrl(bare), ssh.env)).toBe(head)
  })

  it("push and fetch over the scp form user@alias:/path", async () => {
    const bare = await ssh.makeBareRepo("b/scp.git")
    const url = ssh.scpUrl(bare)
    expect(url).toMatch(/^[^@/]+@beds-sshd:\//)
    await git(join(work, "src"), ["push", "--quiet", url, "main"], ssh.env)
    const other = join(work, "scp-fetch")
    await git(work, ["init", "--quiet", other])
    await git(other, ["fetch", "--quiet", url, "main"], ssh.env)
    expect(await git(other, ["rev-parse", "FETCH_HEAD"])).toBe(head)
  })

  it("a stopped bed refuses connections and leaves nothing behind", async () => {
    const bed = await startSshBed()
    const bare = await bed.makeBareRepo("gone.git")
    expect(await git(work, ["ls-remote", bed.sshUrl(bare)], bed.env)).toBe("")
    await bed.stop()
    expect(existsSync(bed.dir)).toBe(false)
    expect(processesMentioning(bed.dir)).toEqual([])
    expect(await portOpen(bed.port)).toBe(false)
    // bed.env's ssh_config went away with the bed, so reach the old port with plain options.
    const stderr = await gitFails(work, ["ls-remote", bed.sshUrl(bare)], {
      GIT_SSH_COMMAND: "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    })
    expect(stderr).toMatch(/Connection refused/i)
  })
})

describe("https bed", () => {
  const creds = () => ({ ...https.env, BEDS_GIT_USER: https.user, BEDS_GIT_PASSWORD: https.password })

  it("push and clone over https:// with basic auth from GIT_ASKPASS", async () => {
    await https.makeBareRepo("team/repo.git")
    const url = https.url("team/repo.git")
    expect(url).not.toContain(https.password)
    const before = https.requests
    await git(join(work, "src"), ["push", "--quiet", url, "main"], creds())
    expect(await cloneHead(url, creds())).toBe(head)
    expect(https.requests).toBeGreaterThan(before)
    expect(https.authFailures).toBe(0)
  })

  it("a wrong password fails with an authentication error", async () => {
    await https.makeBareRepo("team/locked.git")
    const before = https.authFailures
    const stderr = await gitFails(work, ["ls-remote", https.url("team/locked.git")], {
      ...creds(),
      BEDS_GIT_PASSWORD: "wrong"
    })
    expect(stderr).toMatch(/Authentication failed|401/)
    expect(https.authFailures).toBeGreaterThan(before)
  })

  it("a stopped bed refuses connections", async () => {
    const bed = await startHttpsBed({ user: "bob", password: "pw" })
    await bed.makeBareRepo("r.git")
    const env = { ...bed.env, BEDS_GIT_USER: "bob", BEDS_GIT_PASSWORD: "pw" }
    expect(await git(work, ["ls-remote", bed.url("r.git")], env)).toBe("")
    await bed.stop()
    expect(await portOpen(bed.port)).toBe(false)
    const stderr = await gitFails(work, ["ls-remote", bed.url("r.git")], env)
    expect(stderr).toMatch(/Failed to connect|Connection refused|Couldn't connect/i)
  })
})
