"""Which petitions say the family is in hardship (R08), as SQL: one home for the decision, read by
core (transform/core/features_xf.sql) and by the rules for persons outside the roster
(transform/monitoring/outsider_hits.sql).

A petition says hardship when its 问题类别 is one of the policy's hardship categories, when its
诉求内容 holds one of the policy's words (the floor), or when the petition classifier in force on
the night reads hardship in it (model.petition_hardship, transform/model/petitions.py). Its
``hardship_phrase`` is what R08's reason quotes: the clause holding the word, or the classifier's
phrase, at most PHRASE_MAX characters. The statement binds $as_of, $petition_categories and
$hardship_words.
"""

from __future__ import annotations

from models.petition_text import CLAUSE_SPLIT, PHRASE_MAX

# The classifier in force on the night: the newest trained on or before it; a night before any
# (a month end the training history builds) reads with the oldest, as the model it trains is used
# on tonight's petitions.
CLASSIFIER_IN_FORCE = """coalesce(
    (SELECT version FROM model.petition_classifiers WHERE trained_on <= $as_of ORDER BY trained_on DESC LIMIT 1),
    (SELECT min(version) FROM model.petition_classifiers))"""


def hardship_petitions(petitions: str) -> str:
    """A subquery: the rows of ``petitions`` (a relation over xf_petitions' columns, as it stood on the
    night) with ``hardship_phrase`` and ``hardship`` (by category, words or classifier). The phrase of
    the policy's words: the first clause holding one, at most PHRASE_MAX characters centred on it."""
    clauses = f"regexp_split_to_array(x.petition_text, '{CLAUSE_SPLIT.pattern}')"
    start = f"greatest(1, least(strpos(_jz_clause, _jz_word) - ({PHRASE_MAX} - length(_jz_word)) // 2, length(_jz_clause) - {PHRASE_MAX - 1}))"
    return f"""(SELECT w.* EXCLUDE (_jz_clause, _jz_word),
               coalesce(CASE WHEN length(_jz_clause) <= {PHRASE_MAX} THEN _jz_clause
                             ELSE substr(_jz_clause, {start}, {PHRASE_MAX}) END, h.phrase) AS hardship_phrase,
               list_contains($petition_categories, w.petition_category) OR hardship_phrase IS NOT NULL AS hardship
        FROM (SELECT c.*, list_filter($hardship_words, t -> contains(c._jz_clause, t))[1] AS _jz_word
              FROM (SELECT x.*, list_filter({clauses}, part -> list_bool_or([contains(part, t) FOR t IN $hardship_words]))[1]
                               AS _jz_clause
                    FROM {petitions} x) c) w
        LEFT JOIN model.petition_hardship h ON h.hardship AND h.text_hash = hash(w.petition_text)
             AND h.classifier = {CLASSIFIER_IN_FORCE})"""
