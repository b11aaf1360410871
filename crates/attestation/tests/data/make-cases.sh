#!/usr/bin/env bash
# Regenerates the attestation case folders under cases/ with the openssl CLI.
#
# Every openssl command that makes a case's files is appended to that case's
# commands.txt (and the shared CA setup to cases/commands-common.txt), so a
# reviewer can see exactly how each certificate was made. All validity dates are
# fixed (openssl ca -startdate/-enddate, -crl_lastupdate/-crl_nextupdate), so
# the cases do not depend on when the script ran; tests check at the time given
# in each expected.json.
#
# Usage: tests/data/make-cases.sh   (from crates/attestation; needs OpenSSL 3)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="$HERE/cases"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

CA_START=20250101000000Z
CA_END=20350101000000Z
LEAF_START=20260101000000Z
LEAF_END=20280101000000Z
CHECK_AT=2027-01-01T00:00:00Z

rm -rf "$OUT"
mkdir -p "$OUT"
LOG="$OUT/commands-common.txt"
echo "# openssl ca runs with CADIR=\$WORK/<issuer>, the issuer named by -cert (see make-cases.sh)" > "$LOG"

# run CMD...: records the command (with the work folder shown as $WORK) and runs it.
run() {
    { printf '%q ' "$@"; printf '\n'; } | sed "s#$WORK#\$WORK#g; s#$OUT#cases#g" >> "$LOG"
    "$@" 2>>"$WORK/openssl.log" >/dev/null
}

cat > "$WORK/ca.cnf" <<'CNF'
[ca]
default_ca = CA_default
[CA_default]
dir = $ENV::CADIR
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[policy_any]
commonName = supplied
organizationName = optional
# For the crl-critical-idp case: a CRL scoped to user certificates only.
[crl_idp]
issuingDistributionPoint = critical,@idp
[idp]
fullname = URI:http://crl.example.com/int.crl
onlyuser = TRUE
CNF

cat > "$WORK/ext.cnf" <<'CNF'
[ca_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ca_int]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ca_sub]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf_san]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = URI:urn:devicetrust:device:dev-7
[leaf_noeku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf_noaki]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
# OpenSSL 3 adds both key identifiers unless told not to.
subjectKeyIdentifier = none
authorityKeyIdentifier = none
[leaf_nods]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF

# newca NAME: an empty openssl ca database for issuer NAME.
newca() {
    mkdir -p "$WORK/$1/newcerts"
    : > "$WORK/$1/index.txt"
    echo 1000 > "$WORK/$1/serial"
    echo 01 > "$WORK/$1/crlnumber"
}

# key NAME ALG: a private key (p256 or rsa2048) at $WORK/NAME.key.
key() {
    case "$2" in
        p256) run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/$1.key" ;;
        rsa2048) run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/$1.key" ;;
    esac
}

# csr NAME SUBJECT: a PKCS#10 request for $WORK/NAME.key.
csr() {
    run openssl req -new -key "$WORK/$1.key" -subj "$2" -out "$WORK/$1.csr"
}

# sign ISSUER NAME EXTENSIONS START END [extra openssl ca args]: issues $WORK/NAME.pem.
sign() {
    local issuer="$1" name="$2" ext="$3" start="$4" end="$5"
    shift 5
    CADIR="$WORK/$issuer" run openssl ca -batch -notext -config "$WORK/ca.cnf" \
        -cert "$WORK/$issuer.pem" -keyfile "$WORK/$issuer.key" \
        -in "$WORK/$name.csr" -out "$WORK/$name.pem" \
        -extfile "$WORK/ext.cnf" -extensions "$ext" -startdate "$start" -enddate "$end" "$@"
}

# --- Shared CAs ------------------------------------------------------------
newca root
key root p256
csr root "/O=devicetrust tests/CN=Test Root CA"
CADIR="$WORK/root" run openssl ca -batch -notext -selfsign -config "$WORK/ca.cnf" \
    -keyfile "$WORK/root.key" -in "$WORK/root.csr" -out "$WORK/root.pem" \
    -extfile "$WORK/ext.cnf" -extensions ca_root -startdate "$CA_START" -enddate "$CA_END"

# The trust anchor: an intermediate with pathLen 0, like the pki crate's.
newca int
key int p256
csr int "/O=devicetrust tests/CN=Test Intermediate CA"
sign root int ca_int "$CA_START" "$CA_END"

# An RSA intermediate, so RSA PKCS#1 v1.5 and RSA-PSS chains are covered.
newca rsaint
key rsaint rsa2048
csr rsaint "/O=devicetrust tests/CN=Test RSA Intermediate CA"
sign root rsaint ca_int "$CA_START" "$CA_END"

# A rogue CA with exactly the real intermediate's subject (and issuer) names.
newca rogue
key rogue p256
csr rogue "/O=devicetrust tests/CN=Test Intermediate CA"
CADIR="$WORK/rogue" run openssl ca -batch -notext -selfsign -config "$WORK/ca.cnf" \
    -keyfile "$WORK/rogue.key" -in "$WORK/rogue.csr" -out "$WORK/rogue.pem" \
    -extfile "$WORK/ext.cnf" -extensions ca_root -startdate "$CA_START" -enddate "$CA_END"

# case NAME: starts a case folder; later commands are logged into it.
case_dir() {
    mkdir -p "$OUT/$1"
    LOG="$OUT/$1/commands.txt"
    echo "# openssl ca runs with CADIR=\$WORK/<issuer>, the issuer named by -cert (see make-cases.sh)" > "$LOG"
    C="$OUT/$1"
}

# expected NAME JSON
expected() { printf '%s\n' "$2" > "$OUT/$1/expected.json"; }

# leaf CASE ISSUER ALG SUBJECT EXT START END [extra]: issues the case's leaf.pem and leaf.key.
leaf() {
    local name="$1" issuer="$2" alg="$3" subject="$4" ext="$5" start="$6" end="$7"
    shift 7
    case_dir "$name"
    key "leaf-$name" "$alg"
    csr "leaf-$name" "$subject"
    sign "$issuer" "leaf-$name" "$ext" "$start" "$end" "$@"
    cp "$WORK/leaf-$name.pem" "$C/leaf.pem"
    cp "$WORK/leaf-$name.key" "$C/leaf.key"
    cp "$WORK/$issuer.pem" "$C/trust.pem"
}

DEV="/CN=alice@example.com managementAttestation dev-42"

# --- Chain cases -----------------------------------------------------------
leaf valid-p256 int p256 "$DEV" leaf "$LEAF_START" "$LEAF_END"
expected valid-p256 "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"device\":\"dev-42\",\"managed\":true}"

leaf valid-rsa2048 int rsa2048 "$DEV" leaf "$LEAF_START" "$LEAF_END"
expected valid-rsa2048 "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"device\":\"dev-42\",\"managed\":true}"

leaf valid-rsa-issuer rsaint p256 "$DEV" leaf "$LEAF_START" "$LEAF_END"
expected valid-rsa-issuer "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":true}"

leaf valid-rsa-pss-issuer rsaint p256 "$DEV" leaf "$LEAF_START" "$LEAF_END" \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -sigopt rsa_mgf1_md:sha256
expected valid-rsa-pss-issuer "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":true}"

leaf device-in-san int p256 "/CN=bob@example.com" leaf_san "$LEAF_START" "$LEAF_END"
expected device-in-san "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"device\":\"dev-7\",\"managed\":true}"

leaf device-mismatch int p256 "$DEV" leaf "$LEAF_START" "$LEAF_END"
expected device-mismatch "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"device\":\"dev-43\",\"managed\":false,\"reason\":\"device_mismatch\"}"

leaf no-eku int p256 "$DEV" leaf_noeku "$LEAF_START" "$LEAF_END"
expected no-eku "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":true}"

leaf expired int p256 "$DEV" leaf "20240101000000Z" "20250101000000Z"
expected expired "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"expired\"}"

leaf not-yet-valid int p256 "$DEV" leaf "20280101000000Z" "20290101000000Z"
expected not-yet-valid "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"not_yet_valid\"}"

# Rogue issuer, leaf without authorityKeyIdentifier: only the signature tells them apart.
leaf rogue-issuer rogue p256 "$DEV" leaf_noaki "$LEAF_START" "$LEAF_END"
cp "$WORK/int.pem" "$C/trust.pem"
expected rogue-issuer "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"bad_signature\"}"

# Rogue issuer, leaf with its authorityKeyIdentifier: the key identifiers differ.
leaf rogue-issuer-aki rogue p256 "$DEV" leaf "$LEAF_START" "$LEAF_END"
cp "$WORK/int.pem" "$C/trust.pem"
expected rogue-issuer-aki "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"unknown_issuer\"}"

leaf no-digital-signature int p256 "$DEV" leaf_nods "$LEAF_START" "$LEAF_END"
expected no-digital-signature "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"no_digital_signature\"}"

leaf server-auth-only int p256 "$DEV" leaf_server "$LEAF_START" "$LEAF_END"
expected server-auth-only "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"eku_not_client_auth\"}"

# An end-entity certificate (CA:FALSE) used as an issuer.
case_dir issued-by-non-ca
newca ee
key ee p256
csr ee "/CN=Not A CA"
sign int ee leaf "$LEAF_START" "$LEAF_END"
key leaf-issued-by-non-ca p256
csr leaf-issued-by-non-ca "$DEV"
sign ee leaf-issued-by-non-ca leaf "$LEAF_START" "$LEAF_END"
cp "$WORK/leaf-issued-by-non-ca.pem" "$C/leaf.pem"
cp "$WORK/ee.pem" "$C/intermediates.pem"
cp "$WORK/int.pem" "$C/trust.pem"
expected issued-by-non-ca "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"not_ca\"}"

# The anchor has pathLen 0, yet a sub-CA below it issued the leaf.
case_dir path-len-exceeded
newca sub
key sub p256
csr sub "/O=devicetrust tests/CN=Test Sub CA"
sign int sub ca_sub "$CA_START" "$CA_END"
key leaf-path-len-exceeded p256
csr leaf-path-len-exceeded "$DEV"
sign sub leaf-path-len-exceeded leaf "$LEAF_START" "$LEAF_END"
cp "$WORK/leaf-path-len-exceeded.pem" "$C/leaf.pem"
cp "$WORK/sub.pem" "$C/intermediates.pem"
cp "$WORK/int.pem" "$C/trust.pem"
expected path-len-exceeded "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"path_len_exceeded\"}"

# A valid leaf with one bit of its signature flipped (the last byte of the DER).
leaf tampered-signature int p256 "$DEV" leaf "$LEAF_START" "$LEAF_END"
run openssl x509 -in "$C/leaf.pem" -outform DER -out "$WORK/tampered.der"
printf '%s\n' "python3: flip the lowest bit of the last byte of \$WORK/tampered.der" >> "$LOG"
python3 - "$WORK/tampered.der" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-1] ^= 0x01
open(p, "wb").write(bytes(b))
PY
run openssl x509 -inform DER -in "$WORK/tampered.der" -out "$C/leaf.pem"
expected tampered-signature "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"bad_signature\"}"

# Two leaves of the same CA; one revoked. Both cases carry the same CRL.
leaf revoked int p256 "$DEV" leaf "$LEAF_START" "$LEAF_END"
leaf not-revoked int p256 "$DEV" leaf "$LEAF_START" "$LEAF_END"
LOG="$OUT/revoked/commands.txt"
CADIR="$WORK/int" run openssl ca -config "$WORK/ca.cnf" -cert "$WORK/int.pem" -keyfile "$WORK/int.key" \
    -revoke "$WORK/leaf-revoked.pem" -crl_reason keyCompromise
CADIR="$WORK/int" run openssl ca -config "$WORK/ca.cnf" -cert "$WORK/int.pem" -keyfile "$WORK/int.key" \
    -gencrl -crl_lastupdate 20260601000000Z -crl_nextupdate 20300101000000Z -out "$WORK/int.crl"
cp "$WORK/int.crl" "$OUT/revoked/crl.pem"
cp "$WORK/int.crl" "$OUT/not-revoked/crl.pem"
printf 'crl.pem: the same CRL as in ../revoked (see its commands.txt)\n' >> "$OUT/not-revoked/commands.txt"
expected revoked "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"revoked\"}"
expected not-revoked "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":true}"

# A CRL signed by the rogue CA under the real intermediate's name: refused.
leaf crl-forged int p256 "$DEV" leaf "$LEAF_START" "$LEAF_END"
CADIR="$WORK/rogue" run openssl ca -config "$WORK/ca.cnf" -cert "$WORK/rogue.pem" -keyfile "$WORK/rogue.key" \
    -gencrl -crl_lastupdate 20260601000000Z -crl_nextupdate 20300101000000Z -out "$C/crl.pem"
expected crl-forged "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"crl_invalid\"}"

# A CRL with a critical extension we do not process (issuingDistributionPoint): refused.
leaf crl-critical-idp int p256 "$DEV" leaf "$LEAF_START" "$LEAF_END"
CADIR="$WORK/int" run openssl ca -config "$WORK/ca.cnf" -cert "$WORK/int.pem" -keyfile "$WORK/int.key" \
    -gencrl -crlexts crl_idp -crl_lastupdate 20260601000000Z -crl_nextupdate 20300101000000Z -out "$C/crl.pem"
expected crl-critical-idp "{\"kind\":\"chain\",\"at\":\"$CHECK_AT\",\"managed\":false,\"reason\":\"crl_unhandled_critical_extension\"}"

# --- Upload cases ----------------------------------------------------------
case_dir upload-pem-ca
cp "$WORK/int.pem" "$C/upload"
expected upload-pem-ca '{"kind":"upload","accepted":true}'

case_dir upload-der-ca
run openssl x509 -in "$WORK/rsaint.pem" -outform DER -out "$C/upload"
expected upload-der-ca '{"kind":"upload","accepted":true}'

case_dir upload-pkcs7-pem
run openssl crl2pkcs7 -nocrl -certfile "$WORK/int.pem" -out "$C/upload"
expected upload-pkcs7-pem '{"kind":"upload","accepted":false,"reason":"pkcs7"}'

case_dir upload-pkcs7-der
run openssl crl2pkcs7 -nocrl -certfile "$WORK/int.pem" -outform DER -out "$C/upload"
expected upload-pkcs7-der '{"kind":"upload","accepted":false,"reason":"pkcs7"}'

case_dir upload-pkcs12
run openssl pkcs12 -export -nokeys -in "$WORK/int.pem" -passout pass:test -out "$C/upload"
expected upload-pkcs12 '{"kind":"upload","accepted":false,"reason":"pkcs12"}'

case_dir upload-pfx-with-key
run openssl pkcs12 -export -in "$WORK/int.pem" -inkey "$WORK/int.key" -passout pass:test -out "$C/upload"
expected upload-pfx-with-key '{"kind":"upload","accepted":false,"reason":"pkcs12"}'

case_dir upload-end-entity
cp "$WORK/leaf-valid-p256.pem" "$C/upload"
expected upload-end-entity '{"kind":"upload","accepted":false,"reason":"not_ca"}'

echo "cases written to $OUT"
