#!/usr/bin/env bash
# Writes a small seed corpus into fuzz/corpus/<target>/ (git-ignored): one file per seed, each a
# well-formed answer (and a few malformed ones) so libFuzzer starts from the real shapes.
set -euo pipefail
cd "$(dirname "$0")"
seed() { mkdir -p "corpus/$1"; printf '%s' "$3" > "corpus/$1/$2"; }

seed installation_token ok '{"token":"ghs_16C7e42F292c6912E7710c838347Ae178B4a","expires_at":"2099-07-11T22:14:10Z","permissions":{"issues":"write","contents":"read"},"repository_selection":"selected","repositories":[{"id":1296269,"name":"Hello-World","full_name":"octocat/Hello-World"}]}'
seed installation_token minimal '{"token":"ghs_x","expires_at":"2099-01-01T00:00:00Z"}'
seed installation_token expired '{"token":"ghs_x","expires_at":"2001-01-01T00:00:00Z"}'
seed installation_token error '{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}'
seed installation_token errors '{"message":"Validation Failed","errors":[{"resource":"Installation","code":"invalid","field":"repositories"}]}'

seed oauth_answer json '{"access_token":"ghu_16C7e42F292c6912E7710c838347Ae178B4a","expires_in":28800,"refresh_token":"ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498","refresh_token_expires_in":15811200,"scope":"","token_type":"bearer"}'
seed oauth_answer form 'access_token=ghu_x&expires_in=28800&refresh_token=ghr_x&refresh_token_expires_in=15811200&scope=repo&token_type=bearer'
seed oauth_answer error_json '{"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired.","error_uri":"https://docs.github.com"}'
seed oauth_answer error_form 'error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired.'
seed oauth_answer pending '{"error":"authorization_pending"}'
seed oauth_answer slow_down '{"error":"slow_down","interval":10}'
seed oauth_answer slow_down_big 'error=slow_down&interval=99999999999999999999'

seed date_header imf 'Sun, 06 Nov 1994 08:49:37 GMT'
seed date_header now "$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')"
seed date_header rfc850 'Sunday, 06-Nov-94 08:49:37 GMT'
seed date_header asctime 'Sun Nov  6 08:49:37 1994'
seed date_header far 'Fri, 31 Dec 9999 23:59:59 GMT'

# Keys: generated here (never committed), small so each run stays fast.
mkdir -p corpus/private_key
openssl genrsa -traditional -out corpus/private_key/pkcs1.pem 2048 2>/dev/null \
    || openssl genrsa -out corpus/private_key/pkcs1.pem 2048 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in corpus/private_key/pkcs1.pem -out corpus/private_key/pkcs8.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out corpus/private_key/ec.pem
# The same RSA key in OpenSSH's format (`ssh-keygen -p` rewrites it so), and an ed25519 key.
if command -v ssh-keygen >/dev/null; then
    cp corpus/private_key/pkcs1.pem corpus/private_key/openssh.pem
    chmod 600 corpus/private_key/openssh.pem
    ssh-keygen -q -p -N "" -f corpus/private_key/openssh.pem >/dev/null
    rm -f corpus/private_key/ed25519.openssh
    ssh-keygen -q -t ed25519 -N "" -C "" -f corpus/private_key/ed25519.openssh
    rm -f corpus/private_key/ed25519.openssh.pub
fi
seed private_key empty_pem $'-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n'
seed private_key not_pem 'not a key'
echo "seeds written to $(pwd)/corpus"
