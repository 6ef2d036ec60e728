#!/bin/sh
# add-task.sh "Task description": queue a background task, the original VIP-lane helper's name
# and call.  It is `governor add --source manual`, so any option of `governor add` works too:
#
#   add-task.sh "Summarise today's notes"
#   add-task.sh --priority high --model claude-haiku-3-5 "Review the open pull requests"
#   echo "a long prompt" | add-task.sh -
#
# Prints the new task's id (T-NN).  GOVERNOR_CONFIG and GOVERNOR_STATE_DIR choose the config
# file and queue, as for governor; GOVERNOR names the binary (default: governor).
set -u
if [ $# -eq 0 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	echo 'usage: add-task.sh [governor add options] "Task description"|-' >&2
	[ $# -eq 0 ] && exit 64
	exit 0
fi
exec "${GOVERNOR:-governor}" add --source manual "$@"
