"""Getting Marvel data into the database, one way.

Data flows one way through these modules: a source of raw character objects (``api``: the
Marvel API client; ``recordings``: recorded responses and the bundled data set) -> ``records``
(parsing and validation into typed records) -> ``importer`` (batched, idempotent writes).
"""
