"""The kiosk's fixed texts per language (``kiosk_texts.json``) and the languages a campaign offers.

``kiosk_texts.json`` holds, per BCP-47 tag, the buttons and messages of the kiosk (``texts``) and how the
welcome screen names each language (``names``: ``own`` is the language's name in itself, given only
where it is known; ``vi`` its Vietnamese name). Vietnamese and English are complete; the minority
languages are empty until a checked translation exists, and the kiosk shows the Vietnamese instead,
marked as such (``static/kiosk/i18n.js``). Nothing is translated by machine or guessed.

The languages a campaign offers are its questionnaire's language tags, Vietnamese first
(:func:`questionnaires.languages.respondent_languages`); a response records the one used.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from questionnaires import Questionnaire
from questionnaires.languages import respondent_languages

CATALOGUE = Path(__file__).with_name("kiosk_texts.json")
_TAG_SUFFIX = re.compile(r"\s*\([^)]*\)\s*$")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Any]:
    """The whole catalogue as read from ``kiosk_texts.json``."""
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


def texts_for(languages: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """The fixed texts of ``languages`` (Vietnamese always): ``{lang: {key: text}}``, empty when none."""
    texts = catalogue()["texts"]
    wanted = ("vi", *(lang for lang in languages if lang != "vi"))
    return {lang: dict(texts.get(lang) or {}) for lang in wanted}


def language_name(q: Questionnaire, lang: str) -> tuple[str, str]:
    """How the welcome screen names ``lang``: ``(text, language of that text)``.

    The language's own name where the catalogue knows it; else its Vietnamese name: the questionnaire's
    name for it ("Ca Dong (sed)" gives "Tiếng Ca Dong"), else the catalogue's, else "Tiếng <tag>".
    """
    known = catalogue()["names"].get(lang) or {}
    if known.get("own"):
        return str(known["own"]), lang
    named = q.language_names.get(lang)
    if named:
        return f"Tiếng {_TAG_SUFFIX.sub('', named)}", "vi"
    if known.get("vi"):
        return str(known["vi"]), "vi"
    return f"Tiếng {lang}", "vi"


def language_choices(q: Questionnaire) -> list[dict[str, str]]:
    """The welcome screen's language buttons: ``[{"code", "name", "name_lang"}]``, Vietnamese first."""
    out = []
    for lang in respondent_languages(q):
        name, name_lang = language_name(q, lang)
        out.append({"code": lang, "name": name, "name_lang": name_lang})
    return out
