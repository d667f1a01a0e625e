"""FLIP secondary-structure split (NetSurfP-2.0 chains, 3-state labels only).

`sampled.fasta` holds the H/E/C labels with `SET=train|test VALIDATION=True|False` tags, `mask.fasta`
1/0 per residue (0 = unresolved: not scored for structure, and disorder = 1, NetSurfP's definition) and
`sequences.fasta` the residues.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from Bio.SeqIO.FastaIO import SimpleFastaParser

from ...core.alphabet import UNSCORED, parse_ss3
from ...errors import FormatError
from ...core.records import Protein
from .registry import reader

SPLITS = ("train", "valid", "test", "all")


def _split_of(title: str) -> str:
    tags = dict(t.split("=", 1) for t in title.split()[1:] if "=" in t)
    if tags.get("SET") == "test":
        return "test"
    return "valid" if tags.get("VALIDATION") == "True" else "train"


@reader("flip")
def read_flip(path: str | Path, split: str = "all") -> list[Protein]:
    """`path` is sampled.fasta (or its folder); split is train, valid, test or all."""
    if split not in SPLITS:
        raise FormatError(f"FLIP split '{split}' is not one of {SPLITS}")
    path = Path(path)
    if path.is_dir():
        path = path / "sampled.fasta"
    folder = path.parent
    for f in (path, folder / "mask.fasta", folder / "sequences.fasta"):
        if not f.exists():
            raise FormatError(f"{f}: file not found (FLIP needs sampled.fasta, mask.fasta, sequences.fasta)")
    with open(folder / "mask.fasta") as fh:
        masks = {t.split()[0]: s for t, s in SimpleFastaParser(fh)}
    with open(folder / "sequences.fasta") as fh:
        seqs = {t.split()[0]: s for t, s in SimpleFastaParser(fh)}
    proteins = []
    with open(path) as fh:
        for title, lab in SimpleFastaParser(fh):
            rid = title.split()[0]
            which = _split_of(title)
            if split != "all" and which != split:
                continue
            if rid not in seqs or rid not in masks:
                raise FormatError(f"{path}: record '{rid}' has no sequence or mask in {folder}")
            seq, mask = seqs[rid], masks[rid]
            if not (len(seq) == len(lab) == len(mask)):
                raise FormatError(f"{path}: record '{rid}': lengths differ (sequence {len(seq)}, "
                                  f"labels {len(lab)}, mask {len(mask)})")
            ss3 = parse_ss3(lab)
            unresolved = np.frombuffer(mask.encode(), dtype=np.uint8) != ord("1")
            ss3[unresolved] = UNSCORED
            proteins.append(Protein(id=rid, sequence=seq.upper(), ss3=ss3, disorder=unresolved.astype(np.int8),
                                    extras={"flip_set": which}))
    return proteins
