"""SCRATCH-1D training files: `Proteins.fa` with the labels in a sibling `SSpro8.dssp` (same order), and the
2-state accessibility of a sibling `ACCpro.dssp` where there is one ('e' exposed at >= 25% RSA, '-' buried)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from Bio.SeqIO.FastaIO import SimpleFastaParser

from ...core.alphabet import parse_ss8
from ...errors import FormatError
from ...core.records import Protein
from .registry import reader


def _records(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        raise FormatError(f"{path}: file not found")
    with open(path) as fh:
        return [(t.split()[0], s.replace(" ", "")) for t, s in SimpleFastaParser(fh)]


@reader("scratch")
def read_scratch(path: str | Path, labels: str | Path | None = None) -> list[Protein]:
    """`path` is Proteins.fa (or the folder holding it); labels default to SSpro8.dssp beside it."""
    path = Path(path)
    if path.is_dir():
        path = path / "Proteins.fa"
    labels = Path(labels) if labels else path.with_name("SSpro8.dssp")
    seqs, labs = _records(path), _records(labels)
    acc_path = path.with_name("ACCpro.dssp")
    accs = _records(acc_path) if acc_path.exists() else None
    for f, recs in ((labels, labs), (acc_path, accs)):
        if recs is not None and len(seqs) != len(recs):
            raise FormatError(f"{f}: {len(recs)} label records for {len(seqs)} sequences in {path}")
    proteins = []
    for n, (sid, seq) in enumerate(seqs, start=1):
        lid, lab = labs[n - 1]
        for f, (rid, val) in ((labels, labs[n - 1]),) + (((acc_path, accs[n - 1]),) if accs else ()):
            if sid != rid or len(seq) != len(val):
                raise FormatError(f"{f}: record {n} ('{rid}') does not match '{sid}' in {path.name}")
        exposed = None
        if accs:
            letters = np.frombuffer(accs[n - 1][1].encode(), dtype=np.uint8)
            exposed = np.where(letters == ord("e"), 1, np.where(letters == ord("-"), 0, -1)).astype(np.int8)
        parts = sid.split(",")  # pdb,4gvp,A,#1 -> 4gvp_A
        pid = f"{parts[1]}_{parts[2]}" if len(parts) >= 3 and parts[0] == "pdb" else sid
        proteins.append(Protein(id=pid, sequence=seq.upper(), ss8=parse_ss8(lab), exposed=exposed,
                                extras={"header": sid}))
    return proteins
