// Running `bd` and plain `node` as separate processes, timed by wall clock.
// Children get a bounded environment: PATH, a HOME inside the benchmark's
// temporary directory (so nothing touches the user's config or secrets) and
// an actor, so bd never has to ask git who is acting.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { collectGarbage } from "./stats.mjs"

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

/**
 * A private copy of the built CLI (bin/bd.cjs, the bundle and its code
 * cache) under the benchmark's directory. Others rebuild dist/ while a run
 * goes on; the copy keeps every `bd` of the run the same build as the
 * library this process loaded at its start. Returns the copy's bin/bd.cjs.
 */
export const freezeCli = (root) => {
  fs.mkdirSync(daemonDir(path.join(root, "home")), { recursive: true, mode: 0o700 })
  const copy = path.join(root, "cli")
  fs.mkdirSync(path.join(copy, "bin"), { recursive: true })
  fs.mkdirSync(path.join(copy, "dist"), { recursive: true })
  fs.copyFileSync(path.join(projectRoot, "bin", "bd.cjs"), path.join(copy, "bin", "bd.cjs"))
  const dist = path.join(projectRoot, "dist")
  for (const file of fs.readdirSync(dist).filter((name) => name.startsWith("bd-main.cjs") || name === "bd-client.cjs")) {
    fs.copyFileSync(path.join(dist, file), path.join(copy, "dist", file))
  }
  return path.join(copy, "bin", "bd.cjs")
}

/** Where `bd` runs and with what: the town directory, a bounded environment, the frozen CLI. */
export const bdOptions = (root, cwd) => ({ cwd, env: childEnv(path.join(root, "home")), bin: path.join(root, "cli", "bin", "bd.cjs") })

export const childEnv = (home) => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  BD_ACTOR: "bench",
  LANG: "C.UTF-8",
  // The run's own bd daemon (stopped at the end: stopDaemon), not the user's.
  BD_DAEMON_DIR: daemonDir(home)
})

const daemonDir = (home) => path.join(path.dirname(home), "daemon")

/** The environment that gives `bd` runs of a frozen CLI (root/cli/bin/bd.cjs) the run's own daemon, as childEnv does. */
export const daemonEnvFor = (cli) => ({ BD_DAEMON_DIR: path.join(path.dirname(path.dirname(path.dirname(cli))), "daemon") })

/** Wait until the bd daemon that earlier commands started answers (read commands go to it from then on). */
export const waitForDaemon = (options) => {
  for (let i = 0; i < 200; i++) {
    if (JSON.parse(bd(["--json", "daemon", "status"], options).stdout).running) return
    spawnSync("sleep", ["0.05"])
  }
  throw new Error("the bd daemon did not start within 10 s")
}

/** Stop the run's bd daemon, if one runs. */
export const stopDaemon = (root) => {
  const home = path.join(root, "home")
  spawnSync(process.execPath, [path.join(root, "cli", "bin", "bd.cjs"), "daemon", "stop"], { cwd: root, env: childEnv(home), stdio: "ignore" })
}

const TIMEOUT_MS = 5 * 60 * 1000

/** Run a process to completion; a non-zero exit is a crash of the benchmark, not a slow result. */
export const run = (file, args, { cwd, env }) => {
  const started = performance.now()
  const result = spawnSync(file, args, {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
    timeout: TIMEOUT_MS,
    encoding: "utf8"
  })
  const ms = performance.now() - started
  if (result.error !== undefined) throw new Error(`${path.basename(file)} ${args.join(" ")}: ${result.error.message}`)
  if (result.status !== 0) {
    throw new Error(
      `${path.basename(file)} ${args.join(" ")} exited with ${result.status ?? result.signal} in ${cwd}:\n${result.stderr}${result.stdout}`
    )
  }
  return { ms, stdout: result.stdout, stderr: result.stderr }
}

/** `node bin/bd.cjs ARGS` (the frozen copy) in `options.cwd`. */
export const bd = (args, options) => run(process.execPath, [options.bin, ...args], options)

/** Wall milliseconds of a `bd` run; collects the parent's garbage first so it does not run mid-measurement. */
export const bdMs = (args, options) => {
  collectGarbage()
  return bd(args, options).ms
}

/** Wall milliseconds of `node -e 0`: the floor of any node process. */
export const nodeNoopMs = (options) => {
  collectGarbage()
  return run(process.execPath, ["-e", "0"], options).ms
}

/** `node FILE ARGS`, timed, after collecting the parent's garbage. */
export const nodeScript = (file, args, options) => {
  collectGarbage()
  return run(process.execPath, [file, ...args], options)
}
