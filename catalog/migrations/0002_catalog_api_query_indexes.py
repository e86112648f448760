"""Indexes for the catalog API's queries (filter=, facets, full text, order by name).

Created with SQL rather than in Entity Meta because they depend on the database (an
expression index, and a PostgreSQL extension): Django's migration state is unchanged, so `makemigrations --check` stays clean.
"""

from django.db import migrations

INDEXES = [
    # orderField=metadata.name: Backstage orders by the lower-cased name.
    ("entity_lower_name", "catalog_entity", "(LOWER(name))"),
]

# PostgreSQL only: full text (value LIKE '%term%') through trigrams instead of a scan.
TRIGRAM_INDEX = "search_value_trgm"


def create(apps, schema_editor):
    for name, table, columns in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {columns}")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON catalog_entitysearch USING gin (value gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    for name in [TRIGRAM_INDEX, *(index[0] for index in INDEXES)]:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
