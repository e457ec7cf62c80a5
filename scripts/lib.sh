# Shared by scripts/start.sh and scripts/test.sh: the committed Yarn release,
# Node headers for native builds, and the install.

YARN_RELEASE=".yarn/releases/yarn-4.18.1.cjs"
yarn_() { node "$YARN_RELEASE" "$@"; }

# better-sqlite3 has no reachable prebuilt binary here and builds from source;
# node-gyp must use the local Node headers instead of downloading them.
node_headers_dir() {
  local prefix
  prefix="$(dirname "$(dirname "$(command -v node)")")"
  if [ -f "$prefix/include/node/node.h" ]; then
    echo "$prefix"
  elif [ -f /usr/include/node/node.h ]; then
    echo /usr
  fi
}

install_deps() {
  local dir
  dir="$(node_headers_dir)"
  if [ -n "$dir" ]; then export npm_config_nodedir="$dir"; fi
  echo "==> Installing dependencies (yarn install)"
  yarn_ install
}
