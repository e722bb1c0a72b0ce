/**
 * The files of the event log, read and written with synchronous node:fs
 * calls (the log is on the hot path of every command; the callers wrap
 * them in Effects). Layout under `.beads/log/`:
 *
 *   000001.jsonl, 000002.jsonl, …   segments, one envelope a line
 *   snapshots/CURRENT               name of the current snapshot directory
 *   snapshots/<seq>/meta.json       position and hash of the last folded line
 *   snapshots/<seq>/<slice>.json    one file per slice
 *   snapshots/<seq>/<slice>.index   where each entry of a keyed slice is (SnapshotEntries.ts)
 *   LOCK                            the writer lock (pid and command)
 */
import * as fs from "node:fs"
import * as path from "node:path"

export const SEGMENT_MAX_BYTES = 64 * 1024 * 1024

export interface Position {
  readonly segment: number
  readonly offset: number
}

export const segmentName = (segment: number): string => `${String(segment).padStart(6, "0")}.jsonl`

export const segmentPath = (dir: string, segment: number): string => path.join(dir, segmentName(segment))

/** Segment numbers present in the log directory, ascending. */
export const listSegments = (dir: string): ReadonlyArray<number> => {
  let names: ReadonlyArray<string>
  try {
    names = fs.readdirSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return []
    throw error
  }
  return names
    .filter((name) => /^\d{6}\.jsonl$/.test(name))
    .map((name) => Number(name.slice(0, 6)))
    .sort((a, b) => a - b)
}

export interface RawLine {
  /** Byte offset of the line's first byte in its segment. */
  readonly start: number
  /** Byte offset just past the line's newline. */
  readonly end: number
  readonly text: string
}

export interface SegmentRead {
  readonly lines: ReadonlyArray<RawLine>
  /** Bytes after the last newline: a line whose write did not finish. */
  readonly tornBytes: number
  readonly size: number
  /** 1-based line number of the line starting at a byte offset (computed only when an error needs it). */
  readonly lineNumberAt: (offset: number) => number
}

const NEWLINE = 0x0a

/** Read the complete lines of one segment from a byte offset. */
/**
 * Read the complete lines of one segment from a byte offset. Only the bytes
 * from `from` on are read: a tail after a snapshot at the end of a large
 * segment costs what the tail is, not what the segment is.
 */
export const readSegment = (dir: string, segment: number, from: number): SegmentRead => {
  const file = segmentPath(dir, segment)
  let fd: number
  try {
    fd = fs.openSync(file, "r")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return { lines: [], tornBytes: 0, size: 0, lineNumberAt: () => 1 }
    }
    throw error
  }
  let size: number
  let buffer: Buffer
  try {
    size = fs.fstatSync(fd).size
    buffer = Buffer.allocUnsafe(Math.max(0, size - from))
    let read = 0
    while (read < buffer.length) {
      const n = fs.readSync(fd, buffer, read, buffer.length - read, from + read)
      if (n === 0) break
      read += n
    }
    buffer = buffer.subarray(0, read)
  } finally {
    fs.closeSync(fd)
  }
  const lines: Array<RawLine> = []
  let start = 0
  let at = buffer.indexOf(NEWLINE, start)
  while (at !== -1) {
    lines.push({ start: from + start, end: from + at + 1, text: buffer.toString("utf8", start, at) })
    start = at + 1
    at = buffer.indexOf(NEWLINE, start)
  }
  // Line numbers are only needed for an error message: count them then, over the whole file.
  const lineNumberAt = (offset: number): number => {
    const whole = fs.readFileSync(file)
    let count = 1
    for (let i = whole.indexOf(NEWLINE, 0); i !== -1 && i < offset; i = whole.indexOf(NEWLINE, i + 1)) count++
    return count
  }
  return { lines, tornBytes: buffer.length - start, size, lineNumberAt }
}

/** The `length` bytes at `offset` of an open file; undefined when the file ends before them. */
export const readAt = (fd: number, offset: number, length: number): Buffer | undefined => {
  const buffer = Buffer.allocUnsafe(length)
  let read = 0
  while (read < length) {
    const n = fs.readSync(fd, buffer, read, length - read, offset + read)
    if (n === 0) return undefined
    read += n
  }
  return buffer
}

/**
 * The snapshot format written: 2 may hold entries that are references to
 * log lines (LineRefs.ts), 1 never does. A bd that knows neither version
 * ignores the snapshot and folds the whole log.
 */
export const SNAPSHOT_VERSION = 2

/** Whether this bd reads snapshots of this format. */
export const knownSnapshot = (meta: SnapshotMeta): boolean => meta.version === 1 || meta.version === 2

export interface SnapshotMeta {
  readonly version: 1 | 2
  readonly seq: number
  readonly hash: string
  readonly position: Position
  readonly slices: ReadonlyArray<string>
  /** The keyed slices written with an index (absent in snapshots of an older bd). */
  readonly indexes?: ReadonlyArray<string>
}

const snapshotsDir = (dir: string): string => path.join(dir, "snapshots")

export const readSnapshotMeta = (dir: string): { readonly meta: SnapshotMeta; readonly at: string } | undefined => {
  let name: string
  try {
    name = fs.readFileSync(path.join(snapshotsDir(dir), "CURRENT"), "utf8").trim()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw error
  }
  const at = path.join(snapshotsDir(dir), name)
  return { meta: JSON.parse(fs.readFileSync(path.join(at, "meta.json"), "utf8")) as SnapshotMeta, at }
}

/**
 * Run a read of the current snapshot again when a file of it vanished
 * meanwhile: writers keep only the previous snapshot, so one read just
 * before a swap may find its directory removed. The next read starts from
 * the new CURRENT.
 */
export const retryingVanishedSnapshot = <A>(read: () => A): A => {
  for (let attempt = 0; ; attempt++) {
    try {
      return read()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 20) throw error
    }
  }
}

export const readSnapshotSlice = (snapshotAt: string, slice: string): unknown =>
  JSON.parse(fs.readFileSync(path.join(snapshotAt, `${slice}.json`), "utf8"))

const writeAll = (fd: number, piece: string | Buffer): void => {
  if (typeof piece === "string") {
    fs.writeSync(fd, piece)
    return
  }
  let written = 0
  while (written < piece.length) written += fs.writeSync(fd, piece, written, piece.length - written)
}

/** Write the chunks' bytes from byte `from` on (what a short write left). */
const writeFrom = (fd: number, chunks: ReadonlyArray<Buffer>, from: number): void => {
  let skip = from
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length
      continue
    }
    writeAll(fd, skip === 0 ? chunk : chunk.subarray(skip))
    skip = 0
  }
}

/**
 * A file's content: whole, in pieces, or made as it is written (the
 * function is given a sink that writes each piece at once, so a large file
 * can be made in one buffer used again and again).
 */
export type FileContent = string | Buffer | ReadonlyArray<string | Buffer> | ((write: (piece: Buffer) => void) => void)

/** Open with `flags`, write the content (whole or in pieces, one after another), fsync, close. */
const writeDurably = (file: string, flags: "w" | "a", content: FileContent): void => {
  const fd = fs.openSync(file, flags, 0o644)
  try {
    if (typeof content === "function") content((piece) => writeAll(fd, piece))
    else for (const piece of typeof content === "string" || Buffer.isBuffer(content) ? [content] : content) writeAll(fd, piece)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Write a whole file, given whole or as pieces written one after another, and fsync it before returning. */
export const writeFileDurably = (file: string, content: FileContent): void =>
  writeDurably(file, "w", content)

export const fsyncDir = (dir: string): void => {
  const fd = fs.openSync(dir, "r")
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** A file of a snapshot: its name and its content. Files are written in the order given. */
export type SnapshotFile = readonly [string, FileContent]

/** A snapshot written but not yet in force: `swap` makes it current, `discard` removes it. */
export interface StagedSnapshot {
  readonly swap: () => void
  readonly discard: () => void
}

/**
 * Stage a snapshot: its files (each slice's JSON text, and indexes) into a fresh directory, fsynced. Its `swap`
 * then renames CURRENT to name it. A crash at any point before the swap leaves the previous snapshot in force.
 */
export const stageSnapshot = (
  dir: string,
  meta: SnapshotMeta,
  files: ReadonlyArray<SnapshotFile>
): StagedSnapshot => {
  const root = snapshotsDir(dir)
  fs.mkdirSync(root, { recursive: true })
  const name = String(meta.seq).padStart(12, "0")
  const at = path.join(root, name)
  const discard = (): void => fs.rmSync(at, { recursive: true, force: true })
  discard()
  fs.mkdirSync(at)
  try {
    for (const [file, text] of files) writeFileDurably(path.join(at, file), text)
    writeFileDurably(path.join(at, "meta.json"), JSON.stringify(meta))
    fsyncDir(at)
  } catch (error) {
    // Half a snapshot is never in force; nothing of it stays either.
    discard()
    throw error
  }
  const swap = (): void => {
    const current = path.join(root, "CURRENT")
    let previous: string | undefined
    try {
      previous = fs.readFileSync(current, "utf8").trim()
    } catch {
      previous = undefined
    }
    const tmp = path.join(root, `CURRENT.${process.pid}.tmp`)
    try {
      writeFileDurably(tmp, `${name}\n`)
      fs.renameSync(tmp, current)
    } catch (error) {
      // Not in force: nothing of it stays.
      fs.rmSync(tmp, { force: true })
      discard()
      throw error
    }
    fsyncDir(root)
    // The previous snapshot stays: a reader that read CURRENT just before the
    // swap may still be reading it. Every other one goes, older or left behind.
    for (const entry of fs.readdirSync(root)) {
      if (/^\d{12}$/.test(entry) && entry !== name && entry !== previous) fs.rmSync(path.join(root, entry), { recursive: true, force: true })
    }
  }
  return { swap, discard }
}

/** Append bytes (whole, or in chunks) to a segment and fsync before returning: the append is acknowledged only then. */
export const appendDurably = (file: string, bytes: Buffer | ReadonlyArray<Buffer>): void => writeDurably(file, "a", bytes)

/**
 * Append chunks to a segment as `appendDurably` does, but on Node's thread
 * pool while the caller goes on: the file is opened (and made) here and
 * now with O_DSYNC, so the one `writev` (which writes every byte, a partial
 * write continued) returns only once they are on disk. The promise never
 * rejects: it resolves when the append is over, to its error if it failed.
 * Where the system has no O_DSYNC, the append is made here and now.
 */
export const appendDurablyAside = (file: string, chunks: ReadonlyArray<Buffer>): Promise<Error | undefined> => {
  const { O_APPEND, O_CREAT, O_DSYNC, O_WRONLY } = fs.constants
  if (typeof O_DSYNC !== "number") {
    appendDurably(file, chunks)
    return Promise.resolve(undefined)
  }
  const fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_DSYNC, 0o644)
  return new Promise((resolve) => {
    const closed = (failure: Error | undefined) => fs.close(fd, (closeError) => resolve(failure ?? closeError ?? undefined))
    try {
      fs.writev(fd, chunks, (error, written) => {
        let failure: Error | undefined = error ?? undefined
        // The thread pool stops at a short write without saying why (a full disk): the rest, written here, says.
        if (failure === undefined) {
          try {
            writeFrom(fd, chunks, written)
          } catch (rest) {
            failure = rest as Error
          }
        }
        closed(failure)
      })
    } catch (error) {
      closed(error as Error)
    }
  })
}

/** Cut a segment back to `size` bytes (a torn tail), durably. */
export const truncateDurably = (file: string, size: number): void => {
  const fd = fs.openSync(file, "r+")
  try {
    fs.ftruncateSync(fd, size)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}
