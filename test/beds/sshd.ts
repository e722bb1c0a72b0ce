/**
 * A real OpenSSH server for tests: a throwaway `sshd -D` on 127.0.0.1 and a
 * free port, with its own host key, user key, authorized_keys and client
 * `ssh_config` in a temporary directory. The real ~/.ssh is never read or written.
 *
 * Git uses it through `env` (GIT_SSH_COMMAND="ssh -F <dir>/ssh_config") with
 * either `sshUrl(path)` (ssh://user@127.0.0.1:port/path) or `scpUrl(path)`
 * (user@beds-sshd:/path, the alias carrying the port). Install the server with
 * `scripts/ci-system-packages.sh`.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { connect, createServer } from "node:net"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

export interface SshBed {
  readonly host: "127.0.0.1"
  readonly port: number
  /** login user: the current user (the daemon runs as it, so only it can log in) */
  readonly user: string
  /** temporary directory holding keys, configs and repositories */
  readonly dir: string
  /** `ssh -F <dir>/ssh_config`, for GIT_SSH_COMMAND */
  readonly gitSshCommand: string
  /** `{ GIT_SSH_COMMAND: gitSshCommand }`, to merge into git's environment */
  readonly env: Record<string, string>
  /** Create an empty bare repository (initial branch `main`) under `<dir>/repos`; returns its absolute path. */
  makeBareRepo(relPath: string): Promise<string>
  /** ssh://user@127.0.0.1:port/abs/path */
  sshUrl(absPath: string): string
  /** user@beds-sshd:/abs/path (scp syntax cannot carry a port, so it uses the ssh_config alias) */
  scpUrl(absPath: string): string
  /** Kill the daemon (and its per-connection children), remove the temporary directory. Idempotent. */
  stop(): Promise<void>
}

export const SSHD_PATH = "/usr/sbin/sshd"
export const SSH_HOST_ALIAS = "beds-sshd"
const READY_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 5_000

const run = promisify(execFile)

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    socket.setTimeout(1_000)
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    socket.once("timeout", () => done(false))
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** GIT_SSH_COMMAND is run by a shell, so the config path is single-quoted. */
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

const sshdConfig = (dir: string, port: number, user: string) =>
  [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${join(dir, "host_ed25519")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    // The temp dir is not owned/mode-checked the way ~/.ssh would be.
    "StrictModes no",
    "UsePAM no",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin prohibit-password",
    `AllowUsers ${user}`,
    // Lets git negotiate protocol v2 over ssh (it sends GIT_PROTOCOL via SendEnv).
    "AcceptEnv GIT_PROTOCOL",
    "PrintMotd no",
    "LogLevel ERROR",
    ""
  ].join("\n")

const sshConfig = (dir: string, port: number, user: string) =>
  [
    // The alias is what makes the scp form (user@alias:/path) reach a non-default port.
    `Host ${SSH_HOST_ALIAS}`,
    "  HostName 127.0.0.1",
    `  Port ${port}`,
    // Settings for both the alias and ssh://...@127.0.0.1:port URLs.
    `Host ${SSH_HOST_ALIAS} 127.0.0.1`,
    `  User ${user}`,
    `  IdentityFile ${join(dir, "id_ed25519")}`,
    "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${join(dir, "known_hosts")}`,
    "  GlobalKnownHostsFile /dev/null",
    "  StrictHostKeyChecking yes",
    "  UpdateHostKeys no",
    "  BatchMode yes",
    "  ConnectTimeout 5",
    "  LogLevel ERROR",
    ""
  ].join("\n")

/** Start sshd on `port`; resolves once an actual `ssh ... true` succeeds, rejects if the daemon dies. */
const launch = async (dir: string, port: number, sshCmd: string[]): Promise<ChildProcess> => {
  const child = spawn(SSHD_PATH, ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  let exited = false
  child.once("exit", () => (exited = true))
  child.once("error", (e) => ((exited = true), (stderr += String(e))))

  const deadline = Date.now() + READY_TIMEOUT_MS
  let lastError = ""
  while (Date.now() < deadline) {
    if (exited) throw new Error(`sshd exited during start-up: ${stderr.trim()}`)
    if (await canConnect(port)) {
      try {
        await run(sshCmd[0]!, [...sshCmd.slice(1), SSH_HOST_ALIAS, "true"], { timeout: 5_000 })
        return child
      } catch (e) {
        lastError = String((e as { stderr?: string }).stderr ?? e)
      }
    }
    await sleep(100)
  }
  killTree(child.pid, "SIGKILL")
  throw new Error(`sshd not ready after ${READY_TIMEOUT_MS} ms: ${lastError.trim()} ${stderr.trim()}`)
}

/** State letter and parent of a process from /proc (Linux), or undefined once it is gone. */
const procStat = (pid: number): { state: string; ppid: number } | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0] ?? "", ppid: Number(fields[1]) }
  } catch {
    return undefined
  }
}

/** Zombies count as gone: whoever inherited them reaps them. */
const alive = (pid: number) => {
  const stat = procStat(pid)
  return stat !== undefined && stat.state !== "Z"
}

/**
 * `pid` and its live descendants. sshd forks each connection into its own session,
 * so a process-group kill would miss them; they are found through their parent instead.
 */
const processTree = (pid: number): number[] => {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const stat = procStat(Number(entry))
    if (stat === undefined || stat.state === "Z") continue
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)])
  }
  const tree = [pid]
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []))
  return tree
}

const signalAll = (pids: number[], signal: NodeJS.Signals) => {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

const killTree = (pid: number | undefined, signal: NodeJS.Signals) => {
  if (pid !== undefined) signalAll(processTree(pid), signal)
}

export const startSshBed = async (): Promise<SshBed> => {
  if (!existsSync(SSHD_PATH)) {
    throw new Error(
      `${SSHD_PATH} not found: install openssh-server (apt-get install openssh-server, or scripts/ci-system-packages.sh)`
    )
  }
  // sshd refuses to start without its privilege-separation directory.
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 }).catch((e) => {
    throw new Error(`sshd needs /run/sshd; create it as root (scripts/ci-system-packages.sh does): ${e}`)
  })

  const user = userInfo().username
  const dir = await mkdtemp(join(tmpdir(), "beds-sshd-"))
  try {
    const keygen = (file: string) => run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "beds", "-f", join(dir, file)])
    await Promise.all([keygen("host_ed25519"), keygen("id_ed25519")])
    await writeFile(join(dir, "authorized_keys"), await readFile(join(dir, "id_ed25519.pub")))
    await mkdir(join(dir, "repos"))
    const hostKey = (await readFile(join(dir, "host_ed25519.pub"), "utf8")).trim()
    const configFile = join(dir, "ssh_config")

    // The free port may be taken between probing and binding: retry with a new one.
    let child: ChildProcess | undefined
    let port = 0
    for (let attempt = 1; child === undefined; attempt++) {
      port = await freePort()
      await writeFile(join(dir, "sshd_config"), sshdConfig(dir, port, user))
      await writeFile(configFile, sshConfig(dir, port, user))
      // known_hosts keys a non-default port as [host]:port; the alias resolves to the same entry.
      await writeFile(join(dir, "known_hosts"), `[127.0.0.1]:${port} ${hostKey}\n`)
      try {
        child = await launch(dir, port, ["ssh", "-F", configFile])
      } catch (e) {
        if (attempt >= 3) throw e
      }
    }

    const daemon = child
    // A bed whose stop() was forgotten must not keep the test process alive; on exit, kill it.
    daemon.unref()
    ;(daemon.stderr as { unref?: () => void } | null)?.unref?.()
    const onExit = () => {
      killTree(daemon.pid, "SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
    process.once("exit", onExit)

    let stopped: Promise<void> | undefined
    const stop = async () => {
      process.removeListener("exit", onExit)
      // Connections that just ended finish within moments; letting the listener reap them
      // (rather than orphaning them by killing it first) leaves no zombies behind.
      const grace = Date.now() + 500
      while (daemon.pid !== undefined && processTree(daemon.pid).length > 1 && Date.now() < grace) await sleep(20)
      // Listener plus any per-connection processes still running; all must be gone before returning.
      const pids = daemon.pid === undefined ? [] : processTree(daemon.pid)
      signalAll(pids, "SIGTERM")
      const deadline = Date.now() + STOP_TIMEOUT_MS
      while (pids.some(alive)) {
        if (Date.now() > deadline) signalAll(pids.filter(alive), "SIGKILL")
        await sleep(20)
      }
      await rm(dir, { recursive: true, force: true })
    }

    const gitSshCommand = `ssh -F ${shellQuote(configFile)}`
    return {
      host: "127.0.0.1",
      port,
      user,
      dir,
      gitSshCommand,
      env: { GIT_SSH_COMMAND: gitSshCommand },
      makeBareRepo: async (relPath) => {
        const path = join(dir, "repos", relPath)
        await mkdir(path, { recursive: true })
        await run("git", ["init", "--quiet", "--bare", "--initial-branch=main", path])
        return path
      },
      sshUrl: (absPath) => `ssh://${user}@127.0.0.1:${port}${absPath}`,
      scpUrl: (absPath) => `${user}@${SSH_HOST_ALIAS}:${absPath}`,
      stop: () => (stopped ??= stop())
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true })
    throw e
  }
}
