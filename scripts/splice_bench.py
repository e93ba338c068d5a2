#!/usr/bin/env python3
"""Replaces the sections of BENCHMARKS.md between `<!-- bench:NAME -->` and
`<!-- /bench:NAME -->` with the tables the benchmarks wrote to DIR/NAME.md.

usage: splice_bench.py BENCHMARKS.md DIR
"""
import pathlib
import sys

doc_path, out_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
doc = doc_path.read_text() if doc_path.exists() else "# Benchmarks\n"
for table in sorted(out_dir.glob("*.md")):
    name = table.stem
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = f"{begin}\n{table.read_text().strip()}\n{end}"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        doc = head + section + rest.split(end, 1)[1]
    else:
        doc = doc.rstrip("\n") + f"\n\n{section}\n"
    print(f"{doc_path}: section {name} updated from {table}")
doc_path.write_text(doc)
