#!/usr/bin/env bash
# curl --aws-sigv4 driver for tests/test_signer_matrix.py.
#
#   bash curl_signer.sh CASES.json
#
# Performs each case with the system's curl through the proxy in HTTPS_PROXY, trusting the
# CA bundle in MX_CA_BUNDLE, against MX_ENDPOINT, with AWS_ACCESS_KEY_ID /
# AWS_SECRET_ACCESS_KEY. The URL is given to curl as the case has it (path and raw query);
# --path-as-is keeps curl from normalising dot segments. Every request carries the case id in
# the header x-mx-case. Prints {"version": ...} first, then one JSON line per case:
# {id, status, error, canonical} (curl does not show its canonical request: null).
# Needs jq to read the cases.
set -uo pipefail
cases=${1:?usage: curl_signer.sh CASES.json}
command -v jq >/dev/null || { echo "curl_signer.sh: jq is missing" >&2; exit 2; }
version=$(curl --version | head -n1)
jq -cn --arg v "$version" '{version: $v}'
n=$(jq 'length' "$cases")
body_file=$(mktemp)
trap 'rm -f "$body_file"' EXIT
for ((i = 0; i < n; i++)); do
    c=$(jq -c ".[$i]" "$cases")
    id=$(jq -r '.id' <<<"$c")
    method=$(jq -r '.method' <<<"$c")
    service=$(jq -r '.service' <<<"$c")
    region=$(jq -r '.region' <<<"$c")
    path=$(jq -r '.path' <<<"$c")
    query=$(jq -r '.query // ""' <<<"$c")
    jq -j '.body // ""' <<<"$c" >"$body_file"
    url="$MX_ENDPOINT$path"
    [ -n "$query" ] && url="$url?$query"
    args=(--silent --show-error --path-as-is --max-time 30 -o /dev/null -w '%{http_code}'
        --proxy "$HTTPS_PROXY" --cacert "$MX_CA_BUNDLE"
        --aws-sigv4 "aws:amz:$region:$service"
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
        -X "$method" -H "x-mx-case: $id")
    while IFS= read -r h; do
        [ -n "$h" ] && args+=(-H "$h")
    done < <(jq -r '(.headers // {}) | to_entries[] | "\(.key): \(.value)"' <<<"$c")
    # S3 needs x-amz-content-sha256, which curl 7.88 does not add by itself; given as a
    # header, curl signs it with the other x-amz-* headers.
    if [ "$service" = s3 ] && ! jq -e '(.headers // {}) | keys | map(ascii_downcase) | index("x-amz-content-sha256")' <<<"$c" >/dev/null; then
        args+=(-H "x-amz-content-sha256: $(sha256sum "$body_file" | cut -d' ' -f1)")
    fi
    if [ -s "$body_file" ]; then
        args+=(--data-binary "@$body_file")
    fi
    err=$(mktemp)
    status=$(curl "${args[@]}" "$url" 2>"$err")
    rc=$?
    if [ $rc -eq 0 ]; then
        jq -cn --arg id "$id" --argjson s "${status:-0}" '{id: $id, status: $s, error: null, canonical: null}'
    else
        jq -cn --arg id "$id" --arg e "curl exit $rc: $(head -c 300 "$err")" '{id: $id, status: null, error: $e, canonical: null}'
    fi
    rm -f "$err"
done
