"""The Spark side of `npm run bench`: the same job as `kafka-delta run --trigger available-now`, in PySpark
Structured Streaming. Reads a topic from the earliest offset, strips the 5-byte Confluent header, decodes with
`from_avro` and the writer schema, shapes the row like kafka-delta's (value columns + a `_kafka` struct), and
appends to a Delta table with `trigger(availableNow=True)` and a checkpoint location. Prints one JSON line with
the session start-up and query times, so the report can show how much of Spark's wall time is JVM start-up.

Usage: spark_job.py <bootstrap> <topic> <schema.avsc> <table dir> <checkpoint dir>
Env: SPARK_MASTER (default local[*]), SPARK_DRIVER_MEMORY (default 2g), SPARK_PACKAGES (override the jars).
"""
import json
import os
import sys
import time

SPARK_VERSION = "4.2.0"
DEFAULT_PACKAGES = ",".join([
    f"org.apache.spark:spark-sql-kafka-0-10_2.13:{SPARK_VERSION}",
    f"org.apache.spark:spark-avro_2.13:{SPARK_VERSION}",
    # delta-spark 4.4.1's pip package asks for a jar Maven Central lacks; 4.4.0 is there (see spark_read.py)
    "io.delta:delta-spark_4.2_2.13:4.4.0",
])


def main():
    bootstrap, topic, schema_file, table, checkpoint = sys.argv[1:6]
    started = time.time()
    from pyspark.sql import SparkSession
    from pyspark.sql.avro.functions import from_avro
    from pyspark.sql import functions as F

    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, "..", ".."))
    spark = (
        SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[*]"))
        .appName("kafka-delta-bench")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.jars.packages", os.environ.get("SPARK_PACKAGES", DEFAULT_PACKAGES))
        .config("spark.jars.ivySettings", os.path.join(root, "scripts", "ivysettings.xml"))
        .config("spark.jars.ivy", os.path.join(root, ".cache", "ivy"))
        .config("spark.jars.excludes", "org.slf4j:slf4j-api")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    session_ready = time.time()
    with open(schema_file) as f:
        schema_json = f.read()

    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "true")
        .load()
    )
    value = from_avro(F.expr("substring(value, 6, length(value) - 5)"), schema_json, {"mode": "FAILFAST"})
    rows = raw.select(
        value.alias("v"),
        F.struct(
            F.col("topic").alias("topic"),
            F.col("partition").alias("partition"),
            F.col("offset").alias("offset"),
            F.col("timestamp").alias("timestamp"),
            F.col("key").alias("key"),
        ).alias("_kafka"),
    ).select("v.*", "_kafka")
    query = (
        rows.writeStream.format("delta")
        .option("checkpointLocation", checkpoint)
        .outputMode("append")
        .trigger(availableNow=True)
        .start(table)
    )
    query.awaitTermination()
    finished = time.time()
    progress = query.recentProgress
    spark.stop()
    print(json.dumps({
        "sessionSeconds": round(session_ready - started, 3),
        "querySeconds": round(finished - session_ready, 3),
        "batches": len([p for p in progress if p.get("numInputRows", 0) > 0]),
        "inputRows": sum(p.get("numInputRows", 0) for p in progress),
    }))


if __name__ == "__main__":
    main()
