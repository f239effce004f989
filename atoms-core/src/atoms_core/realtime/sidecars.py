"""The sidecar guard (contract §9): every command body is walked once before anything is committed; inline
bytes, media without a ref and foreign URI schemes are refused with the JSON pointer of the value."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from atoms_core.config.settings import Settings
from atoms_core.errors import Unprocessable

INLINE = "sidecar_inline_bytes"
MISSING_REF = "sidecar_missing_ref"
BAD_URI = "sidecar_bad_uri"
TOO_DEEP = "sidecar_too_deep"

MEDIA_KINDS = frozenset({"image", "video", "audio"})
MEDIA_MIMES = ("image/", "video/", "audio/")
ARTIFACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
URI_KEYS = frozenset({"uri", "url", "src", "href"})
BYTE_KEYS = frozenset({"bytes", "blob", "binary", "buffer", "base64", "b64"})
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
#: Spaces, C0/C1 controls and invisible direction/format marks never belong in a URI.
URI_NOISE = re.compile("[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
#: A ``data:`` URI inside text (the scheme boundary keeps ``metadata:`` out).
DATA_URI = re.compile(r"(?<![a-z0-9+.-])data:[a-z0-9.+-]*(?:/[a-z0-9.+-]*)?(?:;[a-z0-9=.+-]*)*,", re.I)
UPPER, LOWER, DIGIT = re.compile("[A-Z]"), re.compile("[a-z]"), re.compile("[0-9]")
HEAD = 40
MIME_LINE = 60
C0_SPACE = "".join(map(chr, range(33)))
LEADING = re.compile(f"[{re.escape(C0_SPACE)}]*")
#: A string's first characters are judged on their own (the URL-parser view of its head): until it
#: has this many past its leading spaces, an append judges it whole.
HEAD_SETTLED = 1024
#: An appended-to string is scanned again at most this far back (a pattern longer than this without
#: a comma would go unseen; encoded runs are still caught, their last part alone is long enough).
APPEND_LOOKBACK = 65536
KEY_CACHE_LEN = 64
LANDINGS = (("path", "value"), ("target", "delta"))
#: Latin look-alikes (Cyrillic, Greek), folded before keys and the ``data:`` prefix are compared.
CONFUSABLES = str.maketrans(
    "аеорсухіјѕԁһӏԛԝвкмнтАВЕКМНОРСТУХІЈЅαβεικνορτυχϲΑΒΕΖΗΙΚΜΝΟΡΤΥΧıɑɡ",
    "aeopcyxijsdhlqwbkmhtABEKMHOPCTYXIJSabeikvoptuxcABEZHIKMNOPTYXiag",
)


class _Refusal(Exception):
    """Raised deep in the walk; each level on the way out adds its key, so the happy path pays nothing."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.path: list[str] = []


def fold(text: str) -> str:
    """Compatibility-normalised, look-alikes folded to Latin, lower case."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).translate(CONFUSABLES).casefold()


def role_of(key: str) -> str:
    """``bytes`` for byte-ish keys, ``uri`` for URI-bearing keys, else ``""``."""
    skel = "".join(ch for ch in fold(key) if ch.isascii() and ch.isalnum())
    if skel in BYTE_KEYS or "base64" in skel or skel.endswith(("b64", "bytes", "blob")):
        return "bytes"
    if skel in URI_KEYS or skel.endswith(("url", "uri")):
        return "uri"
    return ""


def is_data_uri(text: str) -> bool:
    """A ``data:`` URI anywhere in ``text``, or at its start as a URL parser would read it (leading
    controls and spaces stripped, tabs and newlines dropped) after folding look-alikes."""
    if ":" in text and "data:" in text.lower() and DATA_URI.search(text) is not None:
        return True
    head = text.lstrip(C0_SPACE)[:HEAD]
    if head.isascii():
        if ":" not in head or not ("\t" in head or "\n" in head or "\r" in head):
            return False
    else:
        head = "".join(ch for ch in fold(head) if unicodedata.category(ch) != "Cf")
    head = head.replace("\t", "").replace("\n", "").replace("\r", "").lstrip(C0_SPACE)
    return DATA_URI.match(head) is not None


def _mixed(run: str) -> bool:
    """Encoded bytes mix upper case, lower case and digits; filler such as ``xxxx`` or ``----`` does not."""
    return (UPPER.search(run) is not None) + (LOWER.search(run) is not None) + (DIGIT.search(run) is not None) >= 2


def escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class SidecarGuard:
    """Callable on a parsed command body (one envelope or a batch array); raises 422 problem errors."""

    def __init__(self, schemes: list[str], max_depth: int, max_base64_chars: int) -> None:
        self.schemes = frozenset(s.lower() for s in schemes)
        self.max_depth = max_depth
        self.min_run = max_base64_chars
        self._role = lru_cache(maxsize=4096)(self._key_role)
        alphabet = "A-Za-z0-9+/_-"
        lines = max(2, max_base64_chars // 64)
        self.min_token = min(MIME_LINE, max_base64_chars)
        # One unbroken run of the base64(url) alphabet, or MIME-style wrapped lines; the lookbehind
        # anchors each try at the start of a run, so the scan stays linear in the text length.
        self._base64 = re.compile(
            rf"(?<![{alphabet}])(?:[{alphabet}]{{{max_base64_chars},}}|(?:[A-Za-z0-9+/]{{{MIME_LINE},}}=*\r?\n){{{lines},}})"
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> SidecarGuard:
        return cls(settings.sidecar_uri_schemes, settings.sidecar_max_depth, settings.sidecar_max_base64_chars)

    def __call__(self, body: Any) -> None:
        if isinstance(body, list):
            for i, item in enumerate(body):
                self._check(item, f"/{i}")
        else:
            self._check(body, "")

    def _check(self, envelope: Any, prefix: str) -> None:
        try:
            self._walk(envelope, 1)
        except _Refusal as refusal:
            pointer = prefix + "".join("/" + escape(part) for part in reversed(refusal.path))
            raise Unprocessable(refusal.code, f"{pointer or '/'}: {refusal.detail}", pointer=pointer) from None

    def _walk(self, value: Any, depth: int) -> None:
        # _array and _object inline this dispatch: most strings are short ASCII without a colon, and
        # skipping them without a call is most of the guard's speed.
        kind = type(value)
        if kind is dict:
            self._object(value, depth)
        elif kind is list:
            self._array(value, depth)
        elif kind is str and (":" in value or len(value) >= self.min_run or not value.isascii()):
            self._text(value)

    def _value(self, value: Any, depth: int) -> None:
        """Walk one value found at ``depth`` (strings are scanned only when they could hold a refusal)."""
        kind = type(value)
        if kind is str:
            if ":" in value or len(value) >= self.min_run or not value.isascii():
                self._text(value)
        elif kind is dict:
            self._object(value, depth + 1)
        elif kind is list:
            self._array(value, depth + 1)

    def _array(self, items: list[Any], depth: int) -> None:
        if depth > self.max_depth:
            raise _Refusal(TOO_DEEP, f"nested deeper than {self.max_depth} levels")
        for i, item in enumerate(items):
            try:
                self._value(item, depth)
            except _Refusal as refusal:
                refusal.path.append(str(i))
                raise

    def _object(self, obj: dict[str, Any], depth: int) -> None:
        if depth > self.max_depth:
            raise _Refusal(TOO_DEEP, f"nested deeper than {self.max_depth} levels")
        for key, value in obj.items():
            try:
                role = self._role(key) if len(key) <= KEY_CACHE_LEN else self._key_role(key)
                if role:
                    self._keyed(role, key, value, depth)
                else:
                    self._value(value, depth)
            except _Refusal as refusal:
                refusal.path.append(key)
                raise
        if "kind" in obj or "mime" in obj or "type" in obj:
            self._media(obj)
        if "path" in obj or "target" in obj:
            self._landing(obj, depth)

    def _landing(self, obj: dict[str, Any], depth: int) -> None:
        """A patch op's ``value`` (a token's ``delta``) lands under the last token of its pointer,
        so ``{"path": "/img/base64", "value": ...}`` is judged as if ``base64`` were its key."""
        for where, what in LANDINGS:
            pointer = obj.get(where)
            if type(pointer) is not str or what not in obj:
                continue
            key = pointer.rpartition("/")[2].replace("~1", "/").replace("~0", "~")
            role = self._role(key) if len(key) <= KEY_CACHE_LEN else self._key_role(key)
            if role:
                try:
                    self._keyed(role, key, obj[what], depth)
                except _Refusal as refusal:
                    refusal.path.append(what)
                    raise

    def _key_role(self, key: str) -> str:
        """The key's role, or ``inline`` when the key itself smuggles bytes (cached per key)."""
        try:
            self._text(key)
        except _Refusal:
            return "inline"
        return role_of(key)

    def _keyed(self, role: str, key: str, value: Any, depth: int) -> None:
        if role == "inline":
            self._text(key)  # raises with the reason
        if role == "bytes" and type(value) in (str, list):
            raise _Refusal(INLINE, f"the byte-ish key {key!r} carries inline bytes; "
                                   "upload them with POST /v1/artifacts and send a ref")
        if role == "uri" and type(value) is str:
            self._uri(value)
        else:
            self._walk(value, depth + 1)

    def _text(self, text: str) -> None:
        if is_data_uri(text):
            raise _Refusal(INLINE, "data: URIs are refused; upload the bytes with POST /v1/artifacts "
                                   "and send a ref")
        if len(text) >= self.min_run and self._encoded(text):
            raise _Refusal(INLINE, f"base64-looking text of {self.min_run}+ characters is refused; "
                                   "upload the bytes with POST /v1/artifacts and send a ref")

    def _encoded(self, text: str) -> bool:
        """Base64-looking runs. Runs and wrapped lines are whitespace-free tokens of ``min_token``+
        characters, so prose without such tokens is cleared by one C-speed split, not a regex scan."""
        if all(len(token) < self.min_token for token in text.split()):
            return False
        return any(_mixed(run.group()) for run in self._base64.finditer(text))

    def _uri(self, uri: str) -> None:
        self._text(uri)
        match = SCHEME.match(uri)
        if match is None:
            raise _Refusal(BAD_URI, "a uri must be absolute (scheme:...) with an allowed scheme: "
                                    + ", ".join(sorted(self.schemes)))
        scheme = match.group(1).lower()
        if scheme not in self.schemes:
            raise _Refusal(BAD_URI, f"the uri scheme {scheme!r} is not allowed; allowed: "
                                    + ", ".join(sorted(self.schemes)))
        if URI_NOISE.search(uri) is not None:
            raise _Refusal(BAD_URI, "a uri may not contain spaces, control or invisible characters")

    def _media(self, obj: dict[str, Any]) -> None:
        kind = obj.get("kind")
        mime = obj.get("mime")
        if obj.get("type") == "Buffer" and type(obj.get("data")) is list:
            raise _Refusal(INLINE, "a serialised Buffer carries inline bytes; send a ref")
        is_media = (type(kind) is str and kind in MEDIA_KINDS) or (
            type(mime) is str and mime.lower().startswith(MEDIA_MIMES))
        if not is_media:
            return
        ref = obj.get("ref")
        if ref is None:
            raise _Refusal(MISSING_REF, "a media value needs a ref {artifact_id | uri | object_id}; "
                                        "register the bytes with POST /v1/artifacts")
        if not _valid_ref(ref):
            refusal = _Refusal(MISSING_REF, "ref needs a valid artifact_id, uri or object_id")
            refusal.path.append("ref")
            raise refusal

    # --- what a command produces: the state it leaves behind, judged where it changed -----------

    def judge_landing(self, key: str, value: Any, pointer: str) -> None:
        """A value an op put under ``key`` (a copy or move included): judged for the key's role. Its
        inside was judged where it came from (the body, or the state), so it is not walked again."""
        self._produced(pointer, self._landed, key, value)

    def judge_container(self, container: Any, pointer: str) -> None:
        """A container whose contents changed (a key added or removed below it): the rules that look
        at an object as a whole (a media value needs a valid ref, an op-shaped object), shallowly."""
        if type(container) is dict:
            self._produced(pointer, self._whole, container)

    def judge_append(self, key: str, before: str, delta: str, pointer: str) -> None:
        """The string under ``key`` becomes ``before + delta``, judged as a whole. ``before`` was
        judged already and no refused pattern holds a comma inside (a ``data:`` head ends at one,
        encoded runs have none), so the scan starts at the second last comma of ``before``, at most
        ``APPEND_LOOKBACK`` characters back; the head of the string, which ``is_data_uri`` reads on
        its own, is scanned whole while it is short. An append costs its delta, not the string."""
        self._produced(pointer, self._appended, key, before, delta)

    def _produced(self, pointer: str, check: Any, *args: Any) -> None:
        try:
            check(*args)
        except _Refusal as refusal:
            raise Unprocessable(refusal.code, f"{pointer}: {refusal.detail}", pointer=pointer) from None

    def _landed(self, key: str, value: Any) -> None:
        """Only a key's role is new here: a string or array under a role key is judged as the body walk
        would (``_keyed``); a container's inside, and any value under a plain key, were judged already."""
        role = self._role(key) if len(key) <= KEY_CACHE_LEN else self._key_role(key)
        if role and (role == "inline" or type(value) is str or (role == "bytes" and type(value) is list)):
            self._keyed(role, key, value, 1)

    def _whole(self, obj: dict[str, Any]) -> None:
        if "kind" in obj or "mime" in obj or "type" in obj:
            self._media(obj)
        for where, what in LANDINGS:
            pointer = obj.get(where)
            if type(pointer) is str and what in obj:
                self._landed(pointer.rpartition("/")[2].replace("~1", "/").replace("~0", "~"), obj[what])

    def _appended(self, key: str, before: str, delta: str) -> None:
        role = self._role(key) if len(key) <= KEY_CACHE_LEN else self._key_role(key)
        if role:
            self._landed(key, before + delta)
            return
        lead = LEADING.match(before)
        start = 0
        if lead is not None and len(before) - lead.end() >= HEAD_SETTLED:
            start = max(before.rfind(",", 0, max(0, before.rfind(","))), len(before) - APPEND_LOOKBACK, 0)
        self._text(before[start:] + delta)


def _valid_ref(ref: Any) -> bool:
    if type(ref) is not dict or not any(ref.get(name) is not None for name in ("artifact_id", "uri", "object_id")):
        return False
    artifact_id, uri, object_id = ref.get("artifact_id"), ref.get("uri"), ref.get("object_id")
    return (
        (artifact_id is None or (type(artifact_id) is str and ARTIFACT_ID.fullmatch(artifact_id) is not None))
        and (uri is None or (type(uri) is str and bool(uri)))
        and (object_id is None or (type(object_id) is str and 0 < len(object_id) <= 1024))
    )
