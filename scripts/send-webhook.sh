#!/usr/bin/env bash
# Sends one signed test webhook by hand, with nothing but openssl and curl: the body of a
# Gong call webhook and an HS256 token carrying Gong's claims (webhook_url, body_sha256,
# exp) plus iat, signed with the shared secret the service was started with.
#
#   scripts/send-webhook.sh [body.json]
#   SECRET=... URL=http://127.0.0.1:8080/webhook/gong/calls scripts/send-webhook.sh
set -euo pipefail
# A body given on the command line is read from where the caller stands; the default one
# from the repository.
if [ $# -ge 1 ]; then body="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; fi
cd "$(dirname "$0")/.."
secret="${SECRET:-local-trial-secret-0123456789abcdef}"
url="${URL:-http://127.0.0.1:8080/webhook/gong/calls}"
body="${body:-tests/data/webhook_call.json}"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
hash=$(openssl dgst -sha256 -r "$body" | cut -d' ' -f1)
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
# jti makes each token unique: HS256 is deterministic, and two sends within one second
# would otherwise carry the same token, the second refused as a replay.
jti=$(openssl rand -hex 16)
claims=$(printf '{"webhook_url":"%s","body_sha256":"%s","iat":%d,"exp":%d,"jti":"%s"}' \
  "$url" "$hash" "$now" $((now + 300)) "$jti" | b64url)
sig=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)

curl -sS -i -X POST "$url" \
  -H 'Content-Type: application/json' \
  -H "Authorization: $header.$claims.$sig" \
  --data-binary @"$body"
echo
