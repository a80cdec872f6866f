"""Data contracts: a pandera model per silver table (schemas/silver.py) and their enforcement (schemas/enforce.py)."""
