#!/usr/bin/env bash
# Latitude's local single-node Kafka broker (KRaft), assembled from Maven Central.
#
#   kafka.sh fetch    copy the broker jars into the cache (once)
#   kafka.sh start    fetch if needed, format storage if needed, start, wait until it answers
#   kafka.sh stop     SIGTERM, wait up to 30 s, then SIGKILL
#   kafka.sh status   "running" (exit 0) or "stopped" (exit 3)
#
# Environment (all optional):
#   LATITUDE_KAFKA_CACHE             jar cache       (default <repo>/.cache/kafka)
#   LATITUDE_KAFKA_DATA              data dir        (default <repo>/.cache/kafka/data)
#   LATITUDE_KAFKA_PORT              PLAINTEXT port  (default 9092)
#   LATITUDE_KAFKA_CONTROLLER_PORT   CONTROLLER port (default PORT+1)
#   LATITUDE_KAFKA_START_TIMEOUT     seconds to wait for the broker (default 60)
#   LATITUDE_KAFKA_HEAP              java heap flags (default -Xms256m -Xmx512m)
#
# Everything lives in the data dir: server.properties, kafka.pid, kraft-logs/ (the
# partitions) and logs/ (server.log from log4j2, kafka.out = the JVM's stdout/stderr).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

CACHE="${LATITUDE_KAFKA_CACHE:-$REPO/.cache/kafka}"
LIB="$CACHE/lib"
MARKER="$LIB/.latitude-fetched"
DATA="${LATITUDE_KAFKA_DATA:-$REPO/.cache/kafka/data}"
PORT="${LATITUDE_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${LATITUDE_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
START_TIMEOUT="${LATITUDE_KAFKA_START_TIMEOUT:-60}"
HEAP="${LATITUDE_KAFKA_HEAP:--Xms256m -Xmx512m}"

PROPS="$DATA/server.properties"
PIDFILE="$DATA/kafka.pid"
CDS_PENDING="$DATA/cds-pending"
LOGDIR="$DATA/logs"
SERVER_LOG="$LOGDIR/server.log"
OUT_LOG="$LOGDIR/kafka.out"

say() { echo "latitude: $*"; }
die() { echo "latitude: $1" >&2; exit "${2:-1}"; }

# Exit 2 with an install hint: the caller (and the pytest fixture) can tell "tool
# missing" apart from "broker failed".
require() {
    local tool="$1" hint="$2"
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: $hint" 2
}

require_java() {
    require java "install OpenJDK 17 (apt-get install openjdk-17-jre-headless)"
    # Kafka 4.x brokers need Java 17+; an older java fails later with an obscure
    # UnsupportedClassVersionError, so say it up front.
    local version major
    version="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
    # Class-data-sharing archive of the broker's classes (see cds_flags); one per
    # JVM version, since a JVM ignores another one's archive.
    CDS_ARCHIVE="$CACHE/kafka-java${version:-unknown}.jsa"
    major="${version%%.*}"
    [[ "$major" == 1 ]] && major="$(echo "$version" | cut -d. -f2)"
    if [[ "$major" =~ ^[0-9]+$ ]] && (( major < 17 )); then
        die "java $version is too old for Kafka 4.x: install OpenJDK 17 (apt-get install openjdk-17-jre-headless)" 2
    fi
}

# The marker holds a checksum of the pom, so editing the pom (say, a version bump)
# re-fetches instead of silently running the old jars.
pom_sum() { sha256sum "$HERE/pom.xml" | cut -d' ' -f1; }

fetched() { [[ -f "$MARKER" && "$(cat "$MARKER")" == "$(pom_sum)" ]]; }

cmd_fetch() {
    if fetched; then
        return 0
    fi
    require mvn "install Maven (apt-get install maven)"
    mkdir -p "$CACHE"
    # Serialise concurrent fetches (two test sessions at once); the loser finds the
    # marker once it gets the lock.
    exec 9>"$CACHE/.fetch.lock"
    flock 9
    if fetched; then
        exec 9>&-
        return 0
    fi
    local started=$SECONDS tmp="$CACHE/lib.tmp.$$"
    say "fetching Kafka jars from Maven Central into $LIB"
    rm -rf "$tmp"
    # mvn's output is kept aside and shown only on failure (even -q -B prints stray
    # colour codes on Maven 3.8).
    if ! mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" >"$CACHE/fetch.out" 2>&1; then
        cat "$CACHE/fetch.out" >&2
        rm -rf "$tmp"
        die "mvn could not copy the Kafka jars from Maven Central (output above)"
    fi
    # Copy aside, then swap in: an interrupted fetch never leaves a half-filled lib/.
    rm -rf "$LIB" "$CACHE"/kafka-java*.jsa  # archives are only valid for the jars they were made from
    mv "$tmp" "$LIB"
    pom_sum >"$MARKER"
    exec 9>&-
    say "fetched $(find "$LIB" -name '*.jar' | wc -l) jars in $((SECONDS - started)) s"
}

# Pid of the broker recorded in the pid file, if that process is alive and really is
# a Kafka broker (a stale pid file may name a recycled pid).
live_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
    echo "$pid"
}

# kill -0 alone is not enough: a broker that died while this script is its parent
# stays a zombie until reaped, and kill -0 succeeds on zombies.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    state="$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
    [[ "$state" != Z ]]
}

# The bootstrap address of the broker in this data dir, from its rendered
# properties (a running broker may have been started with another port).
bootstrap() {
    local listener
    listener="$(grep -oE '^listeners=PLAINTEXT://[^,]+' "$PROPS" 2>/dev/null || true)"
    echo "${listener#listeners=PLAINTEXT://}"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

render_props() {
    # sed, not envsubst: gettext-base is not on every machine. Escape the
    # replacement's special characters (& \ |) in the path.
    local data_escaped
    data_escaped="$(printf '%s' "$DATA" | sed -e 's/[&\\|]/\\&/g')"
    sed -e "s|\${PORT}|$PORT|g" \
        -e "s|\${CONTROLLER_PORT}|$CONTROLLER_PORT|g" \
        -e "s|\${DATA_DIR}|$data_escaped|g" \
        "$HERE/server.properties.template" >"$PROPS"
}

# Class-data sharing cuts about a second (~40%) off every JVM start. The first
# broker without an archive records its loaded classes when it exits (at `stop`);
# later JVMs map that archive. A stale or foreign archive is ignored by the JVM,
# which then just starts the slow way.
# Sets the array CDS_FLAGS (empty, or one -XX flag).
cds_flags() {
    CDS_FLAGS=()
    if [[ -f "$CDS_ARCHIVE" ]]; then
        CDS_FLAGS=("-XX:SharedArchiveFile=$CDS_ARCHIVE")
    elif [[ "${1:-}" == record ]]; then
        # Per-process name: concurrent brokers must not write the same file.
        local pending="$CDS_ARCHIVE.$$.tmp"
        echo "$pending" >"$CDS_PENDING"
        CDS_FLAGS=("-XX:ArchiveClassesAtExit=$pending")
    fi
}

# Publish the archive recorded by a broker that has just exited cleanly ($1 = ok;
# a killed JVM may have left half a file). Rename is atomic, so a concurrent reader
# sees the whole archive or none.
publish_cds_archive() {
    [[ -f "$CDS_PENDING" ]] || return 0
    local pending
    pending="$(cat "$CDS_PENDING")"
    rm -f "$CDS_PENDING"
    if [[ "$1" == ok && -s "$pending" ]]; then
        mv -f "$pending" "${pending%.*.tmp}"  # <archive>.<pid>.tmp -> <archive>
    else
        rm -f "$pending"
    fi
}

format_storage() {
    # meta.properties is what StorageTool writes; its presence means "formatted".
    [[ -f "$DATA/kraft-logs/meta.properties" ]] && return 0
    local cluster_id
    cds_flags
    # -Xlog:disable: a JVM warning on stdout must not end up in the cluster id.
    cluster_id="$(java -Xlog:disable "${CDS_FLAGS[@]}" -cp "$LIB/*" kafka.tools.StorageTool random-uuid)"
    [[ "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid gave '$cluster_id'"
    java "${CDS_FLAGS[@]}" -Dlog4j2.configurationFile="$HERE/log4j2.yaml" -Dkafka.logs.dir="$LOGDIR" \
        -cp "$LIB/*" kafka.tools.StorageTool format --standalone \
        -t "$cluster_id" -c "$PROPS" >"$LOGDIR/format.out" 2>&1 \
        || { cat "$LOGDIR/format.out" >&2; die "formatting $DATA/kraft-logs failed"; }
}

# What went wrong in this start: the JVM's own output, then this start's part of
# server.log without the indented config dumps (hundreds of lines per start).
show_logs() {
    local offset="$1"
    {
        echo "--- tail of $OUT_LOG"
        tail -n 30 "$OUT_LOG" 2>/dev/null || true
        echo "--- tail of $SERVER_LOG (this start)"
        tail -c +"$((offset + 1))" "$SERVER_LOG" 2>/dev/null | grep -v $'^\t' | tail -n 30 || true
    } >&2
}

cmd_start() {
    local pid
    if pid="$(live_pid)"; then
        say "Kafka already running (pid $pid), bootstrap: $(bootstrap)"
        return 0
    fi
    require_java
    cmd_fetch
    if port_open "$PORT" || port_open "$CONTROLLER_PORT"; then
        die "port $PORT or $CONTROLLER_PORT on 127.0.0.1 is already in use"
    fi

    local t0
    t0="$(date +%s%N)"
    mkdir -p "$DATA" "$LOGDIR"
    render_props
    format_storage

    # Only log lines written after this offset count as "this start" (server.log is
    # appended to across restarts).
    local log_offset=0
    [[ -f "$SERVER_LOG" ]] && log_offset="$(stat -c %s "$SERVER_LOG")"

    rm -f "$PIDFILE"  # a stale one would look like "died during start"
    publish_cds_archive stale  # drop what a broker that crashed last time left
    cds_flags record

    # setsid + nohup: the broker gets its own session, so it outlives this script and
    # a Ctrl-C aimed at the caller. The inner bash writes its own pid and then execs
    # java, so the pid file names the JVM whether or not setsid had to fork.
    # SerialGC: the smallest GC footprint; pauses on a 512 MiB heap stay short.
    # shellcheck disable=SC2086,SC2016  # HEAP is a list of flags; $$ is the inner bash's
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
        java $HEAP "${CDS_FLAGS[@]}" -XX:+UseSerialGC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$HERE/log4j2.yaml" -Dkafka.logs.dir="$LOGDIR" \
        -cp "$LIB/*" kafka.Kafka "$PROPS" \
        >"$OUT_LOG" 2>&1 </dev/null &

    local deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        pid="$(cat "$PIDFILE" 2>/dev/null || true)"
        if [[ -n "$pid" ]] && ! alive "$pid"; then
            show_logs "$log_offset"
            rm -f "$PIDFILE"
            die "Kafka exited during start (logs in $LOGDIR)"
        fi
        if [[ -n "$pid" && -f "$SERVER_LOG" ]] \
            && tail -c +"$((log_offset + 1))" "$SERVER_LOG" | grep -q 'Kafka Server started' \
            && port_open "$PORT"; then
            break
        fi
        if (( SECONDS >= deadline )); then
            show_logs "$log_offset"
            cmd_stop >&2
            die "Kafka did not start within $START_TIMEOUT s (logs in $LOGDIR)"
        fi
        sleep 0.2
    done
    local ms=$((($(date +%s%N) - t0) / 1000000))
    say "Kafka started (pid $pid) in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
    say "bootstrap: 127.0.0.1:$PORT"
}

cmd_stop() {
    local pid
    if ! pid="$(live_pid)"; then
        rm -f "$PIDFILE"
        say "Kafka not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    # A clean shutdown lets the next start skip log recovery; 30 s is plenty for a
    # single node.
    local deadline=$((SECONDS + 30))
    while alive "$pid" && (( SECONDS < deadline )); do
        sleep 0.2
    done
    local how=ok
    if alive "$pid"; then
        say "Kafka (pid $pid) ignored SIGTERM for 30 s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
        how=killed
    fi
    rm -f "$PIDFILE"
    publish_cds_archive "$how"
    say "Kafka stopped"
}

cmd_status() {
    local pid
    if pid="$(live_pid)"; then
        say "running (pid $pid, bootstrap $(bootstrap), data $DATA)"
        return 0
    fi
    say "stopped"
    return 3
}

case "${1:-}" in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $(basename "$0") start|stop|status|fetch" >&2; exit 64 ;;
esac
