from django.apps import AppConfig
from django.core import checks


class CharactersConfig(AppConfig):
    # No default_auto_field: the only auto primary key here is the link model's
    # (CharacterComic), which takes the backend's DEFAULT_AUTO_FIELD (BigAutoField on SQLite,
    # ObjectIdAutoField on MongoDB).
    name = "characters"
    verbose_name = "Marvel characters"

    def ready(self):
        from django.db.models.signals import post_migrate

        from characters import page_cache, search_index
        from marvelsite.db_config import sqlite_folder_exists

        page_cache.connect_signals()
        post_migrate.connect(search_index.ensure_after_migrate, sender=self)
        checks.register(sqlite_folder_exists)
