"""Readers for the project's configuration: one home for each fact.

- ``config/feeds.yaml``     the declarative spec of every department feed
- ``config/townships.csv``  township codes, official names and other spellings
- ``config/policy/*.yaml``  policy parameters, one file per effective date
- ``config/county.yaml``    the county: its name, its first night of deliveries, whom to call
- ``config/policy_document.yaml``  乐办字〔2021〕21号: its number, title and items' short titles
- ``config/department_lists.yaml``  which columns each department's list carries (minimum necessary)
- ``config/linkage.yaml``   how much each clue counts in a suggested person for a broken ID number
"""

from __future__ import annotations

import csv
import dataclasses  # dataclasses.field: Column's own `field` attribute shadows the bare name
import datetime as dt
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from jiuzhu.policy import Policy, PolicyError, validate_policy

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
FALLBACK_TOWNSHIP = "370725000"
ROSTER_FEED = "mz_members"  # the civil-affairs roster: who is a household's member


def normalise_header(text: str) -> str:
    """Fold a delivered header cell to a comparable form.

    NFKC turns full-width brackets and letters into half-width ones; spaces,
    line breaks and the asterisks some systems put on required columns go.
    """
    text = unicodedata.normalize("NFKC", str(text))
    return re.sub(r"[\s*＊]+", "", text)


@dataclass(frozen=True)
class Column:
    name: str
    field: str
    type: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    value_aliases: dict[str, str] = dataclasses.field(default_factory=dict, hash=False, compare=False)
    future_ok: bool = False  # a date that may lie after the file's extract date

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every header spelling that means this column, canonical first."""
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Feed:
    name: str
    department: str
    title: str
    kind: str  # snapshot | incremental
    department_id: str  # ASCII identifier of the department (Dagster owners and tags)
    cadence_days: int
    natural_key: tuple[str, ...]
    columns: tuple[Column, ...]
    max_age_hours: int  # the spec's max_age: how old the newest loaded extract may be (freshness)
    reversal: dict | None = dataclasses.field(default=None, hash=False, compare=False)
    parts_sum: dict | None = dataclasses.field(default=None, hash=False, compare=False)
    name_priority: int | None = None  # its 姓名 names persons (core.persons); higher wins on the same extract date
    dated_by_saving: bool = False  # a file without a date in its name is dated by when it was last saved
    same_name_replaces: bool = True  # a later file of the same name supersedes the earlier ones
    answer_columns: tuple[str, ...] = ()  # a returned form: rows with none of these filled in are not data
    # a returned form: the field holding the township whose file it is (from the file's name); part of the key
    file_township: str | None = None
    # an incremental feed's record is usually delivered this many days after its own date (field, days):
    # how a history rebuilt from one bulk delivery dates what was known (transform/as_of.py)
    known_after: tuple[str, int] | None = None

    @property
    def identifies_persons(self) -> bool:
        """It carries a 公民身份号码 (a column of type id): its rows are linked to persons."""
        return any(c.type == "id" for c in self.columns)

    @property
    def max_age_days(self) -> int:
        """The allowed age of the newest loaded extract, in whole days of extract date.

        Extract dates carry no time. An extract dated E holds the department's
        data up to the end of day E, and the night for the as-of date D looks at
        the county as at the end of day D (whenever it actually runs: 01:30 the
        next morning, or a rerun for a past date weeks later). So the extract is
        24 × (D − E) hours old, and it is fresh when that is within max_age:
        D − E ≤ max_age_hours // 24. For a daily feed's 36 hours that is one day:
        tonight's or yesterday's extract is fresh (one file a day late is
        tolerated, files do come late), two days without one is stale.
        """
        return self.max_age_hours // 24

    @property
    def max_age_text(self) -> tuple[str, str]:
        """The allowed age as the spec states it, in Chinese and English: 36小时 / 36 hours, 40天 / 40 days."""
        if self.max_age_hours % 24:
            return f"{self.max_age_hours}小时", f"{self.max_age_hours} hours"
        return f"{self.max_age_days}天", f"{self.max_age_days} days"

    @property
    def returned_form(self) -> bool:
        """Answers in a form the nights send out (a township's workbook): none are due before one
        went out, and none yet is no fault of the data."""
        return bool(self.answer_columns)

    @property
    def key_fields(self) -> list[str]:
        """The fields that identify a record: the natural key's, and the file's township where the
        feed has one (another township's row on the same key is its own row, not a version)."""
        fields = {c.name: c.field for c in self.columns}
        return [fields[k] for k in self.natural_key] + ([self.file_township] if self.file_township else [])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name}")

    def header_lookup(self) -> dict[str, str]:
        """Normalised header spelling -> canonical column name."""
        return {normalise_header(s): c.name for c in self.columns for s in c.spellings}


def _known_after(feed: str, spec: dict | None, columns: tuple[Column, ...]) -> tuple[str, int] | None:
    """A feed's known_after {date: <a date or month column>, days: N} as (field, N)."""
    if spec is None:
        return None
    dated = {c.name: c.field for c in columns if c.type in ("date", "month")}
    days = spec.get("days") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or spec.get("date") not in dated or not isinstance(days, int) or days < 0:
        raise ValueError(f"feed spec {feed}: known_after needs date (one of {', '.join(dated)}) and days (0 or more)")
    return dated[spec["date"]], days


def parse_max_age(feed: str, text: object) -> int:
    """A feed's max_age (``36h``, ``40d``) in hours; the unit is required."""
    m = re.fullmatch(r"\s*(\d+)\s*([hd])\s*", str(text)) if text is not None else None
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"feed spec {feed}: max_age must be hours or days such as 36h or 40d, not {text!r}")
    return int(m.group(1)) * (24 if m.group(2) == "d" else 1)


@cache
def load_feeds(path: Path | None = None) -> dict[str, Feed]:
    spec = yaml.safe_load((path or CONFIG_DIR / "feeds.yaml").read_text(encoding="utf-8"))
    feeds: dict[str, Feed] = {}
    departments = spec["departments"]
    for name, f in spec["feeds"].items():
        columns = tuple(
            Column(
                name=c["name"],
                field=c["field"],
                type=c["type"],
                required=bool(c.get("required", False)),
                aliases=tuple(c.get("aliases", ())),
                values=tuple(c.get("values", ())),
                value_aliases={str(k): v for k, v in (c.get("value_aliases") or {}).items()},
                future_ok=bool(c.get("future_ok", False)),
            )
            for c in f["columns"]
        )
        feed = Feed(
            name=name,
            department=f["department"],
            title=f["title"],
            kind=f["kind"],
            department_id=departments[f["department"]],
            cadence_days=int(f["cadence_days"]),
            natural_key=tuple(f["natural_key"]),
            columns=columns,
            max_age_hours=parse_max_age(name, f.get("max_age")),
            reversal=f.get("reversal"),
            parts_sum=f.get("parts_sum"),
            name_priority=f.get("name_priority"),
            dated_by_saving=f.get("undated_files") == "dated_by_saving",
            same_name_replaces=bool(f.get("same_name_replaces", True)),
            answer_columns=tuple(f.get("answer_columns", ())),
            file_township=f.get("file_township"),
            known_after=_known_after(name, f.get("known_after"), columns),
        )
        if f.get("undated_files") not in (None, "dated_by_saving") or set(feed.answer_columns) - set(feed.column_names):
            raise ValueError(
                f"feed spec {name}: undated_files may only be dated_by_saving; answer_columns must be its columns"
            )
        missing = [k for k in feed.natural_key if k not in feed.column_names]
        if missing or feed.kind not in ("snapshot", "incremental"):
            raise ValueError(f"feed spec {name}: bad natural key {missing} or kind {feed.kind}")
        if (feed.kind == "incremental") != (feed.known_after is not None):
            raise ValueError(f"feed spec {name}: known_after is required of an incremental feed, and only of one")
        if feed.name_priority is not None and not (
            type(feed.name_priority) is int
            and feed.name_priority > 0
            and feed.identifies_persons
            and "name" in {c.field for c in feed.columns}
        ):
            raise ValueError(
                f"feed spec {name}: name_priority must be a positive integer on a feed with an ID number and a name"
            )
        feeds[name] = feed
    return feeds


@dataclass(frozen=True)
class Township:
    code: str
    official_name: str
    kind: str
    aliases: tuple[str, ...]


@cache
def load_townships() -> tuple[Township, ...]:
    with (CONFIG_DIR / "townships.csv").open(encoding="utf-8") as fh:
        return tuple(
            Township(
                code=r["code"],
                official_name=r["official_name"],
                kind=r["kind"],
                aliases=tuple(a for a in r["aliases"].split("|") if a),
            )
            for r in csv.DictReader(fh)
        )


def township_workbook_name(code: str, name: str) -> str:
    """The file name of a township's workbook, and of the workbook it returns: <code>_<name>.xlsx."""
    return f"{code}_{name}.xlsx"


def township_of_workbook(file_name: str) -> str | None:
    """The township code a workbook's file name starts with (``township_workbook_name``), or None:
    the county centre's workbooks and the blank template are named otherwise."""
    m = re.fullmatch(r"(\d{9})_.+\.xlsx", file_name)
    return m.group(1) if m else None


@dataclass(frozen=True)
class County:
    name: str
    first_night: dt.date  # the first night of deliveries: partitions start here
    centre: str  # 社会救助综合服务中心: supervises the townships (item 12)
    contact: str  # whom township staff call about the list


@cache
def load_county() -> County:
    values = yaml.safe_load((CONFIG_DIR / "county.yaml").read_text(encoding="utf-8"))
    first = values["first_night"]
    if not isinstance(first, dt.date):
        raise ValueError(f"config/county.yaml: first_night must be a date YYYY-MM-DD, got {first!r}")
    return County(
        name=str(values["name"]), first_night=first, centre=str(values["centre"]), contact=str(values["contact"])
    )


@cache
def load_department_lists() -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """(the default columns, the columns of each named department) of the departments' lists."""
    values = yaml.safe_load((CONFIG_DIR / "department_lists.yaml").read_text(encoding="utf-8"))
    return tuple(values["default"]), {k: tuple(v) for k, v in values["departments"].items()}


@dataclass(frozen=True)
class PolicyDocument:
    number: str  # 乐办字〔2021〕21号
    title: str
    items: dict[int, str]  # item number -> short title

    def clauses(self, items: str) -> str:
        """ "1, 15" as 第1条（完善最低生活保障制度）、第15条（提高社会救助服务效能）."""
        numbers = [int(n) for n in re.findall(r"\d+", items)]
        return "、".join(f"第{n}条（{self.items[n]}）" if n in self.items else f"第{n}条" for n in numbers)


@cache
def load_policy_document() -> PolicyDocument:
    values = yaml.safe_load((CONFIG_DIR / "policy_document.yaml").read_text(encoding="utf-8"))
    return PolicyDocument(
        str(values["number"]), str(values["title"]), {int(k): str(v) for k, v in values["items"].items()}
    )


def policy_files() -> list[Path]:
    return sorted((CONFIG_DIR / "policy").glob("*.yaml"))


def _yaml_of(path: Path) -> dict:
    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PolicyError(f"政策文件 {path} 无法读取（policy file unreadable）：{type(exc).__name__}") from exc
    if not isinstance(values, dict):
        raise PolicyError(f"政策文件 {path} 不是键值结构（YAML 映射）")
    return values


def _read_policy(path: Path) -> Policy:
    return validate_policy(_yaml_of(path), str(path))


def _in_force(as_of: dt.date | None) -> tuple[Path, Policy]:
    """The policy file in force on ``as_of`` (the newest effective_date on or before it; None: the
    newest) and its policy."""
    policies = sorted(((p, _read_policy(p)) for p in policy_files()), key=lambda pp: pp[1].effective_date)
    in_force = [pp for pp in policies if as_of is None or pp[1].effective_date <= as_of]
    if not in_force:
        raise ValueError(f"no policy file is in force on {as_of}; the earliest starts {policies[0][1].effective_date}")
    return in_force[-1]


def load_policy(as_of: dt.date | None = None, path: Path | None = None) -> Policy:
    """The policy in force on ``as_of``: the newest effective_date on or before it. Every file is
    checked for missing keys and numbers out of range first (PolicyError, jiuzhu/policy.py)."""
    return _read_policy(path) if path is not None else _in_force(as_of)[1]


@dataclass(frozen=True)
class Proposal:
    """A proposed policy (jiuzhu simulate): a file of the keys that change, over the policy in force."""

    name: str  # the file's name without its extension
    digest: str  # of the whole proposed policy: the same digest, the same proposal
    policy: Policy
    changes: dict[str, tuple[object, object]]  # dotted key -> (in force, proposed), the keys that differ


def _merged(base: dict, over: dict) -> dict:
    return {
        k: _merged(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v for k, v in over.items()
    } | {k: v for k, v in base.items() if k not in over}


def _flat(values: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_proposal(path: Path, as_of: dt.date) -> Proposal:
    """The proposal ``path`` over the policy file in force on ``as_of``: its keys replace the file's
    (a whole policy file works too), and the result is checked like any policy file (PolicyError). The
    compliance with items 1 and 2 is not a condition: models/compliance.py says where it falls short."""
    base = _yaml_of(_in_force(as_of)[0])
    values = _merged(base, _yaml_of(path))
    policy = validate_policy(values, str(path))
    before, after = _flat(base), _flat(values)
    changes = {
        k: (before.get(k), after.get(k)) for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)
    }
    text = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
    return Proposal(Path(path).stem, hashlib.sha256(text.encode()).hexdigest()[:12], policy, changes)


PETITION_LABELS = CONFIG_DIR / "petition_hardship_labelled.csv"


def load_petition_labels(path: Path | None = None) -> list[tuple[str, int]]:
    """The petition texts labelled by hand (text, 1 hardship / 0 not), which the petition classifier
    learns from (models/petition_text.py). The set is the county's own, edited by hand: a malformed
    row stops training with the file, the row and what is wrong."""
    rows: list[tuple[str, int]] = []
    path = path or PETITION_LABELS
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"text", "hardship"} <= set(reader.fieldnames):
            raise ValueError(f"{path.name}: the header must name the columns text and hardship")
        for number, row in enumerate(reader, start=2):
            text, label = (row.get("text") or "").strip(), (row.get("hardship") or "").strip()
            if not text or label not in ("0", "1"):
                raise ValueError(f"{path.name} row {number}: needs a text and hardship 1 or 0")
            rows.append((text, int(label)))
    return rows


@cache
def load_quality() -> dict:
    """Thresholds of the data-quality checks (config/quality.yaml)."""
    return yaml.safe_load((CONFIG_DIR / "quality.yaml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class IngestLimits:
    """config/ingest.yaml: what one delivered file may cost to read (see the comments there)."""

    max_file_bytes: int
    max_line_bytes: int
    max_workbook_parts: int
    max_workbook_inflated_bytes: int
    max_compression_ratio: float
    max_sheet_rows: int
    max_sheet_columns: int
    max_sheet_cells: int
    reader_memory_bytes: int
    reader_timeout_seconds: float
    max_field_chars: int
    kept_field_chars: int
    settle_seconds: float


def _fields_of(cls: type, path: Path, shown: str) -> dict:
    """The values of a YAML file that must hold exactly the fields of the dataclass ``cls``."""
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    names = {f.name for f in dataclasses.fields(cls)}
    unknown, missing = set(values) - names, names - set(values)
    if unknown or missing:
        raise ValueError(f"{shown}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    return values


@cache
def load_ingest_limits(path: Path | None = None) -> IngestLimits:
    values = _fields_of(IngestLimits, path or CONFIG_DIR / "ingest.yaml", "config/ingest.yaml")
    bad = [
        k
        for k, v in values.items()
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (v == 0 and k != "settle_seconds")
    ]
    if bad:
        raise ValueError(f"config/ingest.yaml: these must be positive numbers: {', '.join(sorted(bad))}")
    return IngestLimits(**values)


@dataclass(frozen=True)
class LinkageWeights:
    """config/linkage.yaml: what each clue adds to a suggested person's score (see the comments there)."""

    same_name: float
    name_one_character_apart: float
    same_birth_date: float
    same_region: float
    different_birth_date: float
    min_score: float
    max_suggestions: int
    suggest_within_months: int


COUNTS = ("max_suggestions", "suggest_within_months")  # of config/linkage.yaml: the rest are weights


@cache
def load_linkage(path: Path | None = None) -> LinkageWeights:
    values = _fields_of(LinkageWeights, path or CONFIG_DIR / "linkage.yaml", "config/linkage.yaml")
    bad = [
        k
        for k, v in values.items()
        if k not in COUNTS and (isinstance(v, bool) or not isinstance(v, (int, float)) or not -1 <= v <= 1)
    ]
    bad += [k for k in COUNTS if type(values[k]) is not int or values[k] < 1]
    if bad:
        raise ValueError(
            f"config/linkage.yaml: weights lie between -1 and 1, {' and '.join(COUNTS)} are positive integers: "
            f"{', '.join(sorted(bad))}"
        )
    return LinkageWeights(**values)
