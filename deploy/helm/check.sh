#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Checks the Helm chart offline: `helm lint`, `helm template`, and a strict
# decode of every rendered object into the Kubernetes API's Go types
# (validate/). helm and the validator are built from the Go module proxy, the
# only network this needs, into the cache directory and reused from there.
#
#   deploy/helm/check.sh [VALUES.yaml ...]
#
# Without arguments it checks the default values and values-production.yaml;
# "default" as an argument stands for the default values.
# Environment:
#   FLEETTRACE_CACHE     cache directory (default /var/cache/fleettrace): helm,
#                        the validator, GOPATH, GOMODCACHE and GOCACHE live there
#   FLEETTRACE_HELM_OUT  keep the renders there (NAME.yaml) with the decoded
#                        objects (NAME.json); a temporary directory otherwise
set -eu
here=$(cd "$(dirname "$0")" && pwd)
chart="$here/fleettrace"
cache=${FLEETTRACE_CACHE:-/var/cache/fleettrace}
helm_version=v4.3.2
export GOPATH="$cache/go" GOMODCACHE="$cache/go/pkg/mod" GOCACHE="$cache/go-build" GOTOOLCHAIN=local
now() { date +%s; }
started=$(now)

# helm's own config, cache and data: nothing of the user's, nothing kept.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HELM_CONFIG_HOME="$work/helm-config" HELM_CACHE_HOME="$work/helm-cache" HELM_DATA_HOME="$work/helm-data"

helm="$cache/helm-$helm_version/helm"
if [ ! -x "$helm" ]; then
  echo "check: building helm $helm_version into $cache (once per cache directory)"
  GOBIN="$cache/helm-$helm_version" go install "helm.sh/helm/v4/cmd/helm@$helm_version"
fi
# Rebuilt every run: incremental through GOCACHE, and never stale.
validator="$cache/helm-validate/validate"
# Built beside and renamed, so a concurrent run never sees half a binary.
(cd "$here/validate" && go build -mod=readonly -o "$validator.$$" . && mv -f "$validator.$$" "$validator")
echo "check: tools ready in $(($(now) - started))s ($helm, $validator)"

out=${FLEETTRACE_HELM_OUT:-$work/out}
mkdir -p "$out"
[ $# -gt 0 ] || set -- default "$chart/values-production.yaml"

failed=0
for values in "$@"; do
  if [ "$values" = default ]; then
    name=default
    set -- # no -f: the chart's values.yaml alone
  else
    name=$(basename "$values" .yaml)
    set -- -f "$values"
  fi
  echo "== $name"
  if ! "$helm" lint "$chart" "$@"; then
    echo "check: $name: helm lint failed"
    failed=1
    continue
  fi
  if ! "$helm" template fleettrace "$chart" --namespace fleettrace "$@" > "$out/$name.yaml"; then
    echo "check: $name: helm template failed"
    failed=1
    continue
  fi
  if ! "$validator" -json "$out/$name.json" "$out/$name.yaml"; then
    echo "check: $name: invalid objects"
    failed=1
  fi
done
echo "check: finished in $(($(now) - started))s, $([ $failed = 0 ] && echo ok || echo FAILED)"
exit $failed
