"""Secrets read from files (NAME_FILE), as Kubernetes mounts them, and TLS to MongoDB."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from marvelsite.db_config import database_settings, mongodb_uri, public_reads_settings
from marvelsite.secrets_env import secret
from tests.support.manage import ROOT, run_manage

SEEDS = {"MONGO_SEED0": "mongodb-0.mongodb-svc", "MONGO_USERNAME": "marvel-app"}


def test_the_variable_itself_when_no_file_is_named():
    assert secret({"K": "$not-a-reference"}, "K") == "$not-a-reference"
    assert secret({}, "K", default="fallback") == "fallback"


def test_the_file_named_by_name_file(tmp_path):
    path = tmp_path / "k"
    path.write_text("  spaced $value\n")
    # One trailing newline dropped, nothing else.
    assert secret({"K_FILE": str(path)}, "K") == "  spaced $value"
    path.write_text("two\n\n")
    assert secret({"K_FILE": str(path)}, "K") == "two\n"


def test_both_set_is_an_error(tmp_path):
    path = tmp_path / "k"
    path.write_text("from-file")
    with pytest.raises(ImproperlyConfigured, match="both K and K_FILE are set"):
        secret({"K": "from-env", "K_FILE": str(path)}, "K")


def test_an_unreadable_file_is_named_in_the_error(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(ImproperlyConfigured, match=f"K_FILE names {missing}, which cannot be"):
        secret({"K_FILE": str(missing)}, "K")


def test_mongo_password_from_a_file(tmp_path):
    path = tmp_path / "password"
    path.write_text("s3cret/with:odd@chars\n")
    uri = mongodb_uri({**SEEDS, "MONGO_PASSWORD_FILE": str(path)})
    assert uri.startswith("mongodb://marvel-app:s3cret%2Fwith%3Aodd%40chars@mongodb-0.mongodb-svc")


def test_mongodb_uri_from_a_file(tmp_path):
    path = tmp_path / "uri"
    path.write_text("mongodb://u:p@db:27017/?replicaSet=rs0\n")
    assert mongodb_uri({"MONGODB_URI_FILE": str(path)}) == "mongodb://u:p@db:27017/?replicaSet=rs0"


def test_tls_verified_against_the_ca_file(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {**SEEDS, "MONGO_PASSWORD": "pw", "MONGO_TLS_CA_FILE": str(ca)}
    default = database_settings(env, ROOT)
    assert default["OPTIONS"]["tls"] is True
    assert default["OPTIONS"]["tlsCAFile"] == str(ca)
    # The public reads' alias connects the same way.
    assert public_reads_settings(default)["OPTIONS"]["tlsCAFile"] == str(ca)
    # Without it: no TLS options at all (the driver's defaults).
    plain = database_settings({**SEEDS, "MONGO_PASSWORD": "pw"}, ROOT)
    assert "tls" not in plain["OPTIONS"]
    assert "tlsCAFile" not in plain["OPTIONS"]


def test_a_missing_ca_file_is_a_clear_error(tmp_path):
    env = {**SEEDS, "MONGO_PASSWORD": "pw", "MONGO_TLS_CA_FILE": str(tmp_path / "nope.crt")}
    with pytest.raises(ImproperlyConfigured, match="MONGO_TLS_CA_FILE names .*nope.crt"):
        database_settings(env, ROOT)


def test_django_reads_its_key_from_a_file(tmp_path):
    key = tmp_path / "django-secret"
    key.write_text("$file-key-x7#kQ!p2-with-enough-entropy-9f8a7b6c5d4e3f2a1b0c\n")
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        data_dir=tmp_path,
        DJANGO_SECRET_KEY_FILE=str(key),
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip().splitlines()[-1]
        == "$file-key-x7#kQ!p2-with-enough-entropy-9f8a7b6c5d4e3f2a1b0c"
    )


def test_a_missing_key_file_stops_start_up_with_one_line(tmp_path):
    result = run_manage("check", data_dir=tmp_path, DJANGO_SECRET_KEY_FILE=str(tmp_path / "absent"))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY_FILE names" in result.stderr


def test_marvel_keys_from_files(tmp_path):
    public, private = tmp_path / "public", tmp_path / "private"
    public.write_text("pub\n")
    private.write_text("$priv\n")
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.MARVEL_PUBLIC_KEY, "
        "settings.MARVEL_PRIVATE_KEY)",
        data_dir=tmp_path,
        DJANGO_DEBUG="true",
        MARVEL_PUBLIC_KEY_FILE=str(public),
        MARVEL_PRIVATE_KEY_FILE=str(private),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "pub $priv"
