/**
 * Finding the lines of a group just sealed (`groupOrigins`, src/layers/LineRefs.ts):
 * a sync's foreign events (another town's, their townSeqs with gaps) and
 * this town's own after them, each found from its id, town and townSeq.
 */
import { describe, expect, it } from "@effect/vitest"
import { initialClock } from "../../src/domain/Clock.js"
import { IssuesSlice } from "../../src/domain/IssueState.js"
import { type Envelope, type ForeignEvent, GENESIS_HASH } from "../../src/events/Envelope.js"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { groupOrigins, segmentLines } from "../../src/layers/LineRefs.js"
import { segmentPath } from "../../src/layers/LogFiles.js"
import { sealGroup } from "../../src/layers/LogSeal.js"

const imported = (id: string) => ({ type: "IssueImported", data: { fields: { id, title: id }, id }, at: "2025-01-06T09:00:00.000Z", actor: "a" })

describe("groupOrigins", () => {
  it("finds the line of every event of a group, foreign or own, and only for the object its data carries", () => {
    const foreign = [3, 7, 8].map((townSeq, i): ForeignEvent => ({
      id: `other:${townSeq}`,
      town: "other",
      townSeq,
      lamport: 10 + i,
      seen: {},
      ...imported(`bd-f${townSeq}`)
    }))
    const sealed = sealGroup("0123456789abcdef", { seq: 40, hash: GENESIS_HASH }, initialClock, foreign, [imported("bd-o1"), imported("bd-o2")])
    const bytes = Buffer.concat(sealed.chunks)
    // The group was appended to segment 3 after 500 bytes already there.
    const originOf = groupOrigins(sealed.envelopes, sealed.lineAt, { segment: 3, offset: 500 }, IssuesSlice.entries!.originKey)
    sealed.envelopes.forEach((event: Envelope, i) => {
      const key = IssuesSlice.entries!.originKey(event)!
      const ref = originOf(key, event.id, event.town, event.townSeq)
      expect(ref).toEqual({ segment: 3, offset: 500 + sealed.lineAt(i).offset, length: sealed.lineAt(i).length, seq: 41 + i })
      expect(JSON.parse(bytes.toString("utf8", ref!.offset - 500, ref!.offset - 500 + ref!.length))).toEqual(event)
      // Another object than the event's fields (an issue changed since), or another event's id: no line.
      expect(originOf({ ...key }, event.id, event.town, event.townSeq)).toBeUndefined()
      expect(originOf(key, `${event.id}0`, event.town, event.townSeq)).toBeUndefined()
    })
    expect(originOf({}, "nobody:1", "nobody", 1)).toBeUndefined()
    expect(originOf({}, "other:5", "other", 5)).toBeUndefined()
  })
})

describe("segmentLines", () => {
  it("reads a line where it lies, and nothing past the end of its segment, however long the reference says it is", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bd-lines-"))
    try {
      fs.writeFileSync(segmentPath(dir, 1), "{\"a\":1}\n{\"b\":2}\n")
      for (const whole of [false, true]) {
        const lines = segmentLines(dir, whole)
        expect(lines.line({ segment: 1, offset: 8, length: 7, seq: 2 })).toBe("{\"b\":2}")
        for (const length of [9, 2 ** 31, Number.MAX_SAFE_INTEGER]) expect(lines.line({ segment: 1, offset: 8, length, seq: 2 })).toBeUndefined()
        expect(lines.line({ segment: 2, offset: 0, length: 7, seq: 1 })).toBeUndefined()
        lines.close()
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
