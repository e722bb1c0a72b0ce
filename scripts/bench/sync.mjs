// Federation sync, from the sync issue:
//
//   7a. Does an incremental sync stay flat as the synced history grows?
//       `bd federation sync hub` in town A right after `bd create` of one
//       issue, where A and B had synced 100,000 events before through a
//       file:// hub (subject), against the same with 1,000 events synced
//       before (baseline). The two town pairs are measured in alternation.
//
//   7b. The first full sync of 100,000 issues from town A to town B through
//       a file:// endpoint (subject: `bd federation push` in A + `bd
//       federation pull` in B), against the git-portable way of moving the
//       same data (baseline: `bd export` into a git work tree, `git add`,
//       `git commit`, `git push` to a bare repository at a file:// URL in A;
//       `git clone` of that URL and `bd import` in B). Every measurement gets
//       a fresh town pair, made (and filled by `bd import`) untimed.
//
// Towns are made with the real CLI; their history comes from `bd import` of
// generated beads JSONL (one IssueImported event per issue). Each town has a
// HOME and XDG_CONFIG_HOME of its own (its signing keys live there) and an
// environment without the caller's BD_* / BEADS_* variables. Everything
// lives under one directory in os.tmpdir(), removed at the end.
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { daemonEnvFor, freezeCli, run, stopDaemon } from "./processes.mjs"
import { timeFigure } from "./report.mjs"
import { alternate, collectGarbage, median, reps } from "./stats.mjs"
import { beadsJsonl } from "./workload.mjs"

const FULL = {
  incremental: { small: 1_000, big: 100_000, reps: reps(9, 5, 240) },
  // Up to 5 rounds (at least 3): a round of two fresh town pairs takes minutes.
  firstSync: { issues: 100_000, reps: reps(5, 3, 600) }
}

// BENCH_QUICK: sizes shrunk for a smoke run; the titles say so.
const QUICK = {
  incremental: { small: 1_000, big: 10_000, reps: reps(5, 3, 30) },
  firstSync: { issues: 10_000, reps: reps(3, 3, 90) }
}

const count = (n) => n.toLocaleString("en-US")

/**
 * The environment of every child, bounded as in processes.mjs: PATH and
 * TMPDIR from the caller, nothing else of it (so no BD_* / BEADS_* / GIT_*
 * variable steers bd or git from outside), a HOME and XDG_CONFIG_HOME of the
 * town's own, an actor (so bd never asks git who is acting), and a fixed
 * identity and no system configuration for git.
 */
const isolatedEnv = (home) => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  ...(process.env.TMPDIR === undefined ? {} : { TMPDIR: process.env.TMPDIR }),
  HOME: home,
  XDG_CONFIG_HOME: path.join(home, ".config"),
  BD_ACTOR: "bench",
  LANG: "C.UTF-8",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "bench",
  GIT_AUTHOR_EMAIL: "bench@example.invalid",
  GIT_COMMITTER_NAME: "bench",
  GIT_COMMITTER_EMAIL: "bench@example.invalid"
})

/** Wall milliseconds of one child run (the parent's garbage collected first). */
const timedRun = (file, args, options) => {
  collectGarbage()
  return run(file, args, options)
}

const fileUrl = (dir) => `file://${dir}`

/**
 * A fresh town `<dir>/<name>` with its own home `<dir>/<name>-home`. With
 * `hub`, federation is on (dolt-native) and the peer `hub` points there; the
 * hub itself is a bare repository the first push creates.
 */
const makeTown = (cli, dir, name, { hub } = {}) => {
  const townDir = path.join(dir, name)
  const home = path.join(dir, `${name}-home`)
  fs.mkdirSync(townDir, { recursive: true })
  fs.mkdirSync(path.join(home, ".config"), { recursive: true })
  const town = { name, dir: townDir, options: { cwd: townDir, env: { ...isolatedEnv(home), ...daemonEnvFor(cli) } } }
  town.bd = (args) => timedRun(process.execPath, [cli, ...args], town.options)
  town.bdJson = (args) => {
    const result = town.bd(["--json", ...args])
    return { ms: result.ms, json: JSON.parse(result.stdout) }
  }
  town.git = (args, cwd) => timedRun("git", args, { cwd, env: town.options.env })
  town.bd(["init", "--town", name])
  if (hub !== undefined) {
    town.bd(["config", "set", "sync.mode", "dolt-native"])
    town.bd(["federation", "add-peer", "hub", fileUrl(hub)])
  }
  return town
}

const importInto = (town, file, issues) => {
  const { ms, json } = town.bdJson(["import", file])
  if (json.created !== issues) throw new Error(`bd import in ${town.dir} created ${json.created} issues, expected ${issues}`)
  return ms
}

/** The one peer's report of a push / pull / sync --json, failing the run when it did not succeed. */
const peerReport = (json, what, town) => {
  const peer = json.peers?.[0]
  if (json.ok !== true || peer === undefined || peer.ok !== true) {
    throw new Error(`bd federation ${what} in ${town.dir} did not succeed: ${JSON.stringify(json).slice(0, 2000)}`)
  }
  return peer
}

/** A JSONL file of `issues` generated issues in `dir`, written once per size, and a note of its size. */
const jsonlFile = (dir, issues, notes) => {
  const file = path.join(dir, `issues-${issues}.jsonl`)
  if (!fs.existsSync(file)) fs.writeFileSync(file, beadsJsonl(issues))
  notes.push(`${count(issues)} issues = ${(fs.statSync(file).size / 2 ** 20).toFixed(1)} MiB of JSONL`)
  return file
}

// ---------------------------------------------------------------- 7a

/**
 * Towns A and B that synced `events` events through a file:// hub: A imports
 * that many issues and syncs (push), B syncs (pull, and pushes back what it
 * relays), A syncs again so that its next sync starts from a steady state.
 */
const syncedPair = (cli, root, file, events) => {
  const dir = path.join(root, `incremental-${events}`)
  const hub = path.join(dir, "hub.git")
  const a = makeTown(cli, dir, "alpha", { hub })
  const b = makeTown(cli, dir, "beta", { hub })
  importInto(a, file, events)
  const pushed = peerReport(a.bdJson(["federation", "sync", "hub"]).json, "sync", a)
  if (pushed.push?.published !== events) throw new Error(`A published ${pushed.push?.published} events, expected ${events}`)
  const pulled = peerReport(b.bdJson(["federation", "sync", "hub"]).json, "sync", b)
  if (pulled.pull?.events !== events) throw new Error(`B pulled ${pulled.pull?.events} events, expected ${events}`)
  peerReport(a.bdJson(["federation", "sync", "hub"]).json, "sync", a)
  let created = 0
  /** One measurement: a new issue in A (not timed), then A's sync (timed), which must publish that one event. */
  const measure = () => {
    a.bd(["create", `Incremental sync probe ${++created}`, "-p", "2"])
    const { ms, json } = a.bdJson(["federation", "sync", "hub"])
    const report = peerReport(json, "sync", a)
    if (report.pull?.events !== 0 || report.push?.published !== 1) {
      throw new Error(`A's sync should pull 0 and publish 1 event; it reported ${JSON.stringify(report)}`)
    }
    return ms
  }
  return { a, b, measure }
}

const incremental = async (cli, root, sizes, quick, progress) => {
  const { small, big } = sizes.incremental
  const notes = []
  const dataDir = path.join(root, "data")
  progress(`7a: preparing town pairs that synced ${count(small)} and ${count(big)} events`)
  const smallPair = syncedPair(cli, root, jsonlFile(dataDir, small, notes), small)
  const bigPair = syncedPair(cli, root, jsonlFile(dataDir, big, notes), big)
  // One unmeasured round each: the first sync after the setup still warms caches.
  smallPair.measure()
  bigPair.measure()
  progress(`7a: incremental sync, ${count(big)} vs ${count(small)} events before, up to ${sizes.incremental.reps.pairs} alternating pairs`)
  const runs = await alternate(sizes.incremental.reps, () => smallPair.measure(), () => bigPair.measure())
  return timeFigure({
    id: "7a",
    title: `incremental sync of 1 new event: ${count(big)} vs ${count(small)} events synced before${quick ? " (QUICK: sizes shrunk)" : ""}`,
    baselineLabel: `${count(small)} ev before`,
    subjectLabel: `${count(big)} ev before`,
    ...runs,
    target: 1.5,
    note: `bd federation sync hub in town A right after bd create; A and B synced the history through a file:// hub first; ${notes.join("; ")}`
  })
}

// ---------------------------------------------------------------- 7b

/** Subject: A pushes to a fresh file:// hub, B pulls from it. Returns the wall time of both. */
const firstSyncFederation = (cli, root, file, issues, round, parts) => {
  const dir = path.join(root, `first-federation-${round}`)
  const hub = path.join(dir, "hub.git")
  const a = makeTown(cli, dir, "alpha", { hub })
  const b = makeTown(cli, dir, "beta", { hub })
  importInto(a, file, issues)
  const push = a.bdJson(["federation", "push", "hub"])
  if (peerReport(push.json, "push", a).published !== issues) throw new Error(`A's push published ${push.json.peers[0].published} events, expected ${issues}`)
  const pull = b.bdJson(["federation", "pull", "hub"])
  if (peerReport(pull.json, "pull", b).events !== issues) throw new Error(`B's pull took ${pull.json.peers[0].events} events, expected ${issues}`)
  parts.push.push(push.ms)
  parts.pull.push(pull.ms)
  fs.rmSync(dir, { recursive: true, force: true })
  return push.ms + pull.ms
}

/**
 * Baseline: in A, `bd export` into a git work tree, `git add`, `git commit`,
 * `git push` to a fresh bare repository; in B, `git clone` and `bd import`.
 */
const firstSyncGit = (cli, root, file, issues, round, parts) => {
  const dir = path.join(root, `first-git-${round}`)
  const bare = path.join(dir, "shared.git")
  const a = makeTown(cli, dir, "alpha")
  const b = makeTown(cli, dir, "beta")
  importInto(a, file, issues)
  const workA = path.join(dir, "work-alpha")
  const workB = path.join(dir, "work-beta")
  a.git(["init", "--quiet", "--bare", "-b", "main", bare], dir)
  a.git(["init", "--quiet", "-b", "main", workA], dir)
  // file:// URLs, as for the hub: git moves packs, as it would to a server
  // (a plain path would let `git clone` hard-link the objects instead).
  a.git(["remote", "add", "origin", fileUrl(bare)], workA)
  const exported = path.join(workA, "issues.jsonl")
  const steps = {
    export: a.bdJson(["export", "-o", exported]),
    add: a.git(["add", "issues.jsonl"], workA),
    commit: a.git(["commit", "--quiet", "-m", "beads: export"], workA),
    push: a.git(["push", "--quiet", "origin", "main"], workA),
    clone: b.git(["clone", "--quiet", "--branch", "main", fileUrl(bare), workB], dir)
  }
  if (steps.export.json.issues !== issues) throw new Error(`bd export wrote ${steps.export.json.issues} issues, expected ${issues}`)
  const importMs = importInto(b, path.join(workB, "issues.jsonl"), issues)
  const exportSide = steps.export.ms + steps.add.ms + steps.commit.ms + steps.push.ms
  const importSide = steps.clone.ms + importMs
  parts.exportSide.push(exportSide)
  parts.importSide.push(importSide)
  parts.git.push(steps.add.ms + steps.commit.ms + steps.push.ms + steps.clone.ms)
  fs.rmSync(dir, { recursive: true, force: true })
  return exportSide + importSide
}

const firstSync = async (cli, root, sizes, quick, progress) => {
  const { issues } = sizes.firstSync
  const notes = []
  const file = jsonlFile(path.join(root, "data"), issues, notes)
  const parts = { push: [], pull: [], exportSide: [], importSide: [], git: [] }
  progress(`7b: first full sync of ${count(issues)} issues, federation vs git-portable, up to ${sizes.firstSync.reps.pairs} alternating pairs`)
  const runs = await alternate(
    sizes.firstSync.reps,
    (round) => {
      progress(`7b: round ${round + 1}: git-portable (export, git add/commit/push, git clone, import)`)
      return firstSyncGit(cli, root, file, issues, round, parts)
    },
    (round) => {
      progress(`7b: round ${round + 1}: bd federation push + pull`)
      return firstSyncFederation(cli, root, file, issues, round, parts)
    }
  )
  const ms = (values) => `${Math.round(median(values))} ms`
  // Each round's own ratio: on a machine whose load changes, it shows what the medians may hide.
  const perRound = runs.subject.map((subject, round) => (subject / runs.baseline[round]).toFixed(2))
  return timeFigure({
    id: "7b",
    title: `first full sync of ${count(issues)} issues, A to B through file://${quick ? " (QUICK: sizes shrunk)" : ""}`,
    baselineLabel: "git-portable",
    subjectLabel: "federation",
    ...runs,
    target: 1.0,
    note: `medians: federation push ${ms(parts.push)} + pull ${ms(parts.pull)}; ` +
      `git-portable export+add+commit+push ${ms(parts.exportSide)} + clone+import ${ms(parts.importSide)} ` +
      `(of which git ${ms(parts.git)}); ratio of each round ${perRound.join(", ")}; ${notes.join("; ")}`
  })
}

// ----------------------------------------------------------------

/**
 * The sync benchmarks. Returns their figures (see report.mjs); a crash of
 * either is thrown after the data directory is removed.
 */
export async function benchSync({ quick = false, progress = (message) => console.error(message) } = {}) {
  const sizes = quick ? QUICK : FULL
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "bd-bench-sync-"))
  const started = performance.now()
  const say = (message) => progress(`${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s ${message}`)
  try {
    fs.mkdirSync(path.join(root, "data"))
    const cli = freezeCli(root)
    say(`data under ${root} (removed at the end)${quick ? "; QUICK: sizes shrunk" : ""}`)
    const figures = []
    figures.push(await incremental(cli, root, sizes, quick, say))
    figures.push(await firstSync(cli, root, sizes, quick, say))
    return figures
  } finally {
    stopDaemon(root)
    fs.rmSync(root, { recursive: true, force: true })
  }
}
