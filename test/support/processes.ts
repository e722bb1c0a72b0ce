/**
 * Real processes for the multi-process tests: the built `bd` CLI and small
 * Node helpers, run with a bounded environment and their output collected.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
export const BD = path.join(ROOT, "bin", "bd.cjs")

export interface Ran {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
  /** Run as this user (the tests run as root). */
  readonly user?: { readonly uid: number; readonly gid: number }
  /** Killed (SIGKILL) after this long; the test then sees the signal. */
  readonly timeoutMs?: number
  /** Its own process group, so that the test can kill it with everything it started. */
  readonly detached?: boolean
  /** Called once the process is started. */
  readonly onStart?: (child: ChildProcess) => void
}

/** Run a process to its end; interrupting the effect kills it. */
export const run = (command: string, args: ReadonlyArray<string>, options: RunOptions): Effect.Effect<Ran> =>
  Effect.async<Ran>((resume) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 240_000,
      killSignal: "SIGKILL",
      detached: options.detached ?? false,
      ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid })
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    child.on("error", (error) => resume(Effect.succeed({ code: null, signal: null, stdout, stderr: `${stderr}${String(error)}` })))
    child.on("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
    options.onStart?.(child)
    return Effect.sync(() => {
      child.kill("SIGKILL")
    })
  })

/** `node bin/bd.cjs ARGS…` */
export const bd = (args: ReadonlyArray<string>, options: RunOptions): Effect.Effect<Ran> =>
  run(process.execPath, [BD, ...args], options)

/** A readable account of a run, for assertion messages. */
export const describeRun = (label: string, ran: Ran): string =>
  `${label}: exit ${ran.code ?? ran.signal}\nstdout: ${ran.stdout.slice(-2_000)}\nstderr: ${ran.stderr.slice(-2_000)}`
