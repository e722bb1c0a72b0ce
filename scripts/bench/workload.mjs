// Realistic, reproducible data: the events a busy town logs and the beads
// JSONL a team exports. A seeded generator makes every run write the same
// shapes and sizes, so runs on different days compare.

/** mulberry32: small, fast and good enough to pick words and fields. */
export const seededRandom = (seed) => {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 1)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n) => Math.floor(next() * n)
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => items[int(items.length)],
    some: (items, most) => {
      const count = int(most + 1)
      const chosen = new Set()
      for (let i = 0; i < count; i++) chosen.add(items[int(items.length)])
      return [...chosen]
    }
  }
}

const WORDS = (
  "the a an of to in for on with when after before while from by into over under " +
  "sync peer town log event snapshot replay import export issue label priority status " +
  "retry timeout fails crashes hangs slow flaky regression migration schema index query " +
  "cache lock writer reader segment chain hash verify commit push pull fetch remote " +
  "config token credentials endpoint dolt git jsonl parser decoder encoder stream batch " +
  "user team deploy release build test coverage docs review refactor cleanup feature " +
  "should must cannot sometimes always never again properly correctly twice once"
).split(" ")

const TITLE_VERBS = ["Fix", "Add", "Remove", "Speed up", "Document", "Refactor", "Investigate", "Support", "Handle", "Test"]
const STATUSES_OPEN = ["open", "open", "open", "in_progress", "blocked"]
const TYPES = ["bug", "feature", "task", "task", "epic", "chore"]
const PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
const LABELS = ["backend", "frontend", "cli", "sync", "perf", "security", "docs", "ux", "infra", "good-first-issue", "p-critical"]
const CLOSE_REASONS = ["done", "fixed in the last release", "duplicate", "won't fix: works as designed", "no longer reproducible"]

/** Words up to about `min`..`max` characters, capitalised and ending in a full stop. */
export const sentence = (random, min, max) => {
  const length = min + random.int(max - min + 1)
  let text = ""
  while (text.length < length) text += (text === "" ? "" : " ") + random.pick(WORDS)
  return `${text[0].toUpperCase()}${text.slice(1)}.`
}

const title = (random) => `${random.pick(TITLE_VERBS)} ${sentence(random, 15, 40).slice(0, -1).toLowerCase()}`

/** Six base36 digits, as bd makes them; a multiplier coprime with 36^6 spreads sequential numbers without collisions. */
export const issueId = (prefix, n) => `${prefix}-${((n * 2654435761) % 2176782336).toString(36).padStart(6, "0")}`

const EPOCH = Date.UTC(2025, 0, 6, 9, 0, 0)
/** The k-th instant of a workload: 37 s apart, an RFC 3339 text. */
export const instant = (k) => new Date(EPOCH + k * 37_000).toISOString()

/** The payload of an `IssueCreated` event, about 350 bytes of JSON (a title, a line of description). */
export const createdFields = (random, id, at, town) => {
  const assignee = random.chance(0.6) ? random.pick(PEOPLE) : undefined
  const labels = random.some(LABELS, 3)
  return {
    id,
    title: title(random),
    description: sentence(random, 20, 60),
    status: "open",
    priority: random.int(5),
    issue_type: random.pick(TYPES),
    ...(assignee === undefined ? {} : { assignee }),
    created_by: random.pick(PEOPLE),
    ...(labels.length === 0 ? {} : { labels }),
    created_at: at,
    updated_at: at,
    source_system: town
  }
}

const updateChanges = (random, at) => {
  switch (random.int(7)) {
    case 0:
      return { status: random.pick(STATUSES_OPEN), updated_at: at }
    case 1:
      return { priority: random.int(5), updated_at: at }
    case 2:
      return { assignee: random.pick(PEOPLE), updated_at: at }
    case 3:
      return { notes: sentence(random, 60, 160), updated_at: at }
    case 4:
      return { description: sentence(random, 120, 240), updated_at: at }
    case 5:
      return { labels: random.some(LABELS, 4), updated_at: at }
    default:
      return { title: title(random), updated_at: at }
  }
}

/**
 * The events of a long-lived town, batch after batch: one issue created for
 * every ten events (so ~100,000 issues over 1,000,000 events), closes, many
 * edits, and now and then a mirror peer added and later removed again. No
 * batch ends with a mirror peer still registered, so any prefix of the log
 * has the same peers as the town started with.
 */
export const townWorkload = ({ town, actor = "bench", prefix = "bd", seed = 1 }) => {
  const random = seededRandom(seed)
  const closed = new Set()
  let k = 0
  let issues = 0
  let mirrors = 0
  let openMirror
  const event = (type, data, at) => ({ type, data, at, actor })
  const next = (last) => {
    const at = instant(k)
    const index = k++
    if (last && openMirror !== undefined) {
      const name = openMirror
      openMirror = undefined
      return event("PeerRemoved", { name }, at)
    }
    if (index % 10 === 0) {
      const id = issueId(prefix, issues++)
      return event("IssueCreated", { id, fields: createdFields(random, id, at, town) }, at)
    }
    if (random.chance(0.002)) {
      if (openMirror === undefined) {
        openMirror = `mirror-${++mirrors}`
        return event("PeerAdded", { name: openMirror, endpoint: `dolthub://bench/${openMirror}`, hasCredentials: false }, at)
      }
      const name = openMirror
      openMirror = undefined
      return event("PeerRemoved", { name }, at)
    }
    const n = random.int(issues)
    const id = issueId(prefix, n)
    if (!closed.has(n) && random.chance(0.07)) {
      closed.add(n)
      return event("IssueClosed", { id, changes: { status: "closed", closed_at: at, close_reason: random.pick(CLOSE_REASONS), updated_at: at } }, at)
    }
    return event("IssueUpdated", { id, changes: updateChanges(random, at) }, at)
  }
  return {
    batch: (size) => {
      const events = new Array(size)
      for (let i = 0; i < size; i++) events[i] = next(i === size - 1)
      return events
    },
    get issues() {
      return issues
    }
  }
}

/** `count` events shaped like what `bd create` appends, for the append benchmarks. */
export const createdEvents = (count, town, seed = 2) => {
  const random = seededRandom(seed)
  const events = new Array(count)
  for (let n = 0; n < count; n++) {
    const id = issueId("bd", n)
    const at = instant(n)
    events[n] = { type: "IssueCreated", data: { id, fields: createdFields(random, id, at, town) }, at, actor: "bench" }
  }
  return events
}

const dependency = (random, id, prefix, count, at) => ({
  issue_id: id,
  depends_on_id: issueId(prefix, random.int(count)),
  type: random.pick(["blocks", "blocks", "related", "parent-child", "discovered-from"]),
  created_at: at,
  created_by: random.pick(PEOPLE)
})

const comment = (random, id, n, at) => ({
  id: n,
  issue_id: id,
  author: random.pick(PEOPLE),
  text: sentence(random, 40, 200),
  created_at: at
})

/**
 * A beads JSONL export of `count` issues with every field beads writes, in
 * beads' member order; about 700 bytes a line. Returns the file's text.
 */
export const beadsJsonl = (count, { prefix = "bd", seed = 3 } = {}) => {
  const random = seededRandom(seed)
  const lines = new Array(count)
  let comments = 0
  for (let n = 0; n < count; n++) {
    const id = issueId(prefix, n)
    const created = instant(n * 3)
    const updated = instant(n * 3 + 1 + random.int(5000))
    const status = random.chance(0.3) ? "closed" : random.pick(STATUSES_OPEN)
    const record = {
      id,
      title: title(random),
      description: sentence(random, 200, 400),
      ...(random.chance(0.3) ? { design: sentence(random, 80, 200) } : {}),
      ...(random.chance(0.3) ? { acceptance_criteria: sentence(random, 60, 160) } : {}),
      ...(random.chance(0.2) ? { notes: sentence(random, 40, 120) } : {}),
      status,
      priority: random.int(5),
      issue_type: random.pick(TYPES),
      ...(random.chance(0.7) ? { assignee: random.pick(PEOPLE) } : {}),
      ...(random.chance(0.3) ? { owner: random.pick(PEOPLE) } : {}),
      created_by: random.pick(PEOPLE),
      labels: random.some(LABELS, 4),
      ...(random.chance(0.4) && n > 0
        ? { dependencies: Array.from({ length: 1 + random.int(2) }, () => dependency(random, id, prefix, n, created)) }
        : {}),
      ...(random.chance(0.2) ? { comments: Array.from({ length: 1 + random.int(2) }, () => comment(random, id, ++comments, updated)) } : {}),
      ...(random.chance(0.1) ? { external_ref: `gh-${1000 + random.int(90000)}` } : {}),
      created_at: created,
      updated_at: updated,
      ...(status === "closed" ? { closed_at: updated, close_reason: random.pick(CLOSE_REASONS) } : {})
    }
    lines[n] = JSON.stringify(record)
  }
  return `${lines.join("\n")}\n`
}
