#!/usr/bin/env bash
# make-dev-pki.sh - a throwaway development/test PKI for trustbridge.
#
# DEV AND TEST ONLY. The keys it writes are unencrypted and the CA is trusted by nothing real.
# Never use these certificates or keys in production; see certs/README.md for the real profile.
#
# Usage: certs/make-dev-pki.sh [--force] [--quiet] OUT_DIR [NAME,NAME,...]
# See usage() below or certs/README.md for what it makes.
set -euo pipefail

readonly kDefaultNames="broker-a,broker-b,RJ1,RGT,RXH"
readonly kOrg="trustbridge dev"
readonly kCaDays=3650
readonly kLeafDays=825
readonly kCrlDays=30
readonly kCrlRefreshMinutes=$((7 * 24 * 60))
# Artefacts the script always makes besides the NAMEs; also the names a NAME may not take.
readonly kFixed=(ca other-ca revoked expired wrong-ca)

usage() {
  cat <<EOF
Usage: ${0##*/} [--force] [--quiet] OUT_DIR [NAME,NAME,...]

Makes a development/test PKI in OUT_DIR (ECDSA P-256 keys, SHA-256 signatures):
  ca.crt ca.key              dev CA "trustbridge dev CA" (10 years)
  NAME.crt NAME.key          one per NAME (default: ${kDefaultNames}): CN=NAME, O=${kOrg},
                             SAN DNS:localhost IP:127.0.0.1, EKU serverAuth+clientAuth, 825 days
  revoked.crt revoked.key    CN=revoked, signed by the dev CA, then revoked
  expired.crt expired.key    CN=expired, signed by the dev CA, validity entirely in the past
  other-ca.crt other-ca.key  an unrelated CA
  wrong-ca.crt wrong-ca.key  CN=RJ1, signed by the unrelated CA
  ca.crl                     the dev CA's CRL (lists revoked.crt), valid 30 days
  .ca-db/                    the openssl ca database, so the CRL can be regenerated

Idempotent: if everything requested exists it does nothing (it only re-signs ca.crl when that is
older than 7 days). New NAMEs are added under the existing CA.
  -f, --force   throw away this script's files in OUT_DIR and make everything again
  -q, --quiet   print nothing unless something fails
  -h, --help    this text
Keys are written mode 0600. DEV AND TEST ONLY: never use these in production.
EOF
}

die() {
  printf 'make-dev-pki: %s\n' "$*" >&2
  exit 1
}

force=0
quiet=0
positional=()
while (($#)); do
  case "$1" in
    -f | --force) force=1 ;;
    -q | --quiet) quiet=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      positional+=("$@")
      break
      ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) positional+=("$1") ;;
  esac
  shift
done
((${#positional[@]} >= 1 && ${#positional[@]} <= 2)) || {
  usage >&2
  exit 2
}
out="${positional[0]}"
names_arg="${positional[1]:-$kDefaultNames}"

# NAMEs become file names and subject CNs: keep them to ODS-code/broker-id characters.
names=()
IFS=',' read -r -a raw_names <<<"$names_arg"
for name in "${raw_names[@]}"; do
  [[ -z "$name" ]] && continue
  [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] ||
    die "bad NAME '$name': use letters, digits, '.', '_' or '-' (an ODS code or broker id)"
  for fixed in "${kFixed[@]}"; do
    [[ "$name" == "$fixed" ]] && die "NAME '$name' is reserved for a fixed test certificate"
  done
  for seen in "${names[@]+"${names[@]}"}"; do
    [[ "$name" == "$seen" ]] && continue 2
  done
  names+=("$name")
done
((${#names[@]} > 0)) || die "no NAMEs given"

command -v openssl >/dev/null 2>&1 || die "the openssl command is not on PATH (Debian: apt-get install openssl)"

umask 077
mkdir -p "$out"
out="$(cd "$out" && pwd)"
db="$out/.ca-db"
cnf="$db/openssl.cnf"
log="$db/last-run.log"

# One run at a time per OUT_DIR (parallel test binaries may share one).
if command -v flock >/dev/null 2>&1; then
  exec 9<"$out"
  flock 9
fi

# ---- what is there already -------------------------------------------------
pair_exists() { [[ -s "$out/$1.crt" && -s "$out/$1.key" ]]; }

ca_usable() {
  pair_exists ca && [[ -f "$db/index.txt" && -s "$db/serial" && -s "$db/crlnumber" ]]
}

crl_fresh() {
  [[ -s "$out/ca.crl" ]] || return 1
  [[ -z "$(find "$out/ca.crl" -mmin "+$kCrlRefreshMinutes" -print)" ]]
}

missing=()
for base in "${kFixed[@]}" "${names[@]}"; do
  pair_exists "$base" || missing+=("$base")
done

if ((force == 0)) && ca_usable && ((${#missing[@]} == 0)) && crl_fresh; then
  ((quiet)) || printf 'dev PKI in %s is up to date (nothing to do)\n' "$out"
  exit 0
fi

# ---- helpers ---------------------------------------------------------------
made=()

cleanup_tmp() {
  rm -f "$out"/*.tmp "$db"/*.csr 2>/dev/null || true
}
trap cleanup_tmp EXIT

# Runs an openssl command with its chatter in the run log; on failure shows the log (which holds
# no key material: keys go only to -keyout files) and stops.
ossl() {
  if ! openssl "$@" >>"$log" 2>&1; then
    printf 'make-dev-pki: openssl %s failed; output:\n' "$1" >&2
    sed 's/^/  /' "$log" >&2
    exit 1
  fi
}

# Moves NAME.key.tmp / NAME.crt.tmp into place, key first, so a .crt never lacks its key.
commit_pair() {
  chmod 600 "$out/$1.key.tmp"
  mv -f "$out/$1.key.tmp" "$out/$1.key"
  chmod 644 "$out/$1.crt.tmp"
  mv -f "$out/$1.crt.tmp" "$out/$1.crt"
  printf '%s\n' "$1" >>"$db/issued"
  made+=("$1.crt/.key")
}

# new_key_and_csr BASE CN: a fresh P-256 key in BASE.key.tmp and a CSR in .ca-db.
new_key_and_csr() {
  ossl req -new -config "$cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out/$1.key.tmp" -subj "/O=$kOrg/CN=$2" -out "$db/$1.csr"
}

# issue BASE CN [openssl ca options...]: a leaf certificate signed by the dev CA.
issue() {
  local base="$1" cn="$2"
  shift 2
  new_key_and_csr "$base" "$cn"
  ossl ca -batch -config "$cnf" -name dev_ca -extensions leaf_ext -notext \
    -in "$db/$base.csr" -out "$out/$base.crt.tmp" "$@"
  commit_pair "$base"
}

# self_signed_ca BASE CN: a CA key and certificate.
self_signed_ca() {
  ossl req -x509 -config "$cnf" -extensions ca_ext -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -nodes -sha256 -days "$kCaDays" -subj "/O=$kOrg/CN=$2" \
    -keyout "$out/$1.key.tmp" -out "$out/$1.crt.tmp"
  commit_pair "$1"
}

write_config() {
  cat >"$cnf" <<EOF
# Written by certs/make-dev-pki.sh; rewritten on every run that changes anything.
[ req ]
distinguished_name = req_dn
prompt             = no
string_mask        = utf8only
default_md         = sha256

[ req_dn ]
CN = unused

[ dev_ca ]
dir              = $db
database         = \$dir/index.txt
new_certs_dir    = \$dir/newcerts
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
certificate      = $out/ca.crt
private_key      = $out/ca.key
default_md       = sha256
default_days     = $kLeafDays
default_crl_days = $kCrlDays
policy           = policy_dev
preserve         = yes
email_in_dn      = no
unique_subject   = no
copy_extensions  = none
crl_extensions   = crl_ext

[ policy_dev ]
organizationName = optional
commonName       = supplied

[ ca_ext ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ leaf_ext ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
}

# ---- start over if forced or the CA is not usable ---------------------------
if ((force == 1)) || ! ca_usable; then
  if [[ -f "$db/issued" ]]; then
    while IFS= read -r base; do
      [[ "$base" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] && rm -f "$out/$base.crt" "$out/$base.key"
    done <"$db/issued"
  fi
  for base in "${kFixed[@]}" "${names[@]}"; do
    rm -f "$out/$base.crt" "$out/$base.key"
  done
  rm -f "$out/ca.crl"
  rm -rf "$db"
fi

mkdir -p "$db/newcerts"
: >"$log"
write_config
[[ -f "$db/index.txt" ]] || : >"$db/index.txt"
[[ -f "$db/index.txt.attr" ]] || printf 'unique_subject = no\n' >"$db/index.txt.attr"
[[ -s "$db/serial" ]] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | sed 's/^./7/' >"$db/serial"
[[ -s "$db/crlnumber" ]] || printf '01\n' >"$db/crlnumber"

need_crl=0
if ! pair_exists ca; then
  self_signed_ca ca "trustbridge dev CA"
  need_crl=1
fi
if ! pair_exists other-ca; then
  rm -f "$out/wrong-ca.crt" "$out/wrong-ca.key"  # signed by the CA being replaced
  self_signed_ca other-ca "trustbridge other dev CA (untrusted)"
fi

for name in "${names[@]}"; do
  pair_exists "$name" || issue "$name" "$name" -days "$kLeafDays"
done

if ! pair_exists revoked; then
  issue revoked revoked -days "$kLeafDays"
  ossl ca -config "$cnf" -name dev_ca -revoke "$out/revoked.crt" -crl_reason keyCompromise
  need_crl=1
fi

if ! pair_exists expired; then
  issue expired expired \
    -startdate "$(date -u -d '-400 days' +%Y%m%d%H%M%SZ)" \
    -enddate "$(date -u -d '-30 days' +%Y%m%d%H%M%SZ)"
fi

if ! pair_exists wrong-ca; then
  # Same CN as a real participant on purpose: identity must come from the chain, not the name.
  ossl req -x509 -config "$cnf" -extensions leaf_ext -CA "$out/other-ca.crt" \
    -CAkey "$out/other-ca.key" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -days "$kLeafDays" -subj "/O=$kOrg/CN=RJ1" \
    -keyout "$out/wrong-ca.key.tmp" -out "$out/wrong-ca.crt.tmp"
  commit_pair wrong-ca
fi

if ((need_crl == 1)) || ! crl_fresh; then
  ossl ca -config "$cnf" -name dev_ca -gencrl -crldays "$kCrlDays" -out "$out/ca.crl.tmp"
  chmod 644 "$out/ca.crl.tmp"
  mv -f "$out/ca.crl.tmp" "$out/ca.crl"
  made+=("ca.crl")
fi

# Keep .ca-db/issued short and unique.
sort -u -o "$db/issued" "$db/issued"

if ((quiet == 0)); then
  printf 'dev PKI in %s (DEV/TEST ONLY - never use in production)\n' "$out"
  printf '  made: %s\n' "${made[*]}"
  printf '  trust: ca.crt  crl: ca.crl (%s days)  names: %s\n' "$kCrlDays" "${names[*]}"
fi
