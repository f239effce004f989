"""The sidecar guard over real HTTP: a hostile corpus is refused with the right code and JSON pointer and
leaves the timeline untouched; media by reference passes."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from servers import AtomsServer
from streams_api import command, patch

S = "canvas:sidecars"
INLINE, MISSING, BAD_URI, DEEP = "sidecar_inline_bytes", "sidecar_missing_ref", "sidecar_bad_uri", "sidecar_too_deep"
V = "/payload/ops/0/value"
REF = {"artifact_id": "0f3a9c1b2d4e5f60718293a4b5c6d7e8"}
KEY64 = base64.b64encode(bytes(range(256)) * 2).decode()
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def b64(size: int, alphabet: Callable[[bytes], bytes] = base64.b64encode) -> str:
    return alphabet(os.urandom(size)).decode()


def fullwidth(text: str) -> str:
    """The fullwidth look-alike of ASCII text (NFKC folds it back)."""
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


def value(v: Any, path: str = "/x") -> dict[str, Any]:
    return patch(S, path, v)


def image(ref: Any) -> dict[str, Any]:
    return {"kind": "image", "mime": "image/png", "ref": ref}


def nested(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for _ in range(levels):
        doc = {"a": doc}
    return doc


# (name, body, status, code, pointer)
HOSTILE: list[tuple[str, Any, int, str, str | None]] = [
    # data: URIs, anywhere
    ("data_uri_value", value(f"data:image/png;base64,{PNG}"), 422, INLINE, V),
    ("data_uri_nested_arrays", value({"layers": [[1, ["ok", "data:text/html,<script>alert(1)</script>"]]]}),
     422, INLINE, V + "/layers/0/1/1"),
    ("data_uri_upper_case", value("DATA:image/png;base64,AAAA"), 422, INLINE, V),
    ("data_uri_leading_space_and_tabs", value(" \t da\tta:image/png;base64,AAAA"), 422, INLINE, V),
    ("data_uri_fullwidth_lookalike", value(fullwidth("data:") + "image/png;base64,AAAA"), 422, INLINE, V),
    ("data_uri_cyrillic_lookalike", value("d\u0430ta:image/png;base64,AAAA"), 422, INLINE, V),  # Cyrillic a
    ("data_uri_no_mime", value({"note": "data:,hello"}), 422, INLINE, V + "/note"),
    ("data_uri_inside_chat_text",
     command(S, "chat.post", {"role": "user", "text": f"see data:image/png;base64,{PNG}"}),
     422, INLINE, "/payload/text"),
    ("data_uri_in_log_fields", command(S, "log.append", {
        "level": "info", "message": "upload", "fields": {"preview": {"src": "data:image/jpeg;base64,/9j/"}}}),
     422, INLINE, "/payload/fields/preview/src"),
    ("data_uri_in_meta", {**value(1), "meta": {"thumb": "data:image/gif;base64,R0lGOD"}}, 422, INLINE, "/meta/thumb"),
    ("data_uri_as_key", value({"data:text/html,<b>x</b>": 1}), 422, INLINE, V + "/data:text~1html,<b>x<~1b>"),
    ("data_uri_in_ref_uri", value(image({"uri": f"data:image/png;base64,{PNG}"})), 422, INLINE, V + "/ref/uri"),
    # base64 payloads
    ("base64_in_patch_value", value(b64(400)), 422, INLINE, V),
    ("base64url_in_patch_value", value({"frames": [b64(400, base64.urlsafe_b64encode)]}), 422, INLINE,
     V + "/frames/0"),
    ("base64_mime_wrapped_lines", value({"pic": base64.encodebytes(os.urandom(600)).decode()}), 422, INLINE,
     V + "/pic"),
    ("base64_inside_chat_text", command(S, "chat.post", {"role": "user", "text": f"here: {b64(300)} thanks"}),
     422, INLINE, "/payload/text"),
    ("base64_in_token_delta", command(S, "token.append", {"target": "/doc", "delta": b64(300), "index": 0}),
     422, INLINE, "/payload/delta"),
    ("hex_bytes_in_value", value({"raw": os.urandom(200).hex()}), 422, INLINE, V + "/raw"),
    ("base64_as_key", value({KEY64: 1}), 422, INLINE, V + "/" + KEY64.replace("~", "~0").replace("/", "~1")),
    # byte-ish keys
    ("byte_key_bytes", value({"name": "a.png", "bytes": "iVBORw0KGgo="}), 422, INLINE, V + "/bytes"),
    ("byte_key_camel_base64", value({"imageBase64": "iVBOR"}), 422, INLINE, V + "/imageBase64"),
    ("byte_key_data_base64", value({"data_base64": "AAAA"}), 422, INLINE, V + "/data_base64"),
    ("byte_key_blob_int_list", value({"blob": [137, 80, 78, 71]}), 422, INLINE, V + "/blob"),
    ("byte_key_cyrillic_lookalike", value({"b\u0443tes": "AAAA"}), 422, INLINE, V + "/b\u0443tes"),
    ("byte_key_fullwidth_lookalike", value({fullwidth("base64"): "AAAA"}), 422, INLINE, V + "/" + fullwidth("base64")),
    ("byte_key_via_patch_path", value("iVBORw0KGgo=", path="/photo_base64"), 422, INLINE, V),
    ("node_buffer_json", value({"type": "Buffer", "data": [137, 80, 78, 71]}), 422, INLINE, V),
    # media without a usable ref
    ("media_without_ref", value({"kind": "image", "mime": "image/png", "width": 10}), 422, MISSING, V),
    ("media_by_mime_without_ref", value({"mime": "video/mp4", "content": "AAAA"}), 422, MISSING, V),
    ("media_ref_is_a_string", value(image("artifact://abc")), 422, MISSING, V + "/ref"),
    ("media_ref_empty", value(image({})), 422, MISSING, V + "/ref"),
    ("media_ref_traversal_id", value(image({"artifact_id": "../../etc/passwd"})), 422, MISSING, V + "/ref"),
    ("media_in_second_of_batch", [value(1), value({"items": [{"kind": "audio", "mime": "audio/ogg"}]})],
     422, MISSING, "/1" + V + "/items/0"),
    # URI schemes
    ("uri_javascript", value(image({"uri": "javascript:alert(1)"})), 422, BAD_URI, V + "/ref/uri"),
    ("uri_file", value(image({"uri": "file:///etc/passwd"})), 422, BAD_URI, V + "/ref/uri"),
    ("uri_http_not_allowed", value(image({"uri": "http://example.com/a.png"})), 422, BAD_URI, V + "/ref/uri"),
    ("uri_relative", value({"src": "/etc/passwd"}), 422, BAD_URI, V + "/src"),
    ("uri_cyrillic_scheme", value({"url": "htt\u0440s://example.com/a.png"}), 422, BAD_URI, V + "/url"),
    ("uri_fullwidth_scheme", value({"href": fullwidth("https") + "://example.com"}), 422, BAD_URI, V + "/href"),
    ("uri_key_lookalike", value({"ur\u0456": "javascript:alert(1)"}), 422, BAD_URI, V + "/ur\u0456"),
    ("uri_tab_in_scheme", value({"avatar_url": "java\tscript:alert(1)"}), 422, BAD_URI, V + "/avatar_url"),
    ("uri_bidi_override", value({"src": "https://example.com/\u202egnp.exe"}), 422, BAD_URI, V + "/src"),
    ("uri_via_patch_path", value("javascript:alert(1)", path="/avatar_url"), 422, BAD_URI, V),
    # single-value evasions: data: heads with spaces or parameters, one-case encodings, URI keys, loose media
    ("data_uri_space_before_base64", value("data:image/png; base64,iVBORw0KGgo="), 422, INLINE, V),
    ("data_uri_params_before_base64", value({"t": 'data:image/png;name="a b.png";base64,AAAA'}), 422, INLINE, V + "/t"),
    ("data_uri_space_after_scheme", command(S, "chat.post", {"role": "user", "text": "x data: text/html,<b>"}),
     422, INLINE, "/payload/text"),
    ("base64_of_zero_bytes", value({"pixels": base64.b64encode(bytes(300)).decode()}), 422, INLINE, V + "/pixels"),
    ("hex_of_ff_bytes", value((b"\xff" * 200).hex()), 422, INLINE, V),
    ("uri_key_camel_src", value({"imageSrc": "javascript:alert(1)"}), 422, BAD_URI, V + "/imageSrc"),
    ("uri_key_xlink_href", value({"xlink:href": "javascript:alert(1)"}), 422, BAD_URI, V + "/xlink:href"),
    ("uri_key_poster", value({"poster": "file:///etc/passwd"}), 422, BAD_URI, V + "/poster"),
    ("srcset_second_url", value({"srcset": "https://cdn.example.com/a.png 1x, javascript:alert(1) 2x"}),
     422, BAD_URI, V + "/srcset"),
    ("media_mime_padded_upper", value({"mime": " IMAGE/PNG ", "width": 4}), 422, MISSING, V),
    # size and depth
    ("deeply_nested_value", value(nested(40)), 422, DEEP, V + "/a" * 28),
    ("nested_past_the_parser", "[" * 100_000 + "]" * 100_000, 422, DEEP, None),
    ("huge_body", value("x" * 1_100_000), 413, "body_too_large", None),
]

VALID: list[tuple[str, Any]] = [
    ("artifact_id_ref", image(REF)),
    ("https_uri_ref", image({"uri": "https://cdn.example.com/a.png"})),
    ("s3_uri_ref", {"kind": "video", "mime": "video/mp4", "ref": {"uri": "s3://bucket/clip.mp4"}, "duration_ms": 4}),
    ("artifact_uri_ref", image({"uri": "artifact://0f3a9c1b2d4e5f60718293a4b5c6d7e8"})),
    ("object_id_ref", {"kind": "audio", "mime": "audio/ogg", "ref": {"object_id": "obj-42"}, "sha256": "a" * 64}),
    ("text_that_mentions_data", {"text": "Data: 5 rows, 3 columns; metadata:x, y", "size_bytes": 1234}),
    ("long_prose", {"text": "the quick brown fox jumps over the lazy dog " * 60}),
    ("filler_runs", {"pad": "x" * 5000, "rule": "-" * 400, "name": "a_very_long_snake_case_name" * 12}),
    ("https_link", {"href": "https://example.com/docs#sidecars", "sha": "f" * 64}),
    ("prose_data_and_javascript_words", {"text": "Data: names; emails, phones. Never type javascript: in links."}),
    ("digest_and_uuid_lists", {"sums": "\n".join([SHA] * 12),
                               "ids": "\n".join(str(uuid.uuid5(uuid.NAMESPACE_URL, str(i))) for i in range(20))}),
    ("srcset_and_src_keys", {"srcset": "https://cdn.example.com/a.png 1x, https://cdn.example.com/b.png 2x",
                             "thumbnail_src": "https://cdn.example.com/t.png", "imposter": "Bob"}),
    ("cjk_and_emoji", {"text": "协作画布上的形状通过引用保存图片。" * 20 + "🎉👩‍👩‍👧 " * 40}),
]


class Stream:
    """One stream over one kept-alive HTTP client (a fresh client per call costs more than the call)."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def post(self, body: Any) -> httpx.Response:
        raw = body if isinstance(body, str) else json.dumps(body)
        return self.http.post(f"/v1/streams/{S}/commands", content=raw, headers={"Content-Type": "application/json"})

    def state(self) -> dict[str, Any]:
        response = self.http.get(f"/v1/streams/{S}/state")
        response.raise_for_status()
        return dict(response.json())


@pytest.fixture(scope="module")
def stream(shared_server: AtomsServer) -> Iterator[Stream]:
    headers = {"Authorization": f"Bearer {shared_server.token()}"}
    with httpx.Client(base_url=shared_server.url, headers=headers, timeout=30) as http:
        client = Stream(http)
        assert client.post(patch(S, "/doc", "seed")).status_code == 202  # a non-empty timeline to compare
        yield client


@pytest.mark.parametrize(("body", "status", "code", "pointer"), [case[1:] for case in HOSTILE],
                         ids=[case[0] for case in HOSTILE])
def test_hostile_payload_is_refused_and_timeline_unchanged(stream: Stream, body: Any, status: int, code: str,
                                                            pointer: str | None) -> None:
    before = stream.state()
    response = stream.post(body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code
    if pointer is not None:
        assert problem["pointer"] == pointer
        assert problem["detail"].startswith(pointer)
    assert stream.state() == before


def test_corpus_is_at_least_thirty_payloads() -> None:
    assert len(HOSTILE) >= 30 and len({case[0] for case in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize("media", [case[1] for case in VALID], ids=[case[0] for case in VALID])
def test_media_by_reference_passes(stream: Stream, media: Any) -> None:
    before = stream.state()["seq"]
    key = uuid.uuid4().hex
    response = stream.post(patch(S, f"/ok_{key}", media))
    assert response.status_code == 202, response.text
    state = stream.state()
    assert state["seq"] == before + 1 and state["state"][f"ok_{key}"] == media
