"""Which files are in the landing zone, what date they carry, and their fingerprint.

Nothing in a feed's folder is skipped without a trace. What must not be read is found
here, with its reason, and recorded by the loader as a rejected file:
- hidden files and Excel lock files (a name, or a folder on its path, starting with '.' or '~$');
- symlinks leading out of the landing zone (never followed), symlinked folders;
- anything that is not a regular file (a FIFO would block the night).
A name that is not valid UTF-8 (GBK names from unzipping a Windows archive) is kept under an
escaped, printable name, with a note.

The bytes hashed are the bytes read: a new file is copied into the run's scratch folder
while it is hashed (``copy_and_hash``), and read from that copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from jiuzhu.calendar import COUNTY_TZ
from jiuzhu.config import load_feeds

# The first 8-digit run that is a real calendar date (FEEDS.md: "the first
# 8-digit date in its name"); digits around it would make it a longer number.
_DATE_RUN = re.compile(r"(?<!\d)(\d{8})(?!\d)")
HIDDEN_PREFIXES = (".", "~$")  # hidden files, Excel's lock files
ROOT_FEED = "(接收目录根)"  # audit.files' feed for files lying directly in the landing zone

REFUSALS = {
    "HIDDEN_FILE": "隐藏文件或 Excel 临时锁文件（文件名以“.”或“~$”开头），不作为数据读取；如确是数据，请改名后重新报送",
    "SYMLINK_OUTSIDE": "符号链接指向接收目录之外，出于安全不读取；请把文件本身放入接收目录",
    "SYMLINK_FOLDER": "目录是符号链接，不读取其中的文件；请把文件本身放入接收目录",
    "NOT_A_FILE": "不是普通文件（如管道、设备），不读取",
    "UNKNOWN_FEED": "不在任何已知部门的目录中（config/feeds.yaml 未定义该目录），未读取；请放入正确的部门目录",
}
NAME_NOTE = (
    "NAME_ENCODING",
    "文件名不是 UTF-8 编码（可能来自 Windows 压缩包），已按转义后的名称记录；请用 UTF-8 文件名报送",
)


def extract_date_from_name(name: str) -> dt.date | None:
    for m in _DATE_RUN.finditer(name):
        try:
            return dt.datetime.strptime(m.group(1), "%Y%m%d").date()
        except ValueError:
            continue
    return None


def printable(name: str) -> tuple[str, bool]:
    """(a name that can be stored and printed, whether it was valid UTF-8). Python keeps the
    undecodable bytes of a file name as surrogates; they become \\xNN escapes."""
    try:
        name.encode("utf-8")
        return name, True
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace"), False


@dataclass(frozen=True)
class LandedFile:
    feed: str
    path: Path
    file_name: str  # relative to <landing>/<feed>/, as auditors see it (escaped if not UTF-8)
    extract_date: dt.date | None
    size_bytes: int
    refused: str | None = None  # a REFUSALS code: recorded as rejected, never opened
    note: tuple[str, str] | None = None  # (code, reason) recorded with the file, read as usual

    @property
    def refusal(self) -> tuple[str, str] | None:
        return (self.refused, REFUSALS[self.refused]) if self.refused else None


def _inside(path: Path, root: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(root)
        return True
    except ValueError:
        return False


def _entry(feed: str, path: Path, rel: str, landing_real: Path) -> LandedFile:
    name, utf8 = printable(rel)
    parts = Path(rel).parts
    refused = None
    size = 0
    if any(p.startswith(HIDDEN_PREFIXES) for p in parts):
        refused = "HIDDEN_FILE"
    elif path.is_symlink() and not _inside(path, landing_real):
        refused = "SYMLINK_OUTSIDE"
    else:
        try:
            st = path.stat()
            size = st.st_size
            if not stat.S_ISREG(st.st_mode):
                refused = "NOT_A_FILE"
        except OSError:
            pass  # a broken link or no permission: the loader's own boundary says which
    return LandedFile(
        feed, path, name, _extract_date(feed, path, name, refused), size, refused, None if utf8 else NAME_NOTE
    )


def _extract_date(feed: str, path: Path, name: str, refused: str | None) -> dt.date | None:
    """The date in the file's name; for a feed whose files come back undated (a township's returned
    workbook), the day it was last saved, Beijing time."""
    named = extract_date_from_name(name)
    spec = load_feeds().get(feed)
    if named is not None or refused or spec is None or not spec.dated_by_saving:
        return named
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=COUNTY_TZ).date()
    except OSError:
        return None  # unreadable: the loader's own boundary says why


def _walk(feed: str, folder: Path, landing: Path) -> list[LandedFile]:
    landing_real = Path(os.path.realpath(landing))
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        for d in list(dirnames):
            if (here / d).is_symlink():  # os.walk does not go in; say so
                rel = (here / d).relative_to(folder).as_posix() + "/"
                out.append(LandedFile(feed, here / d, printable(rel)[0], None, 0, "SYMLINK_FOLDER"))
        for f in filenames:
            out.append(_entry(feed, here / f, (here / f).relative_to(folder).as_posix(), landing_real))
    return out


def list_feed_files(landing: Path, feed: str) -> list[LandedFile]:
    """Everything in one feed's folder, oldest extract first, so an original precedes its re-delivery."""
    folder = landing / feed
    if not folder.is_dir():
        return []
    files = _walk(feed, folder, landing)
    files.sort(key=lambda f: (f.extract_date or dt.date.min, f.file_name))
    return files


def unknown_entries(landing: Path, known: set[str] | list[str]) -> list[LandedFile]:
    """Files the spec has no feed for: in folders that are not a feed's, or lying directly in
    the landing zone. All refused (UNKNOWN_FEED, or their own reason)."""
    if not landing.is_dir():
        return []
    out = []
    for p in sorted(landing.iterdir()):
        name, _ = printable(p.name)
        if p.name in known:
            continue
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(HIDDEN_PREFIXES):
            out += [
                LandedFile(name, f.path, f.file_name, f.extract_date, f.size_bytes, f.refused or "UNKNOWN_FEED", f.note)
                for f in _walk(name, p, landing)
            ]
        else:  # a file, a symlink or a hidden folder lying at the top: one entry, never opened
            e = _entry(ROOT_FEED, p, p.name, Path(os.path.realpath(landing)))
            refused = "SYMLINK_FOLDER" if p.is_dir() and p.is_symlink() else e.refused or "UNKNOWN_FEED"
            out.append(
                LandedFile(ROOT_FEED, p, name + ("/" if p.is_dir() else ""), e.extract_date, e.size_bytes, refused)
            )
    return out


# --- fingerprints ------------------------------------------------------------------------------


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def copy_and_hash(path: Path, target: Path, chunk: int = 8 << 20) -> str:
    """Copy ``path`` to ``target`` (owner-only) and return the sha256 of exactly the bytes copied."""
    h = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with path.open("rb") as src, os.fdopen(fd, "wb") as dst:
        while block := src.read(chunk):
            h.update(block)
            dst.write(block)
    return h.hexdigest()


def identity(st: os.stat_result) -> list[int]:
    """What changes whenever a file's bytes can have changed: size, modification and change
    times (a write, a rename or `touch -r` moves ctime; nobody can set it back) and inode."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


_MEMORY: dict[str, dict[str, list]] = {}  # cache file (or "") → {absolute path: [*identity, sha256]}


class Fingerprints:
    """sha256 of landing files remembered by path and identity, so that a file already seen is
    not read again on every night or sensor tick (in memory, and in ``file`` across processes).
    Only a cache: an entry counts only while the file's identity is unchanged."""

    def __init__(self, file: Path | None):
        self.file = file
        key = str(file or "")
        if key not in _MEMORY:
            entries = {}
            if file is not None and file.is_file():
                try:
                    entries = json.loads(file.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    entries = {}  # a damaged cache is only slower: every file is read again
            _MEMORY[key] = entries
        self.entries = _MEMORY[key]
        self.used: set[str] = set()
        self.changed = False
        self.files_read = 0

    @staticmethod
    def _key(path: Path) -> str:
        return os.fsencode(os.path.abspath(path)).decode("utf-8", "backslashreplace")

    def known(self, path: Path, st: os.stat_result) -> str | None:
        key = self._key(path)
        self.used.add(key)
        hit = self.entries.get(key)
        return hit[-1] if hit and hit[:-1] == identity(st) else None

    def remember(self, path: Path, st: os.stat_result, sha: str) -> None:
        key = self._key(path)
        self.used.add(key)
        self.entries[key] = [*identity(st), sha]
        self.changed = True

    def sha256(self, path: Path) -> str:
        """The file's sha256, read only when its identity is new."""
        st = path.stat()
        sha = self.known(path, st)
        if sha is None:
            sha = sha256_of(path)
            self.files_read += 1
            self.remember(path, st, sha)
        return sha

    def save(self, folder: Path) -> None:
        """Forget the files under ``folder`` (what was listed: the landing zone, or one feed's folder)
        that were not seen; write the cache file if anything changed. Only there: a feed's ingest
        that forgot the other feeds' files made every night read every file ever delivered again."""
        root = self._key(folder) + os.sep
        for key in [k for k in self.entries if k.startswith(root) and k not in self.used]:
            del self.entries[key]
            self.changed = True
        if self.file is None or not self.changed:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.entries, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
            tmp.replace(self.file)
        except OSError:
            pass  # only a cache


def settle(
    files: list[tuple[LandedFile, os.stat_result]], seconds: float, now: float | None = None, sleep=time.sleep
) -> tuple[list[tuple[LandedFile, os.stat_result]], list[LandedFile]]:
    """(quiet files with their stat, files still being written). A file modified less than
    ``seconds`` ago is looked at again once the rest of that time has passed; a change of size
    or modification time means it is still being written and waits for a later night."""
    now = time.time() if now is None else now
    young = [(f, st) for f, st in files if now - st.st_mtime < seconds]
    if not young:
        return files, []
    sleep(max(0.0, min(seconds, seconds - (now - max(st.st_mtime for _, st in young)))))
    moving: set[Path] = set()
    for f, st in young:
        try:
            again = f.path.stat()
        except OSError:
            moving.add(f.path)
            continue
        if identity(again) != identity(st):
            moving.add(f.path)
    return [(f, st) for f, st in files if f.path not in moving], [f for f, _ in files if f.path in moving]
