"""Solves an ALTCHA challenge (JSON on stdin) with the reference implementation, the
`altcha` package, and prints the base64 payload to send back as `altcha`."""
import json
import sys

from altcha.v1 import Payload, solve_challenge

c = json.load(sys.stdin)
max_number = c.get("maxNumber", c.get("maxnumber"))
solution = solve_challenge(c["challenge"], c["salt"], c["algorithm"], max_number, 0)
if solution is None:
    sys.exit("no solution")
print(Payload(c["algorithm"], c["challenge"], solution.number, c["salt"], c["signature"]).to_base64())
