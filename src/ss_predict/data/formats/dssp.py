"""Classic DSSP files (`.dssp`, Kabsch & Sander's fixed-column format): one record per chain.

A path is one DSSP file or a folder of them (`*.dssp`, `*.dssp.gz`, read in name order). Every chain is read,
or only the chains named in a list file (`chains=`) such as CMBI's `CATH_info.txt`: one chain a
line, `<PDB id><chain>` as the first word (`153LA Alpha`); listed chains whose file is not there are
ignored, a listed chain missing from its file is an error. Records are `<file stem>_<chain>`.

Parsing is Biopython's (`Bio.PDB.DSSP.make_dssp_dict`), which fits this format:
* break lines (`!`, `!*`: no residue number) are skipped, so the segments of a chain are joined;
* lower-case residue letters (cysteines in a disulphide bridge) are read as C here;
* a blank structure column (Biopython's `-`) is coil; P (polyproline, DSSP 4) is coil too.
Its dictionary is keyed by (chain, residue number, insertion code), so a file that repeats a key would
lose a residue there: such a file is refused with the residue named, never read short.
Labels beside the 8 states: DSSP's ACC (solvent-accessible surface, square angstroms) as RSA = ACC / the
residue's theoretical maximum (Tien et al. 2013), capped at 1 (`rsa`; the raw ACC stays in `extras["acc"]`),
and PHI / PSI in degrees (`phi`, `psi`; DSSP's 360 = undefined, at chain ends and breaks, is no label).
"""
from __future__ import annotations

from pathlib import Path

import gzip
import shutil
import tempfile

import numpy as np
from Bio.PDB.DSSP import make_dssp_dict

from ...core.alphabet import parse_ss8, rsa_from_asa
from ...errors import FormatError
from ...core.records import Protein
from .registry import reader

HEADER_MARK = "  #  RESIDUE"  # the line that opens the residue table of a classic DSSP file


def is_classic_dssp(head: str) -> bool:
    """True when the text (a file's first lines) holds the residue-table header of classic DSSP."""
    return any(line.startswith(HEADER_MARK) for line in head.splitlines())


def read_chain_list(path: str | Path) -> set[tuple[str, str]]:
    """`<PDB id><chain> ...` per line -> {(PDB id upper case, chain)}; a bare 4-letter id means chain ' '."""
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: chain list not found")
    wanted = set()
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        token = line.split()[0]
        if len(token) not in (4, 5):
            raise FormatError(f"{path}: line {n}: expected '<PDB id><chain>' (e.g. 153LA), found '{token}'")
        wanted.add((token[:4].upper(), token[4:] or " "))
    return wanted


def _entry(path: Path) -> str:
    """The file's name without .gz and .dssp: the PDB id of CMBI's files."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    return name[:-5] if name.lower().endswith(".dssp") else Path(name).stem


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.lower().endswith((".dssp", ".dssp.gz")) and p.is_file())
        if not files:
            raise FormatError(f"{path}: a folder without .dssp (or .dssp.gz) files")
        return files
    if not path.exists():
        raise FormatError(f"{path}: file not found")
    return [path]


def read_dssp_file(path: str | Path, chains: set[str] | None = None) -> list[Protein]:
    """The chains of one DSSP file (all, or those named in `chains`), in file order."""
    path = Path(path)
    try:
        if path.name.lower().endswith(".gz"):  # Biopython reads plain files only: through a temporary copy
            with gzip.open(path, "rb") as src, tempfile.NamedTemporaryFile(suffix=".dssp") as tmp:
                shutil.copyfileobj(src, tmp)
                tmp.flush()
                table, keys = make_dssp_dict(tmp.name)
        else:
            table, keys = make_dssp_dict(str(path))
    except (ValueError, IndexError, UnicodeDecodeError, OSError, EOFError) as e:
        raise FormatError(f"{path}: not a readable classic DSSP file ({e})") from None
    if not keys:
        raise FormatError(f"{path}: no residue table (no '{HEADER_MARK}' line): not a classic DSSP file")
    if len(table) != len(keys):
        seen = set()
        dup = next(k for k in keys if k in seen or seen.add(k))
        raise FormatError(f"{path}: chain '{dup[0]}' residue {dup[1][1]}{dup[1][2].strip()} occurs twice")
    residues: dict[str, list] = {}
    for key in keys:
        if chains is None or key[0] in chains:
            residues.setdefault(key[0], []).append(table[key])
    if chains is not None and set(chains) - set(residues):
        missing = ", ".join(sorted(set(chains) - set(residues)))
        raise FormatError(f"{path}: listed chain(s) {missing} not in the file")
    out = []
    for chain, rows in residues.items():
        seq = "".join("C" if r[0].islower() else r[0] for r in rows)
        acc = np.array([r[2] for r in rows], dtype=np.int32)
        phi, psi = (np.array([r[k] for r in rows], dtype=np.float32) for k in (3, 4))
        phi[phi == 360.0] = psi[psi == 360.0] = np.nan
        out.append(Protein(
            id=f"{_entry(path)}_{chain.strip() or '_'}", sequence=seq,
            ss8=parse_ss8("".join(r[1] for r in rows)), rsa=rsa_from_asa(seq, acc), phi=phi, psi=psi,
            extras={"acc": acc, "chain": chain},
        ))
    return out


@reader("dssp")
def read_dssp(path: str | Path, chains: str | Path | None = None) -> list[Protein]:
    """One `.dssp` file or a folder of them; `chains`: optional list file (`<PDB id><chain>` a line)."""
    path = Path(path)
    wanted = read_chain_list(chains) if chains else None
    proteins: list[Protein] = []
    for f in _files(path):
        mine = None if wanted is None else {c for pdb, c in wanted if pdb == _entry(f).upper()}
        if mine is None or mine:
            proteins += read_dssp_file(f, mine)
    if not proteins:
        raise FormatError(f"{path}: no chain read" + (f" (none listed in {chains})" if wanted is not None else ""))
    return proteins
