#!/bin/sh
# gen-legacy.sh N [SEED]: a legacy pending_tasks.json array of N tasks on stdout, prompts of
# 100 to 2,000 bytes and priorities 0..2, for `governor import`.  Deterministic for a seed.
set -eu
n=$1
seed=${2:-42}
awk -v n="$n" -v seed="$seed" 'BEGIN {
	srand(seed);
	words = "summarise reflect research the notes of today and yesterday with care about agents memory queue";
	nw = split(words, w, " ");
	printf "[";
	for (i = 1; i <= n; i++) {
		len = 100 + int(rand() * 1901);
		p = "task " i ":";
		while (length(p) < len) p = p " " w[1 + int(rand() * nw)];
		p = substr(p, 1, len);
		printf "%s{\"prompt\":\"%s\",\"priority\":%d,\"added_at\":\"2026-11-01T00:00:00Z\",\"metadata\":{\"source\":\"bench\",\"retry_count\":0}}", (i > 1 ? "," : ""), p, int(rand() * 3);
	}
	printf "]\n";
}'
