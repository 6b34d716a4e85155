"""Schemathesis hooks: sign every request the way a client of the API must.

`Rapport-Signature: t=<unix seconds>,k=<key id>,v1=<hex HMAC-SHA256(secret,
"<t>.<METHOD>.<path?query>.<raw body>")>`, computed over the method, the path and query
and the exact bytes that go on the wire (an empty body for GET). The key is the admin
key, which may call every route, from RAPPORT_ADMIN_KEY (`<key id>:<secret>`), which
tests/schemathesis.rs sets.

Unsubscribe links carry their own credential and referral codes are drawn at random, so
no generator can guess either: every other unsubscribe request gets the valid token of a
seeded customer (RAPPORT_UNSUBSCRIBE_TOKEN) and every other referral event that customer's
code (RAPPORT_REFERRAL_CODE), so the answers past the 403 and 404 are checked too.
"""

import hashlib
import hmac
import itertools
import os
import time

import requests
import schemathesis

KEY_ID, _, _secret = os.environ["RAPPORT_ADMIN_KEY"].partition(":")
SECRET = _secret.encode()
UNSUBSCRIBE_TOKEN = os.environ.get("RAPPORT_UNSUBSCRIBE_TOKEN")
REFERRAL_CODE = os.environ.get("RAPPORT_REFERRAL_CODE")
_unsubscribe_calls = itertools.count()
_referral_calls = itertools.count()


def signature(method, path_url, body, timestamp):
    if body is None:
        raw = b""
    elif isinstance(body, str):
        raw = body.encode()
    elif isinstance(body, (bytes, bytearray)):
        raw = bytes(body)
    else:
        # A streamed body cannot be signed before it is sent.
        raise TypeError(f"cannot sign a body of type {type(body).__name__}")
    message = f"{timestamp}.{method}.{path_url}.".encode() + raw
    tag = hmac.new(SECRET, message, hashlib.sha256).hexdigest()
    return f"t={timestamp},k={KEY_ID},v1={tag}"


class RapportSignature(requests.auth.AuthBase):
    """requests calls this with the prepared request, once the body is serialised."""

    def __call__(self, request):
        request.headers["Rapport-Signature"] = signature(
            request.method, request.path_url, request.body, int(time.time())
        )
        return request


def visible(value):
    """A header value without control characters: no HTTP server takes one with them
    (API Gateway and the local server's HTTP parser refuse the request before any
    function sees it, with an answer of their own)."""
    return "".join(ch for ch in value if ch == "\t" or (ord(ch) >= 0x20 and ord(ch) != 0x7F))


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.headers:
        case.headers = {
            name: visible(value) if isinstance(value, str) else value
            for name, value in case.headers.items()
        }
    if UNSUBSCRIBE_TOKEN and case.path == "/v1/unsubscribe" and next(_unsubscribe_calls) % 2:
        case.query = {**(case.query or {}), "token": UNSUBSCRIBE_TOKEN}
    if (
        REFERRAL_CODE
        and case.path == "/v1/events/referral"
        and isinstance(case.body, dict)
        and next(_referral_calls) % 2
    ):
        case.body = {**case.body, "referral_code": REFERRAL_CODE}
    kwargs["auth"] = RapportSignature()
