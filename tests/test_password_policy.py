"""The password policy (NIST SP 800-63B rev 4): length in code points after NFC, no composition rules, the
offline blocklist (with trivial padding), context words, zxcvbn's score and feedback on truncated input, and
messages that never carry the password. No database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from claimvault.errors import ValidationFailed
from claimvault.security import password_policy
from claimvault.security.password_policy import (
    BLOCKLIST,
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordPolicyViolation,
    check_password,
    validate_new_password,
)

RANKED = FREQUENCY_LISTS["passwords"]
STRONG = "violet tractor kettle moonbeam"
EMOJI = "🦊🐙🌵🚲🎻🧭🍉🛶🪁🧲🦉🌋🎲"  # 13 distinct single-code-point emoji


def codes(password: str, *words: str) -> list[str]:
    return check_password(password, context_words=words).codes


# Length ---------------------------------------------------------------------------------------------------------
def test_bounds_follow_nist() -> None:
    assert MIN_LENGTH == 12 and MAX_LENGTH >= 64


def test_length_counts_code_points_after_nfc() -> None:
    decomposed = "e\u0301" * 11  # 22 code points as typed, 11 after NFC (é)
    assert len(decomposed) == 22
    result = check_password(decomposed, context_words=())
    assert result.length == 11 and "too_short" in result.codes
    # q + combining acute has no precomposed form: 11 letters + 1 mark are 12 code points.
    marked = "zqxjvkwbnmp" + "q\u0301"
    result = check_password(marked, context_words=())
    assert result.length == 13 and "too_short" not in result.codes
    assert "too_short" in codes("zqxjvkwbnm" + "\u0301")  # 10 letters + mark = 11 (the mark joins nothing)


def test_emoji_count_one_code_point_each() -> None:
    assert "too_short" in codes(EMOJI[:11])
    result = check_password(EMOJI[:12], context_words=())
    assert result.length == 12 and "too_short" not in result.codes
    assert result.ok, result.codes


def test_long_passwords_are_accepted_up_to_the_maximum() -> None:
    words = "quartz lantern orchard pebble walrus cinnamon harbor velvet "
    sixty_five = (words * 2)[:65]
    assert len(sixty_five) == 65 and check_password(sixty_five).ok
    at_max = (words * 10)[:MAX_LENGTH]
    assert check_password(at_max).ok
    over = (words * 10)[: MAX_LENGTH + 1]
    result = check_password(over)
    assert result.codes == ["too_long"]
    assert str(MAX_LENGTH) in result.problems[0].message


def test_no_composition_rules() -> None:
    passphrase = "mossy kelp dunes"  # 16 lowercase letters and spaces, no digit, no symbol, no capital
    assert len(passphrase) == 16
    assert check_password(passphrase).ok


# Blocklist ------------------------------------------------------------------------------------------------------
def test_blocklist_holds_at_least_the_10000_most_common_passwords() -> None:
    assert len(RANKED) >= 10_000 and len(BLOCKLIST) >= 10_000
    assert all(entry.casefold() in BLOCKLIST for entry in RANKED[:10_000])


def test_blocklisted_passwords_are_refused_case_insensitively() -> None:
    entry = RANKED[9_998]  # the 9,999th most common
    assert "common_password" in codes(entry)
    assert "common_password" in codes(entry.upper())
    long_entries = [p for p in RANKED[:10_000] if len(p) >= MIN_LENGTH]
    assert long_entries
    for entry in (long_entries[0], long_entries[-1].title()):
        found = codes(entry)
        assert "common_password" in found and "too_short" not in found


@pytest.fixture
def word() -> str:
    """A purely alphabetic blocklisted password of 6-8 letters, taken from the package's list at runtime."""
    return next(p for p in RANKED[2_000:] if p.isalpha() and 6 <= len(p) <= 8 and p[-1] != p[-2])


@pytest.mark.parametrize(
    "pad",
    [
        lambda w: w + "!!!!!!!!",
        lambda w: w.title() + "0000000",
        lambda w: w + "123456789",
        lambda w: w + "!!!!" + "4321",
        lambda w: "1111111" + w,
        lambda w: "@@@@" + w + "999999",
        lambda w: w + w[-1] * 8,
    ],
)
def test_blocklisted_word_with_trivial_padding_is_refused(word: str, pad: Any) -> None:
    padded = pad(word)
    assert len(padded) >= MIN_LENGTH and padded.casefold() not in BLOCKLIST
    assert "common_password_padded" in codes(padded)


def test_a_blocklisted_word_inside_a_real_passphrase_is_not_padding(word: str) -> None:
    assert "common_password_padded" not in codes(f"{word} 5839 ferry lantern")
    assert "common_password_padded" not in codes(f"hazel {word} trombone")


# Context words ---------------------------------------------------------------------------------------------------
def test_context_words_are_refused_case_insensitively() -> None:
    assert "context_word" in codes("Marigold.Keeper sails far", "marigold.keeper")
    assert "context_word" in codes("the keeper sails far away", "marigold.keeper")  # a 4+ letter part
    assert "context_word" in codes("rainbow SUNRISE orchard tea", "jdoe", "Sunrise Pediatrics")
    assert "context_word" in codes("my ClaimVault orchard teapot")  # the service's name, always
    assert "context_word" not in codes("a joe ate the pie and left", "joe")  # shorter than 4: ignored


def test_context_words_go_to_zxcvbn(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake(password: str, user_inputs: list[str], max_length: int) -> dict[str, Any]:
        seen["inputs"] = user_inputs
        return {"score": 4, "feedback": {"warning": "", "suggestions": []}}

    monkeypatch.setattr(password_policy, "zxcvbn", fake)
    check_password(STRONG, context_words=["jdoe.smith", "Sunrise Pediatrics", "sunrise-peds"])
    assert {"jdoe.smith", "smith", "sunrise pediatrics", "pediatrics", "sunrise", "claimvault"} <= set(seen["inputs"])


# Strength estimate -------------------------------------------------------------------------------------------
def test_weak_passwords_are_refused_with_feedback() -> None:
    result = check_password("asdfghjkl;asdfg")
    assert result.codes == ["too_guessable"]
    assert result.feedback.score < 3
    assert result.feedback.warning and result.feedback.suggestions


def test_strong_password_is_accepted() -> None:
    result = check_password(STRONG, context_words=["jdoe", "Alpha Clinic"])
    assert result.ok and result.problems == () and result.feedback.score >= 3


def test_zxcvbn_sees_at_most_100_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    lengths: list[int] = []
    real = password_policy.zxcvbn

    def spy(password: str, user_inputs: list[str], max_length: int) -> dict[str, Any]:
        lengths.append(len(password))
        return dict(real(password, user_inputs=user_inputs, max_length=max_length))

    monkeypatch.setattr(password_policy, "zxcvbn", spy)
    long = ("walrus pebble cinnamon orchard harbor " * 7)[:230]
    result = check_password(long)
    assert result.ok and result.length == 230
    assert lengths == [100]


def test_estimator_failure_refuses_without_leaking(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(password: str, **_: Any) -> dict[str, Any]:
        raise RuntimeError(password)

    monkeypatch.setattr(password_policy, "zxcvbn", broken)
    result = check_password(STRONG)
    assert result.codes == ["too_guessable"]
    assert STRONG not in json.dumps(result.as_dict())


def test_empty_password_is_refused_without_crashing() -> None:
    assert codes("") == ["too_short", "too_guessable"]


# Never the password ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "password",
    [
        "short1",
        "Qx" * 200,
        "asdfghjkl;asdfg",
        "Sunrise orchard teapot rain",
        RANKED[9_998].upper(),
        "1q2w3e4r5t6y7u",
        "e\u0301" * 11,
    ],
)
def test_results_and_errors_never_contain_the_password(password: str) -> None:
    result = check_password(password, context_words=["sunrise"])
    assert not result.ok
    dumped = json.dumps(result.as_dict(), ensure_ascii=False)
    assert password not in dumped and password.casefold() not in dumped.casefold()
    with pytest.raises(ValidationFailed) as caught:
        validate_new_password(password, username="jdoe", org_names=["Sunrise Pediatrics"])
    assert isinstance(caught.value, PasswordPolicyViolation)
    for text in (str(caught.value), caught.value.message, repr(caught.value.args)):
        assert password not in text


def test_validate_new_password_uses_username_and_org_names() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_new_password("quiet jdoe99 harbor lamp", username="jdoe99")
    assert caught.value.status_code == 422 and "username" in caught.value.message
    with pytest.raises(ValidationFailed):
        validate_new_password("Pediatrics harbor lamp ok", username="jdoe99", org_names=["Sunrise Pediatrics"])
    assert validate_new_password("e\u0301" + STRONG, username="jdoe99") == "\u00e9" + STRONG
