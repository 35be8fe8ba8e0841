#!/bin/sh
# Runs `systemd-analyze verify` on the three units. The units start
# /usr/bin/fleettrace, which verify requires to exist; when it does not (a
# development host), the check runs on copies pointing at this repo's bin/fleettrace.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
units="fleettrace-agent.service fleettrace-controller.service fleettrace-ingest.service"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=/usr/bin/fleettrace
[ -x "$bin" ] || bin=$(cd "$here/../.." && pwd)/bin/fleettrace
for u in $units; do sed "s#/usr/bin/fleettrace#$bin#" "$here/$u" > "$work/$u"; done
cd "$work"
systemd-analyze verify --man=no $units
echo "systemd-analyze verify: ok ($units)"
