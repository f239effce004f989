"""The sidecar guard judges what a command produces, not only what its body says: a copy, move, remove or
token append that assembles a value the guard refuses in one piece is refused, names the op, and
changes nothing; the same state built honestly passes."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoms_core.protocol.errors import Unprocessable
from atoms_core.protocol.sidecars import SidecarGuard
from servers import AtomsServer
from streams_api import StreamClient, command

IMAGE = {"kind": "image", "mime": "image/png", "ref": {"uri": "https://cdn.example/a.png"}}
KEY64 = base64.b64encode(bytes(range(256)) * 2).decode()


@pytest.fixture
def client(shared_server: AtomsServer) -> StreamClient:
    return StreamClient(shared_server.url, shared_server.token(), f"canvas:p{uuid.uuid4().hex[:12]}")


def ops(client: StreamClient, *items: dict[str, Any]) -> httpx.Response:
    return client.post(command(client.stream, "state.patch", {"ops": list(items)}))


def add(path: str, value: Any) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": value}


SEED = [add("/note", "javascript:alert(1)"), add("/img", IMAGE), add("/o", {"name": "n"}),
        add("/shape", {"path": "/img/base64"}), add("/text", "hello")]

#: (name, ops that the body guard lets through, code) — each produces a state the guard refuses.
ASSEMBLED = [
    ("copy a javascript: string under a uri key", [{"op": "copy", "from": "/note", "path": "/img/ref/uri"}],
     "sidecar_bad_uri"),
    ("move a javascript: string under a uri key", [{"op": "move", "from": "/note", "path": "/img/ref/uri"}],
     "sidecar_bad_uri"),
    ("copy a string under a byte-ish key", [{"op": "copy", "from": "/text", "path": "/o/base64"}],
     "sidecar_inline_bytes"),
    ("remove the ref of a media value", [{"op": "remove", "path": "/img/ref"}], "sidecar_missing_ref"),
    ("remove the last id of a ref", [{"op": "remove", "path": "/img/ref/uri"}], "sidecar_missing_ref"),
    ("move the ref out of a media value", [{"op": "move", "from": "/img/ref", "path": "/kept"}],
     "sidecar_missing_ref"),
    ("replace a ref by a string", [{"op": "replace", "path": "/img/ref", "value": "x"}], "sidecar_missing_ref"),
    ("make an object media without a ref", [add("/o/kind", "image")], "sidecar_missing_ref"),
    ("make an object media by mime", [add("/o/mime", "video/mp4")], "sidecar_missing_ref"),
    ("complete an op-shaped object", [add("/shape/value", "AAAA")], "sidecar_inline_bytes"),
    ("a later op of the patch breaks media", [add("/tmp", 1), {"op": "remove", "path": "/img/ref"}],
     "sidecar_missing_ref"),
]


@pytest.mark.parametrize(("ops_", "code"), [case[1:] for case in ASSEMBLED], ids=[case[0] for case in ASSEMBLED])
def test_a_patch_that_assembles_a_refused_value_is_refused_and_changes_nothing(client: StreamClient,
                                                                                ops_: list[dict[str, Any]],
                                                                                code: str) -> None:
    assert ops(client, *SEED).status_code == 202
    before = client.state()
    response = ops(client, *ops_)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == code and problem["pointer"].startswith("/payload/ops/")
    assert client.state() == before
    assert ops(client, add("/after", 1)).status_code == 202  # the stream stays usable


def test_media_built_step_by_step_inside_one_patch_passes(client: StreamClient) -> None:
    """Only the state a patch leaves behind is judged, not each step on the way."""
    built = [add("/m", {}), add("/m/kind", "image"), add("/m/ref", {}), add("/m/ref/artifact_id", "a1b2c3")]
    assert ops(client, *built).status_code == 202, ops(client, *built).text
    assert ops(client, {"op": "copy", "from": "/m", "path": "/m2"},
               {"op": "move", "from": "/m2", "path": "/m3"}).status_code == 202
    assert client.state()["state"]["m3"] == {"kind": "image", "ref": {"artifact_id": "a1b2c3"}}


def tokens(client: StreamClient, chunks: list[str]) -> list[httpx.Response]:
    assert client.post(command(client.stream, "chat.post", {"role": "assistant", "text": ""})).status_code == 202
    return [client.post(command(client.stream, "token.append", {"target": "/chat/0/text", "delta": chunk,
                                                                 "index": i})) for i, chunk in enumerate(chunks)]


@pytest.mark.parametrize("chunks", [
    ["see ", "dat", "a:image/png;", "base64,", "iVBORw0KGgo"],  # a data: URI, chunk by chunk
    ["image: "] + [KEY64[i:i + 40] for i in range(0, 400, 40)],  # a 400-character base64 run, 40 at a time
], ids=["data-uri", "base64-run"])
def test_token_chunks_cannot_assemble_inline_bytes(client: StreamClient, chunks: list[str]) -> None:
    replies = tokens(client, chunks)
    refused = next(i for i, r in enumerate(replies) if r.status_code != 202)
    problem = replies[refused].json()
    assert problem["code"] == "sidecar_inline_bytes" and problem["pointer"] == "/payload/delta"
    text = client.state()["state"]["chat"][0]["text"]
    assert text == "".join(chunks[:refused])  # nothing of the refused chunk landed


def test_prose_streams_token_by_token(client: StreamClient) -> None:
    words = ("Links such as https://example.com/a?b=c stay fine, and so does metadata: text. " * 8).split(" ")
    replies = tokens(client, [w + " " for w in words])
    assert all(r.status_code == 202 for r in replies), [r.text for r in replies if r.status_code != 202][:1]


FULLWIDTH_DATA = "".join(chr(ord(ch) + 0xFEE0) for ch in "data") + ":"  # NFKC folds it to data:
GUARD = SidecarGuard(["https"], 32, 16)  # short runs, so random strings reach them
PIECES = ["data:", "DATA:", "data: ", "text/plain", "image/png ", ";base64", "; base64 ", ",", ", ", " ", "\t", "\n",
          "\r\n", "A", "a", "Z9", "+/", "=", FULLWIDTH_DATA, "x", ":", "-", "_", ".", KEY64[:20],
          "aaaaaaaaaaaaaaaaaaaa", "QUJD" * 5, "QUJD" * 4 + "\n", " " * 30]
TEXT = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)
LONG_TEXT = st.lists(st.sampled_from(PIECES), max_size=90).map("".join)  # past the 1024-character head


def refused(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except Unprocessable:
        return True
    return False


@settings(max_examples=600, deadline=None)
@given(st.one_of(TEXT, LONG_TEXT.map(lambda t: "word, " * 200 + t)), TEXT)
def test_judging_an_append_refuses_whatever_judging_the_whole_string_refuses(before: str, delta: str) -> None:
    """The append judge rescans only the tail of a clean ``before``; it must never let a string through
    that the guard refuses in one piece (this guards the classifiers' no-comma-inside rule)."""
    whole = {"op": "add", "path": "/t", "value": before + delta}
    if refused(GUARD, {"op": "add", "path": "/t", "value": before}):
        return  # the state never holds a refused string
    if refused(GUARD, whole):
        assert refused(GUARD.judge_append, "t", before, delta, "/payload/delta")


def test_a_long_string_copied_under_a_uri_key_is_refused_before_it_is_scanned(client: StreamClient) -> None:
    """A long URL-shaped string (legal as text; grown to MBs it cost the guard ~15 ms per MB at each
    landing) copied under ``uri`` keys is refused at once, before any scan."""
    long_url = "https://cdn.example/p?" + "page=1&sort=up&" * 16_000  # 256 KB, no encoded run in it
    assert ops(client, add("/long", long_url), add("/img", IMAGE)).status_code == 202
    before = client.state()
    guard_ops = [{"op": "copy", "from": "/long", "path": "/img/ref/uri"} for _ in range(2)]
    response = ops(client, *guard_ops)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "sidecar_bad_uri" and "at most" in response.json()["detail"]
    assert client.state() == before
    near_limit = "https://cdn.example/p?" + "page=1&sort=up&" * 1_000  # 15 KB: a long but plausible URL
    assert ops(client, {"op": "replace", "path": "/img/ref/uri", "value": near_limit}).status_code == 202


def test_a_srcset_past_four_times_the_uri_cap_is_refused_and_a_long_real_one_passes(client: StreamClient) -> None:
    """A srcset is judged URL by URL, so its length is capped too (four times the uri cap), in one value and when
    grown from a copy of a long string; a long but real srcset (1,500 candidates, 60 KB) still passes."""
    candidates = ", ".join(f"https://cdn.example.com/a-{i}.jpg {i}w" for i in range(1, 1_500))
    assert len(candidates) < 65_536
    assert ops(client, add("/pic", {"srcset": candidates})).status_code == 202
    before = client.state()
    too_long = candidates + ", " + candidates  # every candidate a fine URL: only the length is wrong
    response = ops(client, {"op": "replace", "path": "/pic/srcset", "value": too_long})
    assert response.status_code == 422 and response.json()["code"] == "sidecar_bad_uri", response.text
    assert "at most 65536" in response.json()["detail"]
    assert ops(client, add("/long", too_long)).status_code == 202  # as text it is fine
    response = ops(client, {"op": "copy", "from": "/long", "path": "/pic/srcset"})
    assert response.status_code == 422 and response.json()["code"] == "sidecar_bad_uri", response.text
    assert client.state()["state"]["pic"] == before["state"]["pic"] == {"srcset": candidates}
