#!/usr/bin/env bash
# A service account key for the GCS double (tests/gcs/gcsdouble.py).
#   make_key.sh DIR [TOKEN_URI] [EMAIL]
# Makes DIR/private.pem and DIR/public.pem once (an RSA 2048 key; kept on
# later calls), and writes DIR/sa.json, the key file as Google hands it out
# (type, project_id, private_key_id, private_key, client_email, client_id,
# token_uri), with TOKEN_URI (default Google's) and EMAIL (default
# ferry-test@ferry-double.iam.gserviceaccount.com).  Run it again with the
# double's URL once it listens: the key stays, sa.json points at it.
set -euo pipefail
dir=${1:?usage: make_key.sh DIR [TOKEN_URI] [EMAIL]}
uri=${2:-https://oauth2.googleapis.com/token}
email=${3:-ferry-test@ferry-double.iam.gserviceaccount.com}
mkdir -p "$dir"
python3 - "$dir" "$uri" "$email" <<'PY'
import hashlib, json, os, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

folder, uri, email = sys.argv[1:4]
private = os.path.join(folder, "private.pem")
if not os.path.exists(private):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
with open(private, "rb") as f:
    pem = f.read()
key = serialization.load_pem_private_key(pem, password=None)
public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
with open(os.path.join(folder, "public.pem"), "wb") as f:
    f.write(public)
account = {
    "type": "service_account",
    "project_id": "ferry-double",
    "private_key_id": hashlib.sha1(public).hexdigest(),
    "private_key": pem.decode(),
    "client_email": email,
    "client_id": str(int(hashlib.sha1(email.encode()).hexdigest()[:15], 16)),
    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    "token_uri": uri,
    "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    "universe_domain": "googleapis.com",
}
path = os.path.join(folder, "sa.json")
fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(account, f, indent=2)
    f.write("\n")
os.replace(path + ".tmp", path)
PY
