#!/usr/bin/env bash
# `make bench`: every benchmark of build/ckube, one after the other, each printing its figures
# beside its targets and peers. BENCH_ONLY=api, runtime, pods, network or services runs one of them.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
status=0
for part in api runtime pods network services; do
	if [ -n "${BENCH_ONLY:-}" ] && [ "$BENCH_ONLY" != "$part" ]; then
		continue
	fi
	echo "=== $part"
	"$here/$part.sh" || status=$?
	echo
done
exit "$status"
