-- Households as they stood on the night, with their head: the member called 户主. Chosen here once;
-- every other place that needs the head joins head_person_key. Two heads, or none: the lower
-- person_key, so that the same data gives the same head.
CREATE OR REPLACE TABLE {core}.households AS
WITH head AS (
    SELECT household_id, person_key, residence_type, township_code, township_name, village
    FROM {core}.household_members
    QUALIFY row_number() OVER (PARTITION BY household_id
                               ORDER BY CASE WHEN relation_to_head = '户主' THEN 0 ELSE 1 END, person_key) = 1
)
SELECT household_id, head.person_key AS head_person_key, head.residence_type, head.township_code,
       head.township_name, head.village,
       count(*) AS members,
       bool_or(m.relation_to_head = '户主') AS has_head,
       $as_of AS as_of_date
FROM {core}.household_members m JOIN head USING (household_id)
GROUP BY ALL
