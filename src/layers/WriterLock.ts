/**
 * One writer at a time: `LOCK` is created with O_EXCL and holds the pid and
 * command of its owner. A lock whose process is gone is taken over (and
 * reported); a live one is waited for up to the configured timeout, then
 * the caller gets RequiresDirectDatabaseAccess naming the holder.
 */
import { Clock, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { RequiresDirectDatabaseAccess, StorageError } from "../domain/Errors.js"
import { isAlive } from "./Processes.js"

export interface LockOwner {
  readonly pid: number
  readonly command: string
  readonly at: string
}

export interface HeldLock {
  readonly file: string
  /** The stale owner whose lock was taken over, if any. */
  readonly tookOverFrom: LockOwner | undefined
}

const readOwner = (file: string): LockOwner | undefined => {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<LockOwner>
    return typeof parsed.pid === "number"
      ? { pid: parsed.pid, command: String(parsed.command ?? "?"), at: String(parsed.at ?? "?") }
      : undefined
  } catch {
    // Unreadable or half-written by an owner that died while creating it.
    return undefined
  }
}

type Attempt =
  | { readonly _tag: "Held" }
  | { readonly _tag: "Busy"; readonly owner: LockOwner | undefined }
  | { readonly _tag: "Denied"; readonly reason: string }

const tryCreate = (file: string, owner: LockOwner): Attempt => {
  try {
    const fd = fs.openSync(file, "wx", 0o644)
    try {
      fs.writeSync(fd, JSON.stringify(owner))
    } finally {
      fs.closeSync(fd)
    }
    return { _tag: "Held" }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "EEXIST") return { _tag: "Busy", owner: readOwner(file) }
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
      return { _tag: "Denied", reason: `${path.dirname(file)} is not writable (${code})` }
    }
    throw error
  }
}

/**
 * Remove a stale lock. Takeovers are serialised by a second lock file
 * (`LOCK.takeover`, created with O_EXCL); under it the owner is read again
 * and the lock removed only if it still names the dead process, so a fresh
 * lock created meanwhile is never touched. A takeover lock left by a process
 * that died during its takeover ages out.
 */
const takeOver = (file: string, stale: LockOwner | undefined): boolean => {
  const guard = `${file}.takeover`
  try {
    fs.closeSync(fs.openSync(guard, "wx", 0o644))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST" && ageMs(guard) > STALE_UNREADABLE_MS) {
      fs.rmSync(guard, { force: true })
    }
    return false
  }
  try {
    const current = readOwner(file)
    const still = stale === undefined ? current === undefined && fs.existsSync(file) : current?.pid === stale.pid
    if (!still) return false
    fs.rmSync(file, { force: true })
    return true
  } finally {
    fs.rmSync(guard, { force: true })
  }
}

const STALE_UNREADABLE_MS = 2_000

export const acquireWriterLock = (
  dir: string,
  command: string,
  timeoutMs: number
): Effect.Effect<HeldLock, RequiresDirectDatabaseAccess | StorageError> =>
  Effect.flatMap(Clock.currentTimeMillis, (start) => {
    const file = path.join(dir, "LOCK")
    const owner: LockOwner = { pid: process.pid, command, at: new Date(start).toISOString() }
    const deadline = start + timeoutMs
    let tookOverFrom: LockOwner | undefined
    const loop: Effect.Effect<HeldLock, RequiresDirectDatabaseAccess | StorageError> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      let attempt: Attempt
      try {
        attempt = tryCreate(file, owner)
      } catch (error) {
        return Effect.fail(new StorageError({ path: file, reason: String((error as Error).message) }))
      }
      switch (attempt._tag) {
        case "Held":
          return Effect.succeed({ file, tookOverFrom })
        case "Denied":
          return Effect.fail(new RequiresDirectDatabaseAccess({
            reason: attempt.reason,
            hintText: "run bd as a user who can write the .beads directory, or use a read-only command"
          }))
        case "Busy": {
          const holder = attempt.owner
          const stale = holder === undefined
            ? ageMs(file) > STALE_UNREADABLE_MS
            : !isAlive(holder.pid)
          if (stale && takeOver(file, holder)) {
            tookOverFrom = holder ?? { pid: 0, command: "unknown (unreadable lock file)", at: "?" }
            return loop
          }
          if (now >= deadline) {
            return Effect.fail(new RequiresDirectDatabaseAccess({
              reason: holder === undefined
                ? `the log is locked (${file})`
                : `the log is locked by pid ${holder.pid} (${holder.command}), running since ${holder.at}`,
              hintText: `wait for that command to finish and retry, or raise lock.timeout_ms (waited ${timeoutMs} ms)`
            }))
          }
          return Effect.sleep(`${Math.min(25, Math.max(1, deadline - now))} millis`).pipe(Effect.zipRight(loop))
        }
      }
    })
    return loop
  })

const ageMs = (file: string): number => {
  try {
    return Date.now() - fs.statSync(file).mtimeMs
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

export const releaseWriterLock = (lock: HeldLock): Effect.Effect<void> =>
  Effect.sync(() => {
    // Remove only our own lock: never a successor's.
    const current = readOwner(lock.file)
    if (current?.pid === process.pid) fs.rmSync(lock.file, { force: true })
  })
