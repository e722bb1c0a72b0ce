/** The one mapping of a peer's endpoint to the URL Dolt is given for its remote (no server needed). */
import { describe, expect, it } from "vitest"
import { doltRemoteUrl } from "../../src/layers/DoltVersioning.js"

describe("doltRemoteUrl", () => {
  it("gives DoltHub's remote API URL for dolthub://org/repo", () => {
    expect(doltRemoteUrl("dolthub://acme/beads")).toBe("https://doltremoteapi.dolthub.com/acme/beads")
    expect(doltRemoteUrl("DOLTHUB://acme/beads-2")).toBe("https://doltremoteapi.dolthub.com/acme/beads-2")
  })

  it("passes every other endpoint through unchanged", () => {
    for (const endpoint of [
      "gs://bucket/path",
      "s3://bucket/path",
      "file:///srv/remote",
      "https://doltremoteapi.dolthub.com/acme/beads",
      "git@github.com:acme/beads.git",
      "ssh://git@host/acme/beads"
    ]) {
      expect(doltRemoteUrl(endpoint)).toBe(endpoint)
    }
  })
})
