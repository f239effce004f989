"""How the sidecar guard classifies one value: every byte encoding it claims to catch is refused, whatever the
bytes (hypothesis), and a corpus of ordinary canvas and chat text passes. Unit level: SidecarGuard on bodies."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoms_core.protocol.errors import Unprocessable
from atoms_core.protocol.sidecars import SidecarGuard

INLINE, MISSING, BAD_URI = "sidecar_inline_bytes", "sidecar_missing_ref", "sidecar_bad_uri"
MAX_RUN = 256  # sidecar_max_base64_chars default
GUARD = SidecarGuard(["https", "s3", "artifact"], 32, MAX_RUN)
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
UUIDS = [f"{i:08x}-2d4e-4f60-8182-93a4b5c6d7e8" for i in range(0x0F3A9C1B, 0x0F3A9C1B + 20)]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def refusal(body: Any) -> tuple[str, str] | None:
    """``(code, pointer)`` of the guard's refusal, or None when the body passes."""
    try:
        GUARD(body)
    except Unprocessable as err:
        return err.code, err.extras["pointer"]
    return None


def typed_filler(text: str) -> bool:
    """The documented exception: lower-case letters, ``-`` and ``_`` (with some letter past ``f``, or none)
    read as typed filler (``xxxx``, ``----``, ``snake_case``), even when they happen to decode."""
    body = re.sub(r"[\s=]", "", text)
    return re.fullmatch(r"[a-z_-]*", body) is not None and (re.search("[a-z]", body) is None
                                                          or re.search("[g-z]", body) is not None)


def digest_like(text: str) -> bool:
    """Equal-width lines (a shorter last line aside) of hex mixing digits and letters, as lists of digests
    and UUIDs are."""
    lines = text.split()
    if len(lines) > 1 and len(lines[-1]) < len(lines[0]):
        lines.pop()
    body = "".join(lines)
    return re.fullmatch("[0-9A-Fa-f-]*", body) is not None and re.search("[0-9]", body) is not None \
        and re.search("[A-Fa-f]", body) is not None


# Random bytes, and the repetitive bytes (blank pixels, padding) whose encodings share one case.
repetitive = st.tuples(st.binary(min_size=1, max_size=6), st.integers(1, 400)).map(lambda u: u[0] * u[1])
raw = st.one_of(st.binary(min_size=1, max_size=1500), repetitive)


def wrap(text: str, width: int, newline: str) -> str:
    return newline.join(text[i:i + width] for i in range(0, len(text), width))


ENCODERS: dict[str, Callable[[bytes, st.DataObject], str]] = {
    "base64": lambda b, d: base64.b64encode(b).decode(),
    "base64url": lambda b, d: base64.urlsafe_b64encode(b).decode().rstrip("=" if d.draw(st.booleans()) else ""),
    "base64_wrapped": lambda b, d: wrap(
        d.draw(st.sampled_from([base64.b64encode, base64.urlsafe_b64encode]))(b).decode(),
        d.draw(st.integers(16, 120)), d.draw(st.sampled_from(["\n", "\r\n", " "]))),
    "mime_wrapped": lambda b, d: base64.encodebytes(b).decode(),
    "hex": lambda b, d: b.hex().upper() if d.draw(st.booleans()) else b.hex(),
    "hex_wrapped": lambda b, d: wrap(b.hex(), d.draw(st.integers(16, 120)), "\n"),
}
#: The bytes each family needs before it is refused: 256 characters of base64 (192 bytes) or hex (128 bytes);
#: wrapped hex, which lists of digests and UUIDs resemble, from four times that (512 bytes).
MIN_BYTES = {"base64": 192, "base64url": 192, "base64_wrapped": 192, "mime_wrapped": 192, "hex": 128,
             "hex_wrapped": 512}


@pytest.mark.parametrize("family", sorted(ENCODERS))
@SETTINGS
@given(data=st.data())
def test_every_encoding_of_any_bytes_is_refused(family: str, data: st.DataObject) -> None:
    payload = data.draw(raw)
    payload = payload * (MIN_BYTES[family] // len(payload) + 1)
    encoded = ENCODERS[family](payload, data)
    if family.endswith("wrapped") and digest_like(encoded):
        encoded = ENCODERS[family](payload * 4, data)  # wrapped hex is judged at four times the length
    if typed_filler(encoded):
        return  # the documented exception, checked by test_typed_filler_passes
    where = data.draw(st.sampled_from(["alone", "in_prose", "in_chat"]))
    if where == "alone":
        body, pointer = {"payload": {"ops": [{"op": "add", "path": "/x", "value": encoded}]}}, "/payload/ops/0/value"
    elif where == "in_prose":
        body, pointer = {"payload": {"note": {"text": f"here it is: {encoded} (thanks)"}}}, "/payload/note/text"
    else:
        body, pointer = {"type": "chat.post", "payload": {"role": "user", "text": f"{encoded}\nok"}}, "/payload/text"
    assert refusal(body) == (INLINE, pointer)


MEDIA_TYPES = ["image/png", "text/html", "image/svg+xml", "application/octet-stream", ""]
PARAMS = ["", ";charset=utf-8", ";name=a.png", ';name="a b.png"', "; charset = utf-8", ";foo bar", ";x=1;y=2"]
SPACE = st.sampled_from(["", " ", "  ", "\t", "\n", " \t"])


@SETTINGS
@given(media=st.sampled_from(MEDIA_TYPES), params=st.lists(st.sampled_from(PARAMS), max_size=3),
       before=SPACE, around=SPACE, upper=st.booleans(), body=st.binary(max_size=48), where=st.integers(0, 2))
def test_every_data_uri_head_is_refused(media: str, params: list[str], before: str, around: str, upper: bool,
                                        body: bytes, where: int) -> None:
    scheme = "DATA:" if upper else "data:"
    uri = f"{scheme}{before}{media}{''.join(params)}{around};{around}base64{around},{base64.b64encode(body).decode()}"
    text = [uri, f"look: {uri} ok", f"<img src=\"{uri}\">"][where]
    assert refusal({"payload": {"text": text}}) == (INLINE, "/payload/text")


@pytest.mark.parametrize("uri", [
    "data: image/png,AAAA", "data:image/png ,AAAA", "data:text/html ,<script>alert(1)</script>",
    "data:image/svg+xml;charset=utf-8,<svg onload=alert(1)>", "data:text/html;charset=utf-8 ,<b>x</b>",
    'data:image/png;name="a,b.png";base64,AAAA', "data:;base64,AAAA", "data:,hello", "Data:Text/HTML,<p>",
    "data:" + " " * 2000 + "image/png,AAAA", "data:;x" + " " * 2000 + ";base64" + " " * 2000 + ",AAAA",
])
def test_data_uri_heads_a_browser_decodes_are_refused(uri: str) -> None:
    assert refusal({"payload": {"v": uri}}) == (INLINE, "/payload/v")


# Bytes whose encodings share one letter case (or none): all refused.
ONE_CASE = {
    "zeros_base64": base64.b64encode(bytes(300)).decode(),
    "ff_base64": base64.b64encode(b"\xff" * 300).decode(),
    "upper_only_base64": base64.b64encode(b"\x00\x00\x01" * 100).decode(),
    "zeros_hex": bytes(200).hex(),
    "ff_hex": (b"\xff" * 200).hex(),
    "ff_hex_upper": (b"\xff" * 200).hex().upper(),
    "aa_hex": (b"\xaa" * 200).hex(),
    "zeros_base64_wrapped": base64.encodebytes(bytes(600)).decode(),
}


@pytest.mark.parametrize("encoded", ONE_CASE.values(), ids=ONE_CASE.keys())
def test_one_case_encoding_of_repetitive_bytes_is_refused(encoded: str) -> None:
    assert refusal({"payload": {"v": encoded}}) == (INLINE, "/payload/v")


@pytest.mark.parametrize("filler", ["x" * 5000, "-" * 400, "_" * 300, "a_very_long_snake_case_name" * 12,
                                    "zzzz-" * 80, "=" * 300, "." * 300])
def test_typed_filler_passes(filler: str) -> None:
    assert refusal({"payload": {"v": filler, "text": f"line one\n{filler}\nline two"}}) is None


# URI-bearing keys beyond the basic four, in every spelling: a foreign scheme under any of them is refused.
URI_KEYS = ["imageSrc", "image_src", "image-src", "ImageSRC", "thumbnail_src", "thumbnailSrc", "shape_href",
            "shapeHref", "xlink:href", "xlinkHref", "poster", "posterUrl", "video_poster", "videoPoster"]


@pytest.mark.parametrize("key", URI_KEYS)
def test_uri_key_variants_are_judged_as_uris(key: str) -> None:
    assert refusal({"payload": {"shape": {key: "javascript:alert(1)"}}}) == (BAD_URI, f"/payload/shape/{key}")
    assert refusal({"payload": {"shape": {key: "https://cdn.example.com/a.png"}}}) is None


@pytest.mark.parametrize("key", ["srcset", "srcSet", "image_srcset", "imageSrcset"])
@pytest.mark.parametrize("bad", ["javascript:alert(1) 2x", "/relative.png 800w", "http://cdn.example.com/b.png 2x"])
def test_srcset_judges_each_url(key: str, bad: str) -> None:
    good = "https://cdn.example.com/a.png 1x, https://res.example.com/w_300,h_200/b.png 480w"
    assert refusal({"payload": {key: good}}) is None
    assert refusal({"payload": {key: f"{good}, {bad}"}}) == (BAD_URI, f"/payload/{key}")
    assert refusal({"payload": {key: f"{bad},{good}"}}) == (BAD_URI, f"/payload/{key}")


@pytest.mark.parametrize("media", [
    {"mime": " image/png "}, {"mime": "IMAGE/PNG"}, {"mime": "\timage/png"}, {"mime": "Video/MP4; codecs=avc1"},
    {"kind": "Image", "mime": "text/plain"}, {"kind": " audio "},
])
def test_media_spelled_loosely_still_needs_a_ref(media: dict[str, Any]) -> None:
    assert refusal({"payload": {"m": {**media, "width": 4}}}) == (MISSING, "/payload/m")
    assert refusal({"payload": {"m": {**media, "ref": {"artifact_id": "a1"}}}}) is None


CODE_BLOCK = '''```python
import base64, hashlib
def digest(path: str) -> str:
    with open(path, "rb") as f:  # data: bytes, never sent inline
        return hashlib.sha256(f.read()).hexdigest()
PATTERN = r"^[A-Za-z0-9+/]{4}*(?:[A-Za-z0-9+/]{2}==)?$"
url = "https://example.com/api/v1/streams/canvas:board-7/commands?cursor=eyJzZXEiOjQyfQ"
```'''
MINIFIED = ("function a(b,c){return b.map(function(d){return d.id===c?Object.assign({},d,{x:d.x+1}):d})}"
            "var e=document.querySelector('#board');e.addEventListener('pointermove',function(f){g(f.clientX,"
            "f.clientY)});const h=new URL('https://cdn.example.com/assets/app.8f3a9c1b.js');") * 2
LONG_URL = ("https://www.example.com/maps/place/Some+Place/@37.7749295,-122.4194155,17z/data=!3m1!4b1!4m6!3m5"
            f"!1s0x808f7e2a!8m2!3d37.77!4d-122.41?utm_source=newsletter&utm_campaign=q3&id={UUIDS[0]}"
            f"&sha={SHA256}&next=" + "%2Fboards%2F" * 20)
PRESIGNED = (f"https://bucket.s3.eu-west-1.amazonaws.com/tenant/{SHA256}.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
             "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Feu-west-1%2Fs3%2Faws4_request"
             f"&X-Amz-Date=20260101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature={SHA256}")
# Chinese and Japanese prose with full-width comma and colon (NFKC folds them to "," and ":").
CJK = "协作画布上的每个形状都通过引用来保存图片\uff0c而不是内联字节。" * 12 + "データ\uff1a画像は参照で送ります。" * 10
EMOJI = "🎉🚀 ship it 👍🏽 👩‍👩‍👧‍👦 " * 40

BENIGN: list[tuple[str, Any]] = [
    ("prose_data_as_word", {"text": "Data: 5 rows, 3 columns; metadata:x, y. The data: field holds names, emails."}),
    ("prose_data_list", {"text": "data: names; emails, phones and data:  totals, averages"}),
    ("prose_javascript_word", {"text": "Never set an href to javascript: use https:// links. JavaScript: the book"}),
    ("chat_about_data_uris", {"role": "user", "text": "Why refuse data URIs? I only typed the word data:, honestly."}),
    ("code_block", {"text": CODE_BLOCK}),
    ("minified_js", {"text": MINIFIED}),
    ("long_url_text", {"text": f"see {LONG_URL} and {PRESIGNED}"}),
    ("long_url_href", {"href": LONG_URL, "image_src": PRESIGNED, "poster": PRESIGNED}),
    ("srcset", {"srcset": "https://cdn.example.com/a-480.jpg 480w, https://cdn.example.com/a-800.jpg 800w"}),
    ("digests", {"sha256": SHA256, "sha512": SHA256 * 2, "git": SHA256[:40], "label": f"sha256:{SHA256}"}),
    ("digest_list_lines", {"text": "checksums:\n" + "\n".join([SHA256] * 12)}),
    ("digest_list_commas", {"text": ", ".join([SHA256] * 12)}),
    ("uuid_list_lines", {"ids": "\n".join(UUIDS)}),
    ("uuid_values", {u: {"id": u, "parent": UUIDS[0]} for u in UUIDS}),
    ("emoji", {"text": EMOJI}),
    ("cjk", {"text": CJK}),
    ("env_names", {"text": "\n".join(["AWS_SECRET_ACCESS_KEY", "DATABASE_CONNECTION_URL", "REDIS_SENTINEL_MASTER",
                                      "ATOMS_SIDECAR_MAX_DEPTH", "FEATURE_FLAG_CANVAS_V2"] * 4)}),
    ("keys_that_merely_end_alike", {"imposter": "Bob", "hrefLang": "en", "srcLang": "de", "description": "plain",
                                    "posterior": "odds", "thumbnail": "a cat"}),
    ("canvas_shape_typed_image", {"type": "image", "x": 1, "label": "Image: drop a file here"}),
    ("numbers_text", {"text": ", ".join(str(n) for n in range(0, 400, 3))}),
]


@pytest.mark.parametrize("value", [case[1] for case in BENIGN], ids=[case[0] for case in BENIGN])
def test_benign_canvas_and_chat_text_passes(value: Any) -> None:
    assert refusal({"type": "state.patch", "payload": {"ops": [{"op": "add", "path": "/n", "value": value}]}}) is None
    if isinstance(value.get("text"), str):
        assert refusal({"type": "chat.post", "payload": {"role": "user", "text": value["text"]}}) is None
