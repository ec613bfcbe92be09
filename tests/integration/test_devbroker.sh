#!/usr/bin/env bash
# devbroker (tools/devbroker.c): the librdkafka mock cluster the other integration tests and
# `make demo` run against.  Checks start-up and the bootstrap file, topic creation, a keyed
# produce/consume round trip through kcat, SIGUSR1/SIGUSR2 broker down/up, clean SIGTERM exit
# and the exit codes for usage and set-up errors.
. "$(dirname "$0")/lib.sh"

DEVBROKER=$EW_TOOLS/devbroker
N_MSGS=10000
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- command line -----------------------------------------------------------------------------
"$DEVBROKER" --help >"$T/help.out" 2>&1
check "--help exits 0" [ $? -eq 0 ]
check "--help says it is not for production" grep -q "development and tests ONLY" "$T/help.out"

"$DEVBROKER" --partitions 0 >/dev/null 2>&1
check "--partitions 0 is a usage error (exit 2)" [ $? -eq 2 ]
"$DEVBROKER" --brokers 2x >/dev/null 2>&1
check "--brokers 2x is a usage error (exit 2)" [ $? -eq 2 ]
"$DEVBROKER" --topic 'bad topic' >/dev/null 2>&1
check "an invalid topic name is a usage error (exit 2)" [ $? -eq 2 ]
"$DEVBROKER" --brokers 1 --replication 2 >/dev/null 2>&1
check "--replication above --brokers is a usage error (exit 2)" [ $? -eq 2 ]
"$DEVBROKER" --quiet --bootstrap-file "$T/no/such/dir/bootstrap" >/dev/null 2>"$T/setup.err"
rc=$?
check "an unwritable --bootstrap-file is a set-up error (exit 1)" [ $rc -eq 1 ]
check "the set-up error says why" grep -q "cannot create" "$T/setup.err"

# --- start-up -----------------------------------------------------------------------------------
if start_devbroker --partitions 6 --topic events --topic events.dlq --topic alerts; then
    ok "devbroker starts and writes the bootstrap file"
else
    not_ok "devbroker starts and writes the bootstrap file"
    diag "$(cat "$T/devbroker.log")"
    done_testing
    exit
fi
diag "BROKERS=$BROKERS"
check "the bootstrap file is one 127.0.0.1:PORT line" \
    grep -qxE '127\.0\.0\.1:[0-9]+' "$T/bootstrap"
check "the same line is printed on stdout" grep -qxF "$BROKERS" "$T/devbroker.log"
check "no temporary file is left beside the bootstrap file" \
    [ -z "$(find "$T" -maxdepth 1 -name 'bootstrap.tmp*')" ]

kcat -L -b "$BROKERS" -m 10 >"$T/meta.out" 2>&1
check "kcat -L succeeds" [ $? -eq 0 ]
for topic in events events.dlq alerts; do
    check "kcat -L lists $topic with 6 partitions" \
        grep -qF "topic \"$topic\" with 6 partitions:" "$T/meta.out"
done

# --- produce / consume round trip ---------------------------------------------------------------
# Keys spread over many accounts so every partition gets some; values are unique.
awk -v n=$N_MSGS 'BEGIN { for (i = 0; i < n; i++)
    printf "acct-%d\t{\"id\":\"e%06d\",\"type\":\"like\",\"pad\":\"%s\"}\n", i % 211, i,
           substr("abcdefghijklmnopqrstuvwxyz0123456789", 1, 1 + i % 36) }' >"$T/in.tsv"
timeout 60 kcat -P -b "$BROKERS" -t events -K '\t' <"$T/in.tsv" 2>"$T/produce.err"
check "kcat produces $N_MSGS keyed messages" [ $? -eq 0 ]

timeout 60 kcat -C -b "$BROKERS" -t events -e -o beginning -q -K '\t' \
    >"$T/out.tsv" 2>"$T/consume.err"
check "kcat consumes to the end" [ $? -eq 0 ]
got=$(wc -l <"$T/out.tsv")
check "consumed $N_MSGS messages (got $got)" [ "$got" -eq $N_MSGS ]
sort "$T/in.tsv" >"$T/in.sorted"
sort "$T/out.tsv" >"$T/out.sorted"
check "consumed keys and values equal the produced ones" cmp -s "$T/in.sorted" "$T/out.sorted"
timeout 60 kcat -C -b "$BROKERS" -t events -e -o beginning -q -f '%p\n' 2>/dev/null |
    sort -u >"$T/parts.out"
check "messages landed on all 6 partitions" [ "$(wc -l <"$T/parts.out")" -eq 6 ]

# --- fault injection: SIGUSR1 down, SIGUSR2 up ------------------------------------------------
kill -USR1 "$DEVBROKER_PID"
check "after SIGUSR1 a metadata request fails (kcat -L -m 2)" \
    wait_until 20 "! kcat -L -b '$BROKERS' -m 2 >/dev/null 2>&1"
check "SIGUSR1 is logged" grep -q "SIGUSR1: setting all 1 broker(s) down" "$T/devbroker.log"
check "devbroker is still running while down" kill -0 "$DEVBROKER_PID"

kill -USR2 "$DEVBROKER_PID"
check "after SIGUSR2 a metadata request succeeds again" \
    wait_until 20 "kcat -L -b '$BROKERS' -m 2 >/dev/null 2>&1"
check "SIGUSR2 is logged" grep -q "SIGUSR2: setting all 1 broker(s) up" "$T/devbroker.log"
got=$(timeout 60 kcat -C -b "$BROKERS" -t events -e -o beginning -q 2>/dev/null | wc -l)
check "the messages survive down/up (got $got)" [ "$got" -eq $N_MSGS ]

# --- shutdown -----------------------------------------------------------------------------------
t0=$(now_ms)
stop_pid "$DEVBROKER_PID" TERM
rc=$?
elapsed=$(( $(now_ms) - t0 ))
check "SIGTERM exits 0 (got $rc)" [ "$rc" -eq 0 ]
# The mock's own thread may take up to ~1 s to notice the shutdown.
check "SIGTERM exits within 5 s (took ${elapsed} ms)" [ "$elapsed" -lt 5000 ]
check "the bootstrap file is removed on exit" [ ! -e "$T/bootstrap" ]

# --- several brokers, defaults, SIGINT ----------------------------------------------------------
if start_devbroker --brokers 3 --quiet; then
    ok "a 3-broker cluster starts"
    check "the bootstrap line lists 3 brokers" \
        grep -qxE '127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}' "$T/bootstrap"
    kcat -L -b "$BROKERS" -m 10 >"$T/meta3.out" 2>&1
    check "kcat -L sees 3 brokers" grep -qF " 3 brokers:" "$T/meta3.out"
    for topic in events events.dlq alerts; do
        check "default topic $topic exists with 4 partitions" \
            grep -qF "topic \"$topic\" with 4 partitions:" "$T/meta3.out"
    done
    stop_pid "$DEVBROKER_PID" INT
    rc=$?
    check "SIGINT exits 0 (got $rc)" [ "$rc" -eq 0 ]
    check "--quiet keeps info logs off stderr" bash -c "! grep -q ' info: ' '$T/devbroker.log'"
else
    not_ok "a 3-broker cluster starts"
    diag "$(cat "$T/devbroker.log")"
fi

done_testing
