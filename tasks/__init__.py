"""Prefect tasks: small, typed units the `stedi-lakehouse` flow composes."""
