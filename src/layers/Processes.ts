/**
 * Whether the process that holds a lock still runs. A zombie (exited, not
 * yet reaped: its parent is gone, and not every init reaps) does not.
 */
import * as fs from "node:fs"

export const isZombie = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const state = stat.lastIndexOf(")") + 2
    return stat.slice(state, state + 1) === "Z"
  } catch {
    return false
  }
}

/** Alive: it exists (EPERM: it belongs to another user) and is not a zombie. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
  return !isZombie(pid)
}
