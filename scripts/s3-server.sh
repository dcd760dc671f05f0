#!/usr/bin/env bash
# A local S3 API for the remote tests and benchmarks: moto's server (from PyPI, in a venv under
# target/), on 127.0.0.1 on a free port, with authentication on: one IAM user whose access key
# the tests use, and a bucket `codever-test`. Wrong keys are refused as AWS refuses them.
#
#   scripts/s3-server.sh run -- CMD ARGS…   start it, run CMD with the environment below, stop it
#   scripts/s3-server.sh start [--watch PID] print the environment (shell `export` lines) and
#                                            leave it running (until PID exits, with --watch)
#   scripts/s3-server.sh stop                stop the one `start` left running
#
# Environment given to CMD / printed: CODEVER_TEST_S3_ENDPOINT, CODEVER_TEST_S3_BUCKET,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/s3-venv"
state="$root/target/s3-server"
mkdir -p "$state"

install() {
    if [ ! -x "$venv/bin/moto_server" ]; then
        python3 -m venv "$venv" >&2
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "moto[server]>=5,<6" boto3 >&2
    fi
}

start() {
    install
    local port
    port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    local endpoint="http://127.0.0.1:$port"
    # The first 4 requests (the setup below) need no credentials; every later one does.
    INITIAL_NO_AUTH_ACTION_COUNT=4 "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
        >"$state/moto.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$state/pid"
    for _ in $(seq 1 100); do
        "$venv/bin/python" - "$endpoint" <<'PY' 2>/dev/null && break
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)
PY
        kill -0 "$pid" 2>/dev/null || { cat "$state/moto.log" >&2; exit 1; }
        sleep 0.1
    done
    "$venv/bin/python" - "$endpoint" >"$state/env" <<'PY'
import json, sys, boto3
endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **kw)
iam.create_user(UserName="codever")
iam.put_user_policy(UserName="codever", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="codever")["AccessKey"]
kw.update(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
boto3.client("s3", **kw).create_bucket(Bucket="codever-test")
print(f"export CODEVER_TEST_S3_ENDPOINT={endpoint}")
print("export CODEVER_TEST_S3_BUCKET=codever-test")
print(f"export AWS_ACCESS_KEY_ID={key['AccessKeyId']}")
print(f"export AWS_SECRET_ACCESS_KEY={key['SecretAccessKey']}")
print("export AWS_DEFAULT_REGION=us-east-1")
PY
}

stop() {
    if [ -f "$state/pid" ]; then
        kill "$(cat "$state/pid")" 2>/dev/null || true
        rm -f "$state/pid"
    fi
}

case "${1:-}" in
    run)
        shift
        [ "${1:-}" = "--" ] && shift
        start
        trap stop EXIT
        # shellcheck disable=SC1091
        source "$state/env"
        "$@"
        ;;
    start)
        start
        if [ "${2:-}" = "--watch" ] && [ -n "${3:-}" ]; then
            owner=$3
            pid=$(cat "$state/pid")
            # Stops the server once the process that asked for it is gone.
            (while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
             kill "$pid" 2>/dev/null || true) >/dev/null 2>&1 </dev/null &
            disown || true
        fi
        cat "$state/env"
        ;;
    stop) stop ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
esac
