"""The file name of a record: one rule for what ss-predict writes (`-o DIR/`) and reads (`--profiles DIR`).

A record id becomes one file name: every character other than a letter, a digit, `.`, `_` or `-` is
replaced by `_`, and a name starting with `.` gets a `_` in front (no hidden file, no `..`):
`sp|P69905|HBA_HUMAN` -> `sp_P69905_HBA_HUMAN`, `../x` -> `_.._x`. No `/` survives, so the file is always
directly inside its folder.
"""
from __future__ import annotations

# A record's file (NAME.EXT) is first written as .NAME.EXT.XXXXXXXX.tmp beside it (core.files.atomic_path): both must
# fit the file systems' usual limit of 255 bytes per name, so the final name may have at most 241.
MAX_FILE_NAME = 255 - len("..XXXXXXXX.tmp")


def safe_name(rid: str) -> str:
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in rid)
    return "_" + name if name.startswith(".") else name


def file_name(rid: str, ext: str) -> str:
    """The file a record gets in `-o DIR/`: its safe name and the format's extension."""
    return f"{safe_name(rid)}.{ext}"
