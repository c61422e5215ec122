"""Reads the OWASP CRS go-ftw regression tests (YAML) of the given rule files and prints
one JSON object per stage on stdout: the request (method, uri, headers, body) and the rule
ids it must and must not trigger. Used by crs.rs; the tests stay in ../shared."""
import glob
import json
import os
import sys

import yaml

root, prefixes = sys.argv[1], sys.argv[2:]
for d in sorted(os.listdir(root)):
    if not any(d.startswith(f"REQUEST-{p}") for p in prefixes):
        continue
    for path in sorted(glob.glob(os.path.join(root, d, "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        if not isinstance(doc, dict):
            continue
        for test in doc.get("tests") or []:
            for n, stage in enumerate(test.get("stages") or []):
                stage = stage.get("stage", stage)
                inp = stage.get("input") or {}
                log = (stage.get("output") or {}).get("log") or {}
                data = inp.get("data")
                if isinstance(data, list):
                    data = "\r\n".join(str(x) for x in data)
                headers = inp.get("headers") or {}
                if isinstance(headers, dict):
                    headers = [[str(k), str(v)] for k, v in headers.items()]
                else:
                    headers = [[str(h.get("name")), str(h.get("value"))] for h in headers]
                print(json.dumps({
                    "dir": d[8:11],
                    "id": f"{os.path.basename(path)[:-5]}-{test.get('test_id')}-{n}",
                    "method": str(inp.get("method", "GET")),
                    "uri": str(inp.get("uri", "/")),
                    "headers": headers,
                    "data": None if data is None else str(data),
                    "encoded": "encoded_request" in inp,
                    "expect": [int(x) for x in log.get("expect_ids") or []],
                    "no_expect": [int(x) for x in log.get("no_expect_ids") or []],
                }))
