"""The Dagster instance that lives in a jiuzhu home: <home>/dagster with the repo's dagster.yaml."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
from pathlib import Path

import dagster as dg
from dagster._core.nux import set_nux_seen  # private, but the one place Dagster keeps it

REPO_ROOT = Path(__file__).resolve().parent.parent
HOME_SETTINGS = "jiuzhu.json"  # remembers the landing zone of the last run, for `jiuzhu ui`


def dagster_home(home: Path) -> Path:
    return home / "dagster"


def secure_home(home: Path) -> None:
    """Only the service account can read the home: this process (and the webserver, daemon and run
    workers it starts) creates files 0600 and folders 0700, and what an older version left more
    open is closed (the warehouse, exports, the Dagster instance's databases and logs)."""
    os.umask(0o077)
    home.mkdir(parents=True, exist_ok=True)
    for folder, _dirs, files in os.walk(home):
        for name, mode in [(folder, 0o700)] + [(os.path.join(folder, f), 0o600) for f in files]:
            try:
                st = os.lstat(name)
                if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                    os.chmod(name, mode if not st.st_mode & 0o100 else 0o700)  # keep executables executable
            except OSError:
                continue


def prepare_home(home: Path, landing: Path | None = None) -> None:
    """Create the home (owner-only), install dagster.yaml and point this process at them (idempotent).

    The instance's configuration is the repository's dagster.yaml (the local default), or the
    file JIUZHU_DAGSTER_YAML names (a production profile: PostgreSQL, run queue; README)."""
    secure_home(home)
    dhome = dagster_home(home)
    dhome.mkdir(parents=True, exist_ok=True)
    template = Path(os.environ.get("JIUZHU_DAGSTER_YAML") or REPO_ROOT / "dagster.yaml")
    if not template.is_file():
        raise FileNotFoundError(f"JIUZHU_DAGSTER_YAML names no file: {template}")
    target = dhome / "dagster.yaml"
    if not target.exists() or target.read_bytes() != template.read_bytes():
        shutil.copyfile(template, target)
    os.environ["DAGSTER_HOME"] = str(dhome)
    os.environ["JIUZHU_HOME"] = str(home)
    # the UI's "Join the Dagster community" dialog (newsletter, e-mail address) is not for the county's
    # analysts: marked seen for this instance, as the dialog's own "Skip" would (Dagster's own helper)
    set_nux_seen()
    settings = home / HOME_SETTINGS
    if landing is not None:
        os.environ["JIUZHU_LANDING"] = str(landing)
        settings.write_text(json.dumps({"landing": str(landing)}, ensure_ascii=False), encoding="utf-8")
    elif settings.exists():
        os.environ.setdefault("JIUZHU_LANDING", json.loads(settings.read_text(encoding="utf-8"))["landing"])


def instance_at(home: Path) -> dg.DagsterInstance:
    """The home's instance (its dagster.yaml must be in place). The first process to open it creates
    its storage, under a lock: two processes creating the SQLite storage at once (a run and the
    UI, say) can leave two alembic heads, after which no process opens the instance."""
    dhome = dagster_home(home)
    os.environ["DAGSTER_HOME"] = str(dhome)
    ready = dhome / ".storage-ready"
    if not ready.exists():
        with open(dhome / ".storage.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not ready.exists():
                dg.DagsterInstance.get().dispose()
                ready.touch()
    return dg.DagsterInstance.get()


def open_instance(home: Path, landing: Path | None = None) -> dg.DagsterInstance:
    prepare_home(home, landing)
    return instance_at(home)
