/**
 * Running the system `git` through @effect/platform's Command, with a
 * bounded environment (only what git needs, passed through by name), no
 * secret on any command line, and a timeout on every call.
 */
import { Command, CommandExecutor } from "@effect/platform"
import { Chunk, Duration, Effect, Stream } from "effect"

export interface GitResult {
  readonly code: number
  /** Standard output as text; empty when it was asked for as bytes. */
  readonly stdout: string
  /** Standard output as bytes, when asked for (`bytes: true`): big outputs are decoded only where needed. */
  readonly stdoutBytes?: Buffer
  readonly stderr: string
}

/** A git call that could not run or did not finish in time. */
export class GitFailure extends Error {
  readonly _tag = "GitFailure"
  constructor(readonly args: ReadonlyArray<string>, readonly reason: string) {
    super(`git ${args[0] ?? ""}: ${reason}`)
  }
}

/** Variables git and its helpers (ssh, TLS) may need, passed through from the user's environment. */
const PASS_THROUGH = [
  "PATH", "HOME", "USER", "TMPDIR", "XDG_CONFIG_HOME",
  "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT", "SSH_AUTH_SOCK",
  "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSL_CERT_FILE", "SSL_CERT_DIR",
  "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM",
  "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"
]

export const gitEnvironment = (
  parent: Readonly<Record<string, string | undefined>>,
  extra: Readonly<Record<string, string>> = {}
): Record<string, string> => {
  const env: Record<string, string> = { LANG: "C", LC_ALL: "C", GIT_TERMINAL_PROMPT: "0" }
  for (const name of PASS_THROUGH) {
    const value = parent[name]
    if (value !== undefined) env[name] = value
  }
  return { ...env, ...extra }
}

const collectBytes = <E>(stream: Stream.Stream<Uint8Array, E>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Buffer.concat(Chunk.toReadonlyArray(chunks)))

const collect = <E>(stream: Stream.Stream<Uint8Array, E>) => Effect.map(collectBytes(stream), (bytes) => bytes.toString("utf8"))

export interface GitOptions {
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
  readonly stdin?: string
  readonly timeout?: Duration.DurationInput
  /** Keep standard output as bytes (`stdoutBytes`). */
  readonly bytes?: boolean
}

export const runGit = (
  args: ReadonlyArray<string>,
  options: GitOptions
): Effect.Effect<GitResult, GitFailure, CommandExecutor.CommandExecutor> => {
  let command = Command.make("git", ...args).pipe(
    Command.workingDirectory(options.cwd),
    Command.env(options.env, { extendEnv: false })
  )
  if (options.stdin !== undefined) command = Command.feed(command, options.stdin)
  return Effect.scoped(
    Effect.gen(function*() {
      const process = yield* Command.start(command)
      const [stdout, stderr, code] = yield* Effect.all(
        [collectBytes(process.stdout), collect(process.stderr), process.exitCode],
        { concurrency: 3 }
      )
      return options.bytes === true
        ? { code: Number(code), stdout: "", stdoutBytes: stdout, stderr }
        : { code: Number(code), stdout: stdout.toString("utf8"), stderr }
    })
  ).pipe(
    Effect.mapError((error) => new GitFailure(args, String((error as { message?: string }).message ?? error))),
    Effect.timeoutFail({
      duration: options.timeout ?? Duration.seconds(120),
      onTimeout: () => new GitFailure(args, `did not finish within ${Duration.format(options.timeout ?? Duration.seconds(120))}`)
    })
  )
}

/** The one line of git's complaint worth showing: its fatal/error line, else the last line. */
export const gitReason = (stderr: string): string => {
  const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line !== "")
  const key = lines.find((line) => /^(fatal|error|remote: fatal|ERROR):/i.test(line)) ?? lines[lines.length - 1] ?? "git failed"
  return key.replace(/^(fatal|error):\s*/i, "")
}
