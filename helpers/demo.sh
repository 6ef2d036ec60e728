#!/bin/sh
# demo.sh GOVERNOR STATE_DIR: the main job on a real state dir: queue a task, check, pop.
set -eu
gov=$1
state=$2
run() { echo "\$ governor $*" >&2; "$gov" -d "$state" "$@"; }
run add "Demo task: summarise today's notes" >/dev/null
run list
run check
run pop || true
run list
