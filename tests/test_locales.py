import pytest

from merginguriel.data.locales import (
    ALL_LOCALES,
    LOCALES,
    UnknownLocaleError,
    iso639_3,
    parse_locales,
    shared_uriel_groups,
    validate_locale,
)


def test_all_52_massive_locales_with_iso_codes():
    assert len(ALL_LOCALES) == 52
    assert "ca-ES" in ALL_LOCALES
    assert iso639_3("he-IL") == "heb"
    assert iso639_3("sv-SE") == "swe"
    assert all(len(loc.iso639_3) == 3 for loc in LOCALES.values())


def test_zh_locales_share_uriel_language():
    assert shared_uriel_groups(["de-DE", "zh-CN", "zh-TW"]) == [["zh-CN", "zh-TW"]]


def test_underscore_typo_gets_close_match_hint():
    with pytest.raises(UnknownLocaleError) as err:
        validate_locale("en_US")
    message = str(err.value)
    assert "Did you mean 'en-US'" in message
    assert "af-ZA" in message and "zh-TW" in message  # the list of valid codes


def test_unknown_locale_lists_valid_codes():
    with pytest.raises(UnknownLocaleError, match="Unknown locale 'xx-XX'.*Valid MASSIVE locales"):
        validate_locale("xx-XX")


def test_parse_locales_dedupes_and_validates():
    assert parse_locales("de-DE, nl-NL,de-DE") == ["de-DE", "nl-NL"]
    with pytest.raises(UnknownLocaleError):
        parse_locales("de-DE,nl_NL")
