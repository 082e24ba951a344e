#!/usr/bin/python3
"""A relying party / service written with Python Authlib (Debian's python3-authlib), driven by
test/interop/python-authlib.test.ts. It talks to Tessera only through discovery and the endpoints discovery
names, as a real deployment would, and prints one JSON object per line on stdout:

  client-credentials ISSUER CLIENT_ID CLIENT_SECRET RESOURCE SCOPE
      -> {"token": <token response>, "claims": <access token claims, signature checked against jwks_uri>}

  authorization-code ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI SCOPE [PROMPT]
      -> {"authorization_url": ...}      then reads the redirect URL (one line) from stdin
      -> {"token": ..., "id_token_claims": ..., "refresh": <token response>}

A failed step prints {"step": ..., "error": ..., "error_description": ...} and exits 1.
"""
import json
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.jose import JsonWebKey, jwt


def emit(obj):
    print(json.dumps(obj), flush=True)


def fail(step, error, description=None):
    emit({"step": step, "error": error, "error_description": description})
    sys.exit(1)


def discover(issuer):
    res = requests.get(issuer + "/.well-known/openid-configuration", timeout=10)
    res.raise_for_status()
    meta = res.json()
    if meta["issuer"] != issuer:
        fail("discovery", "issuer_mismatch", meta["issuer"])
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    return meta, keys


def verify(token, keys, claims_options):
    claims = jwt.decode(token, keys, claims_options=claims_options)
    claims.validate(leeway=5)
    return dict(claims)


def client_credentials(issuer, client_id, client_secret, resource, scope):
    meta, keys = discover(issuer)
    client = OAuth2Session(client_id, client_secret, scope=scope, token_endpoint_auth_method="client_secret_basic", timeout=10)
    try:
        token = client.fetch_token(meta["token_endpoint"], grant_type="client_credentials", resource=resource)
    except OAuthError as e:
        fail("token", e.error, e.description)
    claims = verify(token["access_token"], keys, {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": resource},
        "exp": {"essential": True},
    })
    emit({"token": dict(token), "claims": claims})


def authorization_code(issuer, client_id, client_secret, redirect_uri, scope, prompt=""):
    meta, keys = discover(issuer)
    client = OAuth2Session(
        client_id, client_secret,
        scope=scope, redirect_uri=redirect_uri,
        code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic", timeout=10,
    )
    code_verifier = generate_token(48)
    nonce = generate_token(20)
    # As most Authlib apps do, no `prompt` unless asked: OIDC Core §11 has a provider grant offline_access
    # only with prompt=consent.
    extra = {"prompt": prompt} if prompt else {}
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce, **extra)
    emit({"authorization_url": url})

    redirect = sys.stdin.readline().strip()
    try:
        # Checks `state` and sends code_verifier (PKCE S256).
        token = client.fetch_token(meta["token_endpoint"], authorization_response=redirect, code_verifier=code_verifier)
    except OAuthError as e:
        fail("code", e.error, e.description)
    id_claims = verify(token["id_token"], keys, {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
        "nonce": {"essential": True, "value": nonce},
        "sub": {"essential": True},
    })
    first = dict(token)
    try:
        # Authlib sends the session's scope (the one asked for at authorization) with the refresh.
        refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    except OAuthError as e:
        fail("refresh", e.error, e.description)
    emit({"token": first, "id_token_claims": id_claims, "refresh": dict(refreshed)})


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"client-credentials": client_credentials, "authorization-code": authorization_code}[command](*args)
