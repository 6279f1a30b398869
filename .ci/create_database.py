"""Create the PostgreSQL database DATABASE_URL names, unless it exists."""

import os
import sys

import dj_database_url
import psycopg
from psycopg import sql


def main() -> int:
    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    if not config["ENGINE"].endswith("postgresql"):
        print("DATABASE_URL does not name a PostgreSQL database", file=sys.stderr)
        return 1
    server = psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,  # CREATE DATABASE cannot run inside a transaction
    )
    with server:
        found = server.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not found:
            name = sql.Identifier(config["NAME"])
            server.execute(sql.SQL("CREATE DATABASE {}").format(name))
            print(f"Created database {config['NAME']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
