#!/usr/bin/env bash
# Build tests/clients/go_signer.go (the AWS SDK for Go v2 driver of the signer matrix) into
# .venv/mx-go/go_signer, in GOPATH mode against Debian's golang-github-aws-aws-sdk-go-v2-dev.
# Does nothing when the binary is newer than the source's last build (a stamp holds the
# source's hash). Exit 0 when the binary is ready; otherwise 1 with the reason on stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=tests/clients/go_signer.go
out=.venv/mx-go
want=$(cat "$src" | sha256sum | cut -d' ' -f1)
if [ -x "$out/go_signer" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
command -v go >/dev/null 2>&1 || { echo "build_go: no go toolchain (Debian package golang-go)" >&2; exit 1; }
gopath=""
if command -v dpkg >/dev/null 2>&1; then
    gopath=$(dpkg -L golang-github-aws-aws-sdk-go-v2-dev 2>/dev/null | grep -m1 '/gocode$' || true)
fi
gopath=${gopath:-/usr/share/gocode}
if [ ! -d "$gopath/src/github.com/aws/aws-sdk-go-v2/service/s3" ]; then
    echo "build_go: the AWS SDK for Go v2 sources are not under $gopath (Debian package golang-github-aws-aws-sdk-go-v2-dev)" >&2
    exit 1
fi
mkdir -p "$out"
if ! GO111MODULE=off GOPATH="$gopath" GOCACHE="$PWD/$out/cache" GOFLAGS="" \
    go build -o "$out/go_signer.tmp" "$src" >"$out/build.log" 2>&1; then
    echo "build_go: go build failed:" >&2
    tail -n 20 "$out/build.log" >&2
    exit 1
fi
mv "$out/go_signer.tmp" "$out/go_signer"
echo "$want" >"$out/stamp"
