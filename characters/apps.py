from django.apps import AppConfig


class CharactersConfig(AppConfig):
    # No default_auto_field: the only auto primary key here is the M2M table's, which takes
    # the backend's DEFAULT_AUTO_FIELD (BigAutoField on SQLite, ObjectIdAutoField on MongoDB).
    name = "characters"
    verbose_name = "Marvel characters"

    def ready(self):
        from characters import page_cache

        page_cache.connect_signals()
