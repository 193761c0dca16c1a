"""Reads a Delta table with delta-rs (Python deltalake) and prints one JSON document on stdout.

Usage: read_table.py <table> [appId ...]   (DELTA_STORAGE_OPTIONS='{"AWS_ENDPOINT_URL": ...}' for an s3:// table)
Values are printed in a canonical, lossless form so the TypeScript tests can compare them exactly:
integers as decimal strings, decimals as their exact text, timestamps as microseconds since the epoch (string),
dates as YYYY-MM-DD, binary as hex, maps as [key, value] pairs, NaN/Infinity as strings.
"""
import datetime
import decimal
import json
import math
import os
import sys

from deltalake import DeltaTable

EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
EPOCH = datetime.datetime(1970, 1, 1)


def canon(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return value
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        delta = value - (EPOCH_UTC if value.tzinfo is not None else EPOCH)
        return str((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, tuple):
        return [canon(v) for v in value]
    if isinstance(value, list):
        return [canon(v) for v in value]
    if isinstance(value, dict):
        return {k: canon(v) for k, v in value.items()}
    return str(value)


def main():
    path = sys.argv[1]
    app_ids = sys.argv[2:]
    # an object-store table (s3://...) takes delta-rs storage options as JSON, e.g. the local S3 server's endpoint
    storage_options = json.loads(os.environ.get("DELTA_STORAGE_OPTIONS", "{}")) or None
    dt = DeltaTable(path, storage_options=storage_options)
    table = dt.to_pyarrow_table()
    protocol = dt.protocol()
    out = {
        "version": dt.version(),
        "numRows": table.num_rows,
        "schema": [f"{f.name}:{f.type}" for f in table.schema],
        "rows": [canon(row) for row in table.to_pylist()],
        "partitionColumns": dt.metadata().partition_columns,
        "protocol": [protocol.min_reader_version, protocol.min_writer_version],
        "history": [{"version": h.get("version"), "operation": h.get("operation")} for h in dt.history()],
        "txn": {app_id: dt.transaction_version(app_id) for app_id in app_ids},
        "files": len(dt.file_uris()),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # delta-rs's runtime threads can abort the interpreter's normal shutdown ("terminate called without an
    # active exception", SIGABRT) after all output is written; leave without running that teardown.
    os._exit(0)
