/**
 * Helpers for the trust and sovereignty tests, on top of the federation
 * support (towns with their own HOME and XDG_CONFIG_HOME, real bd processes,
 * real git endpoints): a town's keys as bd keeps them, batches rewritten and
 * re-signed in a bare repository, and the raw content of an endpoint.
 */
import { execFileSync } from "node:child_process"
import { createHmac, createPrivateKey, createPublicKey, type KeyObject, sign } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { canonicalJson } from "../../src/events/Canonical.js"
import { git, sha256, type Town } from "../federation/support.js"

/** The town's secret directory: `$XDG_CONFIG_HOME/bd/towns/<townId>/`. */
export const secretsDir = (town: Town): string => path.join(town.xdg, "bd", "towns", town.townId)

/** The town's Ed25519 private key, read from its `town.key` (PEM, PKCS#8). */
export const privateKeyOf = (town: Town): KeyObject => createPrivateKey(fs.readFileSync(path.join(secretsDir(town), "town.key")))

/** Base64 of the DER (SPKI) public key of a private key, as bd prints keys. */
export const publicKeyText = (key: KeyObject): string =>
  createPublicKey(key).export({ type: "spki", format: "der" }).toString("base64")

/** The public key in the town's `.beads/town.json`. */
export const publicKeyOf = (town: Town): string =>
  (JSON.parse(fs.readFileSync(path.join(town.beadsDir, "town.json"), "utf8")) as { publicKey: string }).publicKey

/** The pseudonym bd publishes at T3 for `value`: `p-` + 16 hex digits of HMAC-SHA-256 under the town's pseudonym key. */
export const pseudonymOf = (town: Town, value: string): string =>
  `p-${createHmac("sha256", fs.readFileSync(path.join(secretsDir(town), "pseudonym.key"))).update(value, "utf8").digest("hex").slice(0, 16)}`

/** Make the town lose its key pair, so that bd makes a new one on the next publish (a key change). */
export const dropTownKeys = (town: Town): void => {
  fs.rmSync(path.join(secretsDir(town), "town.key"))
  fs.rmSync(path.join(secretsDir(town), "pseudonym.key"))
  const file = path.join(town.beadsDir, "town.json")
  const json = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>
  delete json["publicKey"]
  fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`)
}

/** `signature.json` as bd writes it: `key`'s Ed25519 signature of the canonical form of `metaText`. */
export const signatureFile = (metaText: string, key: KeyObject): string => {
  const sig = sign(null, Buffer.from(canonicalJson(JSON.parse(metaText)), "utf8"), key).toString("base64")
  return `${JSON.stringify({ alg: "ed25519", key: publicKeyText(key), sig }, null, 2)}\n`
}

export interface BatchFiles {
  readonly events: string
  readonly meta: string
  readonly signature: string
}

/** The three files of a batch commit. */
export const readBatch = (repo: string, commit: string): BatchFiles => ({
  events: `${git(repo, ["cat-file", "blob", `${commit}:events.jsonl`])}\n`,
  meta: `${git(repo, ["cat-file", "blob", `${commit}:meta.json`])}\n`,
  signature: `${git(repo, ["cat-file", "blob", `${commit}:signature.json`])}\n`
})

/**
 * Write a new batch commit in a bare repository from `commit`'s files as
 * `edit` returns them, with `commit`'s parent. Returns the new commit's sha.
 */
export const rewriteBatch = (repo: string, commit: string, edit: (files: BatchFiles) => BatchFiles): string => {
  const files = edit(readBatch(repo, commit))
  const blob = (text: string) => git(repo, ["hash-object", "-w", "--stdin"], text)
  const tree = git(
    repo,
    ["mktree"],
    `100644 blob ${blob(files.events)}\tevents.jsonl\n100644 blob ${blob(files.meta)}\tmeta.json\n100644 blob ${blob(files.signature)}\tsignature.json\n`
  )
  const parents = git(repo, ["rev-list", "--parents", "-n", "1", commit]).split(" ").slice(1)
  return git(repo, ["commit-tree", tree, ...parents.flatMap((p) => ["-p", p]), "-m", "forged batch"])
}

/** Parse events.jsonl. */
export const eventsOf = (text: string): Array<Record<string, any>> =>
  text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, any>)

/** events.jsonl from events, as bd writes it (canonical JSON, one a line). */
export const eventsText = (events: ReadonlyArray<unknown>): string => events.map((e) => canonicalJson(e)).join("\n") + "\n"

/** A meta.json whose events hash matches `events` (everything else kept). */
export const metaFor = (metaText: string, events: string): string =>
  `${JSON.stringify({ ...JSON.parse(metaText), eventsHash: sha256(events) }, null, 2)}\n`

/** Edit the events of a batch; the meta's hash follows them, and the batch is signed with `key`. */
export const resigned = (edit: (events: Array<Record<string, any>>) => void, key: KeyObject) => (files: BatchFiles): BatchFiles => {
  const events = eventsOf(files.events)
  edit(events)
  const text = eventsText(events)
  const meta = metaFor(files.meta, text)
  return { events: text, meta, signature: signatureFile(meta, key) }
}

/** Raw git (for bulk reads: a large buffer, no trimming), isolated from any user configuration. */
const rawGit = (repo: string, args: ReadonlyArray<string>, input?: string): Buffer =>
  execFileSync("git", args, {
    cwd: repo,
    maxBuffer: 256 * 1024 * 1024,
    ...(input === undefined ? {} : { input }),
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: os.tmpdir(), GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
    stdio: ["pipe", "pipe", "pipe"]
  })

/** Every object of a repository, as `git cat-file --batch-all-objects --batch` prints them (loose and packed). */
export const allObjects = (repo: string): string =>
  rawGit(repo, ["cat-file", "--batch-all-objects", "--batch"]).toString("latin1")

/** The commits of every `refs/beads/towns/*` branch (all of history), oldest first per branch. */
export const branchCommits = (repo: string): Map<string, Array<string>> => {
  const out = new Map<string, Array<string>>()
  const refs = git(repo, ["for-each-ref", "--format=%(refname)", "refs/beads/towns/"]).split("\n").filter((l) => l !== "")
  for (const ref of refs) {
    out.set(ref.slice("refs/beads/towns/".length), git(repo, ["rev-list", "--reverse", ref]).split("\n").filter((l) => l !== ""))
  }
  return out
}

/** Text of every blob in every commit of `refs/beads/towns/*`, by "<commit>:<file>". */
export const branchBlobs = (repo: string): Map<string, string> => {
  const out = new Map<string, string>()
  for (const commits of branchCommits(repo).values()) {
    for (const commit of commits) {
      for (const line of git(repo, ["ls-tree", "-r", commit]).split("\n").filter((l) => l !== "")) {
        const [info, name] = line.split("\t") as [string, string]
        const sha = info.split(" ")[2]!
        out.set(`${commit}:${name}`, rawGit(repo, ["cat-file", "blob", sha]).toString("utf8"))
      }
    }
  }
  return out
}

/** The events of every batch on a town's branch, batch by batch, with the batch's meta. */
export const branchBatches = (repo: string, town: string): Array<{ commit: string; meta: Record<string, any>; events: Array<Record<string, any>> }> =>
  (branchCommits(repo).get(town) ?? []).map((commit) => {
    const files = readBatch(repo, commit)
    return { commit, meta: JSON.parse(files.meta) as Record<string, any>, events: eventsOf(files.events) }
  })

/** Every string inside a JSON value, with the path that leads to it. */
export const stringsIn = (value: unknown, at = "$"): Array<{ path: string; value: string }> => {
  if (typeof value === "string") return [{ path: at, value }]
  if (Array.isArray(value)) return value.flatMap((item, i) => stringsIn(item, `${at}[${i}]`))
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => stringsIn(item, `${at}.${key}`))
  }
  return []
}

/** Whether a repository directory holds any ref under refs/beads/ (false when it does not exist). */
export const beadsRefs = (repo: string): Array<string> =>
  fs.existsSync(repo) ? git(repo, ["for-each-ref", "--format=%(refname)", "refs/beads/"]).split("\n").filter((l) => l !== "") : []
