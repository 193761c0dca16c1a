/**
 * The Azure location parser: the two URL forms (abfss:// with its account host, az:// without), the blob endpoint
 * derived from a dfs host, and a failure naming the accepted forms for anything else.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { azureLocationFromParts, parseAzureUrl } from "../../layers/storage/azure.ts"

const ok = (url: string) => {
  const result = parseAzureUrl(url)
  if (Result.isFailure(result)) throw new Error(`expected ${url} to parse: ${result.failure}`)
  return result.success
}
const bad = (url: string) => {
  const result = parseAzureUrl(url)
  if (Result.isSuccess(result)) throw new Error(`expected ${url} to be rejected`)
  return result.failure
}

describe("parseAzureUrl", () => {
  it("abfss: container, account, prefix and the blob endpoint of the dfs host", () => {
    assert.deepStrictEqual(ok("abfss://lake@myacct.dfs.core.windows.net/bronze/orders/"), {
      url: "abfss://lake@myacct.dfs.core.windows.net/bronze/orders",
      account: "myacct",
      container: "lake",
      prefix: "bronze/orders",
      endpoint: "https://myacct.blob.core.windows.net"
    })
  })

  it("abfss in a sovereign cloud keeps its domain; no prefix is the container root", () => {
    const location = ok("abfss://lake@acct01.dfs.core.chinacloudapi.cn")
    assert.strictEqual(location.endpoint, "https://acct01.blob.core.chinacloudapi.cn")
    assert.strictEqual(location.prefix, "")
    assert.strictEqual(location.url, "abfss://lake@acct01.dfs.core.chinacloudapi.cn")
  })

  it("az: container and prefix, no account (the endpoint setting names it)", () => {
    assert.deepStrictEqual(ok("az://tables/a//b"), {
      url: "az://tables/a/b",
      account: undefined,
      container: "tables",
      prefix: "a/b",
      endpoint: undefined
    })
  })

  it("rejects other schemes, a host without container@account.dfs, and invalid container names", () => {
    expect(bad("s3://bucket/x")).toContain("abfss://<container>@<account>.dfs.core.windows.net/<prefix> or az://<container>/<prefix>")
    expect(bad("abfss://myacct.dfs.core.windows.net/x")).toContain("<container>@<account>.dfs")
    expect(bad("abfss://lake@myacct.blob.core.windows.net/x")).toContain("<container>@<account>.dfs")
    expect(bad("az://Upper_Case/x")).toContain(`"Upper_Case" is not a container name`)
    expect(bad("az://lake@acct/x")).toContain("az:// takes no account")
    expect(bad("/local/path")).toContain(`"/local/path" is not an Azure URL`)
  })
})

describe("azureLocationFromParts", () => {
  it("takes the parts src/config's parser gives: a blob endpoint from the dfs host, the URL printed back", () => {
    assert.deepStrictEqual(
      azureLocationFromParts({ scheme: "abfss", container: "lake", account: "myacct", host: "myacct.dfs.core.windows.net", prefix: "a/b" }),
      { url: "abfss://lake@myacct.dfs.core.windows.net/a/b", account: "myacct", container: "lake", prefix: "a/b", endpoint: "https://myacct.blob.core.windows.net" }
    )
    assert.strictEqual(
      azureLocationFromParts({ scheme: "abfss", container: "lake", account: "myacct", host: "myacct.blob.core.windows.net", prefix: "" }).endpoint,
      "https://myacct.blob.core.windows.net"
    )
  })
})
