#!/usr/bin/env bash
# Copies every row of a SecureTodo SQLite database into an empty, migrated
# PostgreSQL database (docs/scaling.md, "Moving the data").
#
#   DATABASE_URL=postgres://USER:PASS@HOST:PORT/DB securetodo migrate
#   scripts/sqlite-to-postgres.sh data/securetodo.db postgres://USER:PASS@HOST:PORT/DB
#
# Needs sqlite3 (3.26 or later), psql and tsort (coreutils). Stop the
# SQLite instance first, or at least stop its writes: the copy reads a
# snapshot taken when it starts (SQLite's online backup), so writes after
# that are not copied.
#
# What it does, all driven by the two catalogs (new tables and columns are
# picked up without editing this script):
# - refuses unless both databases are at the same migration version (run
#   `securetodo migrate` against both with the same binary first);
# - takes the tables from PostgreSQL's catalog (minus Diesel's migration
#   table), refuses if SQLite has a table PostgreSQL lacks, and copies them
#   parents first (foreign keys from pg_constraint, ordered with tsort);
# - per table, the columns are PostgreSQL's non-generated ones; a SQLite
#   column PostgreSQL lacks, or a required PostgreSQL column SQLite lacks, is
#   refused (no silent data loss);
# - values travel hex-encoded (no quoting, newline or encoding pitfalls), NULL
#   stays NULL, '' stays ''; SQLite's 0/1 booleans become false/true, its
#   text (or Julian-day) timestamps and dates become PostgreSQL values;
# - in one transaction: refuses a target with any row in any of these
#   tables, copies, checks every table's row count, then moves each id
#   sequence past the largest id copied (setval), so new rows get fresh ids.
# Nothing is written unless everything succeeds. The password in the URL
# is never printed.
set -euo pipefail

die() { echo "sqlite-to-postgres: $*" >&2; exit 1; }
say() { echo "sqlite-to-postgres: $*"; }

[ $# -eq 2 ] || die "usage: $0 SOURCE.db postgres://USER:PASS@HOST:PORT/DB"
source_db=$1
target=$2
[ -f "$source_db" ] || die "$source_db: no such file"
case "$target" in
  postgres://* | postgresql://*) ;;
  *) die "the target must be a postgres:// URL" ;;
esac
for tool in sqlite3 psql tsort; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The path goes into psql's \copy ... FROM PROGRAM '...': keep it plain.
[[ "$work" =~ ^[A-Za-z0-9/._-]+$ ]] || die "temporary directory $work has unusual characters; set TMPDIR"

pg() { psql -X -q -At -v ON_ERROR_STOP=1 "$target" "$@"; }
snapshot="$work/source.db"
sq() { sqlite3 -batch -bail -readonly -init /dev/null "$snapshot" "$@"; }

# A consistent snapshot, even if the app is still running.
sqlite3 -batch -bail -init /dev/null "$source_db" ".backup '$snapshot'" \
  || die "cannot read $source_db"

pg -c 'SELECT 1' >/dev/null || die "cannot connect to the target database"

# ------------------------------------------------------ same schema version --
has_pg_migrations=$(pg -c "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL")
[ "$has_pg_migrations" = t ] \
  || die "the target is not migrated: run DATABASE_URL=<target> securetodo migrate first"
pg_versions=$(pg -c "SELECT version FROM __diesel_schema_migrations ORDER BY version")
sqlite_versions=$(sq "SELECT version FROM __diesel_schema_migrations ORDER BY version" 2>/dev/null) \
  || die "$source_db is not a SecureTodo database (no __diesel_schema_migrations)"
if [ "$pg_versions" != "$sqlite_versions" ]; then
  die "the databases are at different migration versions; run \`securetodo migrate\` against both with the same binary first
  only in SQLite:     $(comm -23 <(echo "$sqlite_versions") <(echo "$pg_versions") | tr '\n' ' ')
  only in PostgreSQL: $(comm -13 <(echo "$sqlite_versions") <(echo "$pg_versions") | tr '\n' ' ')"
fi

# ------------------------------------------------------------------ tables --
ident='^[a-z_][a-z0-9_]*$'
pg_tables=$(pg -c "SELECT table_name FROM information_schema.tables
                   WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                     AND table_name <> '__diesel_schema_migrations' ORDER BY 1")
sqlite_tables=$(sq "SELECT name FROM sqlite_master WHERE type = 'table'
                    AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                    AND name <> '__diesel_schema_migrations' ORDER BY 1")
sqlite_only=$(comm -23 <(echo "$sqlite_tables") <(echo "$pg_tables"))
[ -z "$sqlite_only" ] || die "tables only in SQLite (their rows would be lost): $(tr '\n' ' ' <<<"$sqlite_only")"
for table in $pg_tables; do
  [[ "$table" =~ $ident ]] || die "unexpected table name $table"
done
for table in $(comm -13 <(echo "$sqlite_tables") <(echo "$pg_tables")); do
  say "note: $table exists only in PostgreSQL; left as the migrations made it"
done

# Parents before children: "parent child" pairs from the foreign keys, plus
# "t t" so that tables without any are listed too.
order=$( {
  pg -F ' ' -c "SELECT p.relname, c.relname FROM pg_constraint k
                JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
                WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace
                  AND k.conrelid <> k.confrelid"
  for table in $pg_tables; do echo "$table $table"; done
} | tsort 2>"$work/tsort.err")
[ ! -s "$work/tsort.err" ] || die "foreign keys form a cycle: $(cat "$work/tsort.err")"
copy_tables=()
for table in $order; do
  if grep -qx "$table" <<<"$sqlite_tables"; then copy_tables+=("$table"); fi
done
[ ${#copy_tables[@]} -gt 0 ] || die "no tables to copy"
# 'a','b',...: the tables as an SQL array's elements.
quoted=("${copy_tables[@]/#/\'}")
quoted=("${quoted[@]/%/\'}")
table_list=$(IFS=,; echo "${quoted[*]}")

# ----------------------------------------------------------- the copy script --
script="$work/copy.sql"
{
  echo "SET client_min_messages = warning;"
  # Nobody else writes to these tables while they are filled.
  echo "LOCK TABLE $(IFS=,; echo "${copy_tables[*]}") IN ACCESS EXCLUSIVE MODE;"
  echo "DO \$\$ DECLARE t text; found boolean; BEGIN"
  echo "  FOREACH t IN ARRAY ARRAY[$table_list] LOOP"
  echo "    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', t) INTO found;"
  echo "    IF found THEN RAISE EXCEPTION 'refusing to copy: table % of the target is not empty', t; END IF;"
  echo "  END LOOP; END \$\$;"
} >"$script"

total=0
for table in "${copy_tables[@]}"; do
  # name|type|nullable-or-default, PostgreSQL's non-generated columns.
  pg_columns=$(pg -F '|' -c "SELECT a.attname, format_type(a.atttypid, a.atttypmod),
                                    (NOT a.attnotnull OR a.atthasdef)
                             FROM pg_attribute a
                             WHERE a.attrelid = '$table'::regclass AND a.attnum > 0
                               AND NOT a.attisdropped AND a.attgenerated = ''
                             ORDER BY a.attnum")
  # SQLite's ordinary columns (hidden 0: not generated).
  sqlite_columns=$(sq "SELECT name FROM pragma_table_xinfo('$table') WHERE hidden = 0 ORDER BY cid")
  pg_names=$(cut -d'|' -f1 <<<"$pg_columns")
  lost=$(comm -23 <(sort <<<"$sqlite_columns") <(sort <<<"$pg_names"))
  [ -z "$lost" ] || die "$table: columns only in SQLite (their values would be lost): $(tr '\n' ' ' <<<"$lost")"

  columns=() selects=() stage=() inserts=()
  while IFS='|' read -r name type optional; do
    [[ "$name" =~ $ident ]] || die "$table: unexpected column name $name"
    if ! grep -qx "$name" <<<"$sqlite_columns"; then
      [ "$optional" = t ] || die "$table.$name is required in PostgreSQL but missing in SQLite"
      say "note: $table.$name exists only in PostgreSQL; it gets its default"
      continue
    fi
    col="\"$name\""
    case "$type" in
      boolean)
        value="CASE WHEN $col IS NULL THEN NULL
                    WHEN lower(CAST($col AS TEXT)) IN ('1', 't', 'true') THEN 't'
                    WHEN lower(CAST($col AS TEXT)) IN ('0', 'f', 'false') THEN 'f'
                    ELSE CAST($col AS TEXT) END" ;;
      timestamp*)
        # Diesel writes text; it reads a number as a Julian day, as SQLite does.
        value="CASE WHEN typeof($col) IN ('integer', 'real')
                    THEN strftime('%Y-%m-%d %H:%M:%f', $col) ELSE $col END" ;;
      date)
        value="CASE WHEN typeof($col) IN ('integer', 'real')
                    THEN strftime('%Y-%m-%d', $col) ELSE $col END" ;;
      *) value="$col" ;;
    esac
    columns+=("$col")
    # hex(NULL) is '', so NULL is kept apart first.
    selects+=("CASE WHEN ($value) IS NULL THEN NULL ELSE 'x' || hex(CAST(($value) AS BLOB)) END")
    stage+=("$col text")
    if [ "$type" = bytea ]; then
      inserts+=("decode(substr($col, 2), 'hex')")
    else
      inserts+=("convert_from(decode(substr($col, 2), 'hex'), 'UTF8')::$type")
    fi
  done <<<"$pg_columns"

  rows=$(sq "SELECT count(*) FROM \"$table\"")
  total=$((total + rows))
  {
    echo ".mode list"
    echo ".separator ,"
    # NULL prints as nothing; every other value as x<hex>, '' as x.
    echo ".nullvalue ''"
    echo ".headers off"
    echo "SELECT $(IFS=,; echo "${selects[*]}") FROM \"$table\";"
  } >"$work/$table.sql"
  {
    echo "CREATE TEMP TABLE \"stage_$table\" ($(IFS=,; echo "${stage[*]}")) ON COMMIT DROP;"
    echo "\\copy \"stage_$table\" FROM PROGRAM 'sqlite3 -batch -bail -readonly -init /dev/null $snapshot < $work/$table.sql' WITH (FORMAT csv)"
    echo "INSERT INTO \"$table\" ($(IFS=,; echo "${columns[*]}")) SELECT $(IFS=,; echo "${inserts[*]}") FROM \"stage_$table\";"
    echo "DO \$\$ BEGIN IF (SELECT count(*) FROM \"$table\") <> $rows THEN"
    echo "  RAISE EXCEPTION 'table $table: % rows copied, $rows expected', (SELECT count(*) FROM \"$table\");"
    echo "END IF; END \$\$;"
  } >>"$script"
  say "$table: $rows rows"
done

# Every sequence owned by a column of these tables (serial and identity ids)
# continues after the largest value copied.
cat >>"$script" <<SQL
DO \$\$ DECLARE r record; top bigint; BEGIN
  FOR r IN SELECT c.relname AS tab, a.attname AS col,
                  pg_get_serial_sequence(format('%I', c.relname), a.attname) AS seq
           FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
           WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
             AND c.relname = ANY (ARRAY[$table_list])
             AND a.attnum > 0 AND NOT a.attisdropped LOOP
    CONTINUE WHEN r.seq IS NULL;
    EXECUTE format('SELECT max(%I) FROM %I', r.col, r.tab) INTO top;
    PERFORM setval(r.seq, coalesce(top, 0) + 1, false);
  END LOOP;
END \$\$;
SQL

PGCLIENTENCODING=UTF8 pg --single-transaction -f "$script" >/dev/null
pg -c "ANALYZE" >/dev/null
say "copied $total rows in ${#copy_tables[@]} tables into $(sed -E 's#(://)[^@/]*@#\1…@#' <<<"$target")"
