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


def _words_phrase(text: str) -> str:
    """SQL: the first clause of ``text`` holding one of $hardship_words, at most PHRASE_MAX characters
    centred on the word (NULL: no word)."""
    clause = (
        f"list_filter(regexp_split_to_array({text}, '{CLAUSE_SPLIT.pattern}'), "
        "c -> list_bool_or([contains(c, w) FOR w IN $hardship_words]))[1]"
    )
    word = f"list_filter($hardship_words, w -> contains({clause}, w))[1]"
    start = f"greatest(1, least(strpos({clause}, {word}) - ({PHRASE_MAX} - length({word})) // 2, length({clause}) - {PHRASE_MAX - 1}))"
    return f"CASE WHEN length({clause}) <= {PHRASE_MAX} THEN {clause} ELSE substr({clause}, {start}, {PHRASE_MAX}) END"


def hardship_petitions(petitions: str) -> str:
    """A subquery: the rows of ``petitions`` (a relation over xf_petitions' columns, as it stood on the
    night) with ``hardship_phrase`` and ``hardship`` (by category, words or classifier)."""
    return f"""(SELECT x.*, coalesce({_words_phrase("x.petition_text")}, h.phrase) AS hardship_phrase,
               list_contains($petition_categories, x.petition_category) OR hardship_phrase IS NOT NULL AS hardship
        FROM {petitions} x
        LEFT JOIN model.petition_hardship h ON h.hardship AND h.text_hash = hash(x.petition_text)
             AND h.classifier = {CLASSIFIER_IN_FORCE})"""
