"""The locale registry: every MASSIVE locale with its ISO 639-3 code (as lang2vec/URIEL spells it).

Every command validates locales against this table, so a typo (``en_US``, ``xx-XX``) fails early with
the list of valid codes and a close-match hint instead of deep inside a loader.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from merginguriel.errors import UserError


@dataclass(frozen=True)
class Locale:
    code: str  # MASSIVE locale code, e.g. "de-DE"
    iso639_3: str  # lang2vec / URIEL language code, e.g. "deu"
    language: str
    script: str


# The 51 locales of MASSIVE 1.0 plus ca-ES (added in MASSIVE 1.1). URIEL codes are the individual
# languages lang2vec has features for (e.g. Standard Arabic "arb", Iranian Persian "pes", Halh
# Mongolian "khk", Standard Malay "zsm", Tosk Albanian "als", Swahili "swh").
_TABLE: tuple[tuple[str, str, str, str], ...] = (
    ("af-ZA", "afr", "Afrikaans", "Latn"),
    ("am-ET", "amh", "Amharic", "Ethi"),
    ("ar-SA", "arb", "Arabic", "Arab"),
    ("az-AZ", "azj", "Azerbaijani", "Latn"),
    ("bn-BD", "ben", "Bengali", "Beng"),
    ("ca-ES", "cat", "Catalan", "Latn"),
    ("cy-GB", "cym", "Welsh", "Latn"),
    ("da-DK", "dan", "Danish", "Latn"),
    ("de-DE", "deu", "German", "Latn"),
    ("el-GR", "ell", "Greek", "Grek"),
    ("en-US", "eng", "English", "Latn"),
    ("es-ES", "spa", "Spanish", "Latn"),
    ("fa-IR", "pes", "Persian", "Arab"),
    ("fi-FI", "fin", "Finnish", "Latn"),
    ("fr-FR", "fra", "French", "Latn"),
    ("he-IL", "heb", "Hebrew", "Hebr"),
    ("hi-IN", "hin", "Hindi", "Deva"),
    ("hu-HU", "hun", "Hungarian", "Latn"),
    ("hy-AM", "hye", "Armenian", "Armn"),
    ("id-ID", "ind", "Indonesian", "Latn"),
    ("is-IS", "isl", "Icelandic", "Latn"),
    ("it-IT", "ita", "Italian", "Latn"),
    ("ja-JP", "jpn", "Japanese", "Jpan"),
    ("jv-ID", "jav", "Javanese", "Latn"),
    ("ka-GE", "kat", "Georgian", "Geor"),
    ("km-KH", "khm", "Khmer", "Khmr"),
    ("kn-IN", "kan", "Kannada", "Knda"),
    ("ko-KR", "kor", "Korean", "Kore"),
    ("lv-LV", "lav", "Latvian", "Latn"),
    ("ml-IN", "mal", "Malayalam", "Mlym"),
    ("mn-MN", "khk", "Mongolian", "Cyrl"),
    ("ms-MY", "zsm", "Malay", "Latn"),
    ("my-MM", "mya", "Burmese", "Mymr"),
    ("nb-NO", "nob", "Norwegian Bokmål", "Latn"),
    ("nl-NL", "nld", "Dutch", "Latn"),
    ("pl-PL", "pol", "Polish", "Latn"),
    ("pt-PT", "por", "Portuguese", "Latn"),
    ("ro-RO", "ron", "Romanian", "Latn"),
    ("ru-RU", "rus", "Russian", "Cyrl"),
    ("sl-SL", "slv", "Slovenian", "Latn"),
    ("sq-AL", "als", "Albanian", "Latn"),
    ("sv-SE", "swe", "Swedish", "Latn"),
    ("sw-KE", "swh", "Swahili", "Latn"),
    ("ta-IN", "tam", "Tamil", "Taml"),
    ("te-IN", "tel", "Telugu", "Telu"),
    ("th-TH", "tha", "Thai", "Thai"),
    ("tl-PH", "tgl", "Tagalog", "Latn"),
    ("tr-TR", "tur", "Turkish", "Latn"),
    ("ur-PK", "urd", "Urdu", "Arab"),
    ("vi-VN", "vie", "Vietnamese", "Latn"),
    ("zh-CN", "cmn", "Chinese (Simplified)", "Hans"),
    ("zh-TW", "cmn", "Chinese (Traditional)", "Hant"),
)

LOCALES: dict[str, Locale] = {row[0]: Locale(*row) for row in _TABLE}
ALL_LOCALES: tuple[str, ...] = tuple(LOCALES)


class UnknownLocaleError(UserError):
    """A locale code that is not one of the 52 MASSIVE locales."""


def validate_locale(code: str) -> str:
    """Return ``code`` if it is a MASSIVE locale, else raise with the valid codes and a close match."""
    if code in LOCALES:
        return code
    normalised = code.replace("_", "-")
    candidates = [c for c in ALL_LOCALES if c.lower() == normalised.lower()]
    if not candidates:
        candidates = difflib.get_close_matches(normalised, ALL_LOCALES, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in candidates)}?" if candidates else ""
    raise UnknownLocaleError(
        f"Unknown locale {code!r}.{hint} Valid MASSIVE locales (language-REGION, with a hyphen): "
        + ", ".join(ALL_LOCALES)
    )


def parse_locales(spec: str | Iterable[str]) -> list[str]:
    """Parse a comma-separated string (or an iterable of strings) into validated, de-duplicated locales."""
    items = spec.split(",") if isinstance(spec, str) else [p for s in spec for p in str(s).split(",")]
    out: list[str] = []
    for item in (i.strip() for i in items):
        if item and validate_locale(item) not in out:
            out.append(item)
    return out


def iso639_3(code: str) -> str:
    return LOCALES[validate_locale(code)].iso639_3


def shared_uriel_groups(locales: Iterable[str]) -> list[list[str]]:
    """Groups of locales (2+) that share one URIEL language and therefore identical feature vectors."""
    by_iso: dict[str, list[str]] = {}
    for code in locales:
        by_iso.setdefault(iso639_3(code), []).append(code)
    return [group for group in by_iso.values() if len(group) > 1]
