#!/usr/bin/env bash
# After the test run: every database the tests left behind (the SQLite files with their WAL,
# byte for byte, and a pg_dump of every test database of the throwaway cluster) is searched
# for the emails, display names and passwords the tests used. Personal data is sealed under
# per-user data keys and passwords are hashed, so there must be none.
#
#   scripts/scan-test-data.sh MARKER_FILE     (only SQLite files newer than MARKER_FILE)
set -euo pipefail
MARKER=$1
PATTERN='[A-Za-z0-9._%+-]+@(example\.com|envelope\.example|service\.invalid)|correct horse battery staple 42|plinth marmalade kayak|Alice Liddell|Bob Builder'
found=0
files=0
dumps=0
while IFS= read -r f; do
  files=$((files + 1))
  if grep -a -q -E "$PATTERN" "$f"; then
    echo "personal data or a password in $f:" >&2
    grep -a -o -E "$PATTERN" "$f" | sort -u | head -5 >&2
    found=1
  fi
done < <(find "${TMPDIR:-/tmp}" -maxdepth 2 -path '*portcullis-test-*' \( -name '*.db' -o -name '*.db-wal' \) -newer "$MARKER" 2>/dev/null)
if [ -n "${PORTCULLIS_TEST_DATABASE_URL:-}" ]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  base=${PORTCULLIS_TEST_DATABASE_URL%/*}
  for db in $("$PGBIN/psql" "$PORTCULLIS_TEST_DATABASE_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'pcl\_%'"); do
    dumps=$((dumps + 1))
    if "$PGBIN/pg_dump" --data-only "$base/$db" | grep -q -E "$PATTERN"; then
      echo "personal data or a password in the dump of $db:" >&2
      "$PGBIN/pg_dump" --data-only "$base/$db" | grep -o -E "$PATTERN" | sort -u | head -5 >&2
      found=1
    fi
  done
fi
echo "scanned $files SQLite files and $dumps PostgreSQL dumps left by the tests: $([ $found = 0 ] && echo 'no email, name or password' || echo 'FOUND personal data')"
[ $found = 0 ] && [ $((files + dumps)) -gt 0 ]
