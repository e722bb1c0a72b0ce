// The demo: a scripted session with the real, built `bd`, in temporary
// directories. Two towns federate through a file:// endpoint: peers,
// work items, sync, a conflict and its resolution, status, and the audit
// commands. Every command is shown as typed, with its output and exit code.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const bdBin = path.join(root, "bin", "bd.cjs")
const work = fs.mkdtempSync(path.join(os.tmpdir(), "bd-demo-"))
const home = path.join(work, "home")
fs.mkdirSync(home)

const env = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.startsWith("BD_") && !key.startsWith("BEADS_"))
)
// The demo's own bd daemon (it serves the read commands), stopped at the end.
const daemonDir = path.join(work, "daemon")
fs.mkdirSync(daemonDir, { mode: 0o700 })
Object.assign(env, { HOME: home, XDG_CONFIG_HOME: path.join(home, ".config"), GIT_CONFIG_NOSYSTEM: "1", BD_DAEMON_DIR: daemonDir })

const bold = (text) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text)
const section = (title) => console.log(`\n${bold(`== ${title} ==`)}`)

/** Run bd in a town directory, print the exchange, return the result. */
const bd = (town, args, { quiet = false, expectFailure = false } = {}) => {
  const cwd = path.join(work, town)
  const result = spawnSync(process.execPath, [bdBin, ...args], { cwd, env: { ...env, BD_ACTOR: town === "beta" ? "bob" : "alice" }, encoding: "utf8" })
  if (!quiet) {
    const shown = args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" ").replaceAll(work, "$DEMO")
    console.log(bold(`${town}$ bd ${shown}`))
    const out = `${result.stdout}${result.stderr}`.trimEnd()
    if (out !== "") console.log(out.replace(new RegExp(work, "g"), "$DEMO"))
    if (result.status !== 0) console.log(`(exit ${result.status})`)
  }
  if (result.status !== 0 && !expectFailure && !quiet) {
    if (![13].includes(result.status)) throw new Error(`unexpected failure of: bd ${args.join(" ")}`)
  }
  return result
}

const hub = `file://${path.join(work, "hub.git")}`

try {
  section("A town, and federation switched on")
  fs.mkdirSync(path.join(work, "alpha"))
  bd("alpha", ["init", "--town", "alpha", "--prefix", "al"])
  bd("alpha", ["federation", "list-peers"], { expectFailure: true })
  bd("alpha", ["config", "set", "sync.mode", "dolt-native"])

  section("Peers, as in the federation guide")
  bd("alpha", ["federation", "add-peer", "staging", "dolthub://myorg/staging-beads"])
  bd("alpha", ["--json", "federation", "add-peer", "backup", "gs://mybucket/beads-backup"])
  bd("alpha", ["federation", "add-peer", "partner-town", "dolthub://partner-org/beads", "--sovereignty", "t2"])
  bd("alpha", ["federation", "add-peer", "staging", "s3://mybucket/beads-backup"], { expectFailure: true })
  bd("alpha", ["federation", "add-peer", "origin", "http://example.com/beads"], { expectFailure: true })
  bd("alpha", ["federation", "add-peer", "local", "ftp://example.com/beads"], { expectFailure: true })
  bd("alpha", ["federation", "list-peers"])
  const listed = bd("alpha", ["config", "list"], { quiet: true })
  console.log(bold("alpha$ bd config list | grep federation.peers"))
  console.log(listed.stdout.split("\n").filter((line) => line.includes("federation.peers")).join("\n"))
  bd("alpha", ["federation", "remove-peer", "staging"])
  bd("alpha", ["federation", "remove-peer", "partner-town"])
  bd("alpha", ["federation", "remove-peer", "backup"])
  bd("alpha", ["config", "list"])

  section("Work items")
  const created = JSON.parse(bd("alpha", ["--json", "create", "Ship the federation demo", "-p", "1", "-t", "feature", "--labels", "demo"]).stdout)
  bd("alpha", ["create", "Write the release notes", "-d", "What changed, for whom"])
  bd("alpha", ["update", created.id, "--status", "in_progress", "--assignee", "alice"])
  bd("alpha", ["list"])
  bd("alpha", ["export", "-o", "-"])

  section("A second town, and a shared file:// endpoint")
  fs.mkdirSync(path.join(work, "beta"))
  bd("beta", ["init", "--town", "beta", "--prefix", "be"])
  bd("beta", ["config", "set", "sync.mode", "dolt-native"], { quiet: true })
  bd("alpha", ["federation", "add-peer", "hub", hub])
  bd("beta", ["federation", "add-peer", "hub", hub])
  bd("alpha", ["federation", "push"])
  bd("beta", ["federation", "sync"])
  bd("beta", ["create", "Review the demo", "-t", "task"])
  bd("beta", ["federation", "sync"])
  bd("alpha", ["federation", "sync"])
  bd("alpha", ["list"])

  section("Both towns edit the same field offline: a conflict")
  bd("alpha", ["update", created.id, "--title", "Ship the federation demo on Friday"])
  bd("beta", ["update", created.id, "--title", "Ship the federation demo on Monday"])
  bd("beta", ["federation", "sync"])
  bd("alpha", ["federation", "sync"])
  bd("alpha", ["federation", "conflicts"])
  bd("alpha", ["show", created.id])
  bd("alpha", ["federation", "resolve", `${created.id}/title`, "--theirs"])
  bd("alpha", ["federation", "sync"])
  bd("beta", ["federation", "sync"])
  bd("beta", ["show", created.id])
  bd("alpha", ["federation", "status"])

  section("Both towns hold the same work items, byte for byte")
  const a = bd("alpha", ["export", "-o", "-"], { quiet: true }).stdout
  const b = bd("beta", ["export", "-o", "-"], { quiet: true }).stdout
  console.log(a === b ? `identical exports (${a.split("\n").length} lines)` : "EXPORTS DIFFER")
  if (a !== b) process.exitCode = 1

  section("Auditing the log")
  bd("alpha", ["federation", "log", "-n", "6"])
  bd("alpha", ["federation", "log", "--type", "ConflictResolved", "--json"])
  bd("alpha", ["federation", "replay", "--until", "3"])
  bd("alpha", ["federation", "verify"])
  bd("alpha", ["--readonly", "create", "Not allowed"], { expectFailure: true })

  section("The daemon that ran the read commands")
  const daemon = JSON.parse(bd("alpha", ["--json", "daemon", "status"], { quiet: true }).stdout)
  console.log(daemon.running ? `bd daemon: ${daemon.served} commands served` : "bd daemon: not running")
  bd("alpha", ["daemon", "stop"])
} finally {
  spawnSync(process.execPath, [bdBin, "daemon", "stop"], { cwd: work, env, stdio: "ignore" })
  fs.rmSync(work, { recursive: true, force: true })
}
