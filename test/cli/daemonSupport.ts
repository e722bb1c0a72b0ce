/**
 * Sandboxes with a bd daemon of their own (a private BD_DAEMON_DIR), its
 * status, and waiting for it; each daemon is stopped after its test.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach } from "vitest"
import { Sandbox } from "./support.js"

export interface Status {
  readonly running: boolean
  readonly pid?: number
  readonly served?: number
  readonly socket: string | null
}

const daemonDirs: Array<{ sb: Sandbox; env: Record<string, string> }> = []

/** Stop, after each test, the daemons of the sandboxes made by withDaemon. */
export const stopDaemonsAfterEach = (): void => {
  afterEach(async () => {
    for (const { env, sb } of daemonDirs.splice(0)) await sb.run(["daemon", "stop"], { env })
  })
}

/** A sandbox whose bd uses a daemon directory of its own. */
export const withDaemon = (name: string) => {
  const sb = new Sandbox(name)
  const dir = path.join(sb.root, "daemon")
  fs.mkdirSync(dir, { mode: 0o700 })
  sb.env = { BD_DAEMON_DIR: dir }
  daemonDirs.push({ sb, env: { BD_DAEMON_DIR: dir } })
  return { sb, dir }
}

export const status = (sb: Sandbox, env: Record<string, string | undefined> = {}) => sb.json<Status>(["daemon", "status"], { env })

/** Wait until the daemon started by an earlier command listens. */
export const running = async (sb: Sandbox): Promise<Status> => {
  for (let i = 0; i < 100; i++) {
    const now = await status(sb)
    if (now.running) return now
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error("the daemon did not start within 10 s")
}
