"""Reads a Delta table with Apache Spark + delta-spark (local[1]) and prints one JSON document on stdout,
values in the same canonical form as read_table.py.

Usage: spark_read.py <table>
Spark fetches the delta-spark jar from Maven Central through Ivy on first use (cached in ~/.ivy2*). The jar is
named explicitly instead of through `configure_spark_with_delta_pip`: pip's delta-spark 4.4.1 asks for
io.delta:delta-spark_4.2_2.13:4.4.1, which Maven Central does not have (4.4.0 is the newest there). Override
with DELTA_SPARK_PACKAGE.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from read_table import canon  # noqa: E402


def main():
    started = time.time()
    from pyspark.sql import SparkSession

    package = os.environ.get("DELTA_SPARK_PACKAGE", "io.delta:delta-spark_4.2_2.13:4.4.0")

    builder = (
        SparkSession.builder.master("local[1]")
        .appName("kafka-delta-reader")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.jars.packages", package)
        # ~/.m2 may hold a pom without its jar (Ivy then fails); Spark ships slf4j itself.
        .config("spark.jars.excludes", os.environ.get("DELTA_SPARK_EXCLUDES", "org.slf4j:slf4j-api"))
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    path = sys.argv[1]
    df = spark.read.format("delta").load(path)
    table = df.toArrow()
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version", "operation").collect()
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0]
    out = {
        "numRows": df.count(),
        "schema": [f"{f.name}:{f.dataType.simpleString()}" for f in df.schema.fields],
        "rows": [canon(row) for row in table.to_pylist()],
        "history": [{"version": h["version"], "operation": h["operation"]} for h in history],
        "partitionColumns": list(detail["partitionColumns"]),
        "numFiles": detail["numFiles"],
        "seconds": round(time.time() - started, 1),
    }
    json.dump(out, sys.stdout)
    spark.stop()


if __name__ == "__main__":
    main()
