-- Set-based standardisation of delivered text (FEEDS.md "What real files look like").
-- Installed as DuckDB macros by warehouse.macros.install_macros(); {FULLWIDTH} and
-- {HALFWIDTH} are filled in there (the 94 full-width ASCII forms and the ideographic space).

-- Full-width letters, digits and punctuation to ASCII; trimmed; empty -> NULL.
-- translate() with a long mapping is slow, so it runs only on text that has full-width forms.
CREATE OR REPLACE TEMP MACRO jz_halfwidth(s) AS CASE
    WHEN regexp_matches(s, '[\x{FF01}-\x{FF5E}\x{3000}]') THEN translate(s, '{FULLWIDTH}', '{HALFWIDTH}') ELSE s END;
CREATE OR REPLACE TEMP MACRO jz_text(s) AS nullif(trim(jz_halfwidth(s)), '');

-- An ID number as delivered -> its characters only: no spaces, apostrophes or quotes, X upper case.
-- The common case (already 18 clean characters) skips the expensive clean-up.
CREATE OR REPLACE TEMP MACRO jz_id_clean(s) AS CASE
    WHEN regexp_full_match(s, '\d{17}[\dX]') THEN s
    ELSE nullif(upper(regexp_replace(jz_halfwidth(s), '[\s''"`‘’]+', '', 'g')), '') END;

-- GB 11643 check character of the first 17 digits.
CREATE OR REPLACE TEMP MACRO jz_id_check(f) AS substr('10X98765432', ((
      (ord(f[1]) - 48) * 7 + (ord(f[2]) - 48) * 9 + (ord(f[3]) - 48) * 10 + (ord(f[4]) - 48) * 5
    + (ord(f[5]) - 48) * 8 + (ord(f[6]) - 48) * 4 + (ord(f[7]) - 48) * 2 + (ord(f[8]) - 48) * 1
    + (ord(f[9]) - 48) * 6 + (ord(f[10]) - 48) * 3 + (ord(f[11]) - 48) * 7 + (ord(f[12]) - 48) * 9
    + (ord(f[13]) - 48) * 10 + (ord(f[14]) - 48) * 5 + (ord(f[15]) - 48) * 8 + (ord(f[16]) - 48) * 4
    + (ord(f[17]) - 48) * 2) % 11) + 1, 1);

-- The shape of a cleaned ID: '18', '15', 'lost' (Excel kept only 15 significant digits), 'bad' or NULL.
CREATE OR REPLACE TEMP MACRO jz_id_shape(c) AS CASE
    WHEN c IS NULL THEN NULL
    WHEN regexp_full_match(c, '\d{17}[\dX]') THEN '18'
    WHEN regexp_full_match(c, '\d{15}(\.0+)?') THEN '15'
    WHEN regexp_full_match(c, '\d(\.\d+)?E\+?\d+') THEN 'lost'
    WHEN regexp_full_match(c, '\d{18}\.0+') THEN '18'
    ELSE 'bad' END;

-- The 18-digit form of a cleaned ID of a given shape (15 digits get century 19 and a check digit).
CREATE OR REPLACE TEMP MACRO jz_id18_of(c, shape) AS CASE shape
    WHEN '18' THEN substr(c, 1, 18)
    WHEN '15' THEN substr(c, 1, 6) || '19' || substr(c, 7, 9) || jz_id_check(substr(c, 1, 6) || '19' || substr(c, 7, 9))
    END;

-- Why an ID cannot be used (NULL when it can), from its cleaned shape and 18-digit form.
-- `on_or_before`: a birth after it is impossible. Staging computes c, shape, id18 once per row.
CREATE OR REPLACE TEMP MACRO jz_id_problem_of(shape, id18, on_or_before) AS CASE
    WHEN shape IS NULL THEN 'ID_MISSING'
    WHEN shape = 'lost' THEN 'ID_PRECISION_LOST'
    WHEN shape = 'bad' THEN 'ID_FORMAT'
    WHEN jz_id_check(id18) <> id18[18]
         -- Excel printed a number it had rounded to 15 significant digits: ...000
         THEN CASE WHEN id18[16:18] = '000' THEN 'ID_PRECISION_LOST' ELSE 'ID_CHECKSUM' END
    WHEN try_strptime(id18[7:14], '%Y%m%d') IS NULL
         OR try_strptime(id18[7:14], '%Y%m%d')::DATE > on_or_before
         OR id18[7:10] < '1900' THEN 'ID_BIRTHDATE'
    END;

-- An ID number as the exports show it (OUTPUTS.md person_masked_id): first 6 and last 4 kept.
-- jiuzhu.idnumber.mask is the same rule in Python.
CREATE OR REPLACE TEMP MACRO jz_mask(id) AS
    CASE WHEN length(id) <= 10 THEN repeat('*', length(id)) ELSE id[1:6] || repeat('*', length(id) - 10) || id[-4:] END;

-- A person as a warning's reason names them for the township: 王小明（370725********1234）.
CREATE OR REPLACE TEMP MACRO jz_person(name, id) AS coalesce(name, '姓名不详') || '（' || jz_mask(id) || '）';

-- An amount as a reason writes it: 1,105 or 316.67 (cents only where there are some).
CREATE OR REPLACE TEMP MACRO jz_yuan(x) AS regexp_replace(format('{:,.2f}', (x)::DOUBLE), '\.00$', '');

-- A reason's list of persons or records, already in its order: the first three, then how many in all
-- (a township reads the rest in its own records). NULL when there is none.
CREATE OR REPLACE TEMP MACRO jz_first_few(items, unit) AS nullif(
    array_to_string(items[1:3], '；') || CASE WHEN len(items) > 3 THEN '；等 ' || len(items) || ' ' || unit ELSE '' END, '');

-- Convenience forms for ad-hoc queries and tests; staging uses the *_of forms above.
-- (Written as subqueries: nesting the macros directly makes DuckDB expand them for seconds.)
CREATE OR REPLACE TEMP MACRO jz_id18(s) AS
    (SELECT jz_id18_of(c, jz_id_shape(c)) FROM (SELECT jz_id_clean(s) AS c));
CREATE OR REPLACE TEMP MACRO jz_id_problem(s, on_or_before) AS
    (SELECT jz_id_problem_of(shape, jz_id18_of(c, shape), on_or_before)
     FROM (SELECT c, jz_id_shape(c) AS shape FROM (SELECT jz_id_clean(s) AS c)));

-- Dates, months, money and integers. Each has an *_of form over text already passed
-- through jz_text (staging computes that once per column) and a convenience form
-- over the delivered text.

-- A date in any delivered form: 2026-11-27, 2026/11/7, 20261127, 2026年11月27日, 2026.11.27,
-- an Excel serial number (days since 1899-12-30), with or without a time part.
-- jz_date_norm: separators made '-', the time part dropped; jz_date_of(norm, text) parses.
CREATE OR REPLACE TEMP MACRO jz_date_norm(t) AS regexp_replace(
    replace(replace(replace(replace(replace(t, '年', '-'), '月', '-'), '日', ''), '/', '-'), '.', '-'),
    '[ T]+\d{1,2}:\d{2}(:\d{2}([-.]\d+)?)?$', '');
CREATE OR REPLACE TEMP MACRO jz_date_of(d, t) AS CASE
    WHEN regexp_full_match(d, '\d{4}-\d{1,2}-\d{1,2}') THEN try_strptime(d, '%Y-%m-%d')::DATE
    WHEN regexp_full_match(d, '(19|20)\d{6}') THEN try_strptime(d, '%Y%m%d')::DATE
    WHEN regexp_full_match(t, '\d{5}(\.\d+)?') THEN DATE '1899-12-30' + floor(t::DOUBLE)::INTEGER
    END;
CREATE OR REPLACE TEMP MACRO jz_date(s) AS jz_date_of(jz_date_norm(jz_text(s)), jz_text(s));

-- 费款所属期: 202610, 2026-10, 2026年10月 (also 2026/1, 2026.10) -> first day of the month.
-- jz_month_digits drops the separators: 6 digits, or 5 when the month had one digit.
CREATE OR REPLACE TEMP MACRO jz_month_digits(t) AS regexp_replace(t, '[-/.年月]', '', 'g');
CREATE OR REPLACE TEMP MACRO jz_month_of(m) AS CASE
    WHEN regexp_full_match(m, '(19|20)\d{2}(0[1-9]|1[0-2])') THEN try_strptime(m || '01', '%Y%m%d')::DATE
    WHEN regexp_full_match(m, '(19|20)\d{2}[1-9]') THEN try_strptime(m[1:4] || '0' || m[5] || '01', '%Y%m%d')::DATE
    END;
CREATE OR REPLACE TEMP MACRO jz_month(s) AS jz_month_of(jz_month_digits(jz_text(s)));

-- Money: 1234.5, 1,234.50, 1234.5元, ￥1234.5, full-width digits -> DECIMAL(14,2).
CREATE OR REPLACE TEMP MACRO jz_money_of(t) AS
    try_cast(nullif(regexp_replace(t, '[,\s元¥￥]', '', 'g'), '') AS DECIMAL(14, 2));
CREATE OR REPLACE TEMP MACRO jz_money(s) AS jz_money_of(jz_text(s));

-- Whole numbers (家庭人口, 机动车数量, 房产套数): "3", "3.0", "3人".
CREATE OR REPLACE TEMP MACRO jz_int_of(t) AS
    try_cast(try_cast(nullif(regexp_replace(t, '[人辆套个\s]', '', 'g'), '') AS DOUBLE) AS INTEGER);
CREATE OR REPLACE TEMP MACRO jz_int(s) AS jz_int_of(jz_text(s));
