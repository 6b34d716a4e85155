#!/usr/bin/env python3
"""Signs the sample API Gateway events in this directory with the keys of env.json.

Each sample's `rapport-signature` header is made as a storefront makes it: HMAC-SHA256
with the key's secret over "<t>.<METHOD>.<path?query>.<raw body>", sent as
`t=<t>,k=<key id>,v1=<hex>`. Admin routes (export, erase, recovery, the program, reports) are signed with the
admin key, the rest with the events key. A Shopify or WooCommerce webhook's signature
(`x-shopify-hmac-sha256`, `x-wc-webhook-signature`) is the base64 HMAC-SHA256 of the
body with the shop's webhook secret. Run it after changing
a sample's body or path:

    python3 infra/events/sign.py
"""
import base64
import hashlib
import hmac
import json
import pathlib

HERE = pathlib.Path(__file__).parent
TIMESTAMP = 1795000000  # fixed, so the files do not change; env.json widens the window
ADMIN_ROUTES = ("GET /v1/customers/{id}/export", "DELETE /v1/customers/{id}",
                "POST /v1/customers/{id}/recovery", "GET /v1/admin/program",
                "PUT /v1/admin/program", "GET /v1/admin/program/versions",
                "POST /v1/admin/program/rollback", "GET /v1/admin/reports/{run_id}")


def sign(key, method, path_and_query, body, t=TIMESTAMP):
    key_id, secret = key.split(":", 1)
    message = f"{t}.{method}.{path_and_query}.".encode() + body.encode()
    tag = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={t},k={key_id},v1={tag}"


def main():
    params = json.loads((HERE / "env.json").read_text())["Parameters"]
    for path in sorted(HERE.glob("*.json")):
        event = json.loads(path.read_text())
        headers = event.get("headers", {})
        platform = {"x-shopify-hmac-sha256": "RAPPORT_SHOPIFY_WEBHOOK_SECRET",
                    "x-wc-webhook-signature": "RAPPORT_WOOCOMMERCE_WEBHOOK_SECRET"}
        for header, setting in platform.items():
            if header not in headers:
                continue
            secret = params[setting].encode()
            tag = hmac.new(secret, (event.get("body") or "").encode(), hashlib.sha256)
            headers[header] = base64.b64encode(tag.digest()).decode()
        if any(header in headers for header in platform):
            path.write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
            print(f"signed {path.name}")
            continue
        if "rapport-signature" not in headers:
            continue
        query = event.get("rawQueryString") or ""
        target = event["rawPath"] + (f"?{query}" if query else "")
        admin = event["routeKey"] in ADMIN_ROUTES
        key = params["RAPPORT_ADMIN_KEY" if admin else "RAPPORT_EVENTS_KEY"]
        method = event["requestContext"]["http"]["method"]
        headers["rapport-signature"] = sign(key, method, target, event.get("body") or "")
        path.write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
        print(f"signed {path.name}")


if __name__ == "__main__":
    main()
