/**
 * Which requests the bd daemon (src/cli/Daemon.ts) runs, and which it
 * answers `{local: true}` to, so that the client runs them itself: every
 * request whose meaning could differ in the daemon's process. Plain
 * TypeScript over node:fs and node:path.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { RunRequest } from "./DaemonClient.js"
import { splitGlobalFlags } from "./GlobalFlags.js"

/** The command lines the daemon runs that read the town and print, nothing else. */
const READS: ReadonlyArray<ReadonlyArray<string>> = [
  ["federation", "list-peers"],
  ["federation", "log"],
  ["federation", "conflicts"],
  ["list"],
  ["show"],
  ["config", "list"],
  ["config", "get"]
]

/** Interactive @effect/cli modes need the client's terminal. */
const INTERACTIVE = new Set(["--wizard", "--completions"])

/** Words @effect/cli takes as the value of a boolean option they follow (`--dry-run false FILE`). */
const BOOLEAN_WORDS = new Set(["true", "1", "y", "yes", "on", "false", "0", "n", "no", "off"])

/**
 * FILE of `import [--dry-run] FILE` (global flags split out already), or
 * undefined for any other shape of the line: another option, `--`, `-`,
 * a repeated flag, or a FILE that @effect/cli could take as --dry-run's value.
 */
export const importedFile = (rest: ReadonlyArray<string>): string | undefined => {
  if (rest[0] !== "import") return undefined
  const args = rest.slice(1)
  const files = args.filter((arg) => arg !== "--dry-run")
  if (files.length !== 1 || args.length > 2) return undefined
  const file = files[0]!
  if (file === "" || file.startsWith("-")) return undefined
  return args[0] === "--dry-run" && BOOLEAN_WORDS.has(file.toLowerCase()) ? undefined : file
}

/** Paths under these name something of the process that opens them: its own descriptors (/dev/stdin, /dev/fd/N, /proc/self/fd/N). */
const PER_PROCESS = ["/dev", "/proc"]

const perProcess = (at: string): boolean => PER_PROCESS.some((dir) => at === dir || at.startsWith(`${dir}/`))

/**
 * Whether `file`, as a client in the directory `cwd` names it, is a
 * regular file that the daemon opens as the client would. Each symbolic
 * link on the way is followed here, as the kernel follows it, so that no
 * path through /dev or /proc is taken (a FIFO, /dev/stdin, a process
 * substitution's /dev/fd/63: the daemon cannot see the client's
 * descriptors). A missing file is not one either: the client reports it.
 */
export const regularFileAt = (cwd: string, file: string): boolean => {
  if (!path.isAbsolute(cwd)) return false
  const pending = (path.isAbsolute(file) ? file : `${cwd}/${file}`).split("/")
  let at = "/"
  let links = 0
  while (pending.length > 0) {
    const part = pending.shift()!
    if (part === "" || part === ".") continue
    if (part === "..") {
      at = path.dirname(at)
      continue
    }
    const next = path.join(at, part)
    if (perProcess(next)) return false
    let stat: fs.Stats
    try {
      stat = fs.lstatSync(next)
      if (stat.isSymbolicLink()) {
        if (++links > 40) return false
        const target = fs.readlinkSync(next)
        pending.unshift(...target.split("/"))
        if (path.isAbsolute(target)) at = "/"
        continue
      }
    } catch {
      return false
    }
    // Only a directory has a name after it (`file/.` is not a file).
    if (pending.length > 0 && !stat.isDirectory()) return false
    at = next
  }
  try {
    return fs.lstatSync(at).isFile()
  } catch {
    return false
  }
}

/** What of the daemon's own process a request must match to run there. */
export interface DaemonProcess {
  readonly tz: string
  readonly umask: number
}

/**
 * Whether the daemon runs `run`: a command that only reads, in the
 * client's time zone (times without an offset are local times); or `bd
 * import FILE [--dry-run]`, moreover with the client's umask (the files
 * it creates get the modes they would get in the client; an older client
 * sends none) and a FILE that the daemon reads as the client would.
 */
export const servedByDaemon = (run: RunRequest, daemon: DaemonProcess): boolean => {
  const { rest } = splitGlobalFlags(run.argv)
  if (rest.some((arg) => INTERACTIVE.has(arg.split("=")[0]!))) return false
  if ((run.env["TZ"] ?? "") !== daemon.tz) return false
  if (READS.some((command) => command.every((word, i) => rest[i] === word))) return true
  const file = importedFile(rest)
  return file !== undefined && run.umask === daemon.umask && regularFileAt(run.cwd, file)
}
