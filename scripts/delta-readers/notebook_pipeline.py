"""The notebook's pipeline, as Databricks users run it, in open-source PySpark: Kafka source, `from_avro` on the
payload after the 5-byte Confluent header (OSS Spark has no registry-aware from_avro, so the writer schema is
given), `.alias("value")`, Delta sink with a checkpoint location, trigger availableNow. The tests use it to
make a real Spark checkpoint and table for `kafka-delta migrate`.

Usage: notebook_pipeline.py <bootstrap> <topic> <schema.avsc> <table> <checkpoint> [maxOffsetsPerTrigger]
Prints {"queryId", "batches"} on stdout. Jars come from Maven Central through Ivy (scripts/ivysettings.xml; cache
under .cache/ivy of the working directory). Override the versions with DELTA_SPARK_PACKAGE / SPARK_VERSION.
"""
import json
import os
import sys


def main():
    bootstrap, topic, schema_file, table, checkpoint = sys.argv[1:6]
    max_offsets = sys.argv[6] if len(sys.argv) > 6 else None
    from pyspark.sql import SparkSession
    from pyspark.sql.avro.functions import from_avro
    from pyspark.sql.functions import expr

    import pyspark

    spark_version = os.environ.get("SPARK_VERSION", pyspark.__version__)
    packages = ",".join([
        os.environ.get("DELTA_SPARK_PACKAGE", "io.delta:delta-spark_4.2_2.13:4.4.0"),
        f"org.apache.spark:spark-sql-kafka-0-10_2.13:{spark_version}",
        f"org.apache.spark:spark-avro_2.13:{spark_version}",
    ])
    here = os.path.dirname(os.path.abspath(__file__))
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("kafka-delta-notebook")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.databricks.delta.snapshotPartitions", "1")
        .config("spark.driver.memory", "1g")
        .config("spark.jars.packages", packages)
        .config("spark.jars.ivySettings", os.path.join(here, "..", "ivysettings.xml"))
        .config("spark.jars.excludes", os.environ.get("DELTA_SPARK_EXCLUDES", "org.slf4j:slf4j-api"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    with open(schema_file) as f:
        schema = f.read()
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
    )
    if max_offsets is not None:
        reader = reader.option("maxOffsetsPerTrigger", max_offsets)
    decoded = reader.load().select(from_avro(expr("substring(value, 6, length(value) - 5)"), schema).alias("value"))
    query = (
        decoded.writeStream.format("delta")
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start(table)
    )
    query.awaitTermination()
    batches = [p["batchId"] for p in query.recentProgress]
    print(json.dumps({"queryId": str(query.id), "batches": batches}))
    spark.stop()


if __name__ == "__main__":
    main()
