#!/usr/bin/env python3
"""Independent exactly-once check of a kafka-delta table with delta-rs (Python deltalake), for the fault suite.

  check_table.py --table PATH --environment Faults --produced summary.json [--produced ...]
                 [--dead-letter PATH] [--lost TOPIC/P:FROM-UNTIL ...] [--upto-txn]

Each --produced file is a producer summary ({"topic", "records": [{"partition", "offset"[, "kind"]}]}, as written
by scripts/produce_avro.py or scripts/faults/produce_poison.py): the offsets come from the producer's delivery
reports, never from arithmetic. Rows are keyed by (topic, partition, offset), so two topics may share a table.
Records whose "kind" is not "good" are expected in the dead-letter table (when --dead-letter is given) and never
in the table. --lost TOPIC/P:FROM-UNTIL says offsets FROM..UNTIL-1 were deleted before the stream read them
(retention): expected in neither table. --upto-txn expects only the records below each partition's txn version
(a run stopped part-way: what it committed must be exactly the prefix it claims). A table that does not exist
yet (a run killed before its first commit) holds no rows and no txn versions: right only when no record is
expected in it, as under --upto-txn; otherwise the check fails with exit status 2.

Prints one JSON document: rows, expected, duplicates, missing, unexpected (with samples), the table's data files,
the txn version of each `<environment>_<topic>-p<partition>` appId against the next offset after the last produced
record of that partition, and the same comparison for the dead-letter table.
"""
import argparse
import collections
import json
import os
import sys

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError


def positions(path):
    """(topic, partition, offset) of every row of the table at `path`, duplicates kept, and the table."""
    dt = DeltaTable(path)
    kafka = dt.to_pyarrow_table(columns=["_kafka"]).column("_kafka").combine_chunks()
    return list(zip(kafka.field("topic").to_pylist(), kafka.field("partition").to_pylist(), kafka.field("offset").to_pylist())), dt


def compare(found, expected):
    counts = collections.Counter(found)
    present = set(counts)
    missing = sorted(expected - present)
    unexpected = sorted(present - expected)
    return {
        "rows": len(found),
        "expected": len(expected),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "duplicateSample": sorted(p for p, n in counts.items() if n > 1)[:10],
        "missing": len(missing),
        "missingSample": missing[:10],
        "unexpected": len(unexpected),
        "unexpectedSample": unexpected[:10],
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--table", required=True)
    p.add_argument("--environment", required=True)
    p.add_argument("--produced", action="append", default=[])
    p.add_argument("--dead-letter")
    p.add_argument("--lost", action="append", default=[])
    p.add_argument("--upto-txn", action="store_true")
    a = p.parse_args()

    lost = {}
    for item in a.lost:
        where, span = item.rsplit(":", 1)
        lo, hi = span.split("-")
        lost[where] = (int(lo), int(hi))
    produced = []  # (kind, (topic, partition, offset))
    next_offset = {}
    for file in a.produced:
        with open(file) as f:
            summary = json.load(f)
        topic = summary["topic"]
        for r in summary["records"]:
            if "offset" not in r:
                print(f"record {r.get('i')} of {file} has no delivery report", file=sys.stderr)
                sys.exit(2)
            pos = (topic, int(r["partition"]), int(r["offset"]))
            key = f"{topic}/{pos[1]}"
            next_offset[key] = max(next_offset.get(key, 0), pos[2] + 1)
            lo, hi = lost.get(key, (0, 0))
            if lo <= pos[2] < hi:
                continue
            produced.append((r.get("kind", "good"), pos))

    try:
        found, dt = positions(a.table)
    except TableNotFoundError:  # no commit yet: no rows, no txn versions (allowed below only if nothing is expected)
        found, dt = [], None
    txn = {}
    for key in sorted(next_offset):
        topic, part = key.rsplit("/", 1)
        txn[key] = None if dt is None else dt.transaction_version(f"{a.environment}_{topic}-p{part}")
    if a.upto_txn:
        produced = [(k, pos) for k, pos in produced if pos[2] < (txn.get(f"{pos[0]}/{pos[1]}") or 0)]
    good = {pos for kind, pos in produced if kind == "good"}
    bad = {pos for kind, pos in produced if kind != "good"}
    if dt is None and good:
        print(f"table {a.table} does not exist, but {len(good)} records are expected in it", file=sys.stderr)
        sys.exit(2)
    out = compare(found, good)
    out["version"] = None if dt is None else dt.version()
    out["files"] = [] if dt is None else sorted(uri.rsplit("/", 1)[-1] for uri in dt.file_uris())
    out["txn"] = txn
    out["expectedTxn"] = dict(sorted(next_offset.items()))
    out["txnOk"] = out["txn"] == out["expectedTxn"]
    if a.dead_letter:
        try:
            dl_found, _ = positions(a.dead_letter)
        except Exception:  # no dead-letter table: right only when nothing was to be dead-lettered
            if bad:
                raise
            dl_found = []
        out["deadLetter"] = compare(dl_found, bad)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # delta-rs's runtime threads can abort the interpreter's normal shutdown ("terminate called without an
    # active exception", SIGABRT; delta-io/delta-rs#2184) after all output is written; leave without that teardown.
    os._exit(0)
