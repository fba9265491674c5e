"""PostgreSQL with a client-side deadline (ENGINE "console.db"): see base.py."""
