"""SCRATCH-1D training files: `Proteins.fa` with the labels in a sibling `SSpro8.dssp` (same order)."""
from __future__ import annotations

from pathlib import Path

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
    if len(seqs) != len(labs):
        raise FormatError(f"{labels}: {len(labs)} label records for {len(seqs)} sequences in {path}")
    proteins = []
    for n, ((sid, seq), (lid, lab)) in enumerate(zip(seqs, labs), start=1):
        if sid != lid or len(seq) != len(lab):
            raise FormatError(f"{labels}: record {n} ('{lid}') does not match '{sid}' in {path.name}")
        parts = sid.split(",")  # pdb,4gvp,A,#1 -> 4gvp_A
        pid = f"{parts[1]}_{parts[2]}" if len(parts) >= 3 and parts[0] == "pdb" else sid
        proteins.append(Protein(id=pid, sequence=seq.upper(), ss8=parse_ss8(lab), extras={"header": sid}))
    return proteins
