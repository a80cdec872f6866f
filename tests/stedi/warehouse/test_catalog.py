import pytest
import sqlglot
from sqlglot import exp

from stedi.warehouse.catalog import DIALECTS, load_catalog, render


def test_tables_come_parents_first():
    order = [t.name for t in load_catalog().tables]
    for table in load_catalog().tables:
        for fk in table.foreign_keys:
            assert order.index(fk.parent) < order.index(table.name), (table.name, fk.parent)


def test_every_table_declares_dist_and_sort_keys_with_a_reason():
    from stedi.warehouse.catalog import SQL_DIR

    for table in load_catalog().tables:
        text = (SQL_DIR / "gold" / f"{table.name}.sql").read_text().lower()
        assert "sortkey" in text and ("distkey" in text or "diststyle" in text), table.name
        assert "-- dist" in text or "diststyle all:" in text or "distkey customer_key:" in text, table.name


@pytest.mark.parametrize("dialect", DIALECTS)
def test_rendered_ddl_parses_in_its_dialect(dialect):
    catalog = load_catalog()
    for ddl in [t.ddl for t in catalog.tables] + [v.ddl for v in catalog.views]:
        text = render(ddl, dialect, "analytics")
        tree = sqlglot.parse_one(text, read=dialect)
        assert "analytics." in text and "stedi." not in text
        physical = list(tree.find_all(exp.DistKeyProperty, exp.SortKeyProperty, exp.DistStyleProperty, exp.ForeignKey))
        assert bool(physical) == (dialect == "redshift" and ddl.kind == "TABLE")
