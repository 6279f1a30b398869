"""The dashboard's views, one module per area: pages, lists (and CSV), actions."""
