"""How the sidecar guard reads one key or one string: URI-bearing and byte-ish key names, ``data:`` URIs
(as a URL parser reads them), and base64/hex runs that are encoded bytes rather than prose or digests."""

from __future__ import annotations

import re
import unicodedata

URI_KEYS = frozenset({"uri", "url", "src", "href"})
#: ``imageSrc``, ``thumbnail_src``, ``shape_href``, ``xlink:href``: the key's letters end like a URI key.
URI_SUFFIXES = ("url", "uri", "src", "href")
#: URI-bearing words matched as the key's last word only (``videoPoster`` yes, ``imposter`` no).
URI_WORDS = frozenset({"poster"})
#: camelCase, snake_case, kebab-case and ``ns:name`` words of a key.
WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
BYTE_KEYS = frozenset({"bytes", "blob", "binary", "buffer", "base64", "b64"})
#: A ``data:`` scheme inside text (the scheme boundary keeps ``metadata:`` out).
DATA_SCHEME = re.compile(r"(?<![a-z0-9+.-])data:", re.I)
TCHAR = "!#$%&'*+.^_`|~0-9a-z-"
#: A ``data:`` head a browser honours: a media type (RFC 9110 tokens around a slash, spaces around it allowed)
#: before ``;`` or ``,``, or a head without any space followed by a body (``data:,x``, ``data:text,x``).
DATA_HEAD = re.compile(rf"(?<![a-z0-9+.-])data:(?:[ \t\n\r\f]*[{TCHAR}]+/[{TCHAR}]+[ \t\n\r\f]*[;,]"
                       r"|[a-z0-9.+-]*(?:/[a-z0-9.+-]*)?(?:;[a-z0-9=.+-]*)*,(?=\S))", re.I)
#: A ``;base64`` flag ending a head, spaces allowed around it.
BASE64_FLAG = re.compile(r";[ \t\n\r\f]*base64[ \t\n\r\f]*,", re.I)
UPPER, LOWER, DIGIT = re.compile("[A-Z]"), re.compile("[a-z]"), re.compile("[0-9]")
#: Typed filler: lower-case letters, ``-`` and ``_`` (``xxxx``, ``----``, ``snake_case_names``).
FILLER = re.compile(r"[a-z_-]*")
NOT_HEX_LETTER, HEX_LETTER = re.compile("[g-z]"), re.compile("[a-f]", re.I)
#: Digests and UUIDs: hex digits (and dashes) mixing digits and letters.
HEXISH = re.compile(r"[0-9A-Fa-f-]*")
#: The base64 and base64url alphabet (hex is a subset).
ALPHABET = "A-Za-z0-9+/_-"
HEAD = 40
HEAD_LONG = 300
C0_SPACE = "".join(map(chr, range(33)))
#: Latin look-alikes (Cyrillic, Greek), folded before keys and the ``data:`` prefix are compared.
CONFUSABLES = str.maketrans(
    "аеорсухіјѕԁһӏԛԝвкмнтАВЕКМНОРСТУХІЈЅαβεικνορτυχϲΑΒΕΖΗΙΚΜΝΟΡΤΥΧıɑɡ",
    "aeopcyxijsdhlqwbkmhtABEKMHOPCTYXIJSabeikvoptuxcABEZHIKMNOPTYXiag",
)



def fold(text: str) -> str:
    """Compatibility-normalised, look-alikes folded to Latin, lower case."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).translate(CONFUSABLES).casefold()


def role_of(key: str) -> str:
    """``bytes`` for byte-ish keys, ``srcset`` for srcsets, ``uri`` for URI-bearing keys, else ``""``; every
    spelling alike (``imageSrc``, ``image_src``, ``xlink:href``, look-alikes folded)."""
    skel = "".join(ch for ch in fold(key) if ch.isascii() and ch.isalnum())
    if skel in BYTE_KEYS or "base64" in skel or skel.endswith(("b64", "bytes", "blob")):
        return "bytes"
    if skel.endswith("srcset"):
        return "srcset"
    if skel in URI_KEYS or skel.endswith(URI_SUFFIXES):
        return "uri"
    words = WORDS.findall(key if key.isascii() else unicodedata.normalize("NFKC", key).translate(CONFUSABLES))
    if words and words[-1].lower() in URI_WORDS:
        return "uri"
    return ""


def is_data_uri(text: str) -> bool:
    """A ``data:`` URI anywhere in ``text``, or at its start as a URL parser would read it (leading
    controls and spaces stripped, tabs and newlines dropped) after folding look-alikes."""
    if ":" in text and "data:" in text.lower() and has_data_uri(text):
        return True
    head = text.lstrip(C0_SPACE)[:HEAD]
    if head.isascii() and (":" not in head or not ("\t" in head or "\n" in head or "\r" in head)):
        return False
    if _url_view(head)[:5].lower() != "data:":
        return False
    text = text.lstrip(C0_SPACE)
    return has_data_uri(_url_view(text if text.isascii() else text[:HEAD_LONG]))


def _url_view(head: str) -> str:
    """``head`` as a URL parser sees it: look-alikes and invisible marks folded, tabs and newlines dropped."""
    if not head.isascii():
        head = "".join(ch for ch in fold(head) if unicodedata.category(ch) != "Cf")
    return head.replace("\t", "").replace("\n", "").replace("\r", "").lstrip(C0_SPACE)


def has_data_uri(text: str) -> bool:
    """A ``data:`` URI a browser would decode into more than prose. Its head runs to the first comma and counts
    when it names a media type (``data: image/png ;name=x,``), ends in a ``;base64`` flag
    (``data:;foo bar; base64,``), or has no space and a body follows (``data:,x``); ``data: names; emails,
    phones`` stays prose. Linear: the heads a flag can end lie between it and the comma before it."""
    if DATA_HEAD.search(text) is not None:
        return True
    for flag in BASE64_FLAG.finditer(text):
        if DATA_SCHEME.search(text, text.rfind(",", 0, flag.start()) + 1, flag.start()) is not None:
            return True
    return False


def mixed(run: str) -> bool:
    """Encoded bytes mix upper case, lower case and digits; filler such as ``xxxx`` or ``----`` does not."""
    return (UPPER.search(run) is not None) + (LOWER.search(run) is not None) + (DIGIT.search(run) is not None) >= 2


def bytes_like(run: str) -> bool:
    """A whitespace-free run of the base64/hex alphabet reads as bytes unless it is typed filler: lower-case
    letters, ``-`` and ``_`` only, with some letter past ``f``. Repetitive bytes encode into one class
    (``AAAA``, ``////``, ``0000``, ``ffff``), which is why one class alone does not clear a run."""
    if mixed(run) or FILLER.fullmatch(run) is None:
        return True
    return NOT_HEX_LETTER.search(run) is None and HEX_LETTER.search(run) is not None


def digest_like(run: str) -> bool:
    """Hex mixing digits and letters, as digests and UUIDs do (``AAAA`` or ``0000`` are not digests)."""
    return HEXISH.fullmatch(run) is not None and DIGIT.search(run) is not None and HEX_LETTER.search(run) is not None

