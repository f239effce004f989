"""RFC 6902 ops and token appends by path copying, with the document's encoded size kept incrementally.

Only the containers a change goes through are copied (the rest is shared with the input, which is
never mutated), added and copied values are shared rather than deep-copied, and each op's effect on
the compact JSON size is computed from the values it adds and removes, never by re-encoding the
document. On the live path ``Limits`` bound what a change may produce (depth, size, work) and show
every produced value to a ``Judge`` (the sidecar guard); replay passes no limits, since a committed
event is never refused. Semantics follow the ``jsonpatch`` library (tests compare the two).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jsonpointer

from atoms_core.protocol import json_paths as paths
from atoms_core.protocol.encoding import encoded_size
from atoms_core.protocol.errors import PayloadTooLarge, Unprocessable
from atoms_core.protocol.json_paths import CONTAINERS, NotApplicable, parts_of

#: Work charged per container a depth walk visits: walking one costs about what encoding this many
#: bytes does, so a command of tiny nested containers is bounded in time like one of long strings.
CONTAINER_WORK = 32


class Judge(Protocol):
    """Judges what a change produced (``SidecarGuard`` is one); raises a problem error to refuse it."""

    def judge_landing(self, key: str, value: Any, pointer: str) -> None:
        """``value`` now sits under ``key`` (an object key or array index)."""
        ...

    def judge_container(self, container: Any, pointer: str) -> None:
        """A container whose contents changed (or whose descendants did), judged as a whole, shallowly."""
        ...

    def judge_append(self, key: str, before: str, delta: str, pointer: str) -> None:
        """The string under ``key`` became ``before + delta`` (``before`` was judged already)."""
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 128
    #: Encoded (compact JSON) bytes of the whole document; also the work one command may do on the
    #: document it reads (``_Patch.work``: values removed, replaced, copied or moved, and array
    #: elements shifted), which bounds its cost.
    max_bytes: int = 8 * 1024 * 1024
    max_ops: int = 1000
    judge: Judge | None = None


class _Patch:
    """One application: the working root, the containers it copied (``fresh``: mutable in place),
    every container it changed (``touched``: judged at the end) and the work it did (``work``).

    Work is what an op costs beyond its own body: measuring a value taken from the document (each
    container once per command, each string every time, since a landing may be judged whole) and
    shifting array elements. The walks that are not charged (a copied value's depth, ``_share``)
    only follow a charged measure of the same value or are memoised with it, so a command's time
    stays proportional to ``max_bytes`` whatever its ops repeat."""

    def __init__(self, doc: dict[str, Any], size: int, limits: Limits | None) -> None:
        self.root: Any = doc
        self.size = size
        self.limits = limits
        self.fresh: dict[int, Any] = {}
        self.touched: dict[int, Any] = {}
        self.work = 0
        self.pointer = ""
        #: Sizes and depths of unchanged containers measured by this patch; each entry holds the
        #: container, so its id cannot be reused while the entry lives.
        self.measured: dict[int, tuple[Any, int]] = {}
        self.depths: dict[int, tuple[Any, int]] = {}

    # --- copying and measuring -----------------------------------------------------------

    def _own(self, value: Any) -> Any:
        """``value`` if this patch copied it already, else a shallow copy it may mutate."""
        if id(value) in self.fresh:
            return value
        copied = dict(value) if isinstance(value, dict) else list(value)
        self.fresh[id(copied)] = copied
        self.touched[id(copied)] = copied
        return copied

    def _spine(self, parts: Sequence[str]) -> tuple[Any, Any]:
        """Copy the containers down to the parent of ``parts``; the parent and the last token as it reads it."""
        if not isinstance(self.root, dict | list):
            raise NotApplicable("the document is not a container")
        self.root = self._own(self.root)
        node = self.root
        for part in parts[:-1]:
            if not isinstance(node, dict | list):
                raise NotApplicable(f"cannot index a {type(node).__name__}")
            key = paths.index(node, part)
            try:
                child = node[key]
            except (KeyError, IndexError, TypeError):
                raise NotApplicable(f"{part!r} not found") from None
            if not isinstance(child, dict | list):
                raise NotApplicable(f"cannot write inside a {type(child).__name__}")
            child = self._own(child)
            node[key] = child
            node = child
        if not isinstance(node, dict | list):
            raise NotApplicable(f"cannot write inside a {type(node).__name__}")
        return node, paths.index(node, parts[-1])

    def _share(self, value: Any) -> None:
        """``value`` now sits in two places: stop mutating it (and what this patch copied inside it)
        in place. Copied containers only hang below copied ones, so the walk stays inside them."""
        if id(value) not in self.fresh:
            return
        del self.fresh[id(value)]
        for child in value.values() if isinstance(value, dict) else value:
            if isinstance(child, dict | list):
                self._share(child)

    def _afford(self) -> None:
        """Refuse more work once the command has done more than ``max_bytes`` (checked before, not
        after, so a state over a lowered cap may still remove or replace one of its large values)."""
        if self.limits is not None and self.work > self.limits.max_bytes:
            raise PayloadTooLarge("patch_too_large", "the command reads more of the state than "
                                  f"state_max_bytes ({self.limits.max_bytes}) allows; split it", pointer=self.pointer)

    def _measure(self, value: Any) -> int:
        """The encoded size of a value taken from the document, counted against the work budget:
        a container once per command (unless this patch changes it), a string each time."""
        kind = type(value)
        if kind is str:
            self._afford()
            self.work += len(value)
            return encoded_size(value)
        if kind is not dict and kind is not list:
            return encoded_size(value)
        return self._memoised(self.measured, value, _size_and_work)

    def _depth_of(self, value: Any, max_depth: int) -> int:
        """``depth`` of a value taken from the document, charged and memoised like its size (a copy
        of the same value deeper again costs nothing more; the document is at most ``max_depth`` deep)."""
        if type(value) not in CONTAINERS:
            return 0
        return self._memoised(self.depths, value, lambda container: _depth_and_work(container, max_depth))

    def _memoised(self, memo: dict[int, tuple[Any, int]], value: Any,
                  measure: Callable[[Any], tuple[int, int]]) -> int:
        """``measure(value)``'s result for a container taken from the document, its work charged once per
        command (each entry holds its container, so the id cannot be reused meanwhile); a container this
        patch changes is measured afresh each time."""
        hit = memo.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        self._afford()
        result, work = measure(value)
        self.work += work
        if id(value) not in self.fresh:
            memo[id(value)] = (value, result)
        return result

    def _shift(self, parent: list[Any], key: int) -> None:
        """Inserting or deleting at ``key`` moves the elements after it."""
        self._afford()
        self.work += len(parent) - key

    @staticmethod
    def _entry(parent: Any, key: Any) -> int:
        """Bytes an entry adds besides its value: ``"key":`` in an object."""
        return encoded_size(key) + 1 if isinstance(parent, dict) else 0

    # --- the ops -------------------------------------------------------------------------

    def _new_root(self, value: Any, size: int) -> tuple[None, None]:
        """An op on the pointer ``""``: ``value`` becomes the document (it lands under no parent)."""
        self.root = value
        self.size = size
        return None, None

    def _add(self, parts: Sequence[str], value: Any, size: int) -> tuple[Any, Any]:
        """Put ``value`` (of encoded ``size``) at ``parts``; the parent and key it landed under."""
        if not parts:
            return self._new_root(value, size)
        parent, key = self._spine(parts)
        if isinstance(parent, list):
            if key == "-":
                key = len(parent)
            elif key > len(parent):
                raise NotApplicable("cannot insert outside of the array")
            self._shift(parent, key)
            self.size += size + (1 if parent else 0)
            parent.insert(key, value)
        elif key in parent:
            self.size += size - self._measure(parent[key])
            parent[key] = value
        else:
            self.size += self._entry(parent, key) + size + (1 if parent else 0)
            parent[key] = value
        return parent, key

    def _remove(self, parts: Sequence[str], size: int | None = None) -> Any:
        """Remove the value at ``parts`` (its encoded ``size`` if the caller measured it already)."""
        if not parts:
            raise NotApplicable("cannot remove the whole document")
        parent, key = self._spine(parts)
        if isinstance(parent, list) and not isinstance(key, int):
            raise NotApplicable(f"invalid array index {key!r}")
        try:
            value = parent[key]
        except (KeyError, IndexError):
            raise NotApplicable(f"cannot remove a missing member {key!r}") from None
        if size is None:
            size = self._measure(value)
        if isinstance(parent, list):
            self._shift(parent, key)
        self.size -= self._entry(parent, key) + size + (1 if len(parent) > 1 else 0)
        del parent[key]
        return value

    def _replace(self, parts: Sequence[str], value: Any, size: int) -> tuple[Any, Any]:
        if not parts:
            return self._new_root(value, size)
        parent, key = self._spine(parts)
        if isinstance(parent, list):
            if key == "-" or key >= len(parent):
                raise NotApplicable("cannot replace outside of the array")
        elif key not in parent:
            raise NotApplicable(f"cannot replace a missing member {key!r}")
        self.size += size - self._measure(parent[key])
        parent[key] = value
        return parent, key

    def _existing(self, parts: Sequence[str]) -> Any:
        """The value at ``from`` (``-`` names no array element; in an object it is a member's name)."""
        if not parts:
            return self.root
        parent = paths.resolve(self.root, parts[:-1])
        key = paths.index(parent, parts[-1])
        if key == "-" and not isinstance(parent, dict):
            raise NotApplicable("'-' names no element")
        try:
            return parent[key]
        except (KeyError, IndexError, TypeError):
            raise NotApplicable(f"{parts[-1]!r} not found") from None

    def apply(self, index: int, op: dict[str, Any], blame: str | None) -> None:
        limits = self.limits
        self.pointer = blame or f"/payload/ops/{index}"
        kind = op.get("op")
        try:
            path = parts_of(op["path"])
            source = parts_of(op["from"]) if kind in ("move", "copy") else None
        except (KeyError, TypeError, jsonpointer.JsonPointerException) as exc:
            raise NotApplicable(f"bad pointer: {exc}") from None
        before = self.size
        landed: tuple[Any, Any] = (None, None)
        if kind in ("add", "replace", "test"):
            if "value" not in op:
                raise NotApplicable(f"a {kind} op needs a value")
            value = op["value"]
        if kind == "test":
            try:
                found = paths.existing(self.root, path)
            except NotApplicable:
                raise NotApplicable(f"test failed at {op['path']}") from None
            if not paths.equal(found, value):
                raise NotApplicable(f"test failed at {op['path']}")
            return
        if kind in ("add", "replace"):
            if limits is not None:  # a value of the body, which bounds the walk
                self._check_depth(path, paths.depth(value, limits.max_depth - len(path))[0], limits.max_depth)
            size = encoded_size(value)
            landed = (self._add if kind == "add" else self._replace)(path, value, size)
        elif kind == "remove":
            self._remove(path)
        elif kind == "copy":
            assert source is not None
            value = self._existing(source)
            size = self._measure(value)
            self._share(value)
            landed = self._add(path, value, size)
        elif kind == "move":
            assert source is not None
            if path != source and path[: len(source)] == source:
                raise NotApplicable("cannot move a value into its own children")
            value = self._existing(source)
            if path == source:
                return
            size = self._measure(value)  # once: the value leaves one place for another
            self._remove(source, size)
            landed = self._add(path, value, size)
        else:
            raise NotApplicable(f"unknown op {kind!r}")
        if limits is None:
            return
        if self.size > before and self.size > limits.max_bytes:
            raise Unprocessable("state_too_large", f"the op would make the state {self.size} bytes (compact "
                                f"JSON); the limit is state_max_bytes = {limits.max_bytes}", pointer=self.pointer)
        if source is not None and len(path) > len(source):  # taken deeper: walked after the size check
            self._check_depth(path, self._depth_of(value, limits.max_depth), limits.max_depth)
        parent, key = landed
        if limits.judge is not None and parent is not None:
            limits.judge.judge_landing(str(key), parent[key], self.pointer)

    def _check_depth(self, path: Sequence[str], value_depth: int, max_depth: int) -> None:
        """A path of k steps puts a value of ``value_depth`` k containers deeper."""
        nested = len(path) + value_depth
        if nested > max_depth:
            raise Unprocessable("state_too_deep", f"the op would nest the state {nested} containers deep; "
                                f"the limit is {max_depth}", pointer=self.pointer)

    def finish(self) -> tuple[dict[str, Any], int]:
        if not isinstance(self.root, dict):
            raise Unprocessable("patch_failed", "the state document must stay a JSON object")
        judge = self.limits.judge if self.limits is not None else None
        if judge is not None:
            for container in self.touched.values():
                judge.judge_container(container, self.pointer)
        return self.root, self.size


def _size_and_work(value: Any) -> tuple[int, int]:
    """A container's encoded size, and the work of encoding it (its size)."""
    size = encoded_size(value)
    return size, size


def _depth_and_work(value: Any, max_depth: int) -> tuple[int, int]:
    """A container's depth, and the work of walking it (``CONTAINER_WORK`` per container visited)."""
    levels, visited = paths.depth(value, max_depth)
    return levels, visited * CONTAINER_WORK


def apply_ops(doc: dict[str, Any], ops: list[dict[str, Any]], size: int | None = None,
              limits: Limits | None = None, blame: str | None = None) -> tuple[dict[str, Any], int]:
    """Apply RFC 6902 ``ops`` to ``doc`` (encoded ``size``, measured if not given); the new document
    and its size, or a problem error with nothing changed: 422 ``patch_failed``, and with ``limits``
    422 ``state_too_deep`` / ``state_too_large``, 413 ``patch_too_large`` or a judge's refusal.
    Errors name ``/payload/ops/<i>``, or ``blame`` when the ops were not in the payload (chat.post)."""
    if limits is not None and len(ops) > limits.max_ops:
        raise PayloadTooLarge("patch_too_large", f"a patch holds at most {limits.max_ops} ops "
                              "(state_patch_max_ops); split it", pointer=blame or "/payload/ops")
    patch = _Patch(doc, encoded_size(doc) if size is None else size, limits)
    for index, op in enumerate(ops):
        try:
            patch.apply(index, op, blame)
        except NotApplicable as exc:
            raise Unprocessable("patch_failed", f"patch does not apply: op {index}: {exc}",
                                pointer=patch.pointer) from None
    return patch.finish()


def append_text(doc: dict[str, Any], size: int, target: str, delta: str,
                limits: Limits | None = None) -> tuple[dict[str, Any], int]:
    """``doc`` with ``delta`` appended to the string at ``target`` (path copying) and its new size;
    with ``limits`` the whole resulting string counts against ``max_bytes`` and is judged."""
    pointer = "/payload/target"
    try:
        parts = parts_of(target)
    except jsonpointer.JsonPointerException as exc:
        raise Unprocessable("patch_failed", f"bad token target: {exc}", pointer=pointer) from None
    if not parts:
        raise Unprocessable("patch_failed", "token target must not be the root", pointer=pointer)
    patch = _Patch(doc, size, limits)
    patch.pointer = "/payload/delta"
    try:
        parent, key = patch._spine(parts)
        before = parent[key]
    except (NotApplicable, KeyError, IndexError, TypeError):
        raise Unprocessable("patch_failed", f"token target {target} does not exist", pointer=pointer) from None
    if not isinstance(before, str):
        raise Unprocessable("patch_failed", f"token target {target} is not a string", pointer=pointer)
    patch.size += encoded_size(delta) - 2  # JSON escapes character by character
    if limits is not None:
        if delta and patch.size > limits.max_bytes:
            raise Unprocessable("state_too_large", f"the append would make the state {patch.size} bytes "
                                f"(compact JSON); the limit is state_max_bytes = {limits.max_bytes}",
                                pointer=patch.pointer)
        if limits.judge is not None:
            limits.judge.judge_append(parts[-1], before, delta, patch.pointer)
    parent[key] = before + delta
    return patch.finish()
