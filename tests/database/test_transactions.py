"""marvelsite.transactions.atomic: all or nothing on SQLite and on the real replica set."""

import pytest
from django.db import connection, transaction

from characters.models import Character
from marvelsite.transactions import atomic

pytestmark = pytest.mark.django_db(transaction=True)


class Stop(Exception):
    pass


def write_then_fail(*, inside_django_atomic=False, nested=False):
    outer = transaction.atomic() if inside_django_atomic else atomic("default")
    with outer, atomic("default"):
        if nested:
            with atomic("default"):
                Character.objects.create(id=1, name="Inner")
        else:
            Character.objects.create(id=1, name="Written")
        Character.objects.bulk_create([Character(id=2, name="Also written")])
        raise Stop


def test_a_failed_block_leaves_nothing():
    with pytest.raises(Stop):
        write_then_fail()
    assert not Character.objects.exists()


def test_a_block_commits_inside_djangos_atomic_as_in_the_admin():
    # The admin wraps each change in Django's atomic(): no-op on MongoDB, and it must not make
    # a MongoDB transaction inside it fail after committing.
    with transaction.atomic():
        with atomic("default"):
            Character.objects.create(id=1, name="Written")
        assert connection.in_atomic_block
    assert list(Character.objects.values_list("name", flat=True)) == ["Written"]


def test_a_failed_block_inside_djangos_atomic_leaves_nothing():
    with pytest.raises(Stop):
        write_then_fail(inside_django_atomic=True)
    assert not Character.objects.exists()


def test_nested_blocks_join_the_outer_one():
    with pytest.raises(Stop):
        write_then_fail(nested=True)
    assert not Character.objects.exists()


def test_the_store_says_when_a_refused_write_would_abort_everything(on_mongodb):
    from characters import store
    from marvelsite.transactions import has_transactions

    default = store.for_alias("default")
    assert not default.aborts_on_refusal()
    with atomic("default"):
        Character.objects.create(id=1, name="Written")
        assert default.aborts_on_refusal() == (on_mongodb and has_transactions("default"))
    assert not default.aborts_on_refusal()
