/**
 * The Arrow schema of a classic V1 log checkpoint, field for field and in the order Spark writes it (see
 * delta-writer.md §6 and pitfalls 1-3 and 12): one column per action kind, each row with exactly one non-null
 * column, absent nested structs null rather than full of nulls, feature lists null on legacy protocols.
 */
import * as Arrow from "apache-arrow"

const f = (name: string, type: Arrow.DataType, nullable = true) => new Arrow.Field(name, type, nullable)
const str = () => new Arrow.Utf8()
const long = () => new Arrow.Int64()
const int = () => new Arrow.Int32()
const bool = () => new Arrow.Bool()
const stringMap = () =>
  new Arrow.Map_(
    f("key_value", new Arrow.Struct<any>([f("key", str(), false), f("value", str(), true)]), false) as Arrow.Field<
      Arrow.Struct<any>
    >
  )
const stringList = () => new Arrow.List(f("element", str(), true))
const deletionVector = () =>
  new Arrow.Struct([
    f("storageType", str()),
    f("pathOrInlineDv", str()),
    f("offset", int()),
    f("sizeInBytes", int()),
    f("cardinality", long()),
    f("maxRowIndex", long())
  ])

/** The checkpoint schema; `addExtras` (`partitionValues_parsed`, `stats_parsed`) go at the end of `add`. */
export const checkpointSchema = (addExtras: ReadonlyArray<Arrow.Field> = []): Arrow.Schema =>
  new Arrow.Schema([
    f("txn", new Arrow.Struct([f("appId", str()), f("version", long()), f("lastUpdated", long())])),
    f(
      "add",
      new Arrow.Struct([
        f("path", str()),
        f("partitionValues", stringMap()),
        f("size", long()),
        f("modificationTime", long()),
        f("dataChange", bool()),
        f("tags", stringMap()),
        f("deletionVector", deletionVector()),
        f("baseRowId", long()),
        f("defaultRowCommitVersion", long()),
        f("stats", str()),
        ...addExtras
      ])
    ),
    f(
      "remove",
      new Arrow.Struct([
        f("path", str()),
        f("deletionTimestamp", long()),
        f("dataChange", bool()),
        f("extendedFileMetadata", bool()),
        f("partitionValues", stringMap()),
        f("size", long()),
        f("deletionVector", deletionVector()),
        f("baseRowId", long()),
        f("defaultRowCommitVersion", long())
      ])
    ),
    f(
      "metaData",
      new Arrow.Struct([
        f("id", str()),
        f("name", str()),
        f("description", str()),
        f("format", new Arrow.Struct([f("provider", str()), f("options", stringMap())])),
        f("schemaString", str()),
        f("partitionColumns", stringList()),
        f("configuration", stringMap()),
        f("createdTime", long())
      ])
    ),
    f(
      "protocol",
      new Arrow.Struct([
        f("minReaderVersion", int()),
        f("minWriterVersion", int()),
        f("readerFeatures", stringList()),
        f("writerFeatures", stringList())
      ])
    ),
    f("domainMetadata", new Arrow.Struct([f("domain", str()), f("configuration", str()), f("removed", bool())]))
  ])
