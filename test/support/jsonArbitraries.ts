/**
 * JSON-like values for property tests of canonical JSON and of the lines
 * that hold it: strings and keys as the caller chooses (the tricky ones are
 * the point), numbers, booleans, null, undefined members, arrays, records.
 */
import { FastCheck as fc } from "effect"

export const jsonLike = (strings: fc.Arbitrary<string>, keys: fc.Arbitrary<string>): fc.Arbitrary<unknown> =>
  fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      strings,
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.array(tie("value")),
      fc.dictionary(keys, tie("value"))
    )
  })).value
