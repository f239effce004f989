"""The sidecar guard (contract §9): every command body is walked once before anything is committed; inline
bytes, media without a ref and foreign URI schemes are refused with the JSON pointer of the value."""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import groupby
from typing import Any

from atoms_core.config.settings import Settings
from atoms_core.protocol.errors import Unprocessable
from atoms_core.protocol.ids import ARTIFACT_ID
from atoms_core.protocol.sidecar_text import ALPHABET, C0_SPACE, bytes_like, digest_like, is_data_uri, role_of

INLINE = "sidecar_inline_bytes"
MISSING_REF = "sidecar_missing_ref"
BAD_URI = "sidecar_bad_uri"
TOO_DEEP = "sidecar_too_deep"

SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
#: Spaces, C0/C1 controls and invisible direction/format marks never belong in a URI.
URI_NOISE = re.compile("[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
#: Media values are recognised however their ``kind``/``mime`` is padded or cased.
MEDIA_KIND = re.compile(r"[\s\x00-\x20]*(?:image|video|audio)[\s\x00-\x20]*\Z", re.I)
MEDIA_MIME = re.compile(r"[\s\x00-\x20\x7f-\x9f]*(?:image|video|audio)/", re.I)
#: Wrapped hex (one digest or UUID per line looks the same) is refused from this many times the base64 limit.
HEX_FACTOR = 4
#: Narrowest wrapping judged as wrapped encoding (``base64 -w 16``); encoders wrap at one width.
WRAP_MIN = 16
WRAPPED_LINE = re.compile(rf"[{ALPHABET}]+=*")
SRCSET_URL = re.compile(r"[\s,]*([^\s,]\S*)")
LEADING = re.compile(f"[{re.escape(C0_SPACE)}]*")
#: A string's first characters are judged on their own (the URL-parser view of its head): until it
#: has this many past its leading spaces, an append judges it whole.
HEAD_SETTLED = 1024
#: An appended-to string is scanned again at most this far back (a pattern longer than this without
#: a comma would go unseen; encoded runs are still caught, their last part alone is long enough).
APPEND_LOOKBACK = 65536
KEY_CACHE_LEN = 64
#: Longer than any URL a browser or proxy passes on (8 KiB is the common request-line limit): a longer
#: "uri" is refused before it is scanned, so a multi-MB string copied under a URI key costs nothing.
MAX_URI_CHARS = 16384
LANDINGS = (("path", "value"), ("target", "delta"))

class _Refusal(Exception):
    """Raised deep in the walk; each level on the way out adds its key, so the happy path pays nothing."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.path: list[str] = []



def escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class SidecarGuard:
    """Callable on a parsed command body (one envelope or a batch array); raises 422 problem errors."""

    def __init__(self, schemes: list[str], max_depth: int, max_base64_chars: int) -> None:
        self.schemes = frozenset(s.lower() for s in schemes)
        self.max_depth = max_depth
        self.min_run = max_base64_chars
        self._role = lru_cache(maxsize=4096)(self._key_role)
        self.min_token = min(WRAP_MIN, max_base64_chars)
        # One unbroken run of the base64(url) alphabet (hex is a subset); the lookbehind anchors each try at
        # the start of a run, so the scan stays linear in the text length.
        self._base64 = re.compile(rf"(?<![{ALPHABET}])[{ALPHABET}]{{{max_base64_chars},}}")
        # Wrapped encodings: whole whitespace-separated tokens of WRAP_MIN+ characters, then a last line of
        # any width (possessive quantifiers keep the scan linear).
        self._lines = re.compile(rf"(?<!\S)(?:[{ALPHABET}]{{{self.min_token},}}+=*\s+)+[{ALPHABET}]++=*(?!\S)")

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
        elif role == "srcset" and type(value) is str:
            self._srcset(value)
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
        """Base64- or hex-looking runs, unbroken or wrapped. Both are made of whitespace-free tokens of
        ``min_token``+ characters, so prose without such tokens is cleared by one C-speed split."""
        long = [token for token in text.split() if len(token) >= self.min_token]
        if not long:
            return False
        if max(map(len, long)) >= self.min_run and any(bytes_like(m.group()) for m in self._base64.finditer(text)):
            return True
        # A wrapped run has 2+ whole-token lines of min_token+ characters making up at least half its length;
        # prose rarely has two such tokens (URLs hold ':' and '.'), so the scan below seldom runs.
        count = total = 0
        for token in long:
            if WRAPPED_LINE.fullmatch(token) is not None:
                count, total = count + 1, total + len(token)
                if count >= 2 and 2 * total >= self.min_run:
                    return any(self._wrapped(block.group().split()) for block in self._lines.finditer(text))
        return False

    def _wrapped(self, lines: list[str]) -> bool:
        """Encoders wrap at one width: each stretch of equal-width lines, with one shorter last line, is judged
        as one run. A stretch of hex lines, which lists of digests or UUIDs resemble, needs HEX_FACTOR times
        the length."""
        start = 0
        for width, group in groupby(map(len, lines)):
            end = start + len(list(group))
            tail = lines[end] if end < len(lines) and len(lines[end]) < width else ""
            if end - start + bool(tail) >= 2 and width * (end - start) + len(tail) >= self.min_run:
                run = "".join(lines[start:end])
                whole = (run + tail).rstrip("=")
                limit = self.min_run * HEX_FACTOR if digest_like(run) else self.min_run
                if len(whole) >= limit and (bytes_like(run) or (tail != "" and bytes_like(whole))):
                    return True
            start = end
        return False

    def _uri(self, uri: str) -> None:
        if len(uri) > MAX_URI_CHARS:
            raise _Refusal(BAD_URI, f"a uri may be at most {MAX_URI_CHARS} characters long")
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

    def _srcset(self, srcset: str) -> None:
        """Each candidate URL of a srcset (``url [descriptor], ...``, split as the HTML parser does) is a uri."""
        if len(srcset) > 4 * MAX_URI_CHARS:
            raise _Refusal(BAD_URI, f"a srcset may be at most {4 * MAX_URI_CHARS} characters long")
        self._text(srcset)
        pos = 0
        while (match := SRCSET_URL.match(srcset, pos)) is not None:
            url = match.group(1)
            if url.endswith(","):
                url, pos = url.rstrip(","), match.end()
            else:
                comma = srcset.find(",", match.end())
                pos = len(srcset) if comma < 0 else comma + 1
            self._uri(url)

    def _media(self, obj: dict[str, Any]) -> None:
        kind = obj.get("kind")
        mime = obj.get("mime")
        if obj.get("type") == "Buffer" and type(obj.get("data")) is list:
            raise _Refusal(INLINE, "a serialised Buffer carries inline bytes; send a ref")
        is_media = (type(kind) is str and MEDIA_KIND.match(kind) is not None) or (
            type(mime) is str and MEDIA_MIME.match(mime) is not None)
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
