"""Which columns hold personal data (PII): the one list the Glue Data Catalog's marks, the README's access
table and the tests follow.

A column is personal when it names or describes a person: an email (the customer's identity in every
source), a name, a phone number, a birthday. A raw landing line (`raw_record` in quarantine) is personal
too, as it may hold any of them as delivered. Pseudonyms (`customer_key`, an HMAC of the email) and
device serial numbers are not: the training set and the analysts' tables carry only those.
"""

from __future__ import annotations

from collections.abc import Iterable

PERSONAL_COLUMNS = frozenset(
    {
        # landing and bronze, as the sources name them (stedi/sources.py)
        "email",
        "customerName",
        "phone",
        "birthDay",
        "user",
        # silver and gold (schemas/silver.py, sql/gold/)
        "customer_email",
        "customer_name",
        "phone_number",
        "birth_date",
        # quarantine: the line as delivered
        "raw_record",
    }
)


def personal_columns(columns: Iterable[str]) -> list[str]:
    """The personal columns among `columns`, in their order."""
    return [column for column in columns if column in PERSONAL_COLUMNS]
