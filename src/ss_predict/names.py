"""The file name of a record: one rule for what ss-predict writes (`-o DIR/`) and reads (`--profiles DIR`).

A record id becomes one file name: every character other than a letter, a digit, `.`, `_` or `-` is
replaced by `_` (`sp|P69905|HBA_HUMAN` -> `sp_P69905_HBA_HUMAN`, `../x` -> `.._x`). No `/` survives and an
extension (`.ss2`, `.pssm`) always follows, so the file is always directly inside its folder.
"""
from __future__ import annotations


def safe_name(rid: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in rid)
