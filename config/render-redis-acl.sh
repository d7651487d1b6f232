#!/bin/sh
# Renders config/redis-users.acl.template into a Redis ACL file, then runs
# COMMAND if one is given (docker compose uses it as Redis' entrypoint).
#
#   SECAGG_REDIS_GATEWAY_PASSWORD=... SECAGG_REDIS_AGGREGATOR_PASSWORD=... \
#   SECAGG_REDIS_ADMIN_PASSWORD=... sh render-redis-acl.sh TEMPLATE OUTPUT [COMMAND ARGS...]
#
# Passwords: at least 24 characters of [A-Za-z0-9_-] (they go into
# redis:// URLs unescaped), e.g. `openssl rand -hex 24`. Only their SHA-256
# reaches the ACL file. SECAGG_KEY_PREFIX (default secagg) must equal the
# services' GATEWAY_KEY_PREFIX / AGGREGATOR_KEY_PREFIX.
# POSIX sh and coreutils only: it runs inside the redis image.
set -eu

template=${1:?usage: render-redis-acl.sh TEMPLATE OUTPUT [COMMAND ARGS...]}
output=${2:?usage: render-redis-acl.sh TEMPLATE OUTPUT [COMMAND ARGS...]}
shift 2
prefix=${SECAGG_KEY_PREFIX:-secagg}

case $prefix in
  *[!A-Za-z0-9_.-]* | '') echo "render-redis-acl: SECAGG_KEY_PREFIX must be 1-64 characters of [A-Za-z0-9_.-]" >&2; exit 1 ;;
esac

hash_of() {
  # $1: user name, $2: password
  case $2 in
    *[!A-Za-z0-9_-]*) echo "render-redis-acl: the $1 password may only use [A-Za-z0-9_-]" >&2; exit 1 ;;
  esac
  if [ "${#2}" -lt 24 ]; then echo "render-redis-acl: the $1 password must be at least 24 characters" >&2; exit 1; fi
  printf '%s' "$2" | sha256sum | cut -d' ' -f1
}

gateway=$(hash_of gateway "${SECAGG_REDIS_GATEWAY_PASSWORD:?SECAGG_REDIS_GATEWAY_PASSWORD is not set}")
aggregator=$(hash_of aggregator "${SECAGG_REDIS_AGGREGATOR_PASSWORD:?SECAGG_REDIS_AGGREGATOR_PASSWORD is not set}")
admin=$(hash_of admin "${SECAGG_REDIS_ADMIN_PASSWORD:?SECAGG_REDIS_ADMIN_PASSWORD is not set}")

umask 022
grep -v -e '^#' -e '^[[:space:]]*$' "$template" \
  | sed -e "s/@KEY_PREFIX@/$prefix/g" \
        -e "s/@GATEWAY_PASSWORD_SHA256@/$gateway/g" \
        -e "s/@AGGREGATOR_PASSWORD_SHA256@/$aggregator/g" \
        -e "s/@ADMIN_PASSWORD_SHA256@/$admin/g" > "$output.tmp"
if grep -q '@[A-Z_]*@' "$output.tmp"; then
  echo "render-redis-acl: unreplaced placeholder in $template" >&2
  rm -f "$output.tmp"
  exit 1
fi
mv "$output.tmp" "$output"
if [ "$#" -gt 0 ]; then exec "$@"; fi
