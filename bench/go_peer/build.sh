#!/usr/bin/env bash
# Builds bench's Go peer (bench/go_peer/main.go) into build/go-peer/go-peer:
# the Debian Go toolchain and grpc-go sources, GOPATH mode (no network), the
# Go code of the service generated from proto/ here. Not part of the product.
#   bench/go_peer/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
command -v go >/dev/null || need+=(golang-go)
command -v protoc-gen-go >/dev/null || need+=(protoc-gen-go)
[ -d /usr/share/gocode/src/google.golang.org/grpc/cmd/protoc-gen-go-grpc ] ||
  need+=(golang-google-grpc-dev)
[ -d /usr/share/gocode/src/google.golang.org/protobuf ] || need+=(golang-google-protobuf-dev)
# grpc-go 1.33's codec goes through github.com/golang/protobuf: 1.5 (a shim over
# google.golang.org/protobuf) reads today's generated code; 1.3 panics on it.
[ -f /usr/share/gocode/src/github.com/golang/protobuf/proto/registry.go ] ||
  need+=(golang-github-golang-protobuf-1-5-dev)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
out=build/go-peer
rm -rf "$out/src"
mkdir -p "$out/src/serpwow.local/pb" "$out/src/gopeer" "$out/bin"
export GOPATH="$PWD/$out:/usr/share/gocode" GO111MODULE=off GOCACHE="$PWD/$out/cache"
go build -o "$out/bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
googleapis=/usr/share/gocode/src/github.com/gogo/googleapis
map="Mserpwow/batches/v1/batch_service.proto=serpwow.local/pb,Mserpwow/batches/v1/resources.proto=serpwow.local/pb"
map="$map,Mgoogle/api/annotations.proto=google.golang.org/genproto/googleapis/api/annotations"
map="$map,Mgoogle/api/http.proto=google.golang.org/genproto/googleapis/api/annotations"
protoc -I proto -I "$googleapis" \
  --plugin=protoc-gen-go-grpc="$out/bin/protoc-gen-go-grpc" \
  --go_out="$out/src/serpwow.local/pb" --go_opt=paths=source_relative,"$map" \
  --go-grpc_out="$out/src/serpwow.local/pb" --go-grpc_opt=paths=source_relative,"$map" \
  serpwow/batches/v1/batch_service.proto serpwow/batches/v1/resources.proto
mv "$out"/src/serpwow.local/pb/serpwow/batches/v1/*.go "$out/src/serpwow.local/pb/"
cp bench/go_peer/main.go "$out/src/gopeer/main.go"
go build -o "$out/go-peer" gopeer
echo "bench/go_peer/build.sh: built $out/go-peer"
