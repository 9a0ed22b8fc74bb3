#!/usr/bin/env python3
"""Prints the SigV4 test vectors of Tests/SpillwayTests/Spill/S3/SigV4SignerTests.swift, computed
by botocore's own S3 signer (S3SigV4Auth), so the Swift signer is checked against AWS's SDK.
Run: python3 scripts/sigv4-vectors.py (botocore from the venv or the system)."""
import hashlib
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TS = "20261202T054100Z"
creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
token_creds = Credentials("ASIAEXAMPLE", "secret/with+chars=", "FQoGZXIvYXdzEXAMPLE//token+=")

def sign(name, method, url, headers, body=b"", credentials=creds, region="us-east-1", unsigned=False):
    # Computed the way moto checks a request (moto/iam/access_control.py): botocore's own
    # canonical request, string to sign and signature over the headers as sent.
    payload = "UNSIGNED-PAYLOAD" if unsigned else hashlib.sha256(body).hexdigest()
    headers = dict(headers)
    headers["X-Amz-Content-SHA256"] = payload
    headers["X-Amz-Date"] = TS
    if credentials.token:
        headers["X-Amz-Security-Token"] = credentials.token
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    req.context["timestamp"] = TS
    auth = S3SigV4Auth(credentials, "s3", region)
    cr = auth.canonical_request(req)
    sts = auth.string_to_sign(req, cr)
    signature = auth.signature(sts, req)
    signed = auth.signed_headers(auth.headers_to_sign(req))
    print(f"// {name}")
    print("// canonical request: " + cr.replace("\n", "\\n"))
    print(f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{auth.credential_scope(req)}, SignedHeaders={signed}, Signature={signature}")
    print()

sign("put, path-style, If-None-Match and metadata", "PUT",
     "http://127.0.0.1:9000/spill-bucket/blobs/00112233445566778899aabbccddeeff",
     {"Host": "127.0.0.1:9000", "If-None-Match": "*", "Content-Type": "application/octet-stream",
      "x-amz-meta-spillway-expiry": "1800000060000", "x-amz-meta-spillway-created": "1800000000000",
      "x-amz-meta-spillway-owner": "b3duZXI6MQ==", "Content-Length": "11"},
     body=b"hello world")
sign("get, virtual-hosted", "GET",
     "https://spill-bucket.s3.eu-west-1.amazonaws.com/blobs/00112233445566778899aabbccddeeff",
     {"Host": "spill-bucket.s3.eu-west-1.amazonaws.com"}, region="eu-west-1")
sign("list with a continuation token that needs escaping", "GET",
     "http://localhost:4566/spill-bucket?list-type=2&prefix=blobs%2F&start-after=blobs%2Fa%20b%2Bc%3D&max-keys=100",
     {"Host": "localhost:4566"})
sign("delete, temporary credentials", "DELETE",
     "http://127.0.0.1:9000/spill-bucket/blobs/ff", {"Host": "127.0.0.1:9000"}, credentials=token_creds, region="us-west-2")
sign("put, unsigned payload", "PUT",
     "http://127.0.0.1:9000/spill-bucket/blobs/0f", {"Host": "127.0.0.1:9000", "Content-Length": "3"}, body=b"abc", unsigned=True)
