#!/bin/sh
# Writes myid from PADDOCK_ID (docker-compose) if absent, then serves the mounted zoo.cfg.
set -eu
data_dir=$(sed -n 's/^dataDir=//p' /etc/paddock/zoo.cfg)
mkdir -p "$data_dir"
if [ ! -f "$data_dir/myid" ] && [ -n "${PADDOCK_ID:-}" ]; then
    echo "$PADDOCK_ID" > "$data_dir/myid"
fi
exec paddock serve --config /etc/paddock/zoo.cfg
