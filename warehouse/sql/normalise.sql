-- Set-based standardisation of delivered text (FEEDS.md "What real files look like").
-- Installed as DuckDB macros by warehouse.normalise.install_macros(); {FULLWIDTH} and
-- {HALFWIDTH} are filled in there (the 94 full-width ASCII forms and the ideographic space).

-- Full-width letters, digits and punctuation to ASCII; trimmed; empty -> NULL.
CREATE OR REPLACE MACRO jz_text(s) AS
    nullif(trim(translate(s, '{FULLWIDTH}', '{HALFWIDTH}')), '');

-- An ID number as delivered -> its characters only: no spaces, apostrophes or quotes, X upper case.
-- The common case (already 18 clean characters) skips the expensive clean-up.
CREATE OR REPLACE MACRO jz_id_clean(s) AS CASE
    WHEN regexp_full_match(s, '\d{17}[\dX]') THEN s
    ELSE nullif(upper(regexp_replace(translate(s, '{FULLWIDTH}', '{HALFWIDTH}'), '[\s''"`‘’]+', '', 'g')), '') END;

-- GB 11643 check character of the first 17 digits.
CREATE OR REPLACE MACRO jz_id_check(f) AS substr('10X98765432', ((
      (ord(f[1]) - 48) * 7 + (ord(f[2]) - 48) * 9 + (ord(f[3]) - 48) * 10 + (ord(f[4]) - 48) * 5
    + (ord(f[5]) - 48) * 8 + (ord(f[6]) - 48) * 4 + (ord(f[7]) - 48) * 2 + (ord(f[8]) - 48) * 1
    + (ord(f[9]) - 48) * 6 + (ord(f[10]) - 48) * 3 + (ord(f[11]) - 48) * 7 + (ord(f[12]) - 48) * 9
    + (ord(f[13]) - 48) * 10 + (ord(f[14]) - 48) * 5 + (ord(f[15]) - 48) * 8 + (ord(f[16]) - 48) * 4
    + (ord(f[17]) - 48) * 2) % 11) + 1, 1);

-- The shape of a cleaned ID: '18', '15', 'lost' (Excel kept only 15 significant digits), 'bad' or NULL.
CREATE OR REPLACE MACRO jz_id_shape(c) AS CASE
    WHEN c IS NULL THEN NULL
    WHEN regexp_full_match(c, '\d{17}[\dX]') THEN '18'
    WHEN regexp_full_match(c, '\d{15}(\.0+)?') THEN '15'
    WHEN regexp_full_match(c, '\d(\.\d+)?E\+?\d+') THEN 'lost'
    WHEN regexp_full_match(c, '\d{18}\.0+') THEN '18'
    ELSE 'bad' END;

-- The 18-digit form of a cleaned ID of a given shape (15 digits get century 19 and a check digit).
CREATE OR REPLACE MACRO jz_id18_of(c, shape) AS CASE shape
    WHEN '18' THEN substr(c, 1, 18)
    WHEN '15' THEN substr(c, 1, 6) || '19' || substr(c, 7, 9) || jz_id_check(substr(c, 1, 6) || '19' || substr(c, 7, 9))
    END;

-- Why an ID cannot be used (NULL when it can), from its cleaned shape and 18-digit form.
-- `on_or_before`: a birth after it is impossible. Staging computes c, shape, id18 once per row.
CREATE OR REPLACE MACRO jz_id_problem_of(shape, id18, on_or_before) AS CASE
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

-- Convenience forms for ad-hoc queries and tests (staging uses the *_of forms above).
CREATE OR REPLACE MACRO jz_id18(s) AS jz_id18_of(jz_id_clean(s), jz_id_shape(jz_id_clean(s)));
CREATE OR REPLACE MACRO jz_id_problem(s, on_or_before) AS
    jz_id_problem_of(jz_id_shape(jz_id_clean(s)), jz_id18(s), on_or_before);

-- A date in any delivered form: 2026-11-27, 2026/11/7, 20261127, 2026年11月27日, 2026.11.27,
-- an Excel serial number (days since 1899-12-30), with or without a time part.
CREATE OR REPLACE MACRO jz_date_text(s) AS regexp_replace(
    replace(replace(replace(replace(replace(jz_text(s), '年', '-'), '月', '-'), '日', ''), '/', '-'), '.', '-'),
    '[ T]+\d{1,2}:\d{2}(:\d{2}([-.]\d+)?)?$', '');
CREATE OR REPLACE MACRO jz_date(s) AS CASE
    WHEN regexp_full_match(jz_date_text(s), '\d{4}-\d{1,2}-\d{1,2}') THEN try_strptime(jz_date_text(s), '%Y-%m-%d')::DATE
    WHEN regexp_full_match(jz_date_text(s), '(19|20)\d{6}') THEN try_strptime(jz_date_text(s), '%Y%m%d')::DATE
    WHEN regexp_full_match(jz_text(s), '\d{5}(\.\d+)?') AND try_cast(jz_text(s) AS DOUBLE) BETWEEN 1 AND 80000
         THEN DATE '1899-12-30' + floor(try_cast(jz_text(s) AS DOUBLE))::INTEGER
    END;

-- 费款所属期: 202610, 2026-10, 2026年10月 (also 2026/10, 2026.10) -> first day of the month.
CREATE OR REPLACE MACRO jz_month(s) AS CASE
    WHEN regexp_full_match(regexp_replace(jz_text(s), '[-/.年月]', '', 'g'), '(19|20)\d{2}(0[1-9]|1[0-2])')
        THEN try_strptime(regexp_replace(jz_text(s), '[-/.年月]', '', 'g') || '01', '%Y%m%d')::DATE
    WHEN regexp_full_match(jz_text(s), '(19|20)\d{2}[-/.年]\d{1,2}月?')
        THEN try_strptime(regexp_replace(regexp_replace(jz_text(s), '月$', ''), '[-/.年]', '-') || '-01', '%Y-%m-%d')::DATE
    END;

-- Money: 1234.5, 1,234.50, 1234.5元, ￥1234.5, full-width digits -> DECIMAL(14,2).
CREATE OR REPLACE MACRO jz_money(s) AS
    try_cast(nullif(regexp_replace(jz_text(s), '[,\s元¥￥]', '', 'g'), '') AS DECIMAL(14, 2));

-- Whole numbers (家庭人口, 机动车数量, 房产套数): "3", "3.0", "3人".
CREATE OR REPLACE MACRO jz_int(s) AS
    try_cast(try_cast(nullif(regexp_replace(jz_text(s), '[人辆套个\s]', '', 'g'), '') AS DOUBLE) AS INTEGER);
