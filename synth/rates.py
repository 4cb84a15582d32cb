"""Every rate the generator uses, in one place, so a test or a demo can turn one knob.

Three groups:
- ``HistoryRates``  how the county lives (shocks, mortality, applying for help);
  these are the world, not the files, so ``mess`` does not touch them.
- ``DeliveryRates`` how departments deliver (late records, corrections, 补录
  supplements, formats); also part of normal life, not scaled by ``mess``.
- ``MessRates``     what goes wrong in a file; every field is multiplied by
  ``mess`` (0 = clean files, 1 = the default realistic rates).

Per-cell mess rates are per applicable cell (e.g. ID_LOWERCASE_X applies only
to numbers ending in X, ID_15_DIGIT only to people born before 2000).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class HistoryRates:
    # household shocks, per household per month
    illness: float = 0.0018
    job_loss: float = 0.0030  # among households with an employee
    earner_death: float = 0.00012  # among households with a working-age earner
    disability: float = 0.0005
    # after a shock: probability the household ever applies; delay 1..6 months
    apply_after_shock: float = 0.45
    apply_poor_unshocked: float = 0.02  # per month, poor households not on assistance
    apply_random: float = 0.0002  # per month, anyone (mostly turned down)
    # verification of households already on assistance (annual review) and others
    review_assisted: float = 1 / 12
    verify_random: float = 0.0008
    # the share of poor households already on assistance when the history starts
    initially_enrolled: float = 0.75
    # re-employment per month for the unemployed; unemployment benefit take-up
    reemployment: float = 0.07
    unemployment_benefit: float = 0.6
    register_unemployed: float = 0.75  # a job loser registers as unemployed
    # a recovered dibao household leaves per month (income ≥ 1.2 × standard)
    dibao_exit: float = 0.15
    temporary_after_illness: float = 0.5
    # settlements
    outpatient_per_month: tuple = (0.25, 0.18, 0.30, 0.55)  # age <16, 16-49, 50-64, 65+
    inpatient_per_month: tuple = (0.002, 0.003, 0.006, 0.012)
    inpatient_after_illness: float = 0.25
    workup_visits_per_month: float = 1.5  # extra outpatient visits while a serious illness is not yet diagnosed
    chronic_share: float = 0.06
    reversal: float = 0.004
    petition_per_household_month: float = 0.0006
    # a hardship petition filed under 其他 or no category: only its words say hardship (R08's second clause)
    petition_hardship_uncategorised: float = 0.25
    mortality_scale: float = 1.0


@dataclass(frozen=True)
class DeliveryRates:
    late: float = 0.02  # a record arrives in the next file instead
    correction: float = 0.005  # a record is delivered wrong, corrected in a later file
    supplement: float = 0.12  # a snapshot comes as main file + 补录 file
    insurance_backpay: float = 0.01  # an rs_insurance row arrives with the next month
    xlsx_small_feed: float = 0.45  # share of XLSX files for the small feeds
    xlsx_big_feed: float = 0.08  # ... for the big ones (any XLSX only up to xlsx_max_rows rows)
    xlsx_max_rows: int = 20_000
    crlf: float = 0.5


@dataclass(frozen=True)
class MessRates:
    # ID numbers (per ID cell)
    ID_LOWERCASE_X: float = 0.1  # of IDs ending in X
    ID_15_DIGIT: float = 0.008  # of IDs of people born 1900-1999
    ID_FULLWIDTH: float = 0.004
    ID_SPACES: float = 0.004
    ID_APOSTROPHE: float = 0.008
    ID_PRECISION_LOST: float = 0.002
    ID_CHECKSUM: float = 0.002
    ID_BIRTHDATE: float = 0.0005
    # dates (per date cell)
    DATE_SLASH: float = 0.01
    DATE_COMPACT: float = 0.008
    DATE_CHINESE: float = 0.006
    DATE_DOT: float = 0.004
    DATE_SERIAL: float = 0.004
    DATE_WITH_TIME: float = 0.008
    # 费款所属期
    MONTH_DASH: float = 0.015
    MONTH_CHINESE: float = 0.008
    # money
    MONEY_THOUSANDS: float = 0.015  # of amounts ≥ 1000
    MONEY_YUAN: float = 0.006
    MONEY_FULLWIDTH: float = 0.003
    MONEY_BLANK: float = 0.01  # of zero amounts (blank means none)
    # text
    TEXT_TRAILING_SPACE: float = 0.004
    TEXT_FULLWIDTH: float = 0.006  # of texts holding ASCII digits/letters
    # townships
    TOWNSHIP_SHORT: float = 0.015
    TOWNSHIP_OLD: float = 0.15  # of rows whose township has an older name
    TOWNSHIP_UNKNOWN: float = 0.002
    # enum spellings from value_aliases
    ENUM_ALIAS: float = 0.01
    # structural, per file
    FIELD_COUNT_FILE: float = 0.5  # share of large CSV files (≥ 1000 rows) with a few bad rows
    header_alias: float = 0.2  # a column's header is an alias
    shuffle_columns: float = 0.2
    extra_column: float = 0.2
    title_rows: float = 0.8  # an XLSX has title rows above the header
    blank_rows: float = 0.3
    total_row: float = 0.5
    extra_sheets: float = 0.4
    bad_files: float = 1.0  # > 0: plant each bad-file kind (county ≥ 200 households)

    def scaled(self, mess: float) -> MessRates:
        return replace(self, **{f.name: min(1.0, getattr(self, f.name) * mess) for f in fields(self)})


# Which mess kinds make a row unloadable (quarantine) rather than merely needing normalisation.
QUARANTINE_KINDS = frozenset({"ID_CHECKSUM", "ID_BIRTHDATE", "ID_PRECISION_LOST", "FIELD_COUNT", "TRUNCATED_ROW"})
