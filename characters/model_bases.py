"""What the catalogue's models are made of: Marvel's ids or local ones, versioned writes,
fields derived from others, and querysets read in index order (through the store)."""

from django.db import IntegrityError, models, router

from characters import store

# Ids from here up are made by this site (the admin); Marvel's ids are far below.
LOCAL_ID_START = 1_000_000_000
# Concurrent adds that lose the race for an id try the next one, this many times in all.
LOCAL_ID_ATTEMPTS = 20


class LocalIdTaken(IntegrityError):
    """Every local id tried was taken by concurrent adds (LOCAL_ID_ATTEMPTS of them)."""


class RowChanged(Exception):
    """A conditional write found the row at another version (or gone): someone else wrote it
    since it was read. Read it again and decide again."""


class LocalIdModel(models.Model):
    """A model keyed by Marvel's id that numbers rows added here after LOCAL_ID_START, and
    remembers which of Marvel's fields were edited here (characters/ownership.py)."""

    # What an editor may change, in groups owned as one ("image": path, extension, upload):
    # group name -> model fields. A group edited here keeps its local value on imports.
    EDITABLE: dict[str, tuple[str, ...]] = {}

    id = models.PositiveBigIntegerField(primary_key=True, editable=False)
    # None when nothing is edited here, not {}: the backend (store.UPSTREAM) adds a field to
    # existing documents with an unquoted pipeline $set, which refuses an empty object.
    local_edits = models.JSONField(
        "edited here",
        null=True,
        blank=True,
        editable=False,
        help_text="The field groups edited here, each with Marvel's latest value of it: "
        "imports keep the local value.",
    )
    # Raised by every write of the row (a character's links count as part of it): a writer
    # writes only if the row is still at the version it read (save_if_version).
    version = models.PositiveBigIntegerField(default=1, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.id is not None:
            return super().save(*args, **kwargs)
        # A new row: insert it under the next free local id. Only an insert, never Django's
        # update-or-insert: two adds that pick the same id would otherwise both "succeed",
        # the second overwriting the first. The loser of the race takes the next id.
        using = kwargs.pop("using", None) or router.db_for_write(type(self), instance=self)
        kwargs.pop("force_insert", None)
        db = store.for_alias(using)
        if db.aborts_on_refusal():
            # Inside a MongoDB transaction (an admin save) a refused insert aborts the whole
            # transaction: no next try in it. The admin runs the save again from its reads.
            self.id = type(self).next_local_id(using)
            try:
                return super().save(*args, using=using, force_insert=True, **kwargs)
            except IntegrityError as error:
                self.id = None
                raise RowChanged("the local id was taken by a concurrent add") from error
        for _ in range(LOCAL_ID_ATTEMPTS):
            self.id = type(self).next_local_id(using)
            try:
                # The admin's own transaction survives a lost race.
                with db.savepoint():
                    return super().save(*args, using=using, force_insert=True, **kwargs)
            except IntegrityError:
                if not type(self)._default_manager.using(using).filter(id=self.id).exists():
                    self.id = None
                    raise  # not the id: some other constraint
        self.id = None
        raise LocalIdTaken(
            f"no free local {self._meta.verbose_name} id after {LOCAL_ID_ATTEMPTS} attempts: "
            "too many concurrent adds; try again"
        )

    def save_if_version(self, fields, using: str | None = None) -> None:
        """Write `fields` of this row and the next version, only if the stored row is still at
        `self.version`: a compare-and-swap on both backends (django-mongodb-backend's update()
        counts matched documents). Raises RowChanged when it is not."""
        using = using or self._state.db
        values = {name: getattr(self, name) for name in fields}
        rows = type(self)._default_manager.using(using).filter(pk=self.pk, version=self.version)
        if not rows.update(**values, version=self.version + 1):
            raise RowChanged(f"{self._meta.verbose_name} {self.pk} changed since it was read")
        self.version += 1

    @property
    def is_local(self) -> bool:
        """Added here (not Marvel's): imports never touch it."""
        return self.id is not None and self.id >= LOCAL_ID_START

    @classmethod
    def next_local_id(cls, using: str | None = None) -> int:
        # The highest local id, one key read backwards from the id index (Max() reads them all).
        rows = cls._default_manager.db_manager(using).filter(id__gte=LOCAL_ID_START)
        highest = rows.order_by("-id").window(0, 1)
        return highest[0].id + 1 if highest else LOCAL_ID_START


class DerivedFieldsQuerySet(models.QuerySet):
    """Bulk writes that keep a model's derived fields (Model.DERIVED: source field -> fields
    made from it by Model.derive()) in step with their source, as save() does."""

    def _derived(self, fields) -> list[str]:
        derived_fields = getattr(self.model, "derived_fields", None)
        return derived_fields(fields) if derived_fields else []

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        if hasattr(self.model, "derive"):
            for obj in objs:
                obj.derive()
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs, fields = list(objs), list(fields)
        derived = self._derived(fields)
        if derived:
            for obj in objs:
                obj.derive()
            fields += derived
        return super().bulk_update(objs, fields, *args, **kwargs)

    def update(self, **kwargs):
        derived = self._derived(kwargs)
        sources = {f: kwargs[f] for f in getattr(self.model, "DERIVED", ()) if f in kwargs}
        # Plain values only: an expression (F("name")) is worked out by the database.
        if derived and all(isinstance(value, str) for value in sources.values()):
            row = self.model(**sources)
            row.derive()
            kwargs.update({name: getattr(row, name) for name in derived})
        return super().update(**kwargs)


class DerivedFieldsModel(models.Model):
    """A model with fields made from others (a sort key from a name, ...): see
    DerivedFieldsQuerySet."""

    DERIVED: dict[str, tuple[str, ...]] = {}

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.derive()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            update_fields = list(update_fields)
            kwargs["update_fields"] = update_fields + self.derived_fields(update_fields)
        return super().save(*args, **kwargs)

    def derive(self) -> None:
        raise NotImplementedError

    @classmethod
    def derived_fields(cls, fields) -> list[str]:
        return [name for source in cls.DERIVED if source in fields for name in cls.DERIVED[source]]


class IndexedQuerySet(DerivedFieldsQuerySet):
    """Counts and ordered windows that the database serves from an index (the store's
    count() and window(): on MongoDB not a collection scan; on SQLite count() and slicing)."""

    def count(self) -> int:
        return store.of(self).count(self)

    def window(self, start: int, stop: int, count: int | None = None) -> list:
        """`list(self[start:stop])`, read in the ordering's index order (see the models'
        Meta.indexes).

        `count`: the number of rows, when the caller knows it (a paginator). A window nearer
        the end than the start is then read from the end, in the reversed ordering (the same
        index walked backwards): both backends skip every row before a window, so a page near
        the end costs what one near the start does. Only where the ordering ends with the
        primary key: reversed, a total order is the exact reverse sequence.

        The count must be the rows' own. A kept count is per catalogue version, and every
        write changes the version, the admin's in its transaction and an import page's right
        after its commit: in between (or until a failed bump is made again) a count off by k
        moves the pages read from the end by k rows, as a forward read's last page misses or
        gains them.
        """
        rows, start, stop, reversed_ = self.oriented(start, stop, count)
        found = store.of(rows).window(rows, start, stop)
        return found[::-1] if reversed_ else found

    def oriented(self, start: int, stop: int, count: int | None = None):
        """(rows, start, stop, reversed): the read window() makes for `self[start:stop]`,
        from the end in the reversed ordering when `count` says that is nearer (its rows then
        come in reverse)."""
        if count is not None and 0 <= count - stop < start and self.ends_with_pk():
            return self.reverse(), count - stop, count - start, True
        return self, start, stop, False

    def by_pk(self, pk):
        """The row with this primary key, or None: one indexed read (the store's)."""
        return store.of(self).by_pk(self, pk)

    def ends_with_pk(self) -> bool:
        """Whether the ordering (order_by, else the model's) ends with the primary key."""
        ordering = self.query.order_by or (
            self.model._meta.ordering if self.query.default_ordering else ()
        )
        last = ordering[-1] if ordering else None
        pk = self.model._meta.pk
        return isinstance(last, str) and last.lstrip("-") in ("pk", pk.name, pk.attname)
