#!/bin/sh
# A PostgreSQL database target through the pipeline, on a private server
# (tests/pg.sh): its URL is a secret reference the worker resolves; the scan
# lands as one commit; a wrong password fails the target; the password is
# nowhere in traces, results, run records, sentinels or history.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"

PW=pg-s3cret-pw-9731
pg=$(sh "$KTX_TOP_SRCDIR/tests/pg.sh" start) || {
	echo "FAIL: tests/pg.sh could not start a server" >&2
	exit 1
}
pgdir=$(echo "$pg" | sed -n 1p)
conninfo=$(echo "$pg" | sed -n 2p)
trap 'sh "$KTX_TOP_SRCDIR/tests/pg.sh" stop "$pgdir"; cleanup' EXIT
psql=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/psql
[ -x "$psql" ] || psql=psql
"$psql" -q -v ON_ERROR_STOP=1 "$conninfo" >/dev/null <<SQL || { echo "FAIL: schema" >&2; exit 1; }
CREATE SCHEMA crm;
CREATE TABLE crm.customers (customer_id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE crm.orders (order_id int PRIMARY KEY,
    customer_id int NOT NULL REFERENCES crm.customers);
CREATE ROLE ktx_password LOGIN PASSWORD '$PW';
GRANT USAGE ON SCHEMA crm TO ktx_password;
GRANT SELECT ON ALL TABLES IN SCHEMA crm TO ktx_password;
SQL
url="host=$pgdir/sock port=5432 user=ktx_password dbname=postgres password="

mkktx pg
config <<EOF
connections:
  wh:
    driver: postgres
    url: env:KTX_TEST_PG_URL
EOF
unset KTX_TEST_PG_URL
ingest
check "unset: fails before anything runs" result wh '
    .status == "failed" and .worktree == null and
    .detail == "connection \"wh\": \"url\" names the environment variable \"KTX_TEST_PG_URL\", which is not set"'

KTX_TEST_PG_URL="${url}wrong-$PW" ingest
check "wrong password: exit 1" [ $? -eq 1 ]
check "wrong password: the scan fails, the session is kept" result wh '
    .status == "failed" and
    (.detail | startswith("connection \"wh\": could not connect to the PostgreSQL server")) and
    (.worktree | test("/.ktx/worktrees/session-"))'

KTX_TEST_PG_URL="$url$PW" ingest
check "scan: exit 0" [ $? -eq 0 ]
check "scan: done with a commit" result wh '.status == "done" and .commit != null'
check "scan: the shard of schema crm with both tables" sh -c "
    git -C '$P' show HEAD:semantic-layer/wh/_schema/crm.yaml | grep -q '^  customers:\$' &&
    git -C '$P' show HEAD:semantic-layer/wh/_schema/crm.yaml | grep -q '^  orders:\$'"
check "scan: the raw snapshot under live-database" sh -c "
    git -C '$P' ls-tree -r --name-only HEAD raw-sources/wh/live-database/ |
    grep -q '/connection.json\$'"
check "scan: the password is nowhere" sh -c "
    ! grep -rqs -e '$PW' '$P/.ktx' '$T/out' '$T/err' &&
    ! git -C '$P' log -p --all | grep -q -e '$PW'"

finish
