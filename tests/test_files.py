"""store/files.py on its own: where the register lives, reading it, the writers' lock, the atomic replace."""

from __future__ import annotations

import io
import os
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from filelock import FileLock

from accountctl.errors import BusyError, DamagedError, InputError
from accountctl.store import files


# -- default_path ----------------------------------------------------------------------------------------
class _OtherOs:
    """This machine's `os`, except for the platform files.default_path asks about."""

    def __init__(self, name: str, sysname: str):
        self.name = name
        self._sysname = sysname

    def uname(self):
        return SimpleNamespace(sysname=self._sysname)

    def __getattr__(self, attr):
        return getattr(os, attr)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for name in ("ACCOUNTCTL_REGISTER", "XDG_DATA_HOME", "APPDATA"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_the_register_variable_wins_and_may_start_with_a_tilde(home, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", "~/trust/oak.accountctl")
    assert files.default_path() == home / "trust" / "oak.accountctl"


@pytest.mark.parametrize("register", [None, ""], ids=["unset", "empty"])
def test_linux_uses_xdg_data_home_else_local_share(home, monkeypatch, register):
    if register is not None:
        monkeypatch.setenv("ACCOUNTCTL_REGISTER", register)
    monkeypatch.setattr(files, "os", _OtherOs("posix", "Linux"))
    assert files.default_path() == home / ".local" / "share" / "accountctl" / "register.accountctl"
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    assert files.default_path() == home / "xdg" / "accountctl" / "register.accountctl"


def test_macos_uses_application_support(home, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))  # not a macOS convention: ignored there
    monkeypatch.setattr(files, "os", _OtherOs("posix", "Darwin"))
    assert files.default_path() == home / "Library" / "Application Support" / "accountctl" / "register.accountctl"


def test_windows_uses_appdata_else_roaming(home, monkeypatch):
    monkeypatch.setattr(files, "os", _OtherOs("nt", "Windows"))
    assert files.default_path() == home / "AppData" / "Roaming" / "accountctl" / "register.accountctl"
    monkeypatch.setenv("APPDATA", str(home / "appdata"))
    assert files.default_path() == home / "appdata" / "accountctl" / "register.accountctl"


# -- read_register, read_range, copy_range ------------------------------------------------------------------
@pytest.fixture
def big(tmp_path) -> tuple[Path, bytes]:
    """A file longer than two prefixes, so every branch of a partial read is reachable."""
    data = os.urandom(2 * files.PREFIX_LEN + 1234)
    path = tmp_path / "big.accountctl"
    path.write_bytes(data)
    return path, data


def test_read_register_reads_the_whole_file(big):
    path, data = big
    assert files.read_register(path) == (data, len(data))


@pytest.mark.parametrize("want", [0, 100, files.PREFIX_LEN, files.PREFIX_LEN + 1, 2 * files.PREFIX_LEN + 1234, 10**9])
def test_read_register_with_upto_reads_exactly_what_is_asked(big, want):
    path, data = big
    seen = []

    def upto(prefix: bytes) -> int:
        seen.append(prefix)
        return want

    got, size = files.read_register(path, upto=upto)
    assert seen == [data[: files.PREFIX_LEN]]
    assert got == data[:want]
    assert size == len(data)


def test_read_register_with_upto_reads_no_further_than_asked(big, monkeypatch):
    """What follows the asked-for bytes (the history archive) is not read at all, not even to be dropped."""
    path, data = big
    reads = []
    real_open = open

    class Counted(io.BufferedReader):
        def read(self, n=-1):
            chunk = super().read(n)
            reads.append(len(chunk))
            return chunk

    monkeypatch.setattr(files, "open", lambda p, mode: Counted(real_open(p, mode, buffering=0)), raising=False)
    for want in (100, files.PREFIX_LEN + 1):
        reads.clear()
        got, _ = files.read_register(path, upto=lambda prefix: want)
        assert got == data[:want]
        assert sum(reads) == max(want, files.PREFIX_LEN)


def test_read_register_with_upto_on_a_short_file(tmp_path):
    path = tmp_path / "short.accountctl"
    path.write_bytes(b"0123456789")
    seen = []
    assert files.read_register(path, upto=lambda prefix: seen.append(prefix) or 4) == (b"0123", 10)
    assert seen == [b"0123456789"]


def test_read_register_refuses_a_folder_and_says_how_to_create_a_file(tmp_path):
    with pytest.raises(InputError) as caught:
        files.read_register(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path} is a folder, not a register file")
    assert f"--register {tmp_path / 'register.accountctl'}" in message


def test_read_register_of_a_missing_file_says_how_to_create_one(tmp_path):
    path = tmp_path / "none.accountctl"
    with pytest.raises(InputError) as caught:
        files.read_register(path)
    assert str(caught.value) == (
        f"no register at {path}; create one with 'accountctl init --trust NAME --email E "
        "--name N' or point to one with --register PATH or ACCOUNTCTL_REGISTER"
    )


def test_read_register_permission_denied_is_bad_input(tmp_path, monkeypatch):
    path = tmp_path / "locked.accountctl"
    path.write_bytes(b"x")

    def denied(*args, **kwargs):  # tests run as root in CI, where chmod 000 would not stop the read
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files, "open", denied, raising=False)
    with pytest.raises(InputError) as caught:
        files.read_register(path)
    assert str(caught.value) == f"cannot read {path}: permission denied"


def test_read_register_other_os_errors_are_damage(tmp_path):
    (tmp_path / "plain").write_bytes(b"x")
    path = tmp_path / "plain" / "register.accountctl"  # a file where a folder should be
    with pytest.raises(DamagedError) as caught:
        files.read_register(path)
    assert str(caught.value) == f"cannot read {path}: Not a directory"


def test_read_range_returns_exactly_the_range_or_says_truncated(big):
    path, data = big
    assert files.read_range(path, 5, 1000) == data[5:1005]
    assert files.read_range(path, len(data) - 3, 3) == data[-3:]
    with pytest.raises(DamagedError) as caught:
        files.read_range(path, len(data) - 3, 4)
    assert str(caught.value) == "register damaged: the file is truncated"


def test_read_range_of_an_unreadable_file_is_damage(tmp_path):
    path = tmp_path / "gone.accountctl"
    with pytest.raises(DamagedError) as caught:
        files.read_range(path, 0, 1)
    assert str(caught.value) == f"cannot read {path}: No such file or directory"


class _Writes(io.BytesIO):
    """An output that records the size of each write."""

    def __init__(self):
        super().__init__()
        self.sizes: list[int] = []

    def write(self, chunk):
        self.sizes.append(len(chunk))
        return super().write(chunk)


def test_copy_range_copies_in_bounded_chunks(big, monkeypatch):
    path, data = big
    monkeypatch.setattr(files, "COPY_CHUNK", 1000)
    out = _Writes()
    files.copy_range(path, 7, 4321, out)
    assert out.getvalue() == data[7:4328]
    assert out.sizes == [1000] * 4 + [321]  # never the whole range in memory at once


def test_copy_range_of_nothing_writes_nothing(big):
    path, _ = big
    out = _Writes()
    files.copy_range(path, 0, 0, out)
    assert out.sizes == []


def test_copy_range_past_the_end_is_truncation(big):
    path, data = big
    with pytest.raises(DamagedError) as caught:
        files.copy_range(path, len(data) - 10, 11, io.BytesIO())
    assert str(caught.value) == "register damaged: the file is truncated"


# -- write_lock -------------------------------------------------------------------------------------------
def test_a_held_lock_fails_busy_after_the_timeout(tmp_path, monkeypatch):
    path = tmp_path / "oak.accountctl"
    monkeypatch.setenv("ACCOUNTCTL_LOCK_TIMEOUT", "0.3")
    other = FileLock(str(path) + ".lock")
    other.acquire()
    try:
        start = time.monotonic()
        with pytest.raises(BusyError) as caught:
            with files.write_lock(path):
                pytest.fail("got a lock another holder has")
        waited = time.monotonic() - start
    finally:
        other.release()
    assert str(caught.value) == f"register busy: another accountctl is writing {path}; try again in a moment"
    assert 0.25 <= waited < 5  # the variable's timeout, not the 10 s default


def test_the_lock_is_released_after_the_block_even_on_error(tmp_path, monkeypatch):
    monkeypatch.delenv("ACCOUNTCTL_LOCK_TIMEOUT", raising=False)
    path = tmp_path / "oak.accountctl"
    other = FileLock(str(path) + ".lock", timeout=0)
    with files.write_lock(path):
        with pytest.raises(Exception):
            other.acquire()
    other.acquire()
    other.release()
    with pytest.raises(ValueError):
        with files.write_lock(path):
            raise ValueError("inside the block")
    other.acquire()
    other.release()


# -- atomic_write -----------------------------------------------------------------------------------------
def _siblings(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir())}


def test_the_first_write_makes_the_file_and_no_backup(tmp_path):
    path = tmp_path / "oak.accountctl"
    files.atomic_write(path, b"first")
    assert _siblings(path) == {"oak.accountctl": b"first"}


def test_a_write_keeps_the_previous_file_as_bak(tmp_path):
    path = tmp_path / "oak.accountctl"
    files.atomic_write(path, b"first")
    files.atomic_write(path, b"second")
    files.atomic_write(path, lambda handle: handle.write(b"third"))  # a streaming writer
    assert _siblings(path) == {"oak.accountctl": b"third", "oak.accountctl.bak": b"second"}


@pytest.mark.skipif(not hasattr(os, "link"), reason="no hard links here")
def test_the_backup_is_a_hard_link_not_a_copy(tmp_path):
    """Keeping PATH.bak costs no copy of a large register: it is the previous file itself."""
    path = tmp_path / "oak.accountctl"
    files.atomic_write(path, b"first")
    previous = path.stat().st_ino
    files.atomic_write(path, b"second")
    assert path.with_name("oak.accountctl.bak").stat().st_ino == previous


def test_stale_temporary_files_are_replaced(tmp_path):
    """A crash leaves PATH.tmp or PATH.bak.tmp behind; the next write replaces both and leaves neither."""
    path = tmp_path / "oak.accountctl"
    files.atomic_write(path, b"first")
    (tmp_path / "oak.accountctl.tmp").write_bytes(b"half a write")
    (tmp_path / "oak.accountctl.bak.tmp").write_bytes(b"half a backup")
    files.atomic_write(path, b"second")
    assert _siblings(path) == {"oak.accountctl": b"second", "oak.accountctl.bak": b"first"}


def test_the_backup_is_copied_where_hard_links_fail(tmp_path, monkeypatch):
    path = tmp_path / "oak.accountctl"
    files.atomic_write(path, b"first")

    def no_links(*args):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    files.atomic_write(path, b"second")
    assert _siblings(path) == {"oak.accountctl": b"second", "oak.accountctl.bak": b"first"}


@pytest.mark.skipif(os.name == "nt", reason="folders are not fsynced on Windows")
def test_the_data_is_on_disk_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    path = tmp_path / "oak.accountctl"
    files.atomic_write(path, b"first")
    steps = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        info = os.fstat(fd)
        steps.append(("fsync folder",) if stat.S_ISDIR(info.st_mode) else ("fsync file", info.st_size))
        real_fsync(fd)

    def replace(src, dst):
        steps.append(("replace", Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    fds_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    files.atomic_write(path, b"second!")
    assert steps == [
        ("fsync file", len(b"second!")),  # flushed and synced: the size on disk is the whole write
        ("replace", "oak.accountctl.bak.tmp", "oak.accountctl.bak"),
        ("replace", "oak.accountctl.tmp", "oak.accountctl"),
        ("fsync folder",),
    ]
    if fds_before is not None:
        assert len(os.listdir("/proc/self/fd")) == fds_before  # the folder's descriptor is closed again


def test_windows_does_not_fsync_the_folder(tmp_path, monkeypatch):
    """Windows cannot open a folder as a file (PermissionError), so the folder sync is skipped there."""
    path = tmp_path / "oak.accountctl"
    windows = _OtherOs("nt", "Windows")

    def open_unless_folder(path, *args):
        if os.path.isdir(path):
            raise PermissionError(13, "Permission denied")
        return os.open(path, *args)

    windows.open = open_unless_folder
    monkeypatch.setattr(files, "os", windows)
    files.atomic_write(path, b"first")
    files.atomic_write(path, b"second")
    assert _siblings(path) == {"oak.accountctl": b"second", "oak.accountctl.bak": b"first"}
