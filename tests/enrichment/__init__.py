"""Enrichment (technology lookup) tests (a package so the kit imports relatively)."""
