#!/usr/bin/env bash
# Starts a throwaway single-node Ceph cluster in DIR, on 127.0.0.1 only: one monitor, one
# OSD keeping its objects in memory (memstore), and the RADOS Gateway (Debian's radosgw,
# Ceph 16) with an S3 user and a bucket. No systemd, no manager (nothing here needs one):
# every daemon writes its pid to DIR/run/*.pid, and stop-rgw.sh DIR stops them by pid.
#   start-rgw.sh DIR BUCKET ACCESS_KEY SECRET_KEY   prints the gateway's port when it answers
# Exit 77 (a skip) when the Ceph packages are missing (scripts/setup.sh installs them;
# S4DB_TEST_RGW=0 leaves the cluster out of scripts/test.sh).
set -euo pipefail
dir=$1 bucket=$2 access_key=$3 secret_key=$4
for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
  command -v "$tool" >/dev/null || { echo "SKIPPED LOUDLY: $tool is missing (Debian ceph-mon ceph-osd radosgw ceph-common; scripts/setup.sh installs them)" >&2; exit 77; }
done
mkdir -p "$dir"/{run,log,mon.a,rgw}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mon_port=$(free_port)
port=$(free_port)
fsid=$(cat /proc/sys/kernel/random/uuid)
conf=$dir/ceph.conf
# tcp_nodelay=1: without it beast delays small replies by Nagle's algorithm (about 40 ms a GET).
cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public network = 127.0.0.0/8
ms bind ipv6 = false
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
mon cluster log file = $dir/log/cluster.log
mon data = $dir/mon.\$id
osd data = $dir/osd.\$id
osd objectstore = memstore
memstore device bytes = 8589934592
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $dir/rgw
CONF
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
ceph-mon -c "$conf" -i a
uuid=$(cat /proc/sys/kernel/random/uuid)
id=$(timeout 60 ceph -c "$conf" osd new "$uuid")
mkdir -p "$dir/osd.$id"
ceph-authtool --create-keyring "$dir/osd.$id/keyring" --gen-key -n "osd.$id" >/dev/null
timeout 60 ceph -c "$conf" auth add "osd.$id" osd 'allow *' mon 'allow profile osd' -i "$dir/osd.$id/keyring" 2>/dev/null
ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" --keyring "$dir/osd.$id/keyring" 2>/dev/null
ceph-osd -c "$conf" -i "$id" --keyring "$dir/osd.$id/keyring" 2>/dev/null
timeout 60 ceph -c "$conf" auth get-or-create client.rgw mon 'allow rw' osd 'allow rwx' >>"$dir/keyring"
radosgw -c "$conf" -n client.rgw --keyring "$dir/keyring"
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.2
done
curl -s -o /dev/null "http://127.0.0.1:$port/" || { tail -n 20 "$dir"/log/*.log >&2; echo "radosgw did not answer on port $port" >&2; exit 1; }
timeout 60 radosgw-admin -c "$conf" user create --uid s4db-test --display-name s4db-test --access-key "$access_key" \
  --secret-key "$secret_key" >/dev/null
AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key AWS_REGION=us-east-1 \
  aws --endpoint-url "http://127.0.0.1:$port" s3api create-bucket --bucket "$bucket" >/dev/null
echo "$port"
