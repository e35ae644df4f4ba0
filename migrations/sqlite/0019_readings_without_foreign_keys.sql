-- Readings without foreign keys is a PostgreSQL change (see its 0019): SQLite checks a
-- reading's tag and gateway in their primary keys' B-trees, a small part of its cost, and
-- dropping a constraint would copy the whole table. The store deletes a tag's or a
-- gateway's readings itself on both engines.
SELECT 1;
