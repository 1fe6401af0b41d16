"""An assignment's grading files as one content-addressed archive, for graders on other machines.

A worker of a cluster grades with the assignment's checks, reference run, source notebook
(points, setup cell) and data, and copies the release folder into each run's work folder;
it may not share the instructor's disk. `pack` puts exactly those folders in a tar archive
named by its SHA-256, `unpack` checks the name and unpacks it once per host:

    digest, data = pack(assignment)          # on the instructor's machine
    course = unpack(data, digest)            # on a worker: a course folder holding only that assignment
    Assignment(assignment.name, course)      # the same checks, reference and release

Only the instructor's side travels: `assignments/<name>/` (nbgrader's source folder, whose
`grading/` is never released) and `release/<name>/`; no submission is ever in either.
"""

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from .assignment import Assignment

ROOT = Path(tempfile.gettempdir()) / "autograder-courses"  # where a host keeps unpacked archives, by digest
SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}  # made by running things, not the course's


def pack(assignment: Assignment) -> tuple[str, bytes]:
    """(SHA-256 in hex, the archive) of `assignment`'s source folder and release folder, paths relative to its course.

    The archive depends on the files' contents, modes and times only (sorted, no owners), so the
    same course gives the same digest, and a worker that has it unpacked already skips it.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for folder in (assignment.source_dir, assignment.release_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} must be a folder of the course to grade {assignment.name}; it is missing")
            for path in sorted(_files(folder)):
                info = tar.gettarinfo(path, arcname=path.relative_to(assignment.course).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as file:
                    tar.addfile(info, file)
    # gzip writes the time into its header: clear it, so the bytes depend on the files alone.
    data = bytearray(buffer.getvalue())
    data[4:8] = b"\0\0\0\0"
    return hashlib.sha256(data).hexdigest(), bytes(data)


def _files(folder: Path):
    for root, dirs, files in os.walk(folder):  # links are not followed, nor packed: the course's own files only
        dirs[:] = [name for name in dirs if name not in SKIPPED]
        for name in files:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path


def unpack(data: bytes, digest: str, root: Path = ROOT) -> Path:
    """The course folder holding `data` (an archive from `pack`), unpacked under `root`/`digest` unless it is there.

    Raises ValueError when `data` is not the archive `digest` names.
    """
    found = hashlib.sha256(data).hexdigest()
    if found != digest:
        raise ValueError(f"the course archive must have SHA-256 {digest}; the one received has {found}")
    course = root / digest
    if course.is_dir():
        return course
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=root))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, filter="data")
            else:  # Python 3.11 before 3.11.4; the archive is our own, and its digest was checked
                tar.extractall(staging)
        try:
            # Another worker of this host may have unpacked it meanwhile: the first one stays.
            os.rename(staging, course)
        except OSError:
            if not course.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return course
