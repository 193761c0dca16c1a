import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { formatLocation, joinLocation, type Location, locationProblem, parseLocation } from "../../src/config/location.ts"

const ok = (text: string): Location => {
  const parsed = parseLocation(text)
  if (Result.isFailure(parsed)) throw new Error(`${text}: ${parsed.failure}`)
  return parsed.success
}
const problem = (text: string): string => {
  const parsed = parseLocation(text)
  if (Result.isSuccess(parsed)) throw new Error(`${text} parsed`)
  return parsed.failure
}

describe("locations", () => {
  it("parses local paths, S3, s3a, abfss and az URLs", () => {
    assert.deepStrictEqual(ok("./lakehouse"), { _tag: "Local", path: "./lakehouse" })
    assert.deepStrictEqual(ok("s3://lake/a/b/"), { _tag: "S3", scheme: "s3", bucket: "lake", prefix: "a/b" })
    assert.deepStrictEqual(ok("s3a://my.lake-1"), { _tag: "S3", scheme: "s3a", bucket: "my.lake-1", prefix: "" })
    assert.deepStrictEqual(ok("abfss://data@acct.dfs.core.windows.net/wh"), {
      _tag: "Azure", scheme: "abfss", container: "data", account: "acct", host: "acct.dfs.core.windows.net", prefix: "wh"
    })
    assert.deepStrictEqual(ok("az://data/wh//x"), { _tag: "Azure", scheme: "az", container: "data", account: undefined, host: undefined, prefix: "wh/x" })
  })

  it("refuses malformed URLs and other schemes, saying why", () => {
    assert.include(problem("gs://lake/wh"), "the scheme gs:// is not supported (Google Cloud Storage is not supported yet)")
    assert.include(problem("http://x/y"), "the scheme http:// is not supported")
    assert.include(problem("s3://"), "is not an S3 bucket name")
    assert.include(problem("s3://Upper/x"), `"Upper" is not an S3 bucket name`)
    assert.include(problem("s3://lake/a/../b"), "may not contain . or .. segments")
    assert.include(problem("s3://lake/a?x=1"), "query or fragment")
    assert.include(problem("abfss://data/wh"), "names container@account.dfs.core.windows.net")
    assert.include(problem("abfss://data@/wh"), "is not an Azure storage host")
    assert.include(problem("az://Data_1/wh"), "is not an Azure container name")
    assert.include(problem(""), "empty location")
    assert.include(locationProblem("gs://x/y") ?? "", "expected a local path, s3://bucket/prefix")
    assert.strictEqual(locationProblem("s3://lake/x"), undefined)
  })

  it("joins table paths onto a warehouse and prints the URL back", () => {
    assert.strictEqual(formatLocation(joinLocation(ok("s3://lake/wh/"), ["cat", "sch", "t"])), "s3://lake/wh/cat/sch/t")
    assert.strictEqual(formatLocation(joinLocation(ok("s3a://lake"), ["t"])), "s3a://lake/t")
    assert.strictEqual(
      formatLocation(joinLocation(ok("abfss://data@acct.dfs.core.windows.net"), ["a", "b"])),
      "abfss://data@acct.dfs.core.windows.net/a/b"
    )
    assert.strictEqual(formatLocation(joinLocation(ok("az://data/x"), ["y"])), "az://data/x/y")
    assert.strictEqual(formatLocation(joinLocation(ok("wh"), ["a"], "/base")), "/base/wh/a")
    assert.strictEqual(formatLocation(joinLocation(ok("/abs/wh"), ["a"], "/base")), "/abs/wh/a")
  })
})
