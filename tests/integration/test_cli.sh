#!/usr/bin/env bash
# The engwatchd command line: --check-config on the shipped and on broken
# files, --set, usage errors.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

out=$("$ENGWATCHD" --check-config -c conf/engwatchd.conf 2>"$T/err"); rc=$?
check "--check-config on conf/engwatchd.conf exits 0" [ "$rc" -eq 0 ]
check "it prints the effective configuration" grep -q 'brokers = "127.0.0.1:9092";' <<<"$out"
check "and says the file is valid" grep -q "conf/engwatchd.conf is valid" "$T/err"

sed 's/^  port = 6379;/  prot = 6379;/' conf/engwatchd.conf >"$T/bad.conf"
line=$(grep -n '^  prot = 6379;' "$T/bad.conf" | cut -d: -f1)
"$ENGWATCHD" --check-config -c "$T/bad.conf" >"$T/out" 2>"$T/err"; rc=$?
check "a misspelt key exits 1" [ "$rc" -eq 1 ]
check "the error names file, line and key" grep -qF "$T/bad.conf:$line: redis.prot: unknown setting" "$T/err"
check "nothing is printed on stdout for an invalid file" [ ! -s "$T/out" ]

printf 'redis = {\n  port = "x";\n  db = 99;\n};\nlog = { level = "loud"; };\n' >"$T/multi.conf"
"$ENGWATCHD" --check-config -c "$T/multi.conf" 2>"$T/err" >/dev/null; rc=$?
check "every error is reported (3)" [ "$rc" -eq 1 -a "$(grep -c "$T/multi.conf:" "$T/err")" -eq 3 ]

out=$("$ENGWATCHD" --check-config -c conf/engwatchd.conf --set redis.port=6390 \
      --set kafka.properties.session.timeout.ms=6000 2>/dev/null)
check "--set overrides the file" grep -q '  port = 6390;' <<<"$out"
check "--set adds a librdkafka property" grep -q 'session_timeout_ms = "6000";' <<<"$out"

"$ENGWATCHD" --check-config -c conf/engwatchd.conf --set redis.port=nope 2>"$T/err" >/dev/null; rc=$?
check "an invalid --set exits 1 with its reason" \
    [ "$rc" -eq 1 ] && grep -qF -- '--set redis.port: expected an integer (got "nope")' "$T/err"

"$ENGWATCHD" --no-such-flag >/dev/null 2>&1; rc=$?
check "an unknown flag is a usage error (exit 2)" [ "$rc" -eq 2 ]
"$ENGWATCHD" --help | grep -q "check-config"
check "--help documents --check-config" [ $? -eq 0 ]
"$ENGWATCHD" replay -c conf/engwatchd.conf >/dev/null 2>&1; rc=$?
check "replay without a dump is a usage error" [ "$rc" -eq 2 ]
"$ENGWATCHD" --check-config -c /nonexistent.conf >/dev/null 2>"$T/err"; rc=$?
check "a missing config file exits 1 and says so" [ "$rc" -eq 1 ] && grep -q "cannot read" "$T/err"

done_testing
