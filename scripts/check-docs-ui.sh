#!/usr/bin/env bash
# Checks that Swagger UI (/docs) and ReDoc (/redoc) of a running almacen service render the
# API in a headless Chromium that cannot reach anything but the service on 127.0.0.1.
#
#   scripts/check-docs-ui.sh <base-url> <out-dir>
#   e.g. scripts/check-docs-ui.sh http://127.0.0.1:8077 /tmp/docs-ui
#
# For each page: the DOM after the page settled must contain the document's title (from
# <base-url>/openapi.json) and its first path; a screenshot is saved as <out-dir>/docs.png and
# <out-dir>/redoc.png, the DOM as <out-dir>/<page>.html, Chromium's log as <out-dir>/<page>.log.
# Installs Debian's `chromium` if missing (needs root). Exits non-zero, saying why, on failure.
set -euo pipefail

die() { echo "check-docs-ui: FAIL: $*" >&2; exit 1; }

[ $# -eq 2 ] || { echo "usage: $0 <base-url> <out-dir>" >&2; exit 2; }
base="${1%/}"
out="$2"
case "$base" in
  http://127.0.0.1:*|http://localhost:*|http://127.0.0.1|http://localhost) ;;
  *) die "the base URL must be http://127.0.0.1[:port] (all other hosts are blocked): $base" ;;
esac
mkdir -p "$out"

chrome="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$chrome" ]; then
  [ "$(id -u)" -eq 0 ] || die "chromium is not installed and installing it needs root (apt-get install -y chromium)"
  echo "check-docs-ui: installing chromium (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null || die "apt-get install chromium failed"
  chrome="$(command -v chromium)" || die "chromium is still not on PATH after apt-get install"
fi
command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed"

# What the UIs must show: the document's title and one of its paths.
spec="$(curl -fsS "$base/openapi.json")" || die "GET $base/openapi.json failed"
mapfile -t want < <(printf '%s' "$spec" | python3 -c '
import json, sys
d = json.load(sys.stdin)
paths = [p for p in d.get("paths", {}) if p not in ("/health", "/ready", "/metrics")] or list(d.get("paths", {}))
print(" ".join(d["info"]["title"].split()))
print(paths[0] if paths else "")
') || die "$base/openapi.json is not a valid OpenAPI document"
title="${want[0]:-}"
path="${want[1]:-}"
[ -n "$title" ] && [ -n "$path" ] || die "openapi.json has no title or no path to look for"
echo "check-docs-ui: looking for title '$title' and path '$path'"

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT

# Every host but 127.0.0.1 resolves to nothing, and every proxied request goes to a dead port:
# the page can reach the service and nothing else (no CDN, no fonts).
chrome_args=(--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage
  --user-data-dir="$profile" --no-first-run --no-default-browser-check
  --disable-background-networking --disable-component-update --disable-sync
  --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
  --proxy-server="http://127.0.0.1:9" --proxy-bypass-list="127.0.0.1;localhost"
  --window-size=1280,2000 --virtual-time-budget=15000 --run-all-compositor-stages-before-draw
  --enable-logging=stderr --v=0)

failed=0
check_page() {
  local name="$1" url="$base$2"
  shift 2
  local dom="$out/$name.html" log="$out/$name.log" shot="$out/$name.png"
  rm -f "$dom" "$shot"
  if ! timeout 120 "$chrome" "${chrome_args[@]}" --dump-dom "$url" >"$dom" 2>"$log"; then
    echo "check-docs-ui: FAIL: $name: chromium --dump-dom $url failed (see $log)" >&2; failed=1; return
  fi
  timeout 120 "$chrome" "${chrome_args[@]}" --screenshot="$shot" "$url" >/dev/null 2>>"$log" \
    || echo "check-docs-ui: warning: $name: no screenshot (see $log)" >&2
  local missing=()
  for needle in "$title" "$path" "$@"; do
    grep -qF -- "$needle" "$dom" || missing+=("$needle")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "check-docs-ui: FAIL: $name ($url) did not render: missing $(printf "'%s' " "${missing[@]}")in the DOM ($dom, log $log)" >&2
    failed=1
    return
  fi
  # Requests that left for elsewhere would show as blocked/failed loads in Chromium's log.
  local blocked
  blocked="$(grep -E 'ERR_NAME_NOT_RESOLVED|ERR_PROXY_CONNECTION_FAILED|Content Security Policy' "$log" || true)"
  if [ -n "$blocked" ]; then
    echo "check-docs-ui: note: $name tried to load something not on the service (blocked):" >&2
    printf '%s\n' "$blocked" | sed 's/^/  /' >&2
  fi
  echo "check-docs-ui: ok: $name rendered ($(wc -c <"$dom") bytes of DOM, screenshot $shot)"
}

# Swagger UI renders operations as .opblock elements; ReDoc renders its menu and the API
# title as an <h1>.
check_page docs /docs 'opblock'
check_page redoc /redoc 'api-content'

[ "$failed" -eq 0 ] || die "see the messages above"
echo "check-docs-ui: all pages rendered offline"
