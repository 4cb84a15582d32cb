"""The reference documents in docs/ are what the configuration says now: a change to the feed
spec, the rules or the policy that is not followed by `jiuzhu docs` (`make docs`) fails here."""

from __future__ import annotations

from jiuzhu.config import load_feeds, load_policy
from jiuzhu.policy import RULE_CODES
from models.rules import RULES, describe, level_text
from pipelines.cli import main
from pipelines.reference_docs import DOCS_DIR, stale_docs, write_docs


def test_the_committed_documents_are_current():
    assert stale_docs() == [], "run `make docs` and commit docs/"
    assert main(["docs", "--check"]) == 0


def test_the_documents_name_every_feed_column_and_rule_with_the_policys_numbers(tmp_path):
    write_docs(tmp_path)
    feeds, rules = (
        (tmp_path / "feeds.md").read_text(encoding="utf-8"),
        (tmp_path / "rules.md").read_text(encoding="utf-8"),
    )
    for name, feed in load_feeds().items():
        assert f"`{name}`" in feeds and " + ".join(feed.natural_key) in feeds
        assert all(f"| {c.name} |" in feeds for c in feed.columns)
    policy = load_policy()
    for rule in RULES:
        assert describe(rule, policy) in rules
    assert f"城市 {policy.standards.dibao_standard_urban} 元" in rules


def test_every_warning_code_is_one_rule_and_the_policy_levels_the_rules():
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes)) and "M01" in codes  # M01 too: one definition for docs, warnings, exports
    # the policy file levels every rule but M01, whose level follows its score
    assert set(RULE_CODES) == {rule.code for rule in RULES if not rule.model}
    assert all(level_text(rule, load_policy()) for rule in RULES)


def test_a_stale_document_is_found(tmp_path):
    write_docs(tmp_path)
    (tmp_path / "rules.md").write_text("an old text", encoding="utf-8")
    assert stale_docs(tmp_path) == ["rules.md"]
    assert stale_docs(DOCS_DIR) == []
