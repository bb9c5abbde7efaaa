"""Where a register's bytes are kept: one small interface, two implementations chosen from the address.

A path is a register file (`FileStore`: the lock file, the atomic replace, PATH.bak; files.py); a
`postgresql://` URL is a register kept in PostgreSQL (`pgstore.PgStore`, the only module that
imports psycopg). Both hold the same bytes: the authenticated header, the encrypted body and the
encrypted history archive. Everything above the bytes (keys, signed grants and saves, the witness)
is in register.py and is the same for both, so a store only ever sees ciphertext.

The interface (docs/shared-register.md):
- `read(upto)`: the header, the body and, without `upto`, the archive, as one contiguous image from
  one consistent snapshot, and the register's total size (as `files.read_register` returns them);
- `lock()`: the writers' lock, a bounded wait, then BusyError (exit 5);
- `read_archive(at)` and `archive_digest(at)`: the archive the current header vouches for, for a
  writer holding the lock;
- `save(expected_generation, header, raw, write_body, archive, kept)`: replace the register as one
  atomic step, or refuse; `expected_generation` 0 creates a new one and refuses if one exists;
- `append(expected_size, record)` (files only): add a record of events to the file's tail, for a
  command that only records events (docs/file-format.md §5e); a store without it is saved whole.
"""

from __future__ import annotations

import fnmatch
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator, NamedTuple, Protocol, Union

from accountctl.errors import DamagedError, InputError
from accountctl.store import files

if TYPE_CHECKING:
    from accountctl.store import fileformat as ff

URL_SCHEMES = ("postgresql://", "postgres://")
Address = Union[Path, str, "Store"]
BodyWriter = Callable[[BinaryIO], None]


class ArchiveAt(NamedTuple):
    """Where the current history archive is: its offset in a file image, its length and its SHA-256."""

    offset: int
    length: int
    digest: bytes


class Store(Protocol):
    name: str  # what messages call it: the path, or the URL without its password

    def read(
        self, upto: Callable[[bytes], int] | None = None, tail_at: Callable[[bytes], int] | None = None
    ) -> tuple[bytes, int]: ...
    def read_archive(self, at: ArchiveAt) -> bytes: ...
    def archive_digest(self, at: ArchiveAt) -> bytes: ...
    def lock(self): ...
    def save(
        self,
        expected_generation: int,
        header: "ff.Header",
        raw: bytes,
        write_body: BodyWriter,
        archive: bytes | None,
        kept: ArchiveAt | None,
    ) -> None: ...
    def exists(self) -> bool: ...
    def creating(self): ...
    def close(self) -> None: ...


def is_url(text: str) -> bool:
    return text.lower().startswith(URL_SCHEMES)


def address(text: str | Path | None) -> Path | str:
    """A register's address as given (`--register`, ACCOUNTCTL_REGISTER): a URL as it is, else a path."""
    if text is None:
        env = os.environ.get("ACCOUNTCTL_REGISTER")
        if env and is_url(env):
            return env
        return files.default_path()
    if isinstance(text, str) and is_url(text):
        return text
    return Path(text).expanduser()


def describe(where: Path | str) -> str:
    """The address for messages and `vault status`: a URL never shows its password."""
    if isinstance(where, str) and is_url(where):
        from accountctl.store.pgstore import redact

        return redact(where)
    return str(where)


@contextmanager
def open_store(where: Address) -> Iterator["Store"]:
    """The store at an address; a store given as it is stays open for its owner."""
    if not isinstance(where, (str, Path)):
        yield where
        return
    if isinstance(where, str) and is_url(where):
        from accountctl.store.pgstore import PgStore

        store: Store = PgStore(where)
    else:
        store = FileStore(Path(where))
    try:
        yield store
    finally:
        store.close()


class FileStore:
    """A register file: the layout, lock and atomic replace of files.py (docs/file-format.md)."""

    def __init__(self, path: Path):
        self.path = path
        self.name = str(path)

    def read(
        self, upto: Callable[[bytes], int] | None = None, tail_at: Callable[[bytes], int] | None = None
    ) -> tuple[bytes, int]:
        return files.read_register(self.path, upto=upto, tail_at=tail_at)

    def snapshot(self) -> files.Snapshot:
        """The file opened once, to read by ranges (format 5's readers)."""
        return files.Snapshot(self.path)

    def read_from(self, offset: int) -> bytes:
        """The file's bytes from `offset` to its end (records appended to the tail since it was read)."""
        return files.read_rest(self.path, offset)

    def appendable(self) -> bool:
        """Whether a record may be appended here: to the register file itself, never through a link.

        A file this user may not write (made read-only by hand) is saved whole instead, as before
        there was a tail: the save replaces it, which its folder allows.
        """
        return not self.path.is_symlink() and os.access(self.path, os.W_OK)

    def append(self, expected_size: int, record: bytes) -> int:
        """Add a record to the file's tail (the caller holds the lock and read `expected_size` bytes); the new size."""
        return files.append(self.path, expected_size, record)

    def read_archive(self, at: ArchiveAt) -> bytes:
        return files.read_range(self.path, at.offset, at.length)

    def archive_digest(self, at: ArchiveAt) -> bytes:
        return files.copy_range(self.path, at.offset, at.length, _Discard())

    def lock(self):
        return files.write_lock(self.path)

    def exists(self) -> bool:
        if self.path.is_dir():
            raise InputError(
                f"{self.path} is a folder; give the register a file name, e.g. {self.path / 'register.accountctl'}"
            )
        return self.path.exists()

    @contextmanager
    def creating(self) -> Iterator[None]:
        """For `init` and `vault copy`: a private folder if there is none, and the writers' lock."""
        if not self.exists() and not self.path.parent.exists():
            files.make_private_dir(self.path.parent)
        with files.write_lock(self.path):
            yield

    def save(
        self,
        expected_generation: int,
        header: "ff.Header",
        raw: bytes,
        write_body: BodyWriter,
        archive: bytes | None,
        kept: ArchiveAt | None,
    ) -> None:
        """Write the new file and rename it over the old one (PATH.bak keeps the old one).

        The caller holds the lock, so the file on disk is still generation `expected_generation`.
        A kept archive is copied as it is, but only if it is the one the header vouches for:
        otherwise a damaged archive would be carried into the new file and then into PATH.bak too.
        """
        if expected_generation == 0 and self.path.exists():
            raise InputError(f"a register already exists at {self.path}; refusing to overwrite it")

        def write(handle) -> None:
            handle.write(raw)
            write_body(handle)
            if archive is not None:
                handle.write(archive)
            elif kept is not None and kept.length:
                if files.copy_range(self.path, kept.offset, kept.length, handle) != kept.digest:
                    raise archive_mismatch()

        files.atomic_write(self.path, write)

    def forget_previous(self) -> None:
        """PATH.bak becomes the file as just saved: the generation before it no longer lies beside it."""
        files.replace_backup(self.path)

    def conflict_copies(self) -> list[str]:
        """Copies of this register beside it that a sync service made (see `conflict_copies`)."""
        return conflict_copies(self.path)

    def close(self) -> None:
        pass


class ImageStore:
    """A register image held in memory (read only): what `vault copy` checks is what it copies."""

    def __init__(self, name: str, image: bytes):
        self.name = name
        self.image = image

    def read(
        self, upto: Callable[[bytes], int] | None = None, tail_at: Callable[[bytes], int] | None = None
    ) -> tuple[bytes, int]:
        size = len(self.image)
        if upto is None:
            return self.image, size
        prefix = self.image[: files.PREFIX_LEN]
        head = self.image[: min(upto(prefix), size)]
        start = tail_at(prefix) if tail_at is not None else size
        return head + self.image[start:], size

    def read_archive(self, at: ArchiveAt) -> bytes:
        return self.image[at.offset : at.offset + at.length]

    def archive_digest(self, at: ArchiveAt) -> bytes:
        import hashlib

        return hashlib.sha256(self.read_archive(at)).digest()

    def close(self) -> None:
        pass


def archive_mismatch() -> DamagedError:
    return DamagedError(
        "register damaged or altered: its history archive does not match its header; nothing "
        "was written (restore from PATH.bak or a backup)"
    )


class _Discard:
    def write(self, data) -> None:
        pass


# -- conflict copies ------------------------------------------------------------------------------------
# OneDrive keeps the losing side of a conflict as NAME-COMPUTERNAME.EXT (NAME-COMPUTERNAME-2.EXT for
# the next); Google Drive for desktop as NAME (1).EXT; Dropbox, Nextcloud and Syncthing put "conflict"
# in the name. A Windows computer name is at most 15 capital letters, digits and hyphens (so a
# hand-made "oak-backup" is not taken for one).
_NUMBERED = re.compile(r" \(\d{1,3}\)$")
_COMPUTER = re.compile(r"^-[A-Z0-9][A-Z0-9-]{0,14}(-\d{1,3})?$")


def _looks_like_conflict(name: str, stem: str, suffix: str) -> bool:
    low, low_stem = name.lower(), stem.lower()
    if not low.endswith(suffix.lower()) or low_stem not in low:
        return False
    extra = name[: len(name) - len(suffix)] if suffix else name
    if "conflict" in low:
        return True
    if not extra.lower().startswith(low_stem):
        return False
    rest = extra[len(stem) :]
    return bool(_NUMBERED.match(rest) or _COMPUTER.match(rest))


def conflict_copies(path: Path) -> list[str]:
    """Names of files beside the register that a sync service made when two machines saved at once.

    A name that looks like a OneDrive or Google Drive conflict copy counts only when the file is a
    copy of this very register (the same file id), so another register beside it is never named.
    """
    from accountctl.store import fileformat as ff

    folder, stem, suffix = path.parent, path.stem, path.suffix
    try:
        entries = [
            e
            for e in os.scandir(folder)
            if e.name != path.name
            and e.is_file(follow_symlinks=False)
            and fnmatch.fnmatch(e.name.lower(), f"*{stem.lower()}*{suffix.lower()}")
        ]
    except OSError:
        return []
    if not entries:
        return []
    try:
        mine = ff.parse_header(files.read_register(path, upto=lambda p: ff.file_lengths(p)[0])[0])[0].file_id
    except (DamagedError, InputError):
        return []
    found = []
    for entry in sorted(entries, key=lambda e: e.name):  # the same answer whatever order the folder lists
        if not _looks_like_conflict(entry.name, stem, suffix):
            continue
        try:
            with open(entry.path, "rb") as handle:
                header, _ = ff.parse_header(handle.read(files.PREFIX_LEN))
        except (OSError, DamagedError):
            continue
        if header.file_id == mine:
            found.append(entry.name)
    return sorted(found)
