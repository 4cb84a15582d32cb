"""The core layer for date D: persons keyed by person_key, households and their members as
they stood that night, persons outside the roster, and one row of features per household.

Only records known on D count (transform.as_of); full ID numbers stay in staging
and in the restricted lookup (restricted.person_ids) that only the exports read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from jiuzhu.config import FALLBACK_TOWNSHIP, load_townships
from transform.as_of import relations
from warehouse.macros import install_macros


@dataclass
class CoreReport:
    persons: int
    households: int
    members: int
    outside_roster: int
    multi_household_persons: int
    features: int
    rows_with_linkage_suggestions: int


def _in(values) -> str:
    """A SQL list for IN: ('a', 'b')."""
    return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + ")"


# Words in 诉求内容 that say the family is in hardship whatever the category (R08).
HARDSHIP_WORDS = ("困难", "生活无着", "没钱", "无钱", "看不起病", "交不起", "揭不开锅", "救助", "低保", "特困", "无力")


def build_core(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: dict, schema: str = "core", restricted: str = "restricted"
) -> CoreReport:
    """(Re)build <schema>.* for ``as_of``. Needs jz_person_key() installed (warehouse.person_key).

    The nightly run builds ``core``; model training builds past nights into its own
    schemas so that tonight's tables are never overwritten.
    """
    S, R = schema, restricted
    install_macros(con)
    r = relations(as_of)
    d = f"DATE '{as_of.isoformat()}'"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {S}; CREATE SCHEMA IF NOT EXISTS {R}")

    # Every valid ID number seen in any feed as of D, and its key (restricted: for the exports only).
    id_sources = " UNION ".join(
        f"SELECT id_number FROM {r[f]} WHERE id_number IS NOT NULL"
        for f in ("mz_members", "mz_assistance", "wj_diagnoses", "wj_deaths", "yb_settlements",
                  "rs_employment", "rs_insurance", "xf_petitions")
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE {R}.person_ids AS
            SELECT id_number, jz_person_key(id_number) AS person_key FROM ({id_sources})"""
    )
    keyed = lambda rel: f"(SELECT k.person_key, x.* EXCLUDE (id_number) FROM {rel} x JOIN {R}.person_ids k USING (id_number))"  # noqa: E731

    con.execute(
        f"""CREATE OR REPLACE TABLE {S}.household_members AS
            SELECT m.household_id, m.person_key, m.name, m.relation_to_head, m.residence_type,
                   m.township_code, m.township_name, m.township_note, m.village, m.address, m.phone,
                   m.work_ability, m.disability_grade, m.school_stage, p.birth_date, p.sex,
                   date_part('year', age({d}::TIMESTAMP, p.birth_date::TIMESTAMP))::INTEGER AS age,
                   count(*) OVER (PARTITION BY m.person_key) AS households_count,
                   {d} AS as_of_date
            FROM {keyed(r['mz_members'])} m
            JOIN (SELECT person_key, strptime(id_number[7:14], '%Y%m%d')::DATE AS birth_date,
                         CASE WHEN id_number[17]::INTEGER % 2 = 1 THEN '男' ELSE '女' END AS sex
                  FROM {R}.person_ids) p USING (person_key)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE {S}.persons AS
            WITH names AS (
                -- ties (two names extracted the same day) go to the roster, then the later file and row
                SELECT person_key, arg_max(name, (extract_date, src, file_id, source_row)) AS name FROM (
                    SELECT person_key, name, extract_date, 4 AS src, file_id, source_row FROM {keyed(r['mz_members'])}
                    UNION ALL SELECT person_key, name, extract_date, 3, file_id, source_row FROM {keyed(r['yb_settlements'])}
                    UNION ALL SELECT person_key, name, extract_date, 2, file_id, source_row FROM {keyed(r['xf_petitions'])}
                    UNION ALL SELECT person_key, name, extract_date, 1, file_id, source_row FROM {keyed(r['rs_insurance'])}
                ) WHERE name IS NOT NULL GROUP BY person_key
            ), roster AS (
                -- a person on two households' rolls: the row of the first household_id, not whichever came first
                SELECT person_key, arg_min(birth_date, household_id) AS roster_birth_date, arg_min(sex, household_id) AS roster_sex
                FROM {keyed(r['mz_members'])} GROUP BY person_key
            )
            SELECT p.person_key,
                   strptime(p.id_number[7:14], '%Y%m%d')::DATE AS birth_date,
                   CASE WHEN p.id_number[17]::INTEGER % 2 = 1 THEN '男' ELSE '女' END AS sex,
                   p.id_number[1:6] AS id_region,
                   roster.person_key IS NOT NULL AS in_roster,
                   names.name,
                   -- the roster's own columns checked against what the ID number says
                   roster.roster_birth_date IS NOT NULL
                       AND roster.roster_birth_date <> strptime(p.id_number[7:14], '%Y%m%d')::DATE AS birth_date_mismatch,
                   roster.roster_sex IS NOT NULL
                       AND roster.roster_sex <> CASE WHEN p.id_number[17]::INTEGER % 2 = 1 THEN '男' ELSE '女' END AS sex_mismatch,
                   {d} AS as_of_date
            FROM {R}.person_ids p LEFT JOIN roster USING (person_key) LEFT JOIN names USING (person_key)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE {S}.households AS
            -- ties (two heads, or none) broken by person_key: the same data, the same head
            SELECT household_id,
                   arg_min(person_key, (CASE WHEN relation_to_head = '户主' THEN 0 ELSE 1 END, person_key)) AS head_person_key,
                   arg_min(residence_type, (CASE WHEN relation_to_head = '户主' THEN 0 ELSE 1 END, person_key)) AS residence_type,
                   arg_min(township_code, (CASE WHEN relation_to_head = '户主' THEN 0 ELSE 1 END, person_key)) AS township_code,
                   arg_min(township_name, (CASE WHEN relation_to_head = '户主' THEN 0 ELSE 1 END, person_key)) AS township_name,
                   arg_min(village, (CASE WHEN relation_to_head = '户主' THEN 0 ELSE 1 END, person_key)) AS village,
                   count(*) AS members,
                   bool_or(relation_to_head = '户主') AS has_head,
                   {d} AS as_of_date
            FROM {S}.household_members GROUP BY household_id"""
    )
    # Persons in other feeds but not on the roster (residence-permit holders, item 15):
    # routed by the township their petition names, else the one their usual clinic is
    # in, else the county centre, with the reason.
    towns = " UNION ALL ".join(
        f"SELECT '{t.code}' AS code, '{name}' AS name"
        for t in load_townships() if t.code != FALLBACK_TOWNSHIP for name in (t.official_name, *t.aliases)
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE {S}.persons_outside_roster AS
            WITH seen AS (
                SELECT person_key, list(DISTINCT feed ORDER BY feed) AS feeds FROM (
                    SELECT person_key, 'yb_settlements' AS feed FROM {keyed(r['yb_settlements'])}
                    UNION ALL SELECT person_key, 'rs_insurance' FROM {keyed(r['rs_insurance'])}
                    UNION ALL SELECT person_key, 'rs_employment' FROM {keyed(r['rs_employment'])}
                    UNION ALL SELECT person_key, 'xf_petitions' FROM {keyed(r['xf_petitions'])}
                    UNION ALL SELECT person_key, 'wj_diagnoses' FROM {keyed(r['wj_diagnoses'])}
                    UNION ALL SELECT person_key, 'wj_deaths' FROM {keyed(r['wj_deaths'])}
                    UNION ALL SELECT person_key, 'mz_assistance' FROM {keyed(r['mz_assistance'])}
                ) GROUP BY person_key
            ), petition_town AS (
                -- two petitions the same day: the later petition_id
                SELECT person_key, arg_max(township_code, (registration_date, petition_id)) AS township_code
                FROM {keyed(r['xf_petitions'])}
                WHERE township_code IS NOT NULL AND township_code <> '{FALLBACK_TOWNSHIP}' GROUP BY person_key
            ), towns AS ({towns}),
            facility_town AS (  -- the township named by the clinic or hospital they use most
                -- (mode() breaks a tie by whichever thread came first: a tie goes to the lower code)
                SELECT person_key, code AS township_code FROM (
                    SELECT person_key, towns.code, count(*) AS n
                    FROM {keyed(r['yb_settlements'])} s JOIN towns ON contains(s.facility, towns.name)
                    GROUP BY ALL)
                QUALIFY row_number() OVER (PARTITION BY person_key ORDER BY n DESC, code) = 1
            )
            SELECT s.person_key, s.feeds,
                   coalesce(t.township_code, f.township_code, '{FALLBACK_TOWNSHIP}') AS township_code,
                   CASE WHEN t.township_code IS NOT NULL THEN '不在民政名册，按信访事项的问题属地分派'
                        WHEN f.township_code IS NOT NULL THEN '不在民政名册，按常去就医机构所在镇街分派'
                        ELSE '不在民政名册，数据中没有可识别的镇街，转县社会救助综合服务中心' END AS routing_note,
                   {d} AS as_of_date
            FROM seen s LEFT JOIN petition_town t USING (person_key) LEFT JOIN facility_town f USING (person_key)
            WHERE s.person_key NOT IN (SELECT person_key FROM {S}.household_members)"""
    )
    # Each person's assistance records as of D: category, dates, amounts, and whether active that night.
    con.execute(
        f"""CREATE OR REPLACE TABLE {S}.assistance AS
            SELECT person_key, household_id, category, start_date, end_date, status, monthly_amount,
                   basic_living, care_allowance, care_level, support_mode,
                   start_date <= {d} AND (end_date IS NULL OR end_date > {d}) AND coalesce(status, '在保') = '在保' AS active,
                   {d} AS as_of_date
            FROM {keyed(r['mz_assistance'])} WHERE start_date <= {d}"""
    )
    con.execute(_features_sql(r, keyed, as_of, policy, S))
    con.execute(_linkage_sql(S))
    counts = con.execute(
        f"""SELECT (SELECT count(*) FROM {S}.persons), (SELECT count(*) FROM {S}.households),
                  (SELECT count(*) FROM {S}.household_members), (SELECT count(*) FROM {S}.persons_outside_roster),
                  (SELECT count(DISTINCT person_key) FROM {S}.household_members WHERE households_count > 1),
                  (SELECT count(*) FROM {S}.household_features),
                  (SELECT count(DISTINCT (feed, file_name, row_number)) FROM {S}.linkage_suggestions)"""
    ).fetchall()[0]
    return CoreReport(*counts)


def _linkage_sql(S: str) -> str:
    """Likely persons for rows quarantined for their ID number, for an analyst to confirm.

    Never a join by guesswork: these are suggestions with their evidence. Blocks:
    the same name (then birth date and region from the broken number decide the
    score), or the same birth date and a name one character apart.
    """
    return f"""
CREATE OR REPLACE TABLE {S}.linkage_suggestions AS
WITH broken AS (
    SELECT q.feed, q.file_name, q.row_number, q.reason_code,
           jz_text(coalesce(q.raw ->> '姓名', '')) AS name,
           regexp_replace(coalesce(q.raw ->> '身份证号', ''), '[^0-9Xx]', '', 'g') AS digits
    FROM audit.quarantine q
    WHERE q.stage = 'staging' AND q.reason_code IN ('ID_CHECKSUM', 'ID_BIRTHDATE', 'ID_PRECISION_LOST', 'ID_FORMAT')
), clues AS (
    SELECT *, CASE WHEN length(digits) = 18 THEN try_strptime(digits[7:14], '%Y%m%d')::DATE
                   WHEN length(digits) = 15 THEN try_strptime('19' || digits[7:12], '%Y%m%d')::DATE END AS birth_date,
              CASE WHEN length(digits) IN (15, 18) THEN digits[1:6] END AS region
    FROM broken WHERE name IS NOT NULL
), candidates AS (
    SELECT c.*, p.person_key, p.name AS candidate_name, p.birth_date AS candidate_birth_date, p.id_region
    FROM clues c JOIN {S}.persons p ON p.name = c.name
    UNION ALL
    SELECT c.*, p.person_key, p.name, p.birth_date, p.id_region
    FROM clues c JOIN {S}.persons p ON p.birth_date = c.birth_date AND p.name <> c.name
    WHERE levenshtein(p.name, c.name) = 1
), scored AS (
    SELECT *,
           (CASE WHEN candidate_name = name THEN 0.5 ELSE 0.25 END)
         + (CASE WHEN candidate_birth_date = birth_date THEN 0.35 ELSE 0 END)
         + (CASE WHEN id_region = region THEN 0.1 ELSE 0 END)
         - (CASE WHEN birth_date IS NOT NULL AND candidate_birth_date <> birth_date THEN 0.3 ELSE 0 END) AS score,
           concat_ws('；',
               CASE WHEN candidate_name = name THEN '姓名相同' ELSE '姓名相差一字' END,
               CASE WHEN candidate_birth_date = birth_date THEN '出生日期相同'
                    WHEN birth_date IS NULL THEN '号码中无可用的出生日期' ELSE '出生日期不同' END,
               CASE WHEN id_region = region THEN '户籍地区码相同' END) AS evidence
    FROM candidates
)
SELECT feed, file_name, row_number, reason_code, person_key AS suggested_person_key,
       -- a person in two households: the first household_id, not any
       (SELECT min(household_id) FROM {S}.household_members m WHERE m.person_key = scored.person_key) AS suggested_household_id,
       round(score, 2) AS score, evidence,
       row_number() OVER (PARTITION BY feed, file_name, row_number ORDER BY score DESC, person_key) AS rank
FROM scored WHERE score >= 0.4
QUALIFY rank <= 3
"""


def _features_sql(r: dict, keyed, as_of: dt.date, policy: dict, S: str) -> str:
    d = f"DATE '{as_of.isoformat()}'"
    rules, std = policy["rules"], policy["standards"]
    lo, hi = rules["working_age"]
    months = lambda n: f"{d} - INTERVAL {int(n)} MONTH"  # noqa: E731
    days = lambda n: f"{d} - INTERVAL {int(n)} DAY"  # noqa: E731
    hardship = " OR ".join(f"contains(petition_text, '{w}')" for w in HARDSHIP_WORDS)
    return f"""
CREATE OR REPLACE TABLE {S}.household_features AS
WITH m AS (SELECT * FROM {S}.household_members),
assistance AS (SELECT * FROM {S}.assistance),
assist_p AS (
    SELECT person_key,
           bool_or(active AND category IN ('城市低保', '农村低保')) AS on_dibao,
           bool_or(active AND category = '特困供养') AS on_tekun,
           bool_or(active AND category = '低保边缘') AS on_dibao_edge,
           bool_or(active AND category = '临时救助') AS on_temporary,
           bool_or(NOT active AND category IN ('特困供养', '孤儿')) AS tekun_or_orphan_ended,
           sum(CASE WHEN active AND category IN ('城市低保', '农村低保') THEN monthly_amount END) AS dibao_amount,
           count(DISTINCT CASE WHEN active AND category IN ('城市低保', '农村低保', '特困供养') THEN category END) AS active_main_categories,
           -- the same person on the rolls under two 户编号
           count(DISTINCT CASE WHEN active AND category IN ('城市低保', '农村低保', '特困供养') THEN household_id END) AS active_households
    FROM assistance GROUP BY person_key
),
verif AS (
    -- two verifications on one day: the later verification_id, the same one for every column
    SELECT household_id, arg_max(verification_date, (verification_date, verification_id)) AS verification_date,
           arg_max(annual_income, (verification_date, verification_id)) AS annual_income,
           arg_max(verification_result, (verification_date, verification_id)) AS verification_result,
           arg_max(financial_assets, (verification_date, verification_id)) AS financial_assets
    FROM {r['mz_verification']} v
    WHERE verification_date <= {d} AND verification_date >= {months(rules['verification_max_age_months'])}  -- at most 12 months old
    GROUP BY household_id
),
settle AS (
    SELECT person_key,
           sum(out_of_pocket) FILTER (WHERE settlement_date > {months(3)}) AS oop_3m,
           sum(out_of_pocket) FILTER (WHERE settlement_date > {months(6)}) AS oop_6m,
           sum(out_of_pocket) FILTER (WHERE settlement_date > {months(rules['medical_window_months'])}) AS oop_12m,
           sum(out_of_pocket) FILTER (WHERE settlement_date > {months(6)} AND settlement_date <= {months(3)}) AS oop_prev_3m,
           count(*) FILTER (WHERE settlement_date > {months(rules['medical_window_months'])} AND reverses IS NULL) AS settlements_12m,
           count(*) FILTER (WHERE settlement_date > {months(12)} AND visit_type = '住院' AND reverses IS NULL) AS inpatient_12m,
           -- outpatient visits of the last 2 months against the 6 before: a work-up before a diagnosis shows here
           count(*) FILTER (WHERE settlement_date > {months(2)} AND visit_type = '普通门诊' AND reverses IS NULL) AS outpatient_2m,
           count(*) FILTER (WHERE settlement_date > {months(8)} AND settlement_date <= {months(2)}
                            AND visit_type = '普通门诊' AND reverses IS NULL) AS outpatient_prev_6m
    FROM {keyed(r['yb_settlements'])} WHERE settlement_date <= {d} AND settlement_date > {months(max(12, rules['medical_window_months']))}
    GROUP BY person_key
),
illness AS (
    SELECT person_key,
           min(diagnosis_date) AS first_serious_illness,
           bool_or(diagnosis_date > {months(rules['serious_illness_window_months'])}) AS serious_illness_24m
    FROM {keyed(r['wj_diagnoses'])} WHERE illness_category = '大病' AND diagnosis_date <= {d}
    GROUP BY person_key
),
chronic AS (
    SELECT person_key, count(*) AS chronic_conditions FROM {keyed(r['wj_diagnoses'])}
    WHERE illness_category IN ('慢性病', '罕见病') AND diagnosis_date <= {d} GROUP BY person_key
),
death AS (
    SELECT person_key, min(death_date) AS death_date FROM {keyed(r['wj_deaths'])} WHERE death_date <= {d} GROUP BY person_key
),
insurance AS (
    SELECT person_key, contribution_month, insurance_type, contribution_base, benefit_type, benefit_amount,
           -- contributions from work; 居民养老 is paid once a year by residents and says nothing of a job
           insurance_type IN ('职工养老', '失业保险') AND contribution_base > 0 AS work_contribution
    FROM {keyed(r['rs_insurance'])} WHERE contribution_month <= {d}
),
contrib AS (
    SELECT person_key,
           count(DISTINCT contribution_month) FILTER (WHERE work_contribution AND contribution_month > {months(rules['contribution_window_months'])}) AS contribution_months_6m,
           count(DISTINCT contribution_month) FILTER (WHERE work_contribution AND contribution_month > {months(3)}) AS contribution_months_3m,
           count(DISTINCT contribution_month) FILTER (WHERE work_contribution AND contribution_month > {months(6)} AND contribution_month <= {months(3)}) AS contribution_months_prev_3m,
           max(contribution_month) FILTER (WHERE work_contribution AND insurance_type = '职工养老') AS last_work_month,
           -- a benefit under two insurance types in one month: the later type (month and type are the natural key)
           arg_max(benefit_amount, (contribution_month, insurance_type)) FILTER (WHERE benefit_type = '养老金') AS pension,
           -- the latest 职工养老 base: the wage the employer declares (proxy means)
           arg_max(contribution_base, contribution_month) FILTER (WHERE insurance_type = '职工养老' AND work_contribution
                                                                   AND contribution_month > {months(3)}) AS wage_base,
           -- the 居民养老 tier a resident chose in the last year (a household's own view of what it can afford)
           max(contribution_base) FILTER (WHERE insurance_type = '居民养老' AND contribution_base > 0
                                         AND contribution_month > {months(12)}) AS resident_tier,
           arg_max(benefit_amount, (contribution_month, insurance_type)) FILTER (WHERE benefit_type = '失业保险金' AND contribution_month > {months(2)}) AS unemployment_benefit
    FROM insurance GROUP BY person_key
),
death_contrib AS (  -- paid 职工养老 in the 6 months before death (R09)
    SELECT dd.person_key, bool_or(i.contribution_base > 0) AS paid_before_death
    FROM death dd JOIN insurance i USING (person_key)
    WHERE i.insurance_type = '职工养老' AND i.contribution_month <= dd.death_date
      AND i.contribution_month > dd.death_date - INTERVAL {int(rules['contribution_window_months'])} MONTH
    GROUP BY dd.person_key
),
employment AS (
    SELECT person_key,
           bool_or(registration_type = '失业登记' AND (deregistration_date IS NULL OR deregistration_date > {d})) AS active_unemployment,
           bool_or(registration_type = '就业登记' AND (deregistration_date IS NULL OR deregistration_date > {d})) AS active_employment,
           min(registration_date) FILTER (WHERE registration_type = '失业登记' AND (deregistration_date IS NULL OR deregistration_date > {d})) AS unemployed_since,
           bool_or(registration_type = '就业困难人员认定') AS hard_to_employ
    FROM {keyed(r['rs_employment'])} WHERE registration_date <= {d} GROUP BY person_key
),
tekun_low AS (  -- active 特困 records below the standards of item 2 (R11)
    SELECT a.household_id, count(*) AS tekun_below_standard
    FROM {S}.assistance a JOIN {S}.households hh USING (household_id)
    WHERE a.active AND a.category = '特困供养' AND (
          a.basic_living < {policy['compliance']['tekun_basic_multiple']}
                           * CASE WHEN hh.residence_type = '城镇' THEN {std['dibao_standard_urban']} ELSE {std['dibao_standard_rural']} END
       OR a.care_allowance < {std['minimum_wage']} * CASE a.care_level {' '.join(f"WHEN '{k}' THEN {v}" for k, v in policy['compliance']['care_share_of_minimum_wage'].items())} ELSE 0 END)
    GROUP BY a.household_id
),
petition AS (
    SELECT person_key, count(*) AS petitions_90d,
           count(*) FILTER (WHERE petition_category IN {_in(rules['petition_categories'])} OR {hardship}) AS hardship_petitions_90d,
           list(DISTINCT petition_category ORDER BY petition_category) FILTER (WHERE petition_category IS NOT NULL) AS petition_categories
    FROM {keyed(r['xf_petitions'])}
    WHERE registration_date <= {d} AND registration_date > {days(rules['petition_window_days'])} AND person_key IS NOT NULL
    GROUP BY person_key
),
facts AS (
    SELECT m.*, coalesce(a.on_dibao, false) AS on_dibao, coalesce(a.on_tekun, false) AS on_tekun,
           coalesce(a.on_dibao_edge, false) AS on_dibao_edge, coalesce(a.on_temporary, false) AS on_temporary,
           coalesce(a.tekun_or_orphan_ended, false) AS tekun_or_orphan_ended, a.dibao_amount,
           coalesce(a.active_main_categories, 0) AS active_main_categories,
           coalesce(a.active_households, 0) AS active_households,
           s.oop_3m, s.oop_6m, s.oop_12m, s.oop_prev_3m, s.settlements_12m, s.inpatient_12m, s.outpatient_2m, s.outpatient_prev_6m,
           -- 职工养老 paid until recently but missing from the newest month the feed has (an employer falling behind)
           ct.last_work_month < (SELECT max(contribution_month) FROM insurance WHERE insurance_type = '职工养老')
             AND ct.last_work_month >= (SELECT max(contribution_month) FROM insurance WHERE insurance_type = '职工养老') - INTERVAL 3 MONTH
             AS contribution_arrears,
           i.first_serious_illness, coalesce(i.serious_illness_24m, false) AS serious_illness_24m,
           coalesce(c.chronic_conditions, 0) AS chronic_conditions,
           dd.death_date, coalesce(dc.paid_before_death, false) AS paid_before_death,
           date_part('year', age(dd.death_date::TIMESTAMP, m.birth_date::TIMESTAMP)) AS age_at_death,
           ct.contribution_months_6m, ct.contribution_months_3m, ct.contribution_months_prev_3m, ct.pension, ct.unemployment_benefit,
           ct.wage_base, ct.resident_tier,
           coalesce(e.active_unemployment, false) AS active_unemployment, coalesce(e.active_employment, false) AS active_employment,
           e.unemployed_since, coalesce(e.hard_to_employ, false) AS hard_to_employ,
           coalesce(pt.petitions_90d, 0) AS petitions_90d, coalesce(pt.hardship_petitions_90d, 0) AS hardship_petitions_90d,
           pt.petition_categories,
           m.age BETWEEN {lo} AND {hi} AS working_age,
           m.age BETWEEN {lo} AND {hi} AND m.work_ability IN ('完全', '部分') AS able_to_work
    FROM m LEFT JOIN assist_p a USING (person_key) LEFT JOIN settle s USING (person_key)
    LEFT JOIN illness i USING (person_key) LEFT JOIN chronic c USING (person_key)
    LEFT JOIN death dd USING (person_key) LEFT JOIN death_contrib dc USING (person_key)
    LEFT JOIN contrib ct USING (person_key) LEFT JOIN employment e USING (person_key) LEFT JOIN petition pt USING (person_key)
)
SELECT h.household_id, {d} AS as_of_date, h.township_code, h.township_name, h.village, h.residence_type,
       CASE WHEN h.residence_type = '城镇' THEN {std['dibao_standard_urban']} ELSE {std['dibao_standard_rural']} END AS dibao_standard,
       count(*) FILTER (WHERE f.death_date IS NULL) AS living_members,
       h.members,
       count(*) FILTER (WHERE f.age < 18) AS children,
       count(*) FILTER (WHERE f.age >= 60) AS elderly,
       count(*) FILTER (WHERE f.working_age AND f.death_date IS NULL) AS working_age,
       count(*) FILTER (WHERE f.able_to_work AND f.death_date IS NULL) AS able_to_work,
       count(*) FILTER (WHERE f.disability_grade IN ('一级', '二级')) AS severe_disability,
       count(*) FILTER (WHERE f.disability_grade IS NOT NULL) AS disabled,
       count(*) FILTER (WHERE f.school_stage IS NOT NULL AND f.school_stage <> '非在校') AS in_school,
       count(*) FILTER (WHERE f.households_count > 1) AS members_in_two_households,
       v.verification_date, v.verification_result, v.annual_income, v.financial_assets,
       round(v.annual_income / 12 / h.members, 2) AS per_capita_monthly_income,
       round(v.annual_income / 12 / h.members
             / CASE WHEN h.residence_type = '城镇' THEN {std['dibao_standard_urban']} ELSE {std['dibao_standard_rural']} END, 4) AS income_to_standard,
       count(*) FILTER (WHERE f.on_dibao) AS on_dibao,
       count(*) FILTER (WHERE f.on_tekun) AS on_tekun,
       count(*) FILTER (WHERE f.on_dibao_edge) AS on_dibao_edge,
       count(*) FILTER (WHERE f.on_temporary) AS on_temporary,
       sum(f.dibao_amount) AS dibao_amount,
       count(*) FILTER (WHERE f.tekun_or_orphan_ended AND NOT f.on_tekun
                        AND (f.age < {rules['tekun_child_age_limit']} OR f.school_stage IN {_in(rules['tekun_extension_max_school'])})) AS tekun_extension_candidates,
       count(*) FILTER (WHERE (f.on_dibao OR f.on_tekun) AND f.death_date IS NOT NULL) AS deceased_on_assistance,
       count(*) FILTER (WHERE (f.on_dibao OR f.on_tekun)
                        AND (f.households_count > 1 OR f.active_main_categories > 1 OR f.active_households > 1)) AS double_assistance,
       coalesce(sum(f.oop_3m), 0) AS oop_3m, coalesce(sum(f.oop_6m), 0) AS oop_6m, coalesce(sum(f.oop_12m), 0) AS oop_12m,
       coalesce(sum(f.oop_prev_3m), 0) AS oop_prev_3m,
       coalesce(sum(f.settlements_12m), 0) AS settlements_12m, coalesce(sum(f.inpatient_12m), 0) AS inpatient_12m,
       count(*) FILTER (WHERE f.serious_illness_24m AND f.death_date IS NULL) AS serious_illness_24m,
       count(*) FILTER (WHERE f.first_serious_illness > {days(rules['emergency_window_days'])}) AS first_serious_illness_90d,
       count(*) FILTER (WHERE f.serious_illness_24m AND NOT f.on_dibao AND NOT f.on_tekun AND f.death_date IS NULL)
           + count(*) FILTER (WHERE f.disability_grade IN ('一级', '二级') AND NOT f.on_dibao AND NOT f.on_tekun AND f.death_date IS NULL)
           AS severe_not_covered,
       sum(f.chronic_conditions) AS chronic_conditions,
       count(*) FILTER (WHERE f.death_date > {days(rules['emergency_window_days'])}) AS deaths_90d,
       count(*) FILTER (WHERE f.death_date > {days(rules['emergency_window_days'])} AND f.age_at_death BETWEEN {lo} AND {hi}
                        AND f.paid_before_death) AS earner_deaths_90d,
       count(*) FILTER (WHERE f.contribution_months_6m > 0 AND f.death_date IS NULL) AS contributors_6m,
       coalesce(sum(f.contribution_months_6m), 0) AS contribution_months_6m,
       count(*) FILTER (WHERE coalesce(f.contribution_months_prev_3m, 0) > 0 AND coalesce(f.contribution_months_3m, 0) = 0) AS contributions_stopped,
       count(*) FILTER (WHERE f.contribution_arrears AND f.death_date IS NULL) AS contribution_arrears,
       coalesce(sum(f.outpatient_2m), 0) AS outpatient_2m,
       -- visits above the household's own pace of the 6 months before
       greatest(coalesce(sum(f.outpatient_2m), 0) - coalesce(sum(f.outpatient_prev_6m), 0) / 3.0, 0) AS outpatient_rising,
       count(*) FILTER (WHERE f.contribution_months_6m > 0 AND f.active_unemployment
                        AND f.unemployed_since > {days(rules['emergency_window_days'])}) AS contributors_newly_unemployed_90d,
       count(*) FILTER (WHERE f.able_to_work AND f.death_date IS NULL AND f.active_unemployment AND NOT f.active_employment) AS able_unemployed,
       count(*) FILTER (WHERE f.active_employment) AS employed_registered,
       count(*) FILTER (WHERE f.hard_to_employ) AS hard_to_employ,
       coalesce(sum(f.pension), 0) AS pension_monthly,
       coalesce(sum(f.wage_base) FILTER (WHERE f.death_date IS NULL), 0) AS wage_base_monthly,
       count(*) FILTER (WHERE f.resident_tier IS NOT NULL AND f.death_date IS NULL) AS resident_contributors_12m,
       coalesce(max(f.resident_tier), 0) AS resident_tier_max,
       -- able to work, no work contributions, not registered unemployed: farming or informal work, unseen income
       count(*) FILTER (WHERE f.able_to_work AND f.death_date IS NULL AND coalesce(f.contribution_months_6m, 0) = 0
                        AND NOT f.active_unemployment) AS able_without_contributions,
       coalesce(sum(f.unemployment_benefit), 0) AS unemployment_benefit_monthly,
       sum(f.petitions_90d) AS petitions_90d, sum(f.hardship_petitions_90d) AS hardship_petitions_90d,
       -- lists in a fixed order (R08's reason names them): members by person_key
       flatten(list(f.petition_categories ORDER BY f.person_key) FILTER (WHERE f.petition_categories IS NOT NULL)) AS petition_categories,
       coalesce(t.tekun_below_standard, 0) AS tekun_below_standard,
       -- the head, for checking that the model serves every group alike (model card)
       -- two heads: the one households.head_person_key names (the lower person_key)
       arg_min(f.sex, f.person_key) FILTER (WHERE f.relation_to_head = '户主') AS head_sex,
       arg_min(f.age, f.person_key) FILTER (WHERE f.relation_to_head = '户主') AS head_age
FROM facts f JOIN {S}.households h USING (household_id)
LEFT JOIN verif v USING (household_id) LEFT JOIN tekun_low t USING (household_id)
GROUP BY ALL
"""
