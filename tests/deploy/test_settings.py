"""Settings from the environment: every database selection path and every configuration error."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.utils import ConnectionHandler

from marvelsite.db_config import (
    SQLITE_CACHE_KB,
    SQLITE_WAL_AUTOCHECKPOINT,
    database_settings,
    mongodb_uri,
)
from tests.support.manage import ROOT, run_manage

SEEDS = {
    "MONGO_SEED0": "mongodb-0.mongodb.dev.svc.cluster.local",
    "MONGO_SEED1": "mongodb-1.mongodb.dev.svc.cluster.local",
    "MONGO_SEED2": "mongodb-2.mongodb.dev.svc.cluster.local",
    "MONGO_USERNAME": "marvel",
    "MONGO_PASSWORD": "s3cret/with:odd@chars",
}
PRODUCTION = {
    "DJANGO_SECRET_KEY": "x7#kQ!p2-production-like-secret-key-with-enough-entropy-9f8a7b6c5d",
    "DJANGO_ALLOWED_HOSTS": "marvel.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://marvel.example.com",
}


def test_no_mongodb_settings_means_embedded_sqlite(tmp_path):
    database = database_settings({"MARVELSITE_DATA_DIR": str(tmp_path)}, ROOT)
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == tmp_path / "db.sqlite3"


def test_sqlite_serves_readers_beside_a_writer(tmp_path, django_db_blocker):
    """WAL (a seed run never blocks page reads) and write locks taken at BEGIN."""
    database = database_settings({"MARVELSITE_DATA_DIR": str(tmp_path)}, ROOT)
    connection = ConnectionHandler({"default": database})["default"]
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA cache_size")  # negative: KiB, not pages
            assert cursor.fetchone()[0] == -SQLITE_CACHE_KB
            cursor.execute("PRAGMA wal_autocheckpoint")  # SQLite's default is 1,000
            assert cursor.fetchone()[0] == SQLITE_WAL_AUTOCHECKPOINT
        assert connection.transaction_mode == "IMMEDIATE"  # Django's BEGIN IMMEDIATE
        connection.close()


def test_sqlite_defaults_to_var_in_the_checkout():
    assert database_settings({}, ROOT)["NAME"] == ROOT / "var" / "db.sqlite3"


def test_mongodb_uri_selects_mongodb_with_default_name():
    database = database_settings({"MONGODB_URI": "mongodb://db.example:27017/"}, ROOT)
    assert database["ENGINE"] == "django_mongodb_backend"
    assert database["HOST"] == "mongodb://db.example:27017/"
    assert database["NAME"] == "marvel"
    assert database["OPTIONS"]["serverSelectionTimeoutMS"] == 5000


def test_mongodb_name_and_uri_options_win_over_defaults():
    env = {
        "MONGODB_URI": "mongodb+srv://u:p@cluster.example/?serverSelectionTimeoutMS=900",
        "MONGODB_NAME": "comics",
    }
    database = database_settings(env, ROOT)
    assert database["NAME"] == "comics"
    assert "serverSelectionTimeoutMS" not in database["OPTIONS"]
    assert database["OPTIONS"]["connectTimeoutMS"] == 2000


def test_mongodb_uri_wins_over_seed_variables():
    assert mongodb_uri({"MONGODB_URI": "mongodb://a/", **SEEDS}) == "mongodb://a/"


def test_seed_variables_build_a_replica_set_uri():
    uri = mongodb_uri(SEEDS)
    assert uri == (
        "mongodb://marvel:s3cret%2Fwith%3Aodd%40chars@"
        "mongodb-0.mongodb.dev.svc.cluster.local:27017,"
        "mongodb-1.mongodb.dev.svc.cluster.local:27017,"
        "mongodb-2.mongodb.dev.svc.cluster.local:27017/?replicaSet=mongodb&authSource=admin"
    )


def test_any_number_of_seeds_and_optional_settings():
    env = {
        "MONGO_SEED0": "a",
        "MONGO_SEED1": "b:27018",
        "MONGO_USERNAME": "u",
        "MONGO_PASSWORD": "p",
        "MONGO_REPLICA_SET": "rs0",
        "MONGO_AUTH_SOURCE": "marvel",
        "MONGO_PORT": "27019",
    }
    assert mongodb_uri(env) == "mongodb://u:p@a:27019,b:27018/?replicaSet=rs0&authSource=marvel"


@pytest.mark.parametrize("missing", ["MONGO_USERNAME", "MONGO_PASSWORD"])
def test_seeds_without_credentials_name_the_missing_variable(missing):
    env = {key: value for key, value in SEEDS.items() if key != missing}
    with pytest.raises(ImproperlyConfigured, match=f"^{missing} is not set"):
        mongodb_uri(env)


def test_credentials_without_seeds_name_mongo_seed0():
    with pytest.raises(ImproperlyConfigured, match="MONGO_SEED0 is not set"):
        mongodb_uri({"MONGO_USERNAME": "u", "MONGO_PASSWORD": "p"})


def test_the_old_password_variable_still_works_for_one_release_with_a_warning():
    renamed = {**{k: v for k, v in SEEDS.items() if k != "MONGO_PASSWORD"}, "password": "old"}
    with pytest.warns(FutureWarning, match="`password` is deprecated.*MONGO_PASSWORD"):
        uri = mongodb_uri(renamed)
    assert uri.startswith("mongodb://marvel:old@")


def test_mongo_password_wins_over_the_old_name_without_a_warning(recwarn):
    assert mongodb_uri({**SEEDS, "password": "old"}).startswith(
        "mongodb://marvel:s3cret%2Fwith%3Aodd%40chars@"
    )
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


def test_a_uri_that_is_not_mongodb_is_refused():
    with pytest.raises(ImproperlyConfigured, match="must start with mongodb://"):
        database_settings({"MONGODB_URI": "postgres://x/"}, ROOT)


def test_missing_secret_key_is_one_clear_line(tmp_path):
    result = run_manage("check", data_dir=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "Configuration error: DJANGO_SECRET_KEY is not set: "
        "it is required unless DJANGO_DEBUG=true."
    )


def test_secrets_are_read_verbatim_even_with_a_leading_dollar(tmp_path):
    # Django's get_random_secret_key() draws from a set that includes "$"; django-environ
    # would read such a value as a reference to another variable.
    key = "$" + PRODUCTION["DJANGO_SECRET_KEY"]
    env = {**PRODUCTION, "DJANGO_SECRET_KEY": key, "MARVEL_PRIVATE_KEY": "$private"}
    script = (
        "from django.conf import settings; print(settings.SECRET_KEY, settings.MARVEL_PRIVATE_KEY)"
    )
    result = run_manage("shell", "-c", script, data_dir=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [key, "$private"]


def test_incomplete_mongodb_settings_are_one_clear_line(tmp_path):
    seeds_without_password = {k: v for k, v in SEEDS.items() if k != "MONGO_PASSWORD"}
    result = run_manage("check", data_dir=tmp_path, **PRODUCTION, **seeds_without_password)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Configuration error: MONGO_PASSWORD is not set")


def test_debug_runs_without_a_secret_key(tmp_path):
    result = run_manage("check", data_dir=tmp_path, DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_settings_make_no_folder_and_a_missing_one_is_one_clear_check_error(tmp_path):
    missing = tmp_path / "not-yet"
    result = run_manage("check", data_dir=missing, DJANGO_DEBUG="true")
    assert result.returncode != 0
    assert f"marvelsite.E001) the SQLite folder {missing} does not exist" in result.stderr
    assert f"mkdir -p {missing}" in result.stderr
    assert not missing.exists()
    seed = run_manage("seed_marvel", data_dir=missing, DJANGO_DEBUG="true")
    assert seed.returncode != 0
    assert "marvelsite.E001" in seed.stderr
    assert not missing.exists()


def test_deploy_check_is_clean_with_production_values(tmp_path):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", data_dir=tmp_path, **PRODUCTION
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_warns_when_https_is_turned_off(tmp_path):
    # Guards the test above: the check does look at these settings.
    plain_http = {**PRODUCTION, "DJANGO_SECURE_SSL_REDIRECT": "false"}
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", data_dir=tmp_path, **plain_http
    )
    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout


def test_production_security_settings_are_on_without_debug(settings):
    assert settings.SESSION_COOKIE_SECURE
    assert settings.CSRF_COOKIE_SECURE
    assert settings.SECURE_HSTS_SECONDS > 0
    assert settings.SECURE_CONTENT_TYPE_NOSNIFF
    assert settings.SECURE_REFERRER_POLICY == "same-origin"
    assert not settings.DEBUG


def test_mongodb_uses_the_documented_recipe(settings):
    if not settings.ON_MONGODB:
        assert settings.DEFAULT_AUTO_FIELD == "django.db.models.BigAutoField"
        assert "marvelsite.apps.OTPAdminConfig" in settings.INSTALLED_APPS
        return
    assert settings.DEFAULT_AUTO_FIELD == "django_mongodb_backend.fields.ObjectIdAutoField"
    assert "marvelsite.apps.MongoAdminConfig" in settings.INSTALLED_APPS
    assert settings.MIGRATION_MODULES["auth"] == "mongo_migrations.auth"
    assert settings.MIGRATION_MODULES["otp_totp"] == "mongo_migrations.otp_totp"
