/**
 * Whether the process that holds a lock still runs. A zombie (exited, not
 * yet reaped: its parent is gone, and not every init reaps) does not.
 */
import * as fs from "node:fs"

const isZombie = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const state = stat.lastIndexOf(")") + 2
    return stat.slice(state, state + 1) === "Z"
  } catch {
    return false
  }
}

/** Where `pid` stands: a live process of this user's, another user's (EPERM), or none (gone, or a zombie). */
const probe = (pid: number): "ours" | "another user's" | "gone" => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM" ? "another user's" : "gone"
  }
  return isZombie(pid) ? "gone" : "ours"
}

/** Alive: it exists (EPERM: it belongs to another user) and is not a zombie. */
export const isAlive = (pid: number): boolean => probe(pid) !== "gone"

/** Alive, not a zombie, and this user's. */
export const isOwnLiveProcess = (pid: number): boolean => probe(pid) === "ours"
