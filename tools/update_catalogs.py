"""Bring the .po catalogs in line with the templates: new strings are added (empty in zh_CN, so the
catalog test fails until they are translated), strings no longer used are dropped.

    python -m tools.update_catalogs
"""

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from web.i18n import LOCALES, catalog_path, template_messages


def update(locale: str) -> tuple[int, int]:
    path = catalog_path(locale)
    existing = read_po(path.open("rb"), locale=locale) if path.exists() else Catalog(locale=locale)
    used = template_messages()
    catalog = Catalog(locale=locale, project="tanguan", charset="utf-8", fuzzy=False)
    for msgid, files in sorted(used.items()):
        old = existing.get(msgid)
        translated = old.string if old is not None and old.string else ""
        if locale == "en" and not translated:
            translated = msgid  # the source strings are English
        catalog.add(msgid, translated, locations=[(name, 0) for name in sorted(set(files))])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as target:
        write_po(target, catalog, width=0, omit_header=False, no_location=True)
    missing = sum(1 for message in catalog if message.id and not message.string)
    return len(used), missing


if __name__ == "__main__":
    for locale in LOCALES:
        total, missing = update(locale)
        print(f"{locale}: {total} messages, {missing} untranslated")
