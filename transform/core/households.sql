-- Households as they stood on the night, with their head: the member called 户主. Chosen here once;
-- every other place that needs the head joins head_person_key. Two heads, or none: the lower ID
-- number, so that the same data gives the same head (the keyed person_key would choose another
-- head under another person key, and with it another standard, urban or rural).
CREATE OR REPLACE TABLE {core}.households AS
WITH head AS (
    SELECT m.household_id, m.person_key, m.residence_type, m.township_code, m.township_name, m.village
    FROM {core}.household_members m JOIN {restricted}.person_ids k USING (person_key)
    QUALIFY row_number() OVER (PARTITION BY m.household_id
                               ORDER BY CASE WHEN m.relation_to_head = '户主' THEN 0 ELSE 1 END, k.id_number) = 1
)
SELECT household_id, head.person_key AS head_person_key, head.residence_type, head.township_code,
       head.township_name, head.village,
       count(*) AS members,
       bool_or(m.relation_to_head = '户主') AS has_head,
       $as_of AS as_of_date
FROM {core}.household_members m JOIN head USING (household_id)
GROUP BY ALL
