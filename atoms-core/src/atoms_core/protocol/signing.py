"""Signed artifact URLs of the embedded store: an HMAC over (method, artifact, tenant, expiry) with a key
derived from the ticket key, so a URL works without headers and only for what it was made for."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from atoms_core.protocol.errors import Unauthorized

DERIVATION_LABEL = b"atoms/artifact-url/v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UrlSigner:
    def __init__(self, ticket_key: str, ttl_s: int) -> None:
        self._key = hmac.new(ticket_key.encode(), DERIVATION_LABEL, hashlib.sha256).digest()
        self.ttl_s = ttl_s

    def _mac(self, method: str, artifact_id: str, tenant: str, expires_at: int) -> bytes:
        message = f"{method}\n{artifact_id}\n{tenant}\n{expires_at}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def sign(self, method: str, artifact_id: str, tenant: str) -> tuple[str, int]:
        """A ``token`` query value for ``method`` on this artifact, and when it expires (unix seconds)."""
        expires_at = int(time.time()) + self.ttl_s
        mac = self._mac(method, artifact_id, tenant, expires_at)
        return f"{expires_at}.{_b64(tenant.encode())}.{_b64(mac)}", expires_at

    def verify(self, token: str, method: str, artifact_id: str) -> str:
        """The tenant the token was signed for; 401 if forged, for another artifact or method, or expired."""
        try:
            raw_expiry, raw_tenant, raw_mac = token.split(".")
            expires_at = int(raw_expiry)
            tenant = _unb64(raw_tenant).decode()
            mac = _unb64(raw_mac)
        except (ValueError, UnicodeDecodeError):
            raise Unauthorized("invalid_token", "malformed artifact URL token") from None
        if not hmac.compare_digest(mac, self._mac(method, artifact_id, tenant, expires_at)):
            raise Unauthorized("invalid_token", "artifact URL signature does not match")
        if expires_at < time.time():
            raise Unauthorized("invalid_token", "artifact URL expired; resolve the ref again")
        return tenant
