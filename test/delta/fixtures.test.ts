/**
 * The Spark-written fixture tables ship inside the repository, so a clone anywhere runs the Delta tests.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fixture, fixturesDirectory } from "./support.ts"

const repo = path.resolve(import.meta.dirname, "../..")

describe("Spark fixture tables", () => {
  it("are read from inside the repository, with their licence beside them", () => {
    const relative = path.relative(repo, fixturesDirectory)
    assert.isFalse(relative.startsWith("..") || path.isAbsolute(relative), `fixtures at ${fixturesDirectory}, outside ${repo}`)
    for (const name of ["basic_append", "basic_partitioned", "multi_partitioned", "with_schema_change"]) {
      assert.isTrue(fs.existsSync(path.join(fixture(name), "_delta_log", "00000000000000000000.json")), name)
    }
    assert.match(fs.readFileSync(path.join(fixturesDirectory, "README.md"), "utf8"), /Apache-2\.0/)
  })
})
