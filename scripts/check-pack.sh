#!/usr/bin/env bash
# The production install, as docs/operations.md describes it: `npm pack`, then install the tarball with
# --omit=dev into an empty prefix (runtime dependencies from the registry; no TypeScript there), and check
# that the installed `imagewatch` runs: --version, check-config, and better-sqlite3's native addon loads.
# Run by .ci/run; locally: npm run check:pack
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/imagewatch-pack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

version=$(node -p 'require("./package.json").version')
tarball=$(npm pack --silent --pack-destination "$tmp" | tail -n 1)
echo "check-pack: packed $tarball"
listing=$(tar -tzf "$tmp/$tarball")
for f in package/package.json package/dist/main.js package/config/imagewatch.yaml package/deploy/systemd/imagewatch.service; do
  grep -qx "$f" <<<"$listing" || { echo "check-pack: $f missing from the tarball" >&2; exit 1; }
done
if grep -q '^package/src/\|^package/test/\|^package/node_modules/' <<<"$listing"; then
  echo "check-pack: the tarball holds sources, tests or node_modules" >&2
  exit 1
fi

prefix="$tmp/prefix"
# Install scripts run only when allowed: better-sqlite3 builds (or downloads) its addon. npm also lists
# imagewatch's own `prepare` as not allowed: intended, the tarball already holds dist/.
npm install -g --omit=dev --allow-scripts=better-sqlite3 --no-audit --no-fund --prefix "$prefix" "$tmp/$tarball"
bin="$prefix/bin/imagewatch"
pkgdir="$prefix/lib/node_modules/imagewatch"

got=$("$bin" --version)
[[ "$got" == *"$version"* ]] || { echo "check-pack: --version printed '$got', want $version" >&2; exit 1; }
echo "check-pack: imagewatch --version → $got"

cat >"$tmp/imagewatch.yaml" <<'YAML'
cloud:
  region: cn-north-4
  auth: { kind: aksk, accessKey: AK-FOR-CHECK-PACK, secretKey: SK-FOR-CHECK-PACK }
targets:
  - projectId: "0123456789abcdef0123456789abcdef"
    discover: true
YAML
out=$("$bin" check-config -c "$tmp/imagewatch.yaml")
grep -q 'cn-north-4' <<<"$out" || { echo "check-pack: check-config printed no resolved config" >&2; exit 1; }
if grep -q 'SK-FOR-CHECK-PACK' <<<"$out"; then echo "check-pack: check-config printed a secret" >&2; exit 1; fi
echo "check-pack: check-config ok"

# The bundle's poll path, end to end: the installed simulator, and `once` against it with the demo config.
"$bin" simulate --port 0 --scenario "$pkgdir/config/demo-scenario.yaml" >"$tmp/sim.out" 2>&1 &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do grep -q 'listening on' "$tmp/sim.out" && break; sleep 0.1; done
sim_port=$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/sim.out" | head -n 1 | sed 's/.*://')
[ -n "$sim_port" ] || { echo "check-pack: the simulator did not start" >&2; cat "$tmp/sim.out" >&2; exit 1; }
out=$(cd "$pkgdir" && IMAGEWATCH_DEMO_SIM_PORT="$sim_port" "$bin" once -c config/demo.yaml)
grep -q 'build-office-2026' <<<"$out" || { echo "check-pack: once printed no demo server" >&2; echo "$out" >&2; exit 1; }
kill "$sim_pid"
echo "check-pack: once against the installed simulator ok"

(cd "$pkgdir" && node -e 'const D = require("better-sqlite3"); const db = new D(":memory:"); db.exec("create table t(x)"); db.close()')
echo "check-pack: better-sqlite3 loads in the installed package"
[ ! -e "$pkgdir/node_modules/typescript" ] || { echo "check-pack: dev dependencies were installed" >&2; exit 1; }
echo "check-pack: ok"
