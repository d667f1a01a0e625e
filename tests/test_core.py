"""core/: the leaf types and files: replacing a file keeps its mode and owner, a hard link is split and said,
a record checks its lengths."""
import os

import numpy as np
import pytest

from ss_predict.core.files import atomic_write_text
from ss_predict.core.records import Protein


def test_replaced_file_keeps_mode_and_owner(tmp_path):
    f = tmp_path / "out.ss2"
    f.write_text("old\n")
    os.chmod(f, 0o600)
    other = os.geteuid() == 0  # as root, give the file another owner to see that it is kept
    if other:
        os.chown(f, 1234, 1234)
    atomic_write_text(f, "new\n")
    st = f.stat()
    assert f.read_text() == "new\n" and oct(st.st_mode & 0o7777) == "0o600"
    if other:
        assert (st.st_uid, st.st_gid) == (1234, 1234)
    new = tmp_path / "fresh.ss2"  # a new file: the usual 0666 & ~umask (mkstemp's 0600 is not kept)
    umask = os.umask(0o022)
    try:
        atomic_write_text(new, "x\n")
    finally:
        os.umask(umask)
    assert oct(new.stat().st_mode & 0o777) == "0o644"


def test_hard_link_is_split_and_said(tmp_path, capsys):
    f, link = tmp_path / "out.ss2", tmp_path / "backup.ss2"
    f.write_text("old\n")
    os.link(f, link)
    atomic_write_text(f, "new\n")
    assert f.read_text() == "new\n" and link.read_text() == "old\n"  # written whole; the other link is untouched
    err = capsys.readouterr().err
    assert f"{f} had 2 hard links" in err and err.count("\n") == 1


def test_protein_record_checks_lengths():
    with pytest.raises(ValueError):
        Protein("x", "ACD", ss8=np.zeros(2))
