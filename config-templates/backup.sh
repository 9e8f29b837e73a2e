# The fixed part of the backup script: config-templates/backup.ts prepends the settings.
# POSIX sh only: it runs under BusyBox ash (Alpine images) and dash alike.
if [ -f "$CREDENTIALS" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$CREDENTIALS"
  set +a
fi
PGPASSWORD=$(cat "$PG_PASSWORD_FILE")
export PGPASSWORD
WORK="$STATE/work"
STAGING="$STATE/restore"
DUMP="$WORK/synapse.dump"

now() { date +%s; }
log() { printf '%s backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
# One line, safe inside a JSON string (tr's set: newline, tab, double quote, backslash).
# shellcheck disable=SC1003
oneline() { printf '%s' "$*" | tr '\n\t"\\' '    ' | cut -c1-400; }

# status <result> <reason> <started> [snapshot] [added bytes] [repository bytes] [error]
status() {
  printf '{"time":"%s","result":"%s","reason":"%s","snapshot":"%s","addedBytes":%s,"repositoryBytes":%s,"seconds":%s,"error":"%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" "${4:-}" "${5:-0}" "${6:-0}" "$(( $(now) - $3 ))" "$(oneline "${7:-}")" \
    >"$STATE/status.json.new"
  mv "$STATE/status.json.new" "$STATE/status.json"
}

# fail <code> <message>: the run's one line of explanation, in the log and the status file.
fail() {
  code=$1
  shift
  log "error: $*"
  if [ -n "${RUN_REASON:-}" ]; then status failed "$RUN_REASON" "$RUN_STARTED" "" 0 0 "$*"; fi
  exit "$code"
}

# A lock shared by backups and restores: a directory (mkdir is atomic) naming its holder's process.
# lock <holder> [seconds to wait for another holder to finish]
lock() {
  mkdir -p "$STATE"
  deadline=$(( $(now) + ${2:-0} ))
  while ! mkdir "$STATE/lock" 2>/dev/null; do
    holder=$(cat "$STATE/lock/owner" 2>/dev/null || true)
    pid=${holder##* }
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      if [ "$(now)" -ge "$deadline" ]; then
        fail "$EXIT_BUSY" "a ${holder%% *} is running (since $(cat "$STATE/lock/since" 2>/dev/null || echo '?')); try again when it is done"
      fi
      sleep 5
    else
      log "removing a stale lock (${holder:-no holder})"
      rm -rf "$STATE/lock"
    fi
  done
  echo "$1 $$" >"$STATE/lock/owner"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$STATE/lock/since"
  trap 'rm -rf "$STATE/lock"' EXIT
}

restic_() { "$RESTIC" --quiet "$@"; }

# probe: restic's exit code for opening the repository. restic retries an unreachable repository for
# up to 15 minutes; a repository that answers does so in seconds.
probe() {
  set +e
  out=$(timeout "$PROBE_SECONDS" "$RESTIC" cat config 2>&1 >/dev/null)
  rc=$?
  set -e
  case $rc in
    124 | 137 | 143)
      # restic retries a missing bucket as it retries a network error: a missing bucket is no repository.
      case $out in
        *"bucket does not exist"*) rc=10 ;;
        # restic's last retry says what failed (connection refused, no such host, a certificate …).
        *) out="no answer in $PROBE_SECONDS s ($(printf '%s' "$out" | grep -i 'error' | tail -n 1 | sed 's/.*retrying after [^:]*: //'))" ;;
      esac
      ;;
  esac
}

# open_repository <create|existing>: fails with the reason unless the repository opens.
open_repository() {
  probe
  case $rc in
    0) return 0 ;;
    10)
      if [ "$1" = create ]; then
        out=$("$RESTIC" init 2>&1) || fail "$EXIT_UNREACHABLE" "cannot create the repository at $RESTIC_REPOSITORY: $(oneline "$out")"
        log "created the repository at $RESTIC_REPOSITORY"
        return 0
      fi
      fail "$EXIT_NO_REPOSITORY" "there is no repository at $RESTIC_REPOSITORY"
      ;;
    12) fail "$EXIT_WRONG_PASSWORD" "the repository at $RESTIC_REPOSITORY does not open with this stack's password (a new stack needs restoreSecrets.backupPassword of the stack that made it)" ;;
    *) fail "$EXIT_UNREACHABLE" "the repository at $RESTIC_REPOSITORY is unreachable: $(oneline "$(printf '%s' "$out" | tail -n 3)")" ;;
  esac
}

json_field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" | head -n 1; }

# resolve_snapshot <id|latest>: prints the full id of this server's snapshot, or fails.
resolve_snapshot() {
  if [ "$1" = latest ]; then
    found=$(restic_ snapshots --json --host "$SERVER" --tag "$TAG" --latest 1 2>&1) || fail "$EXIT_UNREACHABLE" "listing snapshots failed: $(oneline "$found")"
  else
    case $1 in *[!0-9a-f]* | "") fail "$EXIT_NO_SNAPSHOT" "a snapshot id is hexadecimal (restic snapshots lists them), not $(oneline "$1")" ;; esac
    found=$(restic_ snapshots --json --host "$SERVER" --tag "$TAG" 2>&1) || fail "$EXIT_UNREACHABLE" "listing snapshots failed: $(oneline "$found")"
    found=$(printf '%s' "$found" | tr '{' '\n' | grep "\"id\":\"$1" || true)
  fi
  id=$(printf '%s' "$found" | tr '{' '\n' | json_field id)
  [ -n "$id" ] || fail "$EXIT_NO_SNAPSHOT" "no snapshot $1 of $SERVER in $RESTIC_REPOSITORY (npm run restore -- --list shows them)"
  printf '%s\n' "$id"
}

# The snapshot's signing key must be this server's: restoring another server's data under this key
# (or this data under another) would break federation.
check_signing_key() {
  theirs=$(restic_ dump "$1" "$SIGNING_KEY" 2>/dev/null | cut -d' ' -f2) || true
  ours=$(cut -d' ' -f2 "$SIGNING_KEY")
  [ -n "$theirs" ] || fail "$EXIT_FOREIGN_SNAPSHOT" "snapshot $1 holds no signing key: it was not made by firmground"
  [ "$theirs" = "$ours" ] || fail "$EXIT_FOREIGN_SNAPSHOT" "snapshot $1 is of the server with signing key $theirs, this one's is $ours: give the new stack restoreSecrets.signingKey of the old one"
}

# The number of tables in Synapse's database: 0 until Synapse first starts (or after a wipe).
synapse_tables() {
  psql -X -q -v ON_ERROR_STOP=1 --dbname="$DATABASE" -tAc "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'" 2>&1
}

# True when Synapse's database answers and holds its tables.
has_data() {
  case $(synapse_tables 2>/dev/null) in
    "" | 0 | *[!0-9]*) return 1 ;;
    *) return 0 ;;
  esac
}

backup_once() {
  RUN_REASON=${1:-manual}
  RUN_STARTED=$(now)
  # Before an upgrade, wait for a scheduled backup that is running to finish, then make a fresh one.
  case $RUN_REASON in pre-upgrade) lock backup 3600 ;; *) lock backup ;; esac
  status running "$RUN_REASON" "$RUN_STARTED"
  tables=$(synapse_tables) || fail "$EXIT_DATABASE" "cannot read the database: $(oneline "$tables")"
  # An empty database is no backup: a snapshot of it would be the latest one a recovery restores.
  [ "$tables" != 0 ] || fail "$EXIT_DATABASE" "Synapse's database has no tables yet: nothing to back up"
  open_repository create
  mkdir -p "$WORK"
  rm -f "$DUMP" "$DUMP.partial"
  # One transaction's snapshot while Synapse runs; one-time keys left out (restoring them breaks decryption).
  out=$(pg_dump --format=custom --exclude-table-data="$ONE_TIME_KEYS" --dbname="$DATABASE" --file="$DUMP.partial" 2>&1) ||
    fail "$EXIT_DATABASE" "pg_dump failed: $(oneline "$out")"
  mv "$DUMP.partial" "$DUMP"
  set -- "$DUMP" "$SIGNING_KEY"
  for dir in $MEDIA_DIRS; do
    if [ -d "$MEDIA/$dir" ]; then set -- "$@" "$MEDIA/$dir"; fi
  done
  summary=$("$RESTIC" backup --retry-lock 5m --json --host "$SERVER" --tag "$TAG" "$@" 2>"$WORK/restic.err" | grep '"message_type":"summary"') ||
    fail "$EXIT_UNREACHABLE" "restic backup failed: $(oneline "$(tail -n 3 "$WORK/restic.err")")"
  snapshot=$(printf '%s' "$summary" | json_field snapshot_id)
  added=$(printf '%s' "$summary" | json_field data_added)
  # shellcheck disable=SC2086 # KEEP is several options
  out=$(restic_ forget --retry-lock 5m --host "$SERVER" --tag "$TAG" $KEEP --prune 2>&1) || fail "$EXIT_UNREACHABLE" "restic forget failed: $(oneline "$out")"
  last_check=$(cat "$STATE/last-check" 2>/dev/null || echo 0)
  if [ $(( $(now) - last_check )) -ge "$CHECK_EVERY" ]; then
    out=$(restic_ check 2>&1) || fail "$EXIT_UNREACHABLE" "restic check found a problem: $(oneline "$out")"
    now >"$STATE/last-check"
  fi
  size=$(restic_ stats --json --mode raw-data 2>/dev/null | json_field total_size)
  rm -f "$DUMP"
  now >"$STATE/last-success"
  status ok "$RUN_REASON" "$RUN_STARTED" "$snapshot" "${added:-0}" "${size:-0}"
  log "snapshot $snapshot: $added bytes added, repository $size bytes, $(( $(now) - RUN_STARTED )) s"
}

# verify <id|latest>: everything a restore checks before it changes anything.
verify() {
  lock verify
  open_repository existing
  id=$(resolve_snapshot "$1")
  check_signing_key "$id"
  time=$(restic_ snapshots --json "$id" | tr '{' '\n' | json_field time)
  printf '{"snapshot":"%s","time":"%s"}\n' "$id" "$time"
}

psql_() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

restore() {
  lock restore
  open_repository existing
  id=$(resolve_snapshot "$1")
  check_signing_key "$id"
  started=$(now)
  log "restoring snapshot $id"
  rm -rf "$STAGING"
  mkdir -p "$STAGING"
  # Everything is fetched before anything is changed: a repository failing now changes nothing.
  out=$(restic_ restore "$id" --target "$STAGING" 2>&1) || fail "$EXIT_UNREACHABLE" "restic restore failed (nothing changed): $(oneline "$out")"
  [ -f "$STAGING$DUMP" ] || fail "$EXIT_NO_SNAPSHOT" "snapshot $id holds no database dump"
  out=$(psql_ --dbname="$MAINTENANCE_DATABASE" -c "DROP DATABASE IF EXISTS \"$DATABASE\" WITH (FORCE)" 2>&1) ||
    fail "$EXIT_DATABASE" "cannot drop the database (nothing changed): $(oneline "$out")"
  out=$(psql_ --dbname="$MAINTENANCE_DATABASE" -c "CREATE DATABASE \"$DATABASE\" ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 OWNER \"$PGUSER\"" 2>&1) ||
    fail "$EXIT_RESTORE_FAILED" "cannot create the database: $(oneline "$out")"
  out=$(pg_restore --exit-on-error --no-owner --dbname="$DATABASE" "$STAGING$DUMP" 2>&1) ||
    fail "$EXIT_RESTORE_FAILED" "pg_restore failed; the database is incomplete, run the restore again: $(oneline "$out")"
  out=$(psql_ --dbname="$DATABASE" -c "TRUNCATE $ONE_TIME_KEYS" 2>&1) || fail "$EXIT_RESTORE_FAILED" "emptying $ONE_TIME_KEYS failed: $(oneline "$out")"
  files=0
  for dir in $MEDIA_DIRS; do
    rm -rf "$MEDIA/$dir.old"
    if [ -d "$MEDIA/$dir" ]; then mv "$MEDIA/$dir" "$MEDIA/$dir.old"; fi
    if [ -d "$STAGING$MEDIA/$dir" ]; then
      mv "$STAGING$MEDIA/$dir" "$MEDIA/$dir" || fail "$EXIT_RESTORE_FAILED" "restoring $MEDIA/$dir failed"
      files=$(( files + $(find "$MEDIA/$dir" -type f | wc -l) ))
    fi
    rm -rf "$MEDIA/$dir.old"
  done
  database_bytes=$(wc -c <"$STAGING$DUMP")
  rm -rf "$STAGING"
  printf '{"snapshot":"%s","databaseDumpBytes":%s,"mediaFiles":%s,"seconds":%s}\n' "$id" "$database_bytes" "$files" "$(( $(now) - started ))"
}

# A new stack's first start: restore the latest snapshot when the database is empty and one exists.
restore_if_empty() {
  tables=$(synapse_tables) || fail "$EXIT_DATABASE" "cannot read the database: $(oneline "$tables")"
  if [ "$tables" != 0 ]; then
    log "the database holds Synapse's tables: nothing to restore"
    return 0
  fi
  probe
  if [ "$rc" = 10 ]; then
    log "no repository yet at $RESTIC_REPOSITORY: a new server, nothing to restore"
    return 0
  fi
  open_repository existing
  count=$(restic_ snapshots --json --host "$SERVER" --tag "$TAG" | tr '{' '\n' | grep -c '"id":' || true)
  if [ "$count" = 0 ]; then
    log "the repository holds no snapshot of $SERVER: nothing to restore"
    return 0
  fi
  log "the database is empty and the repository holds $count snapshots of $SERVER: restoring the latest"
  restore latest
}

health() {
  [ -f "$STATE/first-start" ] || exit 0
  if [ -f "$STATE/last-success" ]; then
    age=$(( $(now) - $(cat "$STATE/last-success") ))
    what="last good backup $age s ago"
  else
    age=$(( $(now) - $(cat "$STATE/first-start") ))
    what="no good backup yet, $age s after the first start"
  fi
  if [ "$age" -ge $(( 2 * INTERVAL )) ]; then
    echo "$what (interval $INTERVAL s): $(cat "$STATE/status.json" 2>/dev/null || echo 'never ran')"
    exit 1
  fi
  echo "$what"
}

# What npm run doctor reads: this container's clock, the schedule, the last good backup and the last run.
report() {
  printf '{"now":%s,"intervalSeconds":%s,"firstStart":%s,"lastSuccess":%s,"last":%s}\n' "$(now)" "$INTERVAL" \
    "$(cat "$STATE/first-start" 2>/dev/null || echo null)" "$(cat "$STATE/last-success" 2>/dev/null || echo null)" \
    "$(cat "$STATE/status.json" 2>/dev/null || echo null)"
}

loop() {
  mkdir -p "$STATE"
  [ -f "$STATE/first-start" ] || now >"$STATE/first-start"
  child=
  trap 'if [ -n "$child" ]; then kill "$child" 2>/dev/null; fi; exit 143' TERM INT
  # After a failure, try again every hour (or every interval, when shorter).
  retry=$(( INTERVAL < 3600 ? INTERVAL : 3600 ))
  while :; do
    last=$(cat "$STATE/last-success" 2>/dev/null || echo 0)
    attempt=$(cat "$STATE/last-attempt" 2>/dev/null || echo 0)
    # Not before Synapse has created its database (a first start, or a restore under way).
    if [ $(( $(now) - last )) -ge "$INTERVAL" ] && [ $(( $(now) - attempt )) -ge "$retry" ] && has_data; then
      now >"$STATE/last-attempt"
      (backup_once scheduled) &
      child=$!
      wait "$child" || log "the backup failed; next attempt in $retry s"
      child=
    fi
    sleep 60 &
    child=$!
    wait "$child" || true
    child=
  done
}

command=${1:-}
[ $# -gt 0 ] && shift
case $command in
  loop) loop ;;
  once) backup_once "${1:-manual}" ;;
  verify) verify "${1:-latest}" ;;
  restore) restore "${1:-latest}" ;;
  restore-if-empty) restore_if_empty ;;
  health) health ;;
  status) report ;;
  snapshots) open_repository existing && restic_ snapshots --host "$SERVER" --tag "$TAG" ;;
  *)
    echo "usage: backup.sh loop|once [reason]|verify <id|latest>|restore <id|latest>|restore-if-empty|health|status|snapshots" >&2
    exit "$EXIT_USAGE"
    ;;
esac
