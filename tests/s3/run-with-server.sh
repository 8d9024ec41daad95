#!/usr/bin/env bash
# Runs a command against a real S3-compatible server on 127.0.0.1, started here on a free
# port and stopped afterwards:  run-with-server.sh s3rver|moto|rgw|external COMMAND...
#   s3rver    @20minutes/s3rver 4.0.4 from tests/s3/node_modules (scripts/setup.sh installs it)
#   moto      moto_server, when `python3 -c 'import moto'` works
#   rgw       Ceph's RADOS Gateway 16 (Debian's radosgw) on a throwaway one-node cluster
#             (start-rgw.sh; S4DB_TEST_RGW=0 skips it)
#   external  whatever S4DB_TEST_S3_BUCKET (and S4DB_TEST_S3_ENDPOINT, AWS_*) name
# The command sees S4DB_TEST_S3_{ENDPOINT,BUCKET,SERVER} and AWS credentials. Exit 77
# (a skip, for CTest and Meson) when the server cannot run here, saying why.
set -euo pipefail
server=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pid=""
cleanup() {  # a server that has not stopped 5 s after SIGTERM is killed (s3rver once kept
  # waiting on a request whose client was interrupted mid-upload)
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  [[ -d $work/rgw ]] && "$here/stop-rgw.sh" "$work/rgw"
  rm -rf "$work"
}
trap cleanup EXIT
bucket=s4db-test

wait_for_port() {  # the server is up when it answers HTTP
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$work/log"; echo "$server died on start"; exit 1; }
    sleep 0.2
  done
  cat "$work/log"; echo "$server did not answer on port $1"; exit 1
}

case $server in
  s3rver|s3rver-port80|s3rver-tls)
    [[ -d $here/node_modules/@20minutes/s3rver ]] || { echo "s3rver is not installed: run scripts/setup.sh"; exit 1; }
    listen=0
    tls=()
    scheme=http
    host=127.0.0.1
    if [[ $server != s3rver ]]; then
      [[ $(id -u) == 0 ]] || { echo "SKIPPED LOUDLY: $server listens on a port below 1024, which needs root"; exit 77; }
      listen=80
    fi
    if [[ $server == s3rver-tls ]]; then
      listen=443
      scheme=https
      host=localhost
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=s4db-test-ca -keyout "$work/ca.key" \
        -out "$work/ca.pem" 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$work/server.key" -out "$work/server.csr" \
        2>/dev/null
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$work/san"
      openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
        -extfile "$work/san" -out "$work/server.pem" 2>/dev/null
      tls=(--key "$work/server.key" --cert "$work/server.pem")
      export AWS_CA_BUNDLE=$work/ca.pem
    fi
    node --openssl-legacy-provider "$here/start-s3rver.js" -d "$work/data" -a 127.0.0.1 -p "$listen" -s \
      "${tls[@]}" --configure-bucket "$bucket" >"$work/log" 2>&1 &
    pid=$!
    port=""
    for _ in $(seq 1 100); do
      port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/log")
      [[ -n $port ]] && break
      kill -0 "$pid" 2>/dev/null || { cat "$work/log"; echo "$server died on start"; exit 1; }
      sleep 0.2
    done
    [[ -n $port ]] || { cat "$work/log"; echo "s3rver did not start"; exit 1; }
    if [[ $scheme == https ]]; then
      for _ in $(seq 1 100); do curl -s -o /dev/null --cacert "$AWS_CA_BUNDLE" "https://localhost:$port/" && break; sleep 0.2; done
    else
      wait_for_port "$port"
    fi
    export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
    ;;
  moto)
    if ! python3 -c 'import moto' 2>/dev/null || ! command -v moto_server >/dev/null; then
      echo "SKIPPED LOUDLY: moto is not installed here (python3 -c 'import moto' fails)"; exit 77
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    moto_server -H 127.0.0.1 -p "$port" >"$work/log" 2>&1 &
    pid=$!
    wait_for_port "$port"
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    curl -s -f -X PUT "http://127.0.0.1:$port/$bucket" >/dev/null
    ;;
  rgw)
    if [[ ${S4DB_TEST_RGW:-1} == 0 ]]; then echo "SKIPPED LOUDLY: S4DB_TEST_RGW=0"; exit 77; fi
    export AWS_ACCESS_KEY_ID=s4dbtestkey AWS_SECRET_ACCESS_KEY=s4dbtestsecret
    status=0
    port=$("$here/start-rgw.sh" "$work/rgw" "$bucket" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY") || status=$?
    ((status == 0)) || exit "$status"
    ;;
  external)
    if [[ -z ${S4DB_TEST_S3_BUCKET:-} ]]; then
      echo "SKIPPED: no external S3 endpoint (set S4DB_TEST_S3_BUCKET, and S4DB_TEST_S3_ENDPOINT for MinIO)"; exit 77
    fi
    export S4DB_TEST_S3_SERVER=external
    exec "$@"
    ;;
  *)
    echo "usage: $0 s3rver|s3rver-port80|s3rver-tls|moto|rgw|external COMMAND..."; exit 2
    ;;
esac
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
export AWS_REGION=us-east-1 S4DB_TEST_S3_ENDPOINT="${scheme:-http}://${host:-127.0.0.1}:$port" S4DB_TEST_S3_BUCKET=$bucket \
  S4DB_TEST_S3_SERVER=$server
"$@"
