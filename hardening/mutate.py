"""Mutations of real files: damage a workbook bytewise, or inside one member of its zip.

Byte flips mostly stop at the container (a broken zip or OLE header is refused early); a
damaged XML member of an intact zip reaches the parsers behind it — cell references pointing
at the sheet's far corner, huge numbers, truncated or unbalanced XML, a missing part.
"""

from __future__ import annotations

import io
import random
import re
import zipfile

__all__ = ["mutate"]


def _bytewise(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    b = bytearray(data)
    op = rng.choice(["flip", "overwrite", "truncate", "insert", "duplicate", "zero"])
    if not b:
        return bytes(rng.randbytes(16)), "random"
    if op == "flip":
        for _ in range(rng.randint(1, 32)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif op == "overwrite":
        i = rng.randrange(len(b))
        n = rng.randint(1, 64)
        b[i : i + n] = rng.choice([rng.randbytes(n), b"\xff" * n, b"\x7f" * n])
    elif op == "truncate":
        del b[rng.randrange(len(b)) :]
    elif op == "insert":
        i = rng.randrange(len(b))
        b[i:i] = rng.randbytes(rng.randint(1, 256))
    elif op == "duplicate":
        i = rng.randrange(len(b))
        chunk = b[i : i + rng.randint(1, 4096)]
        j = rng.randrange(len(b))
        b[j:j] = chunk * rng.randint(1, 8)
    else:
        i = rng.randrange(len(b))
        b[i : i + rng.randint(1, 512)] = b"\x00" * len(b[i : i + 512])
    return bytes(b), op


_NUM = re.compile(rb"\d+")
_REF = re.compile(rb'r="[A-Z]+\d+"')


def _member(data: bytes, rng: random.Random) -> tuple[bytes, str] | None:
    """Damage one member inside a zip container and rezip it (reaches the XML parsers)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [i for i in zf.infolist() if i.file_size < 20_000_000]
            if not infos:
                return None
            target = rng.choice([i for i in infos if i.filename.endswith(".xml")] or infos)
            members = {i.filename: zf.read(i) for i in infos}
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError):
        return None
    body = members[target.filename]
    op = rng.choice(["numbers", "refs", "truncate", "flip", "drop-tag", "remove"])
    if op == "numbers":
        body = _NUM.sub(
            lambda m: rng.choice([b"0", b"4294967295", b"1048576", b"-1", m.group()]), body, count=40
        )
    elif op == "refs":
        body = _REF.sub(
            lambda m: rng.choice([b'r="XFD1048576"', b'r="A0"', b'r=""', b'r="ZZ9"', m.group()]), body
        )
    elif op == "truncate":
        body = body[: rng.randrange(len(body) + 1)]
    elif op == "flip":
        body, _ = _bytewise(body, rng)
    elif op == "drop-tag":
        tags = [m.start() for m in re.finditer(rb"</", body)]
        if tags:
            i = rng.choice(tags)
            body = body[:i] + body[body.find(b">", i) + 1 :]
    else:
        del members[target.filename]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, body if name == target.filename else content)
    return out.getvalue(), f"{op} in {target.filename}"


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One random mutation of ``data``: bytewise, or inside a zip member for zip containers."""
    if data[:4] == b"PK\x03\x04" and rng.random() < 0.6:
        done = _member(data, rng)
        if done is not None:
            return done
    return _bytewise(data, rng)
